"""Provisional steps/s of the 2-D engine (toy2d: 3x128 MLPs, batch 256, R1 every critic step, one thread):
eager fp32 with the fused R1 (the default), unfused, bf16 autocast, and ``train.compile`` (inductor).
Interleaved repetitions after a warm-up (the compile happens in the warm-up), medians.

    PYTHONPATH=$PWD OMP_NUM_THREADS=1 python bench/precision2d.py [--reps 3 --steps 100 --no-compile]
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import time

import torch

from ganscope.config import load_yaml, resolve
from ganscope.shipped import find_config
from ganscope.train import Run

VARIANTS = {"fp32 fused": ([], {}), "fp32 unfused": ([], {"fuse": False}), "bf16 fused": (["train.precision=bf16"], {}),
            "fp32 compiled": (["train.compile=true"], {})}


def make(overrides, rules):
    run = Run(resolve(load_yaml(find_config("toy2d")), overrides), "/nonexistent")
    run.game.rules = dataclasses.replace(run.game.rules, **rules)
    return run


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--no-compile", action="store_true")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    names = [n for n in VARIANTS if not (args.no_compile and "compiled" in n)]
    runs, rates, warm = {n: make(*VARIANTS[n]) for n in names}, {n: [] for n in names}, {}
    for n in names:
        t0 = time.perf_counter()
        for i in range(args.warmup):
            runs[n].game.step(i)
        warm[n] = time.perf_counter() - t0
    for _ in range(args.reps):
        for n in names:
            game, t0 = runs[n].game, time.perf_counter()
            for i in range(args.steps):
                game.step(args.warmup + i)
            rates[n].append(args.steps / (time.perf_counter() - t0))
    print(json.dumps({n: {"steps_per_s": round(statistics.median(r), 1), "warmup_s": round(warm[n], 1)}
                      for n, r in rates.items()}, indent=1))


if __name__ == "__main__":
    main()
