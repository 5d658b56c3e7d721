"""Benchmark: image GAN steps, ratios measured in one run (2 torch threads).

(a) GAN_stability ResNet GAN (32 px RGB, widest width 64, batch 32), non-saturating loss, R1 (γ = 10):
    steps/s of one D step + one G step with dense R1 (every D step) vs lazy R1 (``penalties.lazy``: every 16
    D steps with gain 16). Timed in blocks of 16 steps (one lazy cycle).
(b) RP-GAN, K = 12 at 64 px RGB (the paper's geometry, 32×32 views), ``d_width`` 64 (view width 19), batch 64:
    forward + backward of the discriminators' summed non-saturating losses (projections included) with the
    grouped network vs a Python loop over the K standalone members (``member(k)``), and vs ``forward_loop``.
    Timed in blocks of 4 steps.

Each rate is the median over the repeated blocks after one warm-up block; the variants' blocks are interleaved.

Run: .venv/bin/python bench/images.py [--repeats 5] [--out bench.json]
"""
import argparse
import statistics
import time

import torch

from ganscope.io import json_safe, write_json
from ganscope.nets.conv import make_image_nets, param_count
from ganscope.nets.rp import RPDiscriminator
from ganscope.objectives import get_objective
from ganscope.penalties import lazy, r1

NS = get_objective("nonsaturating")


def median_rates(fns: dict, steps: int, repeats: int, warmup: int = 1) -> dict:
    """Median over ``repeats`` blocks of ``steps`` calls of ``fn(i)`` of the calls per second, for each fn.

    The blocks of the different fns are interleaved (round robin), so that a varying load on a shared
    machine hits every variant alike.
    """
    counters = dict.fromkeys(fns, 0)
    rates = {name: [] for name in fns}
    for rep in range(warmup + repeats):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            for _ in range(steps):
                fn(counters[name])
                counters[name] += 1
            if rep >= warmup:
                rates[name].append(steps / (time.perf_counter() - t0))
    return {name: statistics.median(r) for name, r in rates.items()}


def r1_gan(every: int, batch=32, size=32, width=64, gamma=10.0, latent=128):
    """One D step (NS loss + R1, dense or lazy) + one G step of the ResNet GAN, as a function of the step."""
    torch.manual_seed(0)
    gen, disc = make_image_nets("resnet", size, 3, latent, width, width)
    opt_g = torch.optim.RMSprop(gen.parameters(), 1e-4)
    opt_d = torch.optim.RMSprop(disc.parameters(), 1e-4)
    penalty = lazy(r1, every)
    real = torch.rand(batch, 3, size, size) * 2 - 1

    def step(i):
        with torch.no_grad():
            fake = gen(torch.randn(batch, latent))
        loss = NS.d_loss(disc(real), disc(fake))
        pen = penalty(disc, real, gamma, step=i)
        opt_d.zero_grad(set_to_none=True)
        (loss + pen).backward()
        opt_d.step()
        opt_g.zero_grad(set_to_none=True)
        NS.g_loss(disc(gen(torch.randn(batch, latent)))).backward()
        opt_g.step()

    return step, param_count(gen), param_count(disc)


def rp_d_step(mode: str, k=12, batch=64, size=64, d_width=64):
    """Forward + backward of the K discriminators' summed NS losses: grouped, standalone loop, or forward_loop."""
    torch.manual_seed(0)
    disc = RPDiscriminator(k, 3, size, d_width)
    real, fake = torch.rand(batch, 3, size, size) * 2 - 1, torch.rand(batch, 3, size, size) * 2 - 1
    members = [disc.member(j) for j in range(k)]

    def logits(x):
        if mode == "grouped":
            return disc(x)
        if mode == "forward_loop":
            return disc.forward_loop(x)
        v = disc.views(x)
        return torch.stack([m(v[:, j:j + 1]) for j, m in enumerate(members)])

    def step(_):
        NS.d_loss(logits(real), logits(fake)).sum().backward()

    return step, disc


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", default=None, help="write the results as JSON here")
    args, _ = parser.parse_known_args(argv)  # bench/run.py passes its own arguments
    torch.set_num_threads(2)
    res = {"threads": torch.get_num_threads(), "repeats": args.repeats}

    (dense, n_g, n_d), (lazy16, _, _) = r1_gan(1), r1_gan(16)
    rates = median_rates({"dense": dense, "lazy16": lazy16}, 16, args.repeats)  # 16 steps = one lazy cycle
    res["r1"] = {"net": "resnet", "image_size": 32, "width": 64, "batch": 32, "g_params": n_g, "d_params": n_d,
                 "dense_steps_per_s": rates["dense"], "lazy16_steps_per_s": rates["lazy16"],
                 "ratio": rates["lazy16"] / rates["dense"]}

    steps = {mode: rp_d_step(mode) for mode in ("grouped", "loop", "forward_loop")}
    rates = median_rates({mode: s for mode, (s, _) in steps.items()}, 4, args.repeats)
    disc = steps["grouped"][1]
    res["rp"] = {"k": 12, "image_size": 64, "view_size": disc.projections.view_size, "d_width": 64,
                 "view_width": disc.discs.d_width, "batch": 64, "d_params": param_count(disc),
                 **{f"{m}_steps_per_s": r for m, r in rates.items()},
                 "ratio_grouped_vs_loop": rates["grouped"] / rates["loop"],
                 "ratio_grouped_vs_forward_loop": rates["grouped"] / rates["forward_loop"]}

    r, p = res["r1"], res["rp"]
    print(f"threads {res['threads']}, median of {args.repeats} blocks")
    print(f"{'benchmark':<52} {'steps/s':>9} {'ratio':>7}")
    print(f"{'(a) ResNet 32px w64 b32, D+G step, dense R1':<52} {r['dense_steps_per_s']:9.2f} {1:7.2f}")
    print(f"{'    same, lazy R1 every 16 (gain 16)':<52} {r['lazy16_steps_per_s']:9.2f} {r['ratio']:7.2f}")
    print(f"{'(b) RP-GAN K=12 64px b64, D fwd+bwd, loop of members':<52} {p['loop_steps_per_s']:9.2f} {1:7.2f}")
    print(f"{'    forward_loop (sliced weights)':<52} {p['forward_loop_steps_per_s']:9.2f} "
          f"{p['forward_loop_steps_per_s'] / p['loop_steps_per_s']:7.2f}")
    print(f"{'    grouped (groups=K)':<52} {p['grouped_steps_per_s']:9.2f} {p['ratio_grouped_vs_loop']:7.2f}")
    if args.out:
        write_json(args.out, json_safe(res))
    return res


if __name__ == "__main__":
    main()
