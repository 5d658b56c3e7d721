"""Benchmark: image GAN steps, ganscope's game against reference loops written from the peers' structure.

(a) R1 D+G step, GAN_stability's ResNet (``resnet``, widths 64, latent 64), batch 64, dense R1 (γ = 20, i.e.
    GAN_stability's reg_param 10), RMSProp 1e-4, EMA 0.999 (``configs/images.yaml``): ganscope's ``Game.step``
    against a GAN_stability-style trainer step on the same modules and data (``StabilityTrainer``:
    ``dloss_real.backward(retain_graph=True)``, R1 from the same real forward, ``dloss_fake.backward()``, one
    optimizer step; then the G step with D's gradients toggled off; then the EMA update), at 32 px RGB and
    28 px grey. Target: ≤ 0.7 (32 px), ≤ 0.8 (28 px) of the reference's time.
(d) RP-GAN D+G step (DCGAN G; K DCGAN discriminators on random projections, equal-size width; Adam 2e-4,
    β₁ 0.5; non-saturating), batch 64, K = 12 and 24 at 64 and 32 px RGB: ganscope's grouped discriminators
    in ``Game.step`` against rpgan's approach, a loop over K standalone discriminators (each its own view and
    loss, the losses summed; one optimizer over all). Target ≥ 3× on CPU.
(f) bf16 against fp32, the R1 step of (a) at 32 px with ``train.precision: bf16``. Target ≥ 1.5× faster.
(g) channels_last against NCHW: ganscope's step of (a) and (d) with ``model.memory_format`` channels_last and
    nchw (reported only). It says how much of (a) and (d) is the layout.
(h) lazy against dense R1: ganscope's step of (a) with ``penalty.every`` 16 (gain 16) against 1 (reported only).
(i) compiled against eager: ganscope's step of (a) with ``train.compile`` (the plain passes compiled, the R1
    pass eager) against without (reported only; the compile, about 35 s on the CPU, falls in the untimed
    warm-up round).
(j) everything on: ganscope's step of (a) in bf16, compiled, with lazy R1 (every 16), against the fp32 dense
    GAN_stability-style step. Target ≥ 3× on a GPU (issue 13); on the CPU reported only.

The device is $BENCH_DEVICE, else CUDA where torch finds it (``_harness.bench_device``): nets, data, random
streams and both sides' steps run there, and every timed block ends with a CUDA synchronisation.

Both sides of a row start from the same modules (deep copies; ganscope's in the layout of its config, default
channels_last; the references' in PyTorch's default NCHW, as the peers run), draw batches uniformly from the
same fixed image tensor (random values in [−1, 1]: timing does not depend on the pixels) and latents with their own
generators; blocks of steps are interleaved and the median block time is compared (``_harness``).
Run: .venv/bin/python bench/images.py [--quick]   (BENCH_DEVICE=cuda|cpu)
"""
from __future__ import annotations

import copy
import sys

import torch
import torch.nn.functional as F

from _harness import bench_device, interleaved, ms, repeat, row, thread_counts, threads
from ganscope.config import load_yaml, resolve
from ganscope.game import Game, GameRules, Player, make_optimizer
from ganscope.nets.conv import channels_last, in_memory_format
from ganscope.nets.rp import RPDiscriminator, run_image_nets
from ganscope.rng import Streams
from ganscope.shipped import find_config

N_IMAGES = 2048  # the fixed pool of training images each side draws its batches from
BATCH = 64
R1_TARGETS = {32: "<= 0.7", 28: "<= 0.8", 64: "<= 0.7"}
DEVICE = bench_device()
LAZY = 16  # penalty.every of the lazy rows (stylegan2-ada's R1 interval)


def image_config(**over) -> object:
    """``configs/images.yaml`` with the given nested overrides (a validated Config)."""
    values = load_yaml(find_config("images"))
    for key, value in over.items():
        node = values
        *path, last = key.split(".")
        for p in path:
            node = node.setdefault(p, {})
        node[last] = value
    return resolve(values)


def pool(channels: int, size: int, seed: int = 0) -> torch.Tensor:
    x = torch.rand(N_IMAGES, channels, size, size, generator=torch.Generator().manual_seed(seed)) * 2 - 1
    return x.to(DEVICE)


