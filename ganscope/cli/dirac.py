"""``ganscope dirac ...``: the Dirac-GAN convergence lab (``ganscope.analysis.dirac``, docs/dirac.md): one method's
eigenvalues, step bounds and trajectory, or every method with ``--all`` (``ganscope.analysis.dirac_report``)."""
from __future__ import annotations

from ganscope.cli.args import check_float, check_int, check_out_dir, check_png, emit
from ganscope.errors import UsageError

# Bounds of the numbers (docs/dirac.md): beyond them the lab overflows (h, γ, ...) or cannot hold the trajectory.
H_MAX = 10.0  # --h in (0, 10]
STEPS_MAX = 1_000_000  # --steps in [1, 10^6]: (steps + 1) × 2 float64 per trajectory
SUB_STEPS_MAX = 1000  # --n-g, --n-d in [1, 1000]
PARAM_MAX = 1000.0  # --gamma, --sigma, --clip, --target in [0, 1000]
START_MAX = 1000.0  # --start THETA PSI in [-1000, 1000]


def register(sub):
    """Add ``ganscope dirac ...`` (one method, or every method with ``--all``)."""
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


def _check_numbers(args):
    """Every number and path in bounds before anything is computed or written."""
    check_float(args.h, "--h", 0.0, H_MAX, low_open=True)
    check_int(args.steps, "--steps", 1, STEPS_MAX)
    check_int(args.n_g, "--n-g", 1, SUB_STEPS_MAX)
    check_int(args.n_d, "--n-d", 1, SUB_STEPS_MAX)
    for name in ("gamma", "sigma", "clip", "target"):
        check_float(getattr(args, name), f"--{name}", 0.0, PARAM_MAX)
    for value in args.start:
        check_float(value, "--start", -START_MAX, START_MAX)
    check_png(args.plot)
    check_out_dir(args.out)


def _run_dirac(args):
    from ganscope.analysis import dirac

    _check_numbers(args)
    if args.scheme == "simgd" and (args.n_g is not None or args.n_d is not None):
        raise UsageError("--n-g/--n-d: only the altgd scheme takes sub-step counts")
    if args.scheme == "simgd" and args.order is not None and not args.all:
        raise UsageError("--order: only the altgd scheme has an update order")
    n_g, n_d = 1 if args.n_g is None else args.n_g, 1 if args.n_d is None else args.n_d
    order = args.order or dirac.ORDER_DEFAULT
    dirac.check_order(order)
    if args.all:
        from ganscope.analysis.dirac_report import write_report

        if not args.out:
            raise UsageError("--out: --all needs an output directory")
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
    result = dirac.analyse(game, args.scheme, args.h, n_g, n_d, args.steps, tuple(args.start), order)

    def figure():
        from ganscope.analysis.dirac_plots import phase_portrait

        traj = game.trajectory(tuple(args.start), args.h, args.steps, args.scheme, n_g, n_d, order)
        label = dirac.scheme_label(args.scheme, n_g, n_d, order)
        return phase_portrait(game, traj, label, args.h, result["trajectory_verdict"])
    return emit(args, result, lambda: _print_summary(result), figure)


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
