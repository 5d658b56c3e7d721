"""`ganscope reproduce PAPER [--quick|--full] --out DIR`: one paper's experiments, then its report.

Each paper module has ``TITLE``, ``CITATION`` and ``SECTIONS``: functions ``ctx -> dict`` (a report.json
section with its figures, tables, command and paper-vs-measured rows), each run by ``common.run_section``.
``--quick`` is sized for a 2-core CPU (``reproduce all --quick`` < 15 minutes), ``--full`` for a GPU.
Sections marked ``common.serial`` (no worker pool) run in ``common.Lane``, a side process beside the pooled
sections; reports are written in paper order as each paper's sections finish. Re-running reuses finished
training runs.
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
    from ganscope.reproduce.common import Context, Lane, run_section

    if paper != "all" and paper not in PAPERS:
        raise UsageError(f"PAPER: unknown paper {paper!r}; allowed: {', '.join(PAPERS)}, all")
    if problem is not None and paper not in ("mescheder2018", "all"):
        raise UsageError("--problem: only mescheder2018 (or all) has a 2-D convergence matrix")
    if problem is not None and problem not in MATRIX_PROBLEMS:
        raise UsageError(f"--problem: unknown problem {problem!r}; allowed: {', '.join(MATRIX_PROBLEMS)}")
    out = Path(out)
    names = PAPERS if paper == "all" else (paper,)
    contexts = {n: Context(out / n if paper == "all" else out, quick, workers, log, seed, problem) for n in names}
    for ctx in contexts.values():
        ctx.out.mkdir(parents=True, exist_ok=True)
    modules = {n: importlib.import_module(f"ganscope.reproduce.{n}") for n in names}
    start = time.perf_counter()
    with Lane(workers, log) as lane:  # every paper's serial sections, in order, beside the pooled ones
        beside = {n: {fn: f for fn in modules[n].SECTIONS
                      if getattr(fn, "serial", False) and (f := lane.submit(contexts[n], fn)) is not None}
                  for n in names}
        ran, unwritten = {}, list(names)
        for n in names:
            ran[n] = {fn: run_section(contexts[n], fn) for fn in modules[n].SECTIONS if fn not in beside[n]}
            while unwritten and (n == names[-1] or _finished(beside[unwritten[0]], ran, unwritten[0])):
                m = unwritten.pop(0)  # in paper order; after the last paper's sections, waiting for the lane
                _write_paper(m, modules[m], contexts[m], [
                    ran[m][fn] if fn in ran[m] else lane.result(beside[m][fn], contexts[m], fn)
                    for fn in modules[m].SECTIONS])
    if paper == "all":
        report.write_index(out, [out / n for n in names])
    log(f"reproduce {paper}: {time.perf_counter() - start:.0f} s from start to end")
    return out / "index.html"


def _finished(futures: dict, ran: dict, name: str) -> bool:
    """Whether every section of paper ``name`` has finished: its pooled ones ran, its lane futures are done."""
    return name in ran and all(f.done() for f in futures.values())


def _write_paper(name: str, module, ctx, sections: list):
    """report.json (validated before it is written) and its pages for one paper's (section, seconds)."""
    from ganscope import report

    flag = ("--quick" if ctx.quick else "--full") + (f" --seed {ctx.seed}" if ctx.seed else "") + (
        f" --problem {ctx.problem}" if ctx.problem and name == "mescheder2018" else "")
    report.write(ctx.out, {
        "paper": name, "title": module.TITLE, "citation": module.CITATION, "mode": ctx.mode,
        "command": f"ganscope reproduce {name} {flag} --out DIR", "wall_s": sum(t for _, t in sections),
        "created": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"), "sections": [s for s, _ in sections]})
    report.render(ctx.out)
