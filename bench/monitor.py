"""Benchmark: the monitor's overhead between evaluations (issue 14). A hand-written 2-D GAN loop (3 × 128 MLPs,
non-saturating loss, Adam, batch 256) with ``mon.step(step)`` after every update and ``every=10**9`` (no
evaluation) against the same loop without it: repetitions of ``steps`` updates, interleaved (bare, monitored,
monitored, bare, ...), the median time of each; ratio = monitored / bare. Target: within 2 % (ratio ≤ 1.02).
Also the cost of one ``mon.step`` call alone (no ratio). Only the loop is timed (not the monitor's construction
or ``close``). Run: .venv/bin/python bench/monitor.py [steps] [repetitions]
"""
import statistics
import sys
import tempfile
import time

import torch
from torch import nn

from ganscope import Monitor

TARGET = 1.02


def _nets():
    torch.manual_seed(0)
    mlp = lambda i, o: nn.Sequential(nn.Linear(i, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(),  # noqa: E731
                                     nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, o))
    return mlp(8, 2), nn.Sequential(mlp(2, 1), nn.Flatten(0))


def _loop(g, d, og, od, steps, mon=None, start=0):
    f = nn.functional.softplus
    for step in range(start, start + steps):
        x, z = torch.randn(256, 2), torch.randn(256, 8)
        loss_d = f(-d(x)).mean() + f(d(g(z).detach())).mean()
        od.zero_grad()
        loss_d.backward()
        od.step()
        loss_g = f(-d(g(z))).mean()
        og.zero_grad()
        loss_g.backward()
        og.step()
        if mon is not None:
            mon.step(step)


def overhead(steps: int = 200, reps: int = 7) -> dict:
    """{name, ratio, target, verdict, bare_s, monitored_s, noise} of the interleaved comparison; noise: (max − min)
    / median of the bare repetitions, the machine's own variation, against which the ratio is read."""
    g, d = _nets()
    og, od = torch.optim.Adam(g.parameters(), 1e-4), torch.optim.Adam(d.parameters(), 1e-4)
    with tempfile.TemporaryDirectory() as out:
        mon = Monitor(out, g, d, real=lambda n: torch.randn(n, 2), latent=8, every=10**9, plots=False, verbose=False)
        _loop(g, d, og, od, 20)  # warm-up
        times = {"bare": [], "monitored": []}
        done = 0
        for r in range(reps):
            for which in (("bare", "monitored") if r % 2 == 0 else ("monitored", "bare")):
                t0 = time.perf_counter()
                _loop(g, d, og, od, steps, mon if which == "monitored" else None, done)
                times[which].append(time.perf_counter() - t0)
                done += steps
        mon.close()
    bare, monitored = statistics.median(times["bare"]), statistics.median(times["monitored"])
    ratio = monitored / bare
    return {"name": f"monitor: loop with mon.step every step, every=10**9 ({steps} steps x {reps} reps)",
            "ratio": ratio, "target": TARGET, "verdict": "met" if ratio <= TARGET else "missed",
            "bare_s": bare, "monitored_s": monitored,
            "noise": (max(times["bare"]) - min(times["bare"])) / bare}  # the spread of the bare repetitions


def step_cost(calls: int = 200_000) -> float:
    """Seconds per ``mon.step`` call between evaluations (nothing else in the loop)."""
    g, d = _nets()
    with tempfile.TemporaryDirectory() as out:
        mon = Monitor(out, g, d, real=lambda n: torch.randn(n, 2), latent=8, every=10**9, plots=False, verbose=False)
        t0 = time.perf_counter()
        for step in range(calls):
            mon.step(step)
        cost = (time.perf_counter() - t0) / calls
        mon.close()
    return cost


def main(steps: int = 200, reps: int = 7) -> list[dict]:
    row = overhead(steps, reps)
    print(f"{row['name']}: bare {row['bare_s'] * 1e3 / steps:.3f} ms/step, monitored "
          f"{row['monitored_s'] * 1e3 / steps:.3f} ms/step, ratio {row['ratio']:.4f} "
          f"(target <= {TARGET}: {row['verdict']}; spread of the bare repetitions {row['noise']:.1%})")
    print(f"one mon.step call between evaluations: {step_cost() * 1e9:.0f} ns")
    return [{k: row[k] for k in ("name", "ratio", "target", "verdict")}]


if __name__ == "__main__":
    main(*map(int, sys.argv[1:]))
