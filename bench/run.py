"""Run every benchmark under bench/ and print one table of ratios against their targets.

Each module ``bench/NAME.py`` (not run.py, not ``_*.py``) exposes ``main(quick: bool) -> list[row]``
(``_harness.row``); a module whose ``main`` takes no argument, or returns no rows, gets one "info" row. A
module that fails gets an "error" row with the message, and the others still run.

    python bench/run.py                      # everything (about 15 min on 2 cores)
    python bench/run.py --quick              # a smoke test (< 3 min on 2 cores): one small case per row kind
    python bench/run.py images fid           # only these modules
    python bench/run.py --json bench.json    # also write every row, with the machine, to bench.json
    BENCH_THREADS=1 python bench/run.py      # the thread counts to measure at (default 1 and 2)

Timings are meaningful only on a quiet machine: the load average at the start is in the JSON's ``machine``.
"""
from __future__ import annotations

import argparse
import importlib
import inspect
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))
if str(HERE.parent) not in sys.path:
    sys.path.insert(1, str(HERE.parent))

from _harness import machine, print_rows, row  # noqa: E402


def modules() -> list[str]:
    return [p.stem for p in sorted(HERE.glob("*.py")) if p.stem != "run" and not p.stem.startswith("_")]


def run_module(name: str, quick: bool) -> list[dict]:
    """The rows of ``bench/NAME.py``'s ``main``; an "error" row when it fails."""
    t0 = time.perf_counter()
    try:
        main = importlib.import_module(name).main
        takes_quick = "quick" in inspect.signature(main).parameters
        rows = main(quick=quick) if takes_quick else main()
    except Exception as err:  # one failing bench must not hide the others
        rows = [{**row(name, "error", None, None, error=f"{type(err).__name__}: {err}"[:500]), "verdict": "error"}]
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        rows = [row(name, "printed its own output", None, None)]
    for r in rows:
        r.setdefault("detail", {})["module"] = name
    print(f"== {name}: {len(rows)} rows in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="ganscope's benchmarks: ratios against their targets")
    parser.add_argument("names", nargs="*", help=f"modules to run (default all: {', '.join(modules())})")
    parser.add_argument("--quick", action="store_true", help="small cases only (a smoke test, no real timing)")
    parser.add_argument("--json", metavar="FILE", help="write every row and the machine info to FILE")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.names) - set(modules()))
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; allowed: {', '.join(modules())}")
    info = machine()
    rows = [r for name in (args.names or modules()) for r in run_module(name, args.quick)]
    print_rows(rows)
    if args.json:
        from ganscope.io import json_safe, write_json

        write_json(args.json, json_safe({"machine": info, "quick": args.quick, "argv": sys.argv[1:],
                                         "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                                         "rows": rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
