"""``ganscope reproduce PAPER [--quick|--full] --out DIR [--workers N]``: one paper's experiments, then its
report (``ganscope.reproduce``, docs/reproduce.md)."""
from __future__ import annotations

from ganscope.cli.args import check_int, check_out_dir
from ganscope.reproduce import PAPERS, reproduce


def register(subparsers):
    p = subparsers.add_parser("reproduce", help="run a paper's experiments and write its report",
                              description="Run one paper's experiments (or all) and write report.json, "
                                          "index.html and REPORT.md to --out.")
    p.add_argument("paper", metavar="PAPER", help=f"one of {', '.join(PAPERS)}, all")
    size = p.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="sized for a 2-core CPU (default)")
    size.add_argument("--full", action="store_true", help="sized for a GPU")
    p.add_argument("--out", required=True, metavar="DIR")
    p.add_argument("--workers", type=int, default=2, help="worker processes for sweeps (default 2)")
    p.add_argument("--seed", type=int, default=0, help="base seed of every experiment (default 0)")
    p.add_argument("--problem", help="mescheder2018: the 2-D problem of the convergence matrix "
                                     "(gaussian, line, circle, four-lines; default: the profile's)")
    p.set_defaults(run=_run_cli)


def _run_cli(args) -> int:
    import sys

    check_int(args.workers, "--workers", 1)
    check_int(args.seed, "--seed", 0)
    check_out_dir(args.out)
    page = reproduce(args.paper, args.out, quick=not args.full, workers=args.workers,
                     log=lambda msg: print(msg, file=sys.stderr, flush=True), seed=args.seed, problem=args.problem)
    print(f"report: {page}")
    return 0