class BatchTask:
    """The part of the task protocol ``Game`` reads, over a fixed image tensor: uniform draws with replacement
    and latents, both from one stream (as ``tasks.single.SingleModelTask``)."""

    event_dims = 3

    def __init__(self, data: torch.Tensor, batch: int, latent_dim: int, seed: int = 0):
        self.data, self.batch, self.latent_dim = data, batch, latent_dim
        self.streams = Streams([seed], members=False, device=data.device)

    def real(self) -> torch.Tensor:
        g = self.streams.generators[0]
        return self.data[torch.randint(len(self.data), (self.batch,), generator=g, device=g.device)]

    def latent(self, n=None) -> torch.Tensor:
        return self.streams.randn((n or self.batch, self.latent_dim))

    @staticmethod
    def g_loss_total(g_loss):
        return g_loss.mean()


def nchw(module):
    """A copy of ``module`` in the default (NCHW) layout: the reference loops' nets."""
    return copy.deepcopy(module).to(memory_format=torch.contiguous_format)


def ganscope_step(cfg, gen, disc, data):
    """``Game.step`` as ``train.Run`` builds it (players, optimizers, rules from the config; the batches in the
    layout of ``model.memory_format``, as ``tasks.images`` converts them), as a closure."""
    data = in_memory_format(data, channels_last(cfg.model.memory_format))
    players = (Player(gen, make_optimizer(gen.parameters(), cfg.optim.g)),
               Player(disc, make_optimizer(disc.parameters(), cfg.optim.d)))
    game = Game(GameRules.from_config(cfg), *players, BatchTask(data, cfg.data.batch_size, cfg.model.latent_dim))
    counter = [0]

    def step():
        game.step(counter[0])
        counter[0] += 1
    return step


def _toggle(net, on: bool):
    for p in net.parameters():
        p.requires_grad_(on)


def _ema(target, source, beta: float):
    """GAN_stability's ``update_average``: p_tgt ← β p_tgt + (1 − β) p_src."""
    with torch.no_grad():
        for pt, ps in zip(target.parameters(), source.parameters()):
            pt.copy_(beta * pt + (1 - beta) * ps)


class StabilityTrainer:
    """A GAN_stability-style trainer (``gan_training/train.py``'s structure, written here): D step with the real
    loss's backward kept for R1 on the same forward, reg_param·E‖∇D(x)‖² backward, the fake loss's backward, one
    D step; G step with D frozen; EMA of G. BCE with logits (= the non-saturating loss)."""

    def __init__(self, gen, disc, cfg, data):
        self.gen, self.disc, self.data = gen, disc, data
        self.ema = copy.deepcopy(gen).requires_grad_(False) if cfg.game.ema > 0 else None
        self.beta, self.batch, self.latent_dim = cfg.game.ema, cfg.data.batch_size, cfg.model.latent_dim
        self.reg_param = cfg.penalty.weight / 2 if cfg.penalty.name == "r1" else 0.0  # γ = 2·reg_param
        self.opt_g = make_optimizer(gen.parameters(), cfg.optim.g)
        self.opt_d = make_optimizer(disc.parameters(), cfg.optim.d)
        self.rng = torch.Generator(DEVICE).manual_seed(1)

    def _loss(self, d_out, target: float):
        return F.binary_cross_entropy_with_logits(d_out, torch.full_like(d_out, target))

    def d_step(self, x_real, z):
        _toggle(self.gen, False)
        _toggle(self.disc, True)
        self.opt_d.zero_grad()
        if self.reg_param:
            x_real.requires_grad_()
        d_real = self.disc(x_real)
        dloss_real = self._loss(d_real, 1)
        if self.reg_param:
            dloss_real.backward(retain_graph=True)
            (g,) = torch.autograd.grad(d_real.sum(), x_real, create_graph=True)
            (self.reg_param * g.pow(2).reshape(len(g), -1).sum(1).mean()).backward()
        else:
            dloss_real.backward()
        with torch.no_grad():
            x_fake = self.gen(z)
        self._loss(self.disc(x_fake), 0).backward()
        self.opt_d.step()

    def g_step(self, z):
        _toggle(self.gen, True)
        _toggle(self.disc, False)
        self.opt_g.zero_grad()
        self._loss(self.disc(self.gen(z)), 1).backward()
        self.opt_g.step()

    def step(self):
        x = self.data[torch.randint(len(self.data), (self.batch,), generator=self.rng, device=DEVICE)]
        self.d_step(x, torch.randn(self.batch, self.latent_dim, generator=self.rng, device=DEVICE))
        self.g_step(torch.randn(self.batch, self.latent_dim, generator=self.rng, device=DEVICE))
        if self.ema is not None:
            _ema(self.ema, self.gen, self.beta)


