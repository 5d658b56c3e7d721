"""Pieces shared by the paper reproductions: in-process training runs and sweeps on the shipped configs, the
commands that regenerate them, and the quick/full sizes. The report.json builders (``section``, ``compare``,
``figure``, ``table``) live in ganscope.report beside the schema; they are re-exported here."""
from __future__ import annotations

import functools
import json
import shutil
import time
import traceback
from dataclasses import dataclass, replace
from pathlib import Path

import yaml

from ganscope import report
from ganscope.config import flatten, load_yaml, merge, parse_override, resolve, to_dict
from ganscope.io import read_jsonl, write_text
from ganscope.plots import plt
from ganscope.report import compare, section, table  # noqa: F401  (re-exported for the paper modules)
from ganscope.shipped import find_config


@dataclass
class Context:
    """Where a reproduction writes (``out``), how big it is (``quick``), how many worker processes it uses, its
    base seed (``seed``: the first seed of every trained run and sweep) and the 2-D problem of the Mescheder
    matrix (``problem``; None: the profile's)."""

    out: Path
    quick: bool = True
    workers: int = 2
    log: callable = print
    seed: int = 0
    problem: str | None = None

    @property
    def mode(self) -> str:
        return "quick" if self.quick else "full"

    def size(self, quick, full):
        return quick if self.quick else full


class LogStream:
    """A text stream that hands each complete line to ``log`` (the reproduction's), indented: a sweep's progress
    lines appear in the reproduction's log instead of being lost."""

    def __init__(self, log, indent: str = "  "):
        self.log, self.indent, self.buffer = log, indent, ""

    def write(self, text):
        self.buffer += text
        *lines, self.buffer = self.buffer.split("\n")
        for line in lines:
            self.log(f"{self.indent}{line}")
        return len(text)

    def flush(self):
        pass

    def isatty(self):
        return False


def figure(ctx: Context, path, caption) -> dict:
    """``report.figure`` relative to the reproduction's directory."""
    return report.figure(ctx.out, path, caption)


def run_section(ctx: Context, fn) -> tuple[dict, float]:
    """Run one experiment; returns (its section, its seconds). A failure becomes a section that says so instead
    of stopping the reproduction."""
    name = fn.__name__.lstrip("_")
    ctx.log(f"[{ctx.mode}] {name} ...")
    start = time.perf_counter()
    try:
        result = fn(ctx)
    except Exception as err:  # noqa: BLE001 - recorded in the report, not swallowed
        detail = traceback.format_exc(limit=3).strip().splitlines()[-1]
        result = section(name, name.replace("_", " "), f"This experiment failed: {detail}",
                         comparisons=[compare(name, "—", f"failed: {type(err).__name__}", None)])
    seconds = time.perf_counter() - start
    ctx.log(f"[{ctx.mode}] {name} done in {seconds:.0f} s")
    return result, seconds


def serial(fn):
    """Mark section ``fn`` serial: it trains nothing on the worker pool (one process, one thread), so
    ``reproduce`` may run it in the ``Lane`` beside the sections that do."""
    fn.serial = True
    return fn


LANE_NICE = 19  # the lowest CPU priority: the lane runs on the cores the worker pool leaves idle


class Lane:
    """One side process, at the lowest CPU priority (``LANE_NICE``), that runs the serial sections
    while the main process runs the pooled ones (a sweep's last runs and in-process analysis leave a core idle;
    the lane takes it). Its log lines reach ``log`` through a queue. With ``workers`` ≤ 1 it is off: ``submit``
    returns None and the caller runs the section itself."""

    def __init__(self, workers: int, log):
        self.log, self.pool = log, None
        if workers > 1:
            import threading
            from concurrent.futures import ProcessPoolExecutor

            from ganscope.sweep.executors import cpu_context

            context = cpu_context()
            self.queue = context.Queue()
            self.pool = ProcessPoolExecutor(1, mp_context=context, initializer=_lane_start,
                                            initargs=(self.queue,))
            self.relay = threading.Thread(target=self._relay, daemon=True)
            self.relay.start()

    def _relay(self):
        for line in iter(self.queue.get, None):
            self.log(line)

    def submit(self, ctx: Context, fn):
        """A future of ``run_section(ctx, fn)`` in the lane, or None (the lane is off)."""
        if self.pool is None:
            return None
        return self.pool.submit(_lane_section, replace(ctx, log=None), fn)

    @staticmethod
    def result(future, ctx: Context, fn) -> tuple[dict, float]:
        """The (section, seconds) of ``future``; run here instead if the lane's process died."""
        from concurrent.futures.process import BrokenProcessPool

        try:
            return future.result()
        except BrokenProcessPool:
            return run_section(ctx, fn)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
            self.queue.put(None)
            self.relay.join()


