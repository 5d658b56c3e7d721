"""Benchmark: aggregate steps/s of an ensemble of 32 2-D GANs (one batched model) against the same 32 runs
one after another, measured in one run; and steps/s of a single 3 × 128 MLP run with R1 at batch 256.

Target (issue 3): ensemble ≥ 8× on the CI machine (2 cores). Only the game steps are timed (no evaluation,
logging or start-up). Run: .venv/bin/python bench/ensemble.py [steps]
"""
import sys
import time

from ganscope.config import resolve
from ganscope.train import Run

E = 32


def steps_per_second(values: dict, steps: int) -> float:
    run = Run(resolve(values), "/nonexistent")
    for i in range(3):  # warm-up
        run.game.step(i)
    t0 = time.perf_counter()
    for i in range(steps):
        run.game.step(i)
    return steps / (time.perf_counter() - t0)


def compare(label: str, values: dict, steps: int):
    ens = E * steps_per_second({**values, "ensemble": E}, steps)
    t_seq = sum(steps / steps_per_second({**values, "seed": s}, steps) for s in range(E))
    seq = E * steps / t_seq
    print(f"{label:<38} ensemble {ens:8.0f} member-steps/s | sequential {seq:7.0f} steps/s | "
          f"ratio {ens / seq:5.1f}x (target >= 8x: {'met' if ens / seq >= 8 else 'MISSED'})")


def main(steps=40):
    r1 = {"method": "r1"}
    single = steps_per_second({**r1, "model": {"g_width": 128, "d_width": 128}, "data": {"batch_size": 256}}, 200)
    print(f"single run, 3x128 MLP, R1, batch 256: {single:.0f} steps/s")
    compare("R1, 3x32 MLP, batch 64", {**r1, "model": {"g_width": 32, "d_width": 32},
                                       "data": {"batch_size": 64}}, steps)
    compare("R1, 3x64 MLP, batch 128", {**r1, "model": {"g_width": 64, "d_width": 64},
                                        "data": {"batch_size": 128}}, steps)
    compare("R1, 3x128 MLP, batch 256", {**r1, "model": {"g_width": 128, "d_width": 128},
                                         "data": {"batch_size": 256}}, steps // 2)


if __name__ == "__main__":
    main(*map(int, sys.argv[1:]))
