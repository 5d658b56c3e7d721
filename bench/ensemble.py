"""Benchmark: 2-D GAN steps (``configs/toy2d.yaml``: R1 γ 20 on 8 Gaussians, Adam 1e-3 (0.5, 0.9), EMA 0.99).

(b) a single run, 3 × 128 MLPs, batch 256: ganscope's ``Run`` step (``run.game.step``) against a plain
    hand-written PyTorch loop (``PlainLoop``) on the same MLPs (the same initial weights), the same data sampler
    and the same optimizers (torch's defaults). Target: ganscope's time ≤ the plain loop's (ratio plain /
    ganscope ≥ 1). The same loop on the engine's nets (``PlainLoop(engine_nets=True)``: an ``EnsembleMLP`` of one
    member, as the task builds it) is timed in the same rounds: plain-on-engine-nets / ganscope is the engine's
    own overhead, plain / plain-on-engine-nets the nets' (baddbmm against nn.Linear's addmm).
(c) an ensemble of 32 runs (one batched model) against the same 32 runs one after another, 3 × 64 / batch 128
    (target ≥ 8×) and 3 × 128 / batch 256 (target ≥ 3×). One block of the ensemble is S steps; one block of the
    sequential side is S steps of each of the 32 runs; the blocks alternate (``_harness.interleaved``).
    The same ensemble with ``train.ensemble_step: compiled`` (``ganscope.func_step``: each player's losses and
    gradients from one torch.compile'd torch.func function) against the same sequential runs (eager, as a user
    runs 32 seeds), same targets; and the compiled against the eager ensemble step (reported only), with the
    compile time (the first call: compile + one step, inductor) apart and the break-even run length
    compile_s / (eager − compiled seconds per step). The three sides' blocks alternate in one ``interleaved``.
(t) threads: the single run of (b) at 2 torch threads against 1 (reported only; train.threads' default).

Only game steps are timed (no evaluation, logging or start-up). Run: .venv/bin/python bench/ensemble.py [--quick]
"""
from __future__ import annotations

import copy
import os
import sys
import time

import torch
import torch.nn.functional as F

from _harness import interleaved, ms, repeat, row, thread_counts, threads
from ganscope.config import load_yaml, resolve
from ganscope.game import make_optimizer
from ganscope.nets.mlp import MLP, EnsembleMLP
from ganscope.shipped import find_config
from ganscope.train import Run

E = 32


def toy_config(width: int, batch: int, step: str = "eager", **top):
    values = load_yaml(find_config("toy2d"))
    values["model"] = {**values["model"], "g_width": width, "d_width": width}
    values["data"] = {**values["data"], "batch_size": batch}
    values["train"] = {**values.get("train", {}), "plots": False, "diagnostics": False, "ensemble_step": step}
    return resolve({**values, **top})


def run_step(cfg):
    """``run.game.step`` of a fresh ``train.Run`` (never trained, so nothing is written), as a closure."""
    run = Run(cfg, os.devnull)
    counter = [0]

    def step():
        run.game.step(counter[0])
        counter[0] += 1
    return step


class PlainLoop:
    """The loop a user writes: nn.Linear MLPs, D step (non-saturating loss + (γ/2)·E‖∇ₓD(x)‖² on the real
    batch, one backward, Adam), then G step with D frozen, then the EMA of G. ``engine_nets``: the same MLPs as
    ganscope's task holds them (``EnsembleMLP`` of one member; batches with a leading member axis of 1)."""

    def __init__(self, cfg, engine_nets: bool = False):
        m = cfg.model
        torch.manual_seed(cfg.seed)  # the task's initialisation order: G then D under the member's seed
        self.gen = MLP(m.latent_dim, 2, m.g_depth, m.g_width, m.activation)
        self.disc = MLP(2, 1, m.d_depth, m.d_width, m.activation)
        if engine_nets:
            self.gen, self.disc = EnsembleMLP.from_members([self.gen]), EnsembleMLP.from_members([self.disc])
        self.lead = (1,) if engine_nets else ()
        self.ema = copy.deepcopy(self.gen).requires_grad_(False)
        self.beta, self.gamma = cfg.game.ema, cfg.penalty.weight
        self.opt_g = make_optimizer(self.gen.parameters(), cfg.optim.g, foreach=None)  # torch's defaults, as a user
        self.opt_d = make_optimizer(self.disc.parameters(), cfg.optim.d, foreach=None)  # writes them
        from ganscope.data.toy2d import get_dataset

        self.data, self.batch, self.latent = get_dataset(cfg.data.name), cfg.data.batch_size, m.latent_dim
        self.rng = torch.Generator().manual_seed(cfg.seed)

    def step(self):
        x = self.data.sample(self.batch, self.rng)
        x = (x.unsqueeze(0) if self.lead else x).requires_grad_(True)
        self.disc.requires_grad_(True)
        with torch.no_grad():
            fake = self.gen(torch.randn(*self.lead, self.batch, self.latent, generator=self.rng))
        d_real, d_fake = self.disc(x).squeeze(-1), self.disc(fake).squeeze(-1)
        (g,) = torch.autograd.grad(d_real.sum(), x, create_graph=True)
        loss = F.softplus(-d_real).mean() + F.softplus(d_fake).mean() + self.gamma / 2 * g.pow(2).sum(-1).mean()
        self.opt_d.zero_grad()
        loss.backward()
        self.opt_d.step()
        self.disc.requires_grad_(False)
        z = torch.randn(*self.lead, self.batch, self.latent, generator=self.rng)
        g_loss = F.softplus(-self.disc(self.gen(z))).mean()
        self.opt_g.zero_grad()
        g_loss.backward()
        self.opt_g.step()
        with torch.no_grad():
            for pe, p in zip(self.ema.parameters(), self.gen.parameters()):
                pe.lerp_(p, 1 - self.beta)