_LANE_QUEUE = None


def _lane_start(queue):
    """The lane's process: one thread, a lower priority, log lines to ``queue``."""
    import os

    from ganscope.sweep.executors import one_thread

    global _LANE_QUEUE
    _LANE_QUEUE = queue
    one_thread()
    if hasattr(os, "nice"):
        os.nice(LANE_NICE)


def _lane_section(ctx: Context, fn):
    """``run_section`` in the lane, its log lines to the queue."""
    return run_section(replace(ctx, log=_LANE_QUEUE.put), fn)


def config_of(name: str, overrides=()):
    """The shipped config NAME (ganscope/configs/NAME.yaml) with overrides, validated."""
    return resolve(load_yaml(find_config(name)), overrides)


def train(ctx: Context, name: str, overrides=(), sub=None):
    """Train the shipped config NAME with overrides in-process into ``ctx.out/sub``; returns (run directory,
    summary).

    A finished run in that directory (``rundir.is_done`` with its last checkpoint) is reused instead of retrained
    (re-running a reproduction is cheap); anything else there is replaced.
    """
    from ganscope import rundir, train as trainer

    out = ctx.out / (sub or name)
    cfg = config_of(name, [f"seed={ctx.seed}", *overrides])
    if rundir.is_done(out) and rundir.last_checkpoint(out).exists():
        return out, json.loads(rundir.summary_path(out).read_text())
    trainer.prepare(cfg)
    run = trainer.Run(cfg, out)
    shutil.rmtree(out, ignore_errors=True)
    write_text(rundir.config_path(out), yaml.safe_dump(to_dict(cfg), sort_keys=False))
    return out, run.train(progress=True)  # a bar on a terminal, plain lines in a log file


def train_all(ctx: Context, jobs: list) -> list:
    """``train`` for several ``(name, overrides, sub)``, each in a worker process (``in_workers``), its progress
    lines in ``ctx.out/sub.log``. Returns their (run directory, summary) in order: the runs ``train`` makes
    in-process at one thread. One worker or one job: in-process."""
    if ctx.workers <= 1 or len(jobs) <= 1:
        return [train(ctx, *job) for job in jobs]
    return in_workers(ctx, [(_train_logged, ctx.out, ctx.seed, *job) for job in jobs],
                      [f"{job[2]}: trained" for job in jobs])


def in_workers(ctx: Context, calls: list, done: list) -> list:
    """``fn(*args)`` for each ``(fn, *args)`` of ``calls``, started in that order on the context's worker processes
    (one torch thread each, as a sweep's; each ``fn`` a module-level function); the line ``done[i]`` on the
    reproduction's log as call i finishes, and a count every 30 s. Returns the results in order. One worker or
    one call: in-process."""
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    from ganscope.sweep.executors import cpu_context, one_thread

    if ctx.workers <= 1 or len(calls) <= 1:
        return [fn(*args) for fn, *args in calls]
    start = time.perf_counter()
    with ProcessPoolExecutor(min(ctx.workers, len(calls)), mp_context=cpu_context(),
                             initializer=one_thread) as pool:
        futures = {pool.submit(*call): line for call, line in zip(calls, done)}
        pending = set(futures)
        while pending:
            finished, pending = wait(pending, timeout=30, return_when=FIRST_COMPLETED)
            for f in finished:
                ctx.log(f"  {futures[f]} ({time.perf_counter() - start:.0f} s)")
            if not finished:
                ctx.log(f"  {len(calls) - len(pending)}/{len(calls)} done, {time.perf_counter() - start:.0f} s elapsed")
        return [f.result() for f in futures]