class RPLoopTrainer:
    """rpgan's approach (``ayanc/rpgan``: one discriminator per projection, built and run one after another),
    written here in PyTorch: views by the same fixed filters, K standalone DCGAN discriminators, the sum of their
    non-saturating D losses, one Adam over all; G minimises the mean of the K G losses; EMA of G if configured."""

    def __init__(self, gen, rp: RPDiscriminator, cfg, data):
        self.gen, self.data, self.proj = gen, data, rp.projections
        self.members = [rp.member(k) for k in range(rp.k)]
        self.ema = copy.deepcopy(gen).requires_grad_(False) if cfg.game.ema > 0 else None
        self.beta, self.batch, self.latent_dim = cfg.game.ema, cfg.data.batch_size, cfg.model.latent_dim
        self.opt_g = make_optimizer(gen.parameters(), cfg.optim.g)
        self.opt_d = make_optimizer([p for m in self.members for p in m.parameters()], cfg.optim.d)
        self.rng = torch.Generator(DEVICE).manual_seed(1)

    def _logits(self, x):
        v = self.proj(x)
        return [m(v[:, k:k + 1]) for k, m in enumerate(self.members)]

    def step(self):
        x = self.data[torch.randint(len(self.data), (self.batch,), generator=self.rng, device=DEVICE)]
        for m in self.members:
            _toggle(m, True)
        with torch.no_grad():
            fake = self.gen(torch.randn(self.batch, self.latent_dim, generator=self.rng, device=DEVICE))
        self.opt_d.zero_grad()
        d_loss = sum(F.softplus(-r).mean() + F.softplus(f).mean() for r, f in zip(self._logits(x), self._logits(fake)))
        d_loss.backward()
        self.opt_d.step()
        for m in self.members:
            _toggle(m, False)
        self.opt_g.zero_grad()
        fake = self.gen(torch.randn(self.batch, self.latent_dim, generator=self.rng, device=DEVICE))
        g_losses = [F.softplus(-f).mean() for f in self._logits(fake)]
        (sum(g_losses) / len(g_losses)).backward()
        self.opt_g.step()
        if self.ema is not None:
            _ema(self.ema, self.gen, self.beta)


def r1_nets(cfg, size: int, channels: int):
    """The run's nets as ``tasks.images`` builds them (``run_image_nets``: the config's memory format)."""
    torch.manual_seed(0)
    return tuple(net.to(DEVICE) for net in run_image_nets(cfg, size, channels))


def r1_rows(quick: bool, repeats: int, steps: int) -> list[dict]:
    """(a): ganscope's R1 step against the GAN_stability-style step, per image shape and thread count."""
    rows = []
    cases = [(32, 3)] if quick else [(32, 3), (28, 1), (64, 3)]
    for t in thread_counts(quick):
        for size, channels in cases:
            if size == 64 and t > 1 and DEVICE.type == "cpu":
                continue  # 64 px on the CPU: once, at one thread (each step takes seconds)
            cfg = image_config(**{"net": "resnet", "method": "r1", "data.batch_size": BATCH, "data.image_size": size})
            gen, disc = r1_nets(cfg, size, channels)
            data = pool(channels, size)
            ours = ganscope_step(cfg, gen, disc, data)
            ref = StabilityTrainer(nchw(gen), nchw(disc), cfg, data).step
            with threads(t):
                res = interleaved({"ganscope": repeat(ours, steps), "reference": repeat(ref, steps)}, repeats)
            label = "RGB" if channels == 3 else "grey"
            rows.append(row(f"image R1 D+G step {size}px {label} t{t}", "ganscope time / GAN_stability-style time",
                            res["ganscope"] / res["reference"], R1_TARGETS[size], threads=t, batch=BATCH,
                            ganscope_ms=ms(res["ganscope"], steps), reference_ms=ms(res["reference"], steps)))
    return rows


def rp_setup(k: int, size: int, **over):
    cfg = image_config(**{"net": "dcgan", "method": "nonsaturating", "rp.k": k, "data.batch_size": BATCH,
                          "data.image_size": size, **over})
    torch.manual_seed(0)
    gen, disc = run_image_nets(cfg, size, 3)
    assert isinstance(disc, RPDiscriminator)
    return cfg, gen.to(DEVICE), disc.to(DEVICE)


