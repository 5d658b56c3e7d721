"""``ganscope spectrum RUN_DIR ... | --dirac ... | --equilibrium CONFIG [KEY=VALUE ...]``: the Jacobian spectrum
of a stored run's training point, of the Dirac-GAN, or of a finite 2-D game at its exact equilibrium
(``ganscope.analysis.spectrum``, docs/theory.md)."""
from __future__ import annotations

from ganscope.analysis import dirac
from ganscope.analysis.spectrum import (DENSE_MAX, DIRAC_REGS, EQUILIBRIUM_DENSE_MAX, K_DEFAULT, plot_spectrum,
                                        spectrum_at_equilibrium, spectrum_of_dirac, spectrum_of_run)
from ganscope.cli.args import add_device, check_float, check_int, check_png, emit, resolve_device
from ganscope.cli.dirac import H_MAX, PARAM_MAX, SUB_STEPS_MAX
from ganscope.device import check as check_device
from ganscope.errors import UsageError
from ganscope.vocabulary import LOSS_ALIASES, allowed


RUN_ONLY = ("step", "member", "batch", "seed", "params")
DIRAC_ONLY = ("loss", "reg", "gamma", "sigma")
EQUILIBRIUM_NOT = ("step", "batch", "seed", "params", "scheme", "n_g", "n_d", *DIRAC_ONLY)  # set by the config


def register(sub):
    """Add ``ganscope spectrum RUN_DIR ...`` / ``ganscope spectrum --dirac ...`` to an argparse subparsers action."""
    p = sub.add_parser("spectrum", help="Jacobian spectrum of the gradient field of a stored run or the Dirac-GAN",
                       description="Eigenvalues of v' at a training point, spectral radii of the SimGD/AltGD "
                                   "update operators and the local verdict (Mescheder et al. 2018 §2.1).")
    p.add_argument("run_dir", nargs="?", metavar="RUN_DIR", help="a run directory (ganscope train --out); with "
                   "--equilibrium a config (a path or a shipped name, e.g. convergence2d)")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="config overrides (--equilibrium only)")
    p.add_argument("--step", type=int, help="a kept checkpoint (checkpoints/step_NNNNNN.pt) instead of last.pt")
    p.add_argument("--member", type=int, help="ensemble member (default 0)")
    p.add_argument("--batch", type=int, help="fixed batch size for the field (default 256)")
    p.add_argument("--seed", type=int, help="seed of the fixed batch (default 0)")
    p.add_argument("--h", type=float, help="step size (default: the run's D learning rate; 0.1 for --dirac)")
    p.add_argument("--scheme", help="simgd or altgd for the verdict (default: the run's; simgd for --dirac)")
    p.add_argument("--n-g", type=int, help="generator sub-steps of AltGD (default: the run's, or 1)")
    p.add_argument("--n-d", type=int, help="discriminator sub-steps of AltGD (default: the run's, or 1)")
    p.add_argument("--k", type=int, default=K_DEFAULT, help=f"eigenvalues per ARPACK request (default {K_DEFAULT})")
    p.add_argument("--max-dense", type=int, default=DENSE_MAX,
                   help=f"largest parameter count for the dense Jacobian (default {DENSE_MAX})")
    p.add_argument("--params", metavar="PREFIX[,PREFIX...]",
                   help="restrict the field to the parameters whose names start with a prefix (gen.NAME, disc.NAME; "
                        "e.g. gen.layers.2,disc.layers.2 for the last layers): the eigenvalues of that sub-matrix")
    p.add_argument("--quiet", action="store_true", help="no time estimate or progress lines on stderr")
    p.add_argument("--dirac", action="store_true", help="the Dirac-GAN as torch modules instead of a run")
    p.add_argument("--equilibrium", action="store_true",
                   help="a finite 2-D game (CONFIG, data.finite > 0) at its exact equilibrium, before any step: G "
                        "fitted onto the data, D = 0; radii read on the normal space (docs/theory.md)")
    p.add_argument("--loss", help=f"Dirac-GAN loss: {allowed(dirac.LOSSES, LOSS_ALIASES)} (default minimax)")
    p.add_argument("--reg", help=f"Dirac-GAN regulariser: {', '.join(DIRAC_REGS)} (default none)")
    p.add_argument("--gamma", type=float, help="γ of r1, r2, consensus")
    p.add_argument("--sigma", type=float, help="σ of instance noise")
    add_device(p)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--plot", metavar="FILE.png", help="write the eigenvalue figure")
    p.set_defaults(run=run_command)
    return p


def _check_args(args):
    if args.overrides and not args.equilibrium:
        raise UsageError(f"KEY=VALUE: overrides ({args.overrides[0]!r}) are for --equilibrium CONFIG only")
    if args.equilibrium:
        return _check_equilibrium_args(args)
    if args.dirac and args.run_dir:
        raise UsageError("RUN_DIR: --dirac analyses the Dirac-GAN; give no run directory with it")
    if not args.dirac and not args.run_dir:
        raise UsageError("RUN_DIR: give a run directory, or --dirac")
    wrong = [k for k in (RUN_ONLY if args.dirac else DIRAC_ONLY) if getattr(args, k) is not None]
    if wrong:
        raise UsageError(f"--{wrong[0]}: only for {'a run directory' if args.dirac else '--dirac'}")
    check_int(args.max_dense, "--max-dense", 0)
    check_float(args.h, "--h", 0.0, H_MAX, low_open=True)  # the Dirac lab's bounds (docs/dirac.md)
    check_int(args.n_g, "--n-g", 1, SUB_STEPS_MAX)
    check_int(args.n_d, "--n-d", 1, SUB_STEPS_MAX)
    for name in ("gamma", "sigma"):
        check_float(getattr(args, name), f"--{name}", 0.0, PARAM_MAX)
    check_png(args.plot)
    check_device(args.device, "--device")  # --dirac's tiny field runs on the CPU; a run's on --device


