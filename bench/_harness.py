"""What every benchmark shares: interleaved timing with medians, thread counts, result rows, machine info.

A benchmark module ``bench/NAME.py`` exposes ``main(quick: bool) -> list[dict]`` of rows built by :func:`row`:
``{name, measure, ratio, target, verdict, detail}``. ``ratio`` is the measure named by ``measure`` (e.g.
"ganscope time / reference time"); ``target`` is a string ``"<= 0.7"`` or ``">= 3"`` (or None: reported only);
``verdict`` is "met", "missed" or "info"; ``detail`` holds the raw numbers (ms per step, threads, n, ...).

Timing (:func:`interleaved`): each variant is a callable running one block of steps; the blocks of the
variants alternate in one process (A, B, A, B, …; the order rotates at every repetition, so that neither
variant always runs first), after ``warmup`` untimed rounds; the result per variant is the median block time.
A varying load from other jobs then hits every variant alike, and a stall hits one block, not the median.
"""
from __future__ import annotations

import contextlib
import os
import platform
import statistics
import sys
import time

import torch

ROW_KEYS = ("name", "measure", "ratio", "target", "verdict", "detail")


def interleaved(blocks: dict, repeats: int, warmup: int = 1) -> dict:
    """{name: median seconds of one call of ``blocks[name]()``}, the calls interleaved (see the module doc)."""
    names = list(blocks)
    times = {n: [] for n in names}
    for rep in range(warmup + repeats):
        shift = rep % len(names)
        for name in names[shift:] + names[:shift]:
            _sync()
            t0 = time.perf_counter()
            blocks[name]()
            _sync()
            if rep >= warmup:
                times[name].append(time.perf_counter() - t0)
    return {n: statistics.median(t) for n, t in times.items()}


def _sync():
    """Wait for queued CUDA work, so that a block's time is its work's (nothing on the CPU)."""
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.synchronize()


def bench_device() -> torch.device:
    """Where the image benchmarks run: $BENCH_DEVICE (cpu, cuda, cuda:N), else CUDA where torch finds it."""
    return torch.device(os.environ.get("BENCH_DEVICE") or ("cuda" if torch.cuda.is_available() else "cpu"))


def repeat(step, n: int):
    """A block: ``n`` calls of ``step()``."""
    def block():
        for _ in range(n):
            step()
    return block


@contextlib.contextmanager
def threads(n: int):
    """torch's intra-op CPU threads set to ``n`` inside the block (restored after)."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def thread_counts(quick: bool) -> list[int]:
    """The thread counts a benchmark measures at: $BENCH_THREADS (comma-separated), else 1 and 2 (1 when quick)."""
    text = os.environ.get("BENCH_THREADS")
    if text:
        return [int(t) for t in text.split(",") if t.strip()]
    return [1] if quick else [1, min(2, os.cpu_count() or 1)] if (os.cpu_count() or 1) > 1 else [1]


def verdict(ratio, target) -> str:
    """"met" / "missed" against ``"<= x"`` or ``">= x"``; "info" without a target or a ratio."""
    if target is None or ratio is None:
        return "info"
    op, value = target.split()
    ok = ratio <= float(value) if op == "<=" else ratio >= float(value)
    return "met" if ok else "missed"


def row(name: str, measure: str, ratio, target: str | None, **detail) -> dict:
    ratio = None if ratio is None else float(ratio)
    return {"name": name, "measure": measure, "ratio": ratio, "target": target, "verdict": verdict(ratio, target),
            "detail": detail}


def ms(seconds: float, steps: int = 1) -> float:
    """Milliseconds per step of a block of ``steps`` steps, rounded to 0.01 ms."""
    return round(seconds / steps * 1e3, 2)


def machine() -> dict:
    """What a timing depends on: CPU model, cores, torch and its threads, Python, the load average at the start."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "torch": torch.__version__, "threads": torch.get_num_threads(),
            "python": sys.version.split()[0], "platform": platform.platform(),
            "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
            "mkldnn_bf16": bool(getattr(torch.backends.mkldnn, "is_available", lambda: False)()),
            "device": str(bench_device()), "cuda": torch.version.cuda,
            "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}


def print_rows(rows: list[dict], out=None) -> None:
    """The table: name, ratio, target, verdict (and the measure)."""
    out = out or sys.stdout
    width = max([len(r["name"]) for r in rows] + [10])
    print(f"{'benchmark':<{width}}  {'ratio':>7}  {'target':>8}  {'verdict':<7}  measure", file=out)
    for r in rows:
        ratio = "-" if r["ratio"] is None else f"{r['ratio']:.3f}"
        print(f"{r['name']:<{width}}  {ratio:>7}  {r['target'] or '-':>8}  {r['verdict']:<7}  {r['measure']}",
              file=out)
    out.flush()
