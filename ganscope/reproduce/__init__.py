"""`ganscope reproduce PAPER [--quick|--full] --out DIR`: one paper's experiments, then its report.

Each paper module has ``TITLE``, ``CITATION`` and ``SECTIONS``: functions ``ctx -> dict`` (a report.json
section with its figures, tables, command and paper-vs-measured rows), each run by ``common.run_section``.
``--quick`` is sized for a 2-core CPU (``reproduce all --quick`` < 20 minutes), ``--full`` for a GPU.
Re-running reuses finished training runs.
"""
from __future__ import annotations

import importlib
import time
from datetime import datetime, timezone
from pathlib import Path

from ganscope.errors import UsageError

PAPERS = ("mescheder2018", "gulrajani2017", "arjovsky2017", "barnett2018", "neyshabur2017")
MATRIX_PROBLEMS = ("gaussian", "line", "circle", "four-lines")  # Mescheder et al. 2018's 2-D problems


def reproduce(paper: str, out, quick: bool = True, workers: int = 2, log=print, seed: int = 0,
              problem: str | None = None) -> Path:
    """Run ``paper`` (or ``all``) into ``out`` with base seed ``seed`` (and the 2-D ``problem`` of the Mescheder
    matrix); returns the page written (``out/index.html``)."""
    from ganscope import report
    from ganscope.reproduce.common import Context

    if paper != "all" and paper not in PAPERS:
        raise UsageError(f"PAPER: unknown paper {paper!r}; allowed: {', '.join(PAPERS)}, all")
    if problem is not None and paper not in ("mescheder2018", "all"):
        raise UsageError("--problem: only mescheder2018 (or all) has a 2-D convergence matrix")
    if problem is not None and problem not in MATRIX_PROBLEMS:
        raise UsageError(f"--problem: unknown problem {problem!r}; allowed: {', '.join(MATRIX_PROBLEMS)}")
    out = Path(out)
    names = PAPERS if paper == "all" else (paper,)
    for name in names:
        ctx = Context(out / name if paper == "all" else out, quick, workers, log, seed, problem)
        ctx.out.mkdir(parents=True, exist_ok=True)
        _run_paper(name, ctx)
        report.render(ctx.out)
    if paper == "all":
        report.write_index(out, [out / n for n in names])
    return out / "index.html"


def _run_paper(name: str, ctx):
    from ganscope import report
    from ganscope.reproduce.common import run_section

    module = importlib.import_module(f"ganscope.reproduce.{name}")
    start = time.perf_counter()
    sections = [run_section(ctx, fn) for fn in module.SECTIONS]
    flag = ("--quick" if ctx.quick else "--full") + (f" --seed {ctx.seed}" if ctx.seed else "") + (
        f" --problem {ctx.problem}" if ctx.problem and name == "mescheder2018" else "")
    report.write(ctx.out, {  # validated before it is written
        "paper": name, "title": module.TITLE, "citation": module.CITATION, "mode": ctx.mode,
        "command": f"ganscope reproduce {name} {flag} --out DIR", "wall_s": time.perf_counter() - start,
        "created": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"), "sections": sections})