def _train_logged(out, seed: int, name: str, overrides, sub):
    """A worker's ``train``: its stdout and stderr (the progress lines) in ``out/sub.log``."""
    from contextlib import redirect_stderr, redirect_stdout

    log = Path(out) / f"{sub}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w", encoding="utf-8") as f, redirect_stdout(f), redirect_stderr(f):
        return train(Context(Path(out), seed=seed), name, overrides, sub)


def sweep(ctx: Context, spec: dict, sub: str):
    """Run a sweep spec (``base``: a shipped config name) into ``ctx.out/sub`` with the context's workers.

    Returns (aggregated rows, {run name: (its overrides, its run directory)}) for the finished runs."""
    return sweeps(ctx, [(spec, sub)])[0]


def sweeps(ctx: Context, specs: list) -> list:
    """``sweep`` for several ``(spec, sub)`` at once, their jobs queued together on one pool of the context's
    workers (``ganscope.sweep.run_sweeps``): the same runs, no worker idle between sweeps. One (rows, runs) per
    spec, in order."""
    from ganscope import rundir
    from ganscope.sweep import parse_spec, run_sweeps

    parsed = []
    for spec, sub in specs:
        spec = {**spec, "base": str(find_config(spec["base"]).resolve())}  # shipped, whatever the working directory
        if ctx.seed:  # the base seed shifts every run's seeds
            seeds = dict(spec.get("seeds") or {"count": 1})
            spec["seeds"] = {**seeds, "start": seeds.get("start", 0) + ctx.seed}
        parsed.append((parse_spec(spec), ctx.out / sub))
    states = run_sweeps(parsed, workers=ctx.workers, log=LogStream(ctx.log))
    return [(state.rows, {name: (rec["overrides"], state.out / "runs" / name) for name, rec in state.records.items()
                          if rundir.is_done(state.out / "runs" / name)}) for state in states]


def command(name: str, overrides=(), sub=None, out="DIR") -> str:
    """The command line that trains the shipped config NAME with ``overrides`` (runs from any directory)."""
    extra = "".join(f" {o}" for o in overrides)
    return f"ganscope train {name}{extra} --out {out}/{sub or name}"


def evaluations(run_dir, key: str) -> list[dict]:
    """The evaluation rows of a run's metrics.jsonl (those that hold ``key``, e.g. "fid" or "jsd4")."""
    return [r for r in read_jsonl(Path(run_dir) / "metrics.jsonl") if key in r]


def image_overrides(ctx) -> list[str]:
    """The image runs' size: tiny nets and short runs for --quick, the paper's scale (on a GPU) for --full."""
    return ctx.size(["model.g_width=32", "model.d_width=32", "train.eval_every=100", "data.eval_samples=500",
                     "game.ema=0.99"], ["train.eval_every=1000"])


def as_set(overrides) -> dict:
    """``["a.b=1", ...]`` -> ``{"a.b": 1, ...}`` (values parsed as on the command line), for a sweep's ``set``."""
    return flatten(functools.reduce(merge, map(parse_override, overrides), {}))


def fid_axis(ax, xlabel: str):
    """Label an FID panel: a linear y axis (FID differences read as differences) with a few plain-number ticks."""
    from matplotlib.ticker import MaxNLocator, ScalarFormatter

    ax.set(xlabel=xlabel, ylabel="FID", yscale="linear")
    ax.yaxis.set_major_locator(MaxNLocator(nbins=6))
    ax.yaxis.set_major_formatter(ScalarFormatter(useOffset=False))
    ax.tick_params(labelsize=9)
    ax.grid(True, alpha=0.3)


def fid_against(curves: dict, axes=("step",)):
    """FID curves of several runs against each of ``axes`` (step, wall_s), one panel each, on linear axes."""
    fig, panels = plt.subplots(1, len(axes), figsize=(5 * len(axes), 3.4), squeeze=False)
    for ax, key in zip(panels[0], axes):
        for label, rows in curves.items():
            ax.plot([r[key] for r in rows], [r["fid"] for r in rows], "o-", ms=3, label=label)
        fid_axis(ax, {"step": "generator step", "wall_s": "training seconds"}[key])
    panels[0][0].legend(fontsize=8)
    fig.tight_layout()
    return fig