def _check_equilibrium_args(args):
    if args.dirac:
        raise UsageError("--equilibrium: a finite game's equilibrium, not the Dirac-GAN; give one of them")
    if not args.run_dir:
        raise UsageError("CONFIG: --equilibrium needs a config, e.g. convergence2d")
    wrong = [k for k in EQUILIBRIUM_NOT if getattr(args, k) is not None]
    if wrong:
        raise UsageError(f"--{wrong[0].replace('_', '-')}: not with --equilibrium (the config sets the game; "
                         "the field is on the game's own sample)")
    check_float(args.h, "--h", 0.0, H_MAX, low_open=True)
    check_int(args.max_dense, "--max-dense", 0)
    check_png(args.plot)


def run_command(args) -> int:
    """``ganscope spectrum RUN_DIR ...`` or ``ganscope spectrum --dirac ...``."""
    _check_args(args)
    if args.equilibrium:
        max_dense = EQUILIBRIUM_DENSE_MAX if args.max_dense == DENSE_MAX else args.max_dense
        result = spectrum_at_equilibrium(args.run_dir, args.overrides, _default(args.member, 0), args.h,
                                         max_dense=max_dense, progress=not args.quiet)
    elif args.dirac:
        result = spectrum_of_dirac(args.loss or "minimax", args.reg or "none", args.gamma, args.sigma,
                                   _default(args.h, 0.1), args.scheme or "simgd", _default(args.n_g, 1),
                                   _default(args.n_d, 1))
    else:
        result = spectrum_of_run(args.run_dir, _default(args.member, 0), _default(args.batch, 256), args.h,
                                 _default(args.seed, 0), args.step, args.k, args.max_dense, args.scheme,
                                 args.n_g, args.n_d, _prefixes(args.params), progress=not args.quiet,
                                 device=_field_device(args))
    return emit(args, result, lambda: print(summary(result)), lambda: plot_spectrum(result))


def _field_device(args):
    """``--device`` for the float64 field of a run: auto falls back to the CPU where it finds mps (no float64)."""
    device = resolve_device(args)
    if device.type == "mps":
        if args.device == "auto":
            return "cpu"
        raise UsageError("--device: the spectrum's field is float64, which mps does not support; use cpu or cuda")
    return device


def _prefixes(text):
    if text is None:
        return None
    prefixes = [p.strip() for p in text.split(",") if p.strip()]
    if not prefixes:
        raise UsageError("--params: give one or more comma-separated name prefixes (gen.NAME, disc.NAME)")
    return prefixes


def _default(value, default):
    return default if value is None else value


def _fmt(pairs, n=6):
    return ", ".join(f"{a:+.4g}{b:+.4g}i" for a, b in pairs[:n])


def summary(r: dict) -> str:
    """A few lines for the terminal."""
    src = r.get("source", {})
    what = (f"Dirac-GAN {src['dirac']}" if "dirac" in src else f"{src['config']} {' '.join(src['overrides'])} "
            f"(seed {src['seed']}) at its equilibrium" if "config" in src else f"run {src.get('run')} step {src.get('step')}")
    lines = [f"{what}: {r['n_params']} parameters ({r['n_gen_params']} G + {r['n_disc_params']} D), {r['method']}",
             f"  ‖v‖ = {r['field_norm']:.4g}; max Re λ = {r['max_real_part']:.4g}; "
             f"max |λ| = {r['max_modulus']:.4g}",
             f"  largest real part: {_fmt(r['eigenvalues_largest_real'])}",
             f"  largest modulus:   {_fmt(r['eigenvalues_largest_modulus'])}",
             f"  h = {r['h']:g}: ρ(SimGD) = {r['spectral_radius_simgd']:.10g}, ρ(AltGD n_g={r['n_g']}, "
             f"n_d={r['n_d']}) = {r['spectral_radius_altgd']:.10g}; local verdict ({r['scheme']}): "
             f"{r['local_verdict']}"]
    normal = r.get("normal_space")
    if normal and normal["slowest_rate"] is not None:
        lines.append(f"  normal space ({normal['n_neutral']} neutral directions left out): ρ(SimGD) = "
                     f"{normal['spectral_radius_simgd_normal']:.10g}, ρ(AltGD) = "
                     f"{normal['spectral_radius_altgd_normal']:.10g}; slowest rate {normal['slowest_rate']:.3g}, "
                     f"least damping ζ = {normal['least_damping']:.3g}")
    if "premise" in r:
        p = r["premise"]
        lines.append(f"  premise: G moves its {p['points']} points in {p['generator_rank']} directions, the critic "
                     f"feels {p['coupling_rank']}: {p['invisible']} invisible (0 is the premise of a local test)")
    if "closed_form_eigenvalues" in r:
        lines.append(f"  closed form: {_fmt(r['closed_form_eigenvalues'])} (max error "
                     f"{r['closed_form_max_error']:.2e})")
    lines += [f"  note: {n}" for n in r["notes"]]
    return "\n".join(lines)
