"""The `ganscope` command line: the parser, its commands, and `main`. Bad input gives one line on stderr and
exit status 2."""
from __future__ import annotations

import argparse
import json
import sys

from ganscope.errors import UsageError


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad argument in one line (no usage dump) with exit status 2."""

    def error(self, message):
        raise UsageError(f"{self.prog}: {message}")


def _add_dirac(sub):
    from ganscope.analysis import dirac
    from ganscope.vocabulary import LOSS_ALIASES, REG_ALIASES, allowed

    p = sub.add_parser("dirac", help="the Dirac-GAN convergence lab (Mescheder et al. 2018)",
                       description="Vector field, Jacobian, eigenvalues, step bounds and trajectories of the "
                                   "Dirac-GAN for one method, or every method with --all.")
    p.add_argument("--loss", default="minimax",
                   help=f"one of {allowed(dirac.LOSSES, LOSS_ALIASES)} (default minimax)")
    p.add_argument("--reg", default="none",
                   help=f"one of {allowed(list(dirac.REGULARISERS), REG_ALIASES)} (default none)")
    p.add_argument("--gamma", type=float, help="γ of r1, r2, consensus, wgan-gp")
    p.add_argument("--sigma", type=float, help="σ of instance noise")
    p.add_argument("--clip", type=float, help="c of weight clipping, |ψ| ≤ c")
    p.add_argument("--target", type=float, help="g₀ of wgan-gp, the penalty's target slope")
    p.add_argument("--scheme", default="simgd", help="simgd or altgd (default simgd)")
    p.add_argument("--h", type=float, default=0.1, help="step size (default 0.1)")
    p.add_argument("--n-g", type=int, help="generator sub-steps per AltGD step (default 1)")
    p.add_argument("--n-d", type=int, help="discriminator sub-steps per AltGD step (default 1)")
    p.add_argument("--order", help="AltGD order: g-first (generator sub-steps first, as the official notebook; "
                                   "the default) or d-first (the critic first, as the training engine)")
    p.add_argument("--steps", type=int, default=1000, help="trajectory length (default 1000)")
    p.add_argument("--start", type=float, nargs=2, default=(1.0, 1.0), metavar=("THETA", "PSI"))
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--plot", metavar="FILE.png", help="write the phase portrait")
    p.add_argument("--all", action="store_true", help="every method × scheme, with figures and tables, to --out")
    p.add_argument("--out", metavar="DIR", help="output directory for --all")
    p.set_defaults(run=_run_dirac)


def _run_dirac(args):
    from ganscope.analysis import dirac

    if args.scheme == "simgd" and (args.n_g is not None or args.n_d is not None):
        raise UsageError("--n-g/--n-d: only the altgd scheme takes sub-step counts")
    if args.scheme == "simgd" and args.order is not None and not args.all:
        raise UsageError("--order: only the altgd scheme has an update order")
    n_g, n_d = args.n_g or 1, args.n_d or 1
    order = args.order or dirac.ORDER_DEFAULT
    dirac.check_order(order)
    if args.all:
        from ganscope.analysis.dirac_report import write_report

        if not args.out:
            raise UsageError("--out: --all needs an output directory")
        from ganscope.rundir import check_out

        check_out(args.out)
        extra = [k for k in ("gamma", "sigma", "clip", "target", "plot") if getattr(args, k) is not None]
        if extra or args.json:
            raise UsageError(f"--{(extra or ['json'])[0]}: --all runs every method with its default parameters")
        dirac.check_scheme("altgd", args.h, n_g, n_d)
        path = write_report(args.out, args.h, args.steps, tuple(args.start), n_g, n_d, order)
        print(f"Dirac-GAN report written to {path}")
        return 0
    if args.out:
        raise UsageError("--out: only --all writes a directory; use --plot FILE.png for one figure")
    params = {k: getattr(args, k) for k in dirac.PARAMS if getattr(args, k) is not None}
    game = dirac.DiracGAN(args.loss, args.reg, **params)
    if args.plot and not args.plot.lower().endswith(".png"):
        raise UsageError(f"--plot: expected a .png file name, got {args.plot!r}")
    result = dirac.analyse(game, args.scheme, args.h, n_g, n_d, args.steps, tuple(args.start), order)
    if args.plot:
        from ganscope import plots
        from ganscope.analysis.dirac_plots import phase_portrait

        traj = game.trajectory(tuple(args.start), args.h, args.steps, args.scheme, n_g, n_d, order)
        label = dirac.scheme_label(args.scheme, n_g, n_d, order)
        plots.save(phase_portrait(game, traj, label, args.h, result["trajectory_verdict"]), args.plot)
    if args.json:
        print(json.dumps(result, allow_nan=False))
    else:
        _print_summary(result)
    return 0


def _print_summary(r):
    eig = "undefined" if r["eigenvalues"] is None else ", ".join(f"{a:+.4f}{b:+.4f}i" for a, b in r["eigenvalues"])
    rho = "undefined" if r["spectral_radius"] is None else f"{r['spectral_radius']:.6f}"
    given = ", ".join(f"{k} given as {v!r}" for k, v in r["aliases"].items())
    scheme = r["scheme"] + (f" {r['order']}" if r["order"] else "")
    print(f"{r['loss']} + {r['reg']} {r['params'] or ''}, {scheme} h={r['h']:g}" + (f" ({given})" if given else ""))
    print(f"  eigenvalues of v'(0,0): {eig}")
    print(f"  spectral radius of the update operator: {rho}; max step: {r['max_step']}")
    print(f"  local verdict: {r['local_verdict']}; trajectory verdict: {r['trajectory_verdict']} "
          f"(radius {r['radius'][0]:.3g} -> {r['radius'][-1]})")
    for note in r["notes"]:
        print(f"  note: {note}")


def _add_train(sub):
    p = sub.add_parser("train", help="train a GAN from a YAML config (2-D experiments)",
                       description="ganscope train CONFIG [key=value ...] --out DIR | --resume DIR | --list")
    p.add_argument("config", nargs="?", help="a shipped config name such as toy2d (see --list), or a YAML file")
    p.add_argument("overrides", nargs="*", help="key.sub=value overrides, e.g. method=r1 train.steps=500")
    p.add_argument("--out", metavar="DIR", help="run directory to create")
    p.add_argument("--resume", metavar="DIR", help="continue an interrupted run")
    p.add_argument("--list", action="store_true", help="list the shipped configs, sweep specs and methods")
    p.set_defaults(run=_run_train)


def _run_train(args):
    from ganscope import train

    if args.list:
        return _list_configs()
    if args.resume:
        if args.config or args.overrides or args.out:
            raise UsageError("--resume: takes only the run directory (its config.yaml is reused)")
        return train.resume(args.resume, spectrum=_run_spectrum)
    if not args.config:
        raise UsageError("config: give a YAML config (ganscope train --list shows the shipped ones)")
    if not args.out:
        raise UsageError("--out: give the run directory to create")
    return train.start(_find_config(args.config), args.overrides, args.out, spectrum=_run_spectrum)


def _run_spectrum(run, member):
    """The engine's ``train.spectrum_at`` hook, imported only when a run asks for it."""
    from ganscope.analysis.diagnostics import run_spectrum

    return run_spectrum(run, member)


