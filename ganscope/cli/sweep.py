"""``ganscope sweep SPEC --out DIR [--executor E] [--workers N] [--gpus-per-run G] [--dry-run]`` /
``ganscope sweep --aggregate DIR``.

The library is ``ganscope.sweep``; the spec format, grouping and resume semantics are in docs/sweeps.md.
"""
from __future__ import annotations

import sys
from pathlib import Path

from ganscope import rundir
from ganscope.cli.args import check_int
from ganscope.errors import UsageError
from ganscope.sweep import aggregate, markdown, read_state, run_sweep


def register(subparsers):
    """Add ``ganscope sweep SPEC --out DIR [--executor E] [--workers N] [--gpus-per-run G] [--dry-run]`` /
    ``--aggregate DIR``."""
    p = subparsers.add_parser(
        "sweep", help="grid / random search over config keys × seeds (process pool, SLURM, Ray)",
        description="Train every run of a sweep spec (2-D runs that differ only by seed or a per-member "
                    "hyperparameter share one batched ensemble), resumably, and tabulate the results "
                    "(mean and 95 %% CI over seeds, success rate). See docs/sweeps.md.")
    p.add_argument("spec", nargs="?", metavar="SPEC", help="a sweep spec file, or a shipped one (toy2d_methods)")
    p.add_argument("--out", metavar="DIR", help="sweep directory (re-run the same command to resume)")
    p.add_argument("--executor", default="local", help="local (process pool, default), submitit (SLURM) or ray")
    p.add_argument("--workers", type=int, help="runs at once (default: CPU cores for local, all for the others)")
    p.add_argument("--gpus-per-run", type=int, metavar="G",
                   help="GPUs per run (G > 1: data-parallel over them). local: one run per G visible GPUs at a "
                        "time (default 1 when a GPU is visible; 0: workers see no GPU); submitit/ray: each job "
                        "asks for G GPUs (default none). See docs/scale.md")
    p.add_argument("--dry-run", action="store_true", help="list the runs and ensembles without training")
    p.add_argument("--aggregate", metavar="DIR", help="only rebuild results.csv and results.md of a sweep")
    p.set_defaults(run=_run_cli)
    return p


def _run_cli(args) -> int:
    if args.aggregate:
        if args.spec or args.out or args.dry_run:
            raise UsageError("--aggregate: takes only the sweep directory")
        rows = aggregate(args.aggregate)
        print(markdown(rows, read_state(Path(args.aggregate)).get("keys", []), "success" in (rows or [{}])[0]))
        return 0
    if not args.spec:
        raise UsageError("SPEC: give a sweep spec file or a shipped name, e.g. toy2d_methods (docs/sweeps.md)")
    if not args.out:
        raise UsageError("--out: give the sweep directory")
    rundir.check_out(args.out)
    gpus = check_int(args.gpus_per_run, "--gpus-per-run", 0)
    state = run_sweep(args.spec, args.out, args.executor, args.workers, args.dry_run, gpus_per_run=gpus)
    if args.dry_run:
        return 0
    print((Path(args.out) / "results.md").read_text())
    failed = state.counts()["failed"]
    if failed:
        print(f"sweep: {failed} runs failed; see {Path(args.out) / 'sweep.json'} (re-run the command to retry)",
              file=sys.stderr)
    return 1 if failed else 0