def generator_part(gen, cfg):
    """The generator's share of a D+G step, the same on both sides: a no-grad forward (the D step's fakes), a
    forward and a backward (the G step, here of a dummy loss), an optimizer step and the EMA (if configured)."""
    opt = make_optimizer(gen.parameters(), cfg.optim.g)
    ema = copy.deepcopy(gen).requires_grad_(False) if cfg.game.ema > 0 else None
    rng, batch, latent = torch.Generator(DEVICE).manual_seed(2), cfg.data.batch_size, cfg.model.latent_dim

    def step():
        with torch.no_grad():
            gen(torch.randn(batch, latent, generator=rng, device=DEVICE))
        opt.zero_grad()
        gen(torch.randn(batch, latent, generator=rng, device=DEVICE)).square().mean().backward()
        opt.step()
        if ema is not None:
            _ema(ema, gen, cfg.game.ema)
    return step


def rp_rows(quick: bool, repeats: int, steps: int) -> list[dict]:
    """(d): grouped discriminators in ganscope's step against rpgan's loop over K discriminators."""
    rows = []
    cases = [(12, 32)] if quick else [(12, 64), (24, 64), (12, 32), (24, 32)]
    for t in thread_counts(quick):
        for k, size in cases:
            cfg, gen, disc = rp_setup(k, size)
            data = pool(3, size)
            ours = ganscope_step(cfg, gen, disc, data)
            ref = RPLoopTrainer(nchw(gen), nchw(disc), cfg, data).step
            blocks = {"ganscope": repeat(ours, steps), "reference": repeat(ref, steps),
                      "generator": repeat(generator_part(copy.deepcopy(gen), cfg), steps)}
            with threads(t):
                res = interleaved(blocks, repeats)
            rows.append(row(f"RP-GAN D+G step K={k} {size}px t{t}", "loop time / ganscope grouped time",
                            res["reference"] / res["ganscope"], ">= 3", threads=t, batch=BATCH, k=k,
                            view_width=disc.discs.d_width, ganscope_ms=ms(res["ganscope"], steps),
                            reference_ms=ms(res["reference"], steps), generator_ms=ms(res["generator"], steps),
                            bound=round(res["reference"] / res["generator"], 2),
                            bound_note="loop time / the generator's share of a step (both sides pay it): the "
                                       "ratio if the discriminators cost nothing"))
    return rows


def bf16_rows(quick: bool, repeats: int, steps: int) -> list[dict]:
    """(f): the R1 step of (a) at 32 px in bf16 against fp32."""
    over = {"net": "resnet", "method": "r1", "data.batch_size": BATCH, "data.image_size": 32}
    cfg = image_config(**over)
    cfg16 = image_config(**over, **{"train.precision": "bf16"})
    gen, disc = r1_nets(cfg, 32, 3)
    data = pool(3, 32)

    fp32 = ganscope_step(cfg, gen, disc, data)
    bf16 = ganscope_step(cfg16, copy.deepcopy(gen), copy.deepcopy(disc), data)
    rows = []
    for t in thread_counts(quick):
        with threads(t):
            res = interleaved({"fp32": repeat(fp32, steps), "bf16": repeat(bf16, steps)}, repeats)
        rows.append(row(f"bf16 vs fp32 R1 step 32px RGB t{t}", "fp32 time / bf16 time", res["fp32"] / res["bf16"],
                        ">= 1.5", threads=t, how="train.precision",
                        fp32_ms=ms(res["fp32"], steps), bf16_ms=ms(res["bf16"], steps), **cpu_isa(),
                        quality="bench/bf16_quality.py (final FID over seeds: a training comparison, "
                                "bench/run.py --long)"))
    return rows


def cpu_isa() -> dict:
    """What bounds bf16 on the CPU: torch's vector ISA and whether the CPU reports AMX (bf16 tile matmul) or
    only AVX512-BF16 (bf16 dot products at about twice fp32's FMA rate); None where /proc/cpuinfo is absent."""
    try:
        flags = set(open("/proc/cpuinfo").read().split())
    except OSError:
        flags = None
    return {"cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "amx_bf16": None if flags is None else "amx_bf16" in flags,
            "avx512_bf16": None if flags is None else "avx512_bf16" in flags}