def single_rows(quick: bool) -> list[dict]:
    """(b) and (t)."""
    steps, repeats = (20, 3) if quick else (100, 9)
    cfg = toy_config(128, 256)
    ours, plain, plain_ens = run_step(cfg), PlainLoop(cfg).step, PlainLoop(cfg, engine_nets=True).step
    rows = []
    for t in thread_counts(quick):
        with threads(t):
            res = interleaved({"ganscope": repeat(ours, steps), "plain": repeat(plain, steps),
                               "plain_engine_nets": repeat(plain_ens, steps)}, repeats)
        rows.append(row(f"2-D single run 3x128 R1 b256 t{t}", "plain-loop time / ganscope time",
                        res["plain"] / res["ganscope"], ">= 1", threads=t,
                        ganscope_steps_per_s=round(steps / res["ganscope"], 1),
                        plain_steps_per_s=round(steps / res["plain"], 1),
                        plain_engine_nets_steps_per_s=round(steps / res["plain_engine_nets"], 1),
                        engine_overhead=round(res["plain_engine_nets"] / res["ganscope"], 3),
                        nets=round(res["plain"] / res["plain_engine_nets"], 3)))
    if not quick and (os.cpu_count() or 1) > 1:
        def at(n):
            def block():
                with threads(n):
                    repeat(ours, steps)()
            return block
        res = interleaved({"t1": at(1), "t2": at(2)}, repeats)
        rows.append(row("2-D single run 3x128: 2 threads vs 1", "1-thread time / 2-thread time",
                        res["t1"] / res["t2"], None, steps_per_s_1=round(steps / res["t1"], 1),
                        steps_per_s_2=round(steps / res["t2"], 1)))
    return rows


def ensemble_rows(quick: bool) -> list[dict]:
    """(c), eager and compiled."""
    cases = [(64, 128, ">= 8")] if quick else [(64, 128, ">= 8"), (128, 256, ">= 3")]
    steps, repeats = (3, 3) if quick else (10, 5)
    rows = []
    for width, batch, target in cases:
        ens = run_step(toy_config(width, batch, ensemble=E))
        compiled = run_step(toy_config(width, batch, "compiled", ensemble=E))
        t0 = time.perf_counter()
        compiled()  # torch.compile's first call: tracing and inductor's code generation, then one step
        compile_s = time.perf_counter() - t0
        singles = [run_step(toy_config(width, batch, seed=s)) for s in range(E)]

        def sequential():
            for s in singles:
                for _ in range(steps):
                    s()
        for t in thread_counts(quick):
            with threads(t):
                res = interleaved({"ensemble": repeat(ens, steps), "compiled": repeat(compiled, steps),
                                   "sequential": sequential}, repeats)
            seq = {"threads": t, "sequential_steps_per_s": round(E * steps / res["sequential"], 1)}
            rows.append(row(f"ensemble {E} vs sequential 3x{width} b{batch} t{t}", "sequential time / ensemble time",
                            res["sequential"] / res["ensemble"], target, **seq,
                            ensemble_member_steps_per_s=round(E * steps / res["ensemble"], 1),
                            ensemble_ms_per_step=ms(res["ensemble"], steps)))
            rows.append(row(f"compiled ensemble {E} vs sequential 3x{width} b{batch} t{t}",
                            "sequential time / compiled ensemble time", res["sequential"] / res["compiled"], target,
                            **seq, compiled_member_steps_per_s=round(E * steps / res["compiled"], 1),
                            compiled_ms_per_step=ms(res["compiled"], steps)))
            saved = (res["ensemble"] - res["compiled"]) / steps  # seconds per step
            rows.append(row(f"compiled vs eager ensemble step {E} 3x{width} b{batch} t{t}",
                            "eager ensemble time / compiled ensemble time", res["ensemble"] / res["compiled"], None,
                            threads=t, eager_ms_per_step=ms(res["ensemble"], steps),
                            compiled_ms_per_step=ms(res["compiled"], steps), compile_s=round(compile_s, 1),
                            break_even_steps=round(compile_s / saved) if saved > 0 else None))
    return rows


def main(quick: bool = False) -> list[dict]:
    return single_rows(quick) + ensemble_rows(quick)


if __name__ == "__main__":
    from _harness import print_rows

    print_rows(main("--quick" in sys.argv[1:]))
