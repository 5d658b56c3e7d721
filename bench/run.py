"""Run every benchmark under bench/ and print one table of ratios against their targets.

Each module ``bench/NAME.py`` (not run.py, not ``_*.py``) exposes ``main(quick: bool) -> list[row]``
(``_harness.row``); a module whose ``main`` takes no argument, or returns no rows, gets one "info" row. A
module that fails gets an "error" row with the message, and the others still run.

    python bench/run.py                      # everything (about 15 min on 2 cores)
    python bench/run.py --quick              # a smoke test (< 3 min on 2 cores): one small case per row kind
    python bench/run.py images fid           # only these modules
    python bench/run.py --json bench.json    # also write every row, with the machine, to bench.json
    python bench/run.py --long               # also the long modules (``LONG = True``: bf16_quality, a training
                                             # comparison of about 10 CPU minutes); naming one runs it too
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

from _harness import ROW_KEYS, machine, print_rows, row  # noqa: E402


def modules() -> list[str]:
    return [p.stem for p in sorted(HERE.glob("*.py")) if p.stem != "run" and not p.stem.startswith("_")]


def is_long(name: str) -> bool:
    """A module that sets ``LONG = True`` (a training comparison, minutes): run only with --long or by name."""
    return "LONG = True" in (HERE / f"{name}.py").read_text()


def run_module(name: str, quick: bool) -> list[dict]:
    """The rows of ``bench/NAME.py``'s ``main`` in the common schema; an "error" row when it fails. A ``main``
    without a ``quick`` parameter runs with no arguments (and ``sys.argv`` holding only its path), and is
    skipped under ``--quick`` (it cannot be told to be short)."""
    t0 = time.perf_counter()
    argv = sys.argv
    try:
        main = importlib.import_module(name).main
        if "quick" in inspect.signature(main).parameters:
            rows = main(quick=quick)
        elif quick:
            rows = [row(name, "skipped under --quick (its main() takes no quick flag)", None, None)]
        else:
            sys.argv = [str(HERE / f"{name}.py")]
            rows = main()
    except (Exception, SystemExit) as err:  # one failing bench must not hide the others
        rows = [{**row(name, "error", None, None, error=f"{type(err).__name__}: {err}"[:500]), "verdict": "error"}]
        print(f"== {name}: {rows[0]['detail']['error']}", file=sys.stderr)
    finally:
        sys.argv = argv
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        rows = [row(name, "printed its own output", None, None)]
    rows = [normalise(r) for r in rows]
    for r in rows:
        r["detail"]["module"] = name
    print(f"== {name}: {len(rows)} rows in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    return rows


def normalise(r: dict) -> dict:
    """A row in the common schema (``_harness.ROW_KEYS``), from a module that writes its own keys: ``value`` /
    ``unit`` stand for ``ratio`` / ``measure``; a non-string target is kept as text with the module's verdict;
    every other key goes to ``detail``."""
    if tuple(r) == ROW_KEYS and isinstance(r["detail"], dict):
        return r
    ratio = r.get("ratio", r.get("value"))
    ratio = float(ratio) if isinstance(ratio, (int, float)) and not isinstance(ratio, bool) else None
    target = r.get("target")
    target = None if target is None else str(target)
    parsed = target is not None and len(target.split()) == 2 and target.split()[0] in ("<=", ">=")
    out = row(str(r.get("name", "?")), str(r.get("measure", r.get("unit", ""))), ratio, target if parsed else None)
    out["target"] = target
    if not parsed:
        out["verdict"] = str(r.get("verdict", "info"))
    out["detail"] = {**{k: v for k, v in r.items() if k not in ("name", "measure", "unit", "ratio", "value",
                                                                  "target", "verdict", "detail")},
                     **(r.get("detail") or {})}
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="ganscope's benchmarks: ratios against their targets")
    parser.add_argument("names", nargs="*", help=f"modules to run (default all: {', '.join(modules())})")
    parser.add_argument("--quick", action="store_true", help="small cases only (a smoke test, no real timing)")
    parser.add_argument("--json", metavar="FILE", help="write every row and the machine info to FILE")
    parser.add_argument("--long", action="store_true", help="also the long modules (training comparisons)")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.names) - set(modules()))
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; allowed: {', '.join(modules())}")
    info = machine()
    names = args.names or [m for m in modules() if args.long or not is_long(m)]
    rows = [r for name in names for r in run_module(name, args.quick)]
    print_rows(rows)
    if args.json:
        from ganscope.io import json_safe, write_json

        write_json(args.json, json_safe({"machine": info, "quick": args.quick, "argv": sys.argv[1:],
                                         "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                                         "rows": rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