def _find_config(name):
    """A path, or the name of a shipped config (toy2d or toy2d.yaml)."""
    from ganscope.shipped import find_config

    return find_config(name)


def _list_configs():
    import yaml

    from ganscope.presets import PRESETS
    from ganscope.shipped import configs, sweeps

    for title, paths in (("configs:", configs()), ("sweep specs (ganscope sweep NAME):", sweeps())):
        print(title)
        for path in paths:
            first = path.read_text().splitlines()[0].lstrip("# ").strip()
            print(f"  {path.stem:<22} {first}")
    print("methods (method=NAME):")
    for name, spec in PRESETS.items():
        print(f"  {name:<22} {yaml.safe_dump(spec, default_flow_style=True, width=1000).strip()}")
    return 0


# Modules that add their own subcommand with ``register(subparsers)``.
REGISTERED = ["ganscope.experiments.wgan_toy", "ganscope.cli.theory", "ganscope.analysis.spectrum",
              "ganscope.analysis.probe", "ganscope.report", "ganscope.reproduce",
              "ganscope.cli.sweep", "ganscope.metrics.images"]


def _add_registered(sub):
    import importlib

    for name in REGISTERED:
        importlib.import_module(name).register(sub)


COMMANDS = [_add_dirac, _add_train, _add_registered]


def build_parser() -> argparse.ArgumentParser:
    from ganscope import __version__

    parser = _Parser(prog="ganscope", description="Train GANs that converge, and see why they don't.")
    parser.add_argument("--version", action="version", version=f"ganscope {__version__}")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND", parser_class=_Parser)
    for add in COMMANDS:
        add(sub)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if not hasattr(args, "run"):
            parser.print_help()
            return 2
        return args.run(args) or 0
    except UsageError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