def channels_last_rows(quick: bool, repeats: int, steps: int) -> list[dict]:
    """(g): ganscope's step with ``model.memory_format`` channels_last against nchw (where the config has it)."""
    rows = []
    cases = [("resnet", 32, 3)] if quick else [("resnet", 32, 3), ("resnet", 28, 1), ("rp12", 64, 3), ("rp24", 32, 3)]
    for t in thread_counts(quick):
        for net, size, channels in cases:
            steps_of = {}
            for mode in ("nchw", "channels_last"):
                if net == "resnet":
                    cfg = image_config(**{"net": "resnet", "method": "r1", "data.batch_size": BATCH,
                                          "data.image_size": size, "model.memory_format": mode})
                    gen, disc = r1_nets(cfg, size, channels)
                else:
                    cfg, gen, disc = rp_setup(int(net[2:]), size, **{"model.memory_format": mode})
                steps_of[mode] = ganscope_step(cfg, gen, disc, pool(channels, size))
            with threads(t):
                res = interleaved({m: repeat(s, steps) for m, s in steps_of.items()}, repeats)
            rows.append(row(f"channels_last vs NCHW {net} {size}px t{t}", "NCHW time / channels_last time",
                            res["nchw"] / res["channels_last"], None, threads=t, nchw_ms=ms(res["nchw"], steps),
                            channels_last_ms=ms(res["channels_last"], steps)))
    return rows


R1_32 = {"net": "resnet", "method": "r1", "data.batch_size": BATCH, "data.image_size": 32}


def variant_rows(name: str, measure: str, variants: dict, target, quick, repeats, steps, reference=False):
    """One row per thread count: the time of variant "base" (or of the GAN_stability-style fp32 dense step,
    ``reference``) over the time of variant "new", each a set of overrides of the 32 px R1 config."""
    base_cfg = image_config(**R1_32)
    gen, disc = r1_nets(base_cfg, 32, 3)
    data = pool(3, 32)
    blocks = {}
    for key, over in variants.items():
        cfg = image_config(**R1_32, **over)
        blocks[key] = ganscope_step(cfg, copy.deepcopy(gen), copy.deepcopy(disc), data)
    if reference:
        blocks["base"] = StabilityTrainer(nchw(gen), nchw(disc), base_cfg, data).step
    rows = []
    for t in thread_counts(quick):
        with threads(t):
            res = interleaved({k: repeat(b, steps) for k, b in blocks.items()}, repeats)
        rows.append(row(f"{name} t{t}", measure, res["base"] / res["new"], target, threads=t, device=str(DEVICE),
                        **{f"{k}_ms": ms(v, steps) for k, v in res.items()}))
    return rows


def lazy_rows(quick, repeats, steps):
    """(h): lazy R1 (every 16, gain 16) against dense, ganscope's step at 32 px."""
    return variant_rows("lazy vs dense R1 32px", "dense time / lazy time",
                        {"base": {}, "new": {"penalty.every": LAZY}}, None, quick, repeats, steps)


def compile_rows(quick, repeats, steps):
    """(i): ``train.compile`` against eager, ganscope's step at 32 px (the first block compiles: untimed)."""
    return variant_rows("compiled vs eager R1 32px", "eager time / compiled time",
                        {"base": {}, "new": {"train.compile": True}}, None, quick, repeats, steps)


def everything_rows(quick, repeats, steps):
    """(j): bf16 + compile + lazy R1 against the fp32 dense GAN_stability-style step (target ≥ 3 on a GPU)."""
    over = {"train.precision": "bf16", "penalty.every": LAZY, "train.compile": True}
    target = ">= 3" if DEVICE.type == "cuda" else None
    return variant_rows("bf16+compile+lazy vs fp32 dense reference 32px", "reference time / ganscope time",
                        {"new": over}, target, quick, repeats, steps, reference=True)


def main(quick: bool = False) -> list[dict]:
    repeats, steps = (3, 1) if quick else (7, 3)
    rows = r1_rows(quick, repeats, steps) + rp_rows(quick, repeats, steps) + bf16_rows(quick, repeats, steps)
    rows += channels_last_rows(quick, repeats, steps)
    if not quick:
        rows += lazy_rows(quick, repeats, steps) + compile_rows(quick, repeats, steps)
        rows += everything_rows(quick, repeats, steps)
    return rows


if __name__ == "__main__":
    from _harness import print_rows

    print_rows(main("--quick" in sys.argv[1:]))
