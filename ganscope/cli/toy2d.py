"""``ganscope toy2d critic-surface|clipping-pathology [--steps N] [--seed S] [--full] --out DIR``: WGAN-GP
Figure 1 on the 2-D toy sets. The experiments are ``ganscope.experiments.wgan_toy`` (docs/wgan_toy.md)."""
from __future__ import annotations

import math

from ganscope.cli.args import check_int, check_out_dir
from ganscope.data.toy2d import DATASETS
from ganscope.errors import UsageError
from ganscope.experiments.wgan_toy import (PATHOLOGY_STEPS, QUICK_PATHOLOGY_STEPS, QUICK_SURFACE_STEPS,
                                           SURFACE_DATA, SURFACE_STEPS, run_clipping_pathology,
                                           run_critic_surfaces)


def register(subparsers) -> None:
    """Add ``toy2d`` with the sub-commands ``critic-surface`` and ``clipping-pathology``."""
    p = subparsers.add_parser("toy2d", help="WGAN-GP Figure 1 on the 2-D toy sets (Gulrajani et al. 2017)",
                              description="Critic value surfaces (Fig. 1a) and the weight-clipping pathology "
                                          "(Fig. 1b) against a fixed generator = data + N(0, I).")
    p.set_defaults(run=_need_subcommand)
    sub = p.add_subparsers(title="experiments", metavar="EXPERIMENT")
    s = sub.add_parser("critic-surface", help="Fig. 1a: critic value surfaces, clipping vs GP",
                       description="Train clipped and GP critics against data + N(0, I) and plot their values.")
    s.add_argument("--data", nargs="+", default=list(SURFACE_DATA), metavar="NAME",
                   help=f"data sets (default: {' '.join(SURFACE_DATA)})")
    _common_args(s, QUICK_SURFACE_STEPS, SURFACE_STEPS)
    s.set_defaults(run=_run_surface)
    c = sub.add_parser("clipping-pathology", help="Fig. 1b: gradient norms and weights of 12-layer critics",
                       description="12-layer ReLU critics on the Swiss roll with clipping c = 0.1, 0.01, 0.001 "
                                   "and with GP: gradient norms per layer and weight histograms.")
    _common_args(c, QUICK_PATHOLOGY_STEPS, PATHOLOGY_STEPS)
    c.set_defaults(run=_run_pathology)


def _common_args(p, quick_steps: int, full_steps: int) -> None:
    p.add_argument("--steps", type=int, help=f"critic steps (default {quick_steps}, {full_steps} with --full)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--full", action="store_true", help="the longer defaults instead of the quick ones")
    p.add_argument("--out", metavar="DIR", help="output directory (required)")


def _need_subcommand(args) -> int:
    raise UsageError("toy2d: choose an experiment: critic-surface or clipping-pathology")


def _check_cli(args) -> None:
    if not args.out:
        raise UsageError("--out: give the output directory")
    check_out_dir(args.out)
    check_int(args.steps, "--steps", 1)
    check_int(args.seed, "--seed", 0)


def _run_surface(args) -> int:
    _check_cli(args)
    unknown = [d for d in args.data if d not in DATASETS]
    if unknown:
        raise UsageError(f"--data: unknown data set {unknown[0]!r}; allowed: {', '.join(DATASETS)}")
    res = run_critic_surfaces(args.out, quick=not args.full, seed=args.seed, data=tuple(args.data), steps=args.steps)
    for r in res["results"]:
        print(f"{r['data']:<12} {r['method']:<5} W1 critic {r['w1_critic']:.4g}  max|grad D| {r['lipschitz']:.3g}  "
              f"normalised {r['w1_normalised']:.4g}  exact W1 {r['w1_exact']:.4g}")
    print(f"wrote {res['png']} and {res['json']}")
    return 0


def _run_pathology(args) -> int:
    _check_cli(args)
    res = run_clipping_pathology(args.out, quick=not args.full, seed=args.seed, steps=args.steps)
    for r in res["runs"]:
        logs = " ".join("-inf" if not math.isfinite(v) else f"{v:.1f}" for v in r["log10_grad_norms"])
        at = "" if r["fraction_at_bound"] is None else f"  at ±c {100 * r['fraction_at_bound']:.1f}%"
        print(f"{r['label']:<26} log10 |dL/dh_k| k=1..{len(r['grad_norms'])}: {logs}  "
              f"top/bottom {r['top_over_bottom']:.3g}{at}")
    print(f"wrote {res['png']} and {res['json']}")
    return 0
