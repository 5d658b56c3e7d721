"""The critic's phases (main loss; the penalty every k critic steps with gain k, joint or as its own step with
stylegan2-ada's Adam correction c = k/(k+1)), the fused R1/R2 path, and the device-side non-finite guard."""
import dataclasses
import types

import pytest
import torch
from torch import nn

from ganscope import penalties as P
from ganscope.config import resolve
from ganscope.errors import UsageError
from ganscope.game import (Game, GameRules, NonFiniteLoss, Phase, Player, critic_phases, lazy_correction,
                           make_optimizer)
from ganscope.rng import Streams
from ganscope.train import Run


class Critic(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 1))

    def forward(self, x):
        return self.net(x).squeeze(-1)


class Recorder(Player):
    """A Player that records the parameters before and the gradients of each optimizer step."""

    def __init__(self, net, opt):
        super().__init__(net, opt)
        self.calls = []

    def apply(self, grads):
        self.calls.append(([p.detach().clone() for p in self.params], [g.detach().clone() for g in grads]))
        super().apply(grads)


def fixed_game(**rules):
    """A float64 2-D game on recorded batches, the generator frozen (lr 0), the critic by SGD."""
    torch.manual_seed(0)
    gen, disc = nn.Linear(2, 2).double(), Critic().double()
    data = torch.Generator().manual_seed(1)
    batches = []

    def real():
        batches.append(torch.randn(8, 2, generator=data, dtype=torch.float64))
        return batches[-1]

    task = types.SimpleNamespace(real=real, latent=lambda: torch.randn(8, 2, generator=data, dtype=torch.float64),
                                 streams=Streams([0], members=False), event_dims=1, g_loss_total=torch.sum)
    game = Game(GameRules(**rules), Player(gen, torch.optim.SGD(gen.parameters(), lr=0.0)),
                Recorder(disc, torch.optim.SGD(disc.parameters(), lr=0.05)), task)
    return game, batches


def grads_at(net, params, loss_fn):
    with torch.no_grad():
        for p, v in zip(net.parameters(), params):
            p.copy_(v)
    return torch.autograd.grad(loss_fn(), list(net.parameters()), allow_unused=True, materialize_grads=True)


@pytest.mark.parametrize("fuse", [True, False])
@pytest.mark.parametrize("k", [1, 3])
def test_lazy_r1_as_a_phase_equals_the_lazy_wrapper(fuse, k):
    """Each critic step's gradient equals that of d_loss + penalties.lazy(r1, k)(step = critic step); k = 1 is
    the dense penalty."""
    game, batches = fixed_game(loss="nonsaturating", penalty="r1", penalty_weight=10.0, penalty_every=k, fuse=fuse)
    for i in range(2 * k + 1):
        game.step(i)
    ref = Critic().double()
    lazy_r1 = P.lazy(P.r1, k) if k > 1 else None
    torch.manual_seed(0)
    gen = nn.Linear(2, 2).double()
    data = torch.Generator().manual_seed(1)
    for s, (params, grads) in enumerate(game.disc.calls):
        real = torch.randn(8, 2, generator=data, dtype=torch.float64)
        fake = gen(torch.randn(8, 2, generator=data, dtype=torch.float64)).detach()
        torch.randn(8, 2, generator=data, dtype=torch.float64)  # the generator step's latents
        assert torch.equal(real, batches[s])

        def loss():
            d = game.objective.d_loss(ref(real), ref(fake))
            pen = lazy_r1(ref, real, 10.0, step=s) if lazy_r1 else P.r1(ref, real, 10.0)
            return d + pen

        for got, want in zip(grads, grads_at(ref, params, loss)):
            torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)
    assert len(game.disc.calls) == 2 * k + 1


def test_phases_and_the_adam_correction():
    rules = GameRules(penalty="r1", penalty_every=4)
    assert critic_phases(rules) == (Phase("main"), Phase("penalty", 4, 4, False))
    assert critic_phases(GameRules()) == (Phase("main"),)
    assert rules.critic_ratio == 1.0
    sep = dataclasses.replace(rules, penalty_phase="separate")
    assert critic_phases(sep)[1].own_step and sep.critic_ratio == lazy_correction(4) == 4 / 5
    assert dataclasses.replace(sep, penalty="none").critic_ratio == 1.0
    cfg = resolve({"method": "r1"}, ["optim.d.name=adam", "optim.d.lr=1.0e-3", "optim.d.betas=[0.5,0.99]"]).optim.d
    group = make_optimizer([nn.Parameter(torch.zeros(1))], cfg, 0.8).param_groups[0]
    assert group["lr"] == pytest.approx(0.8e-3, rel=1e-15)
    assert group["betas"] == pytest.approx((0.5 ** 0.8, 0.99 ** 0.8), rel=1e-15)
    plain = make_optimizer([nn.Parameter(torch.zeros(1))], cfg).param_groups[0]
    assert plain["lr"] == 1e-3 and plain["betas"] == (0.5, 0.99)
    run = Run(resolve(small("r1"), ["penalty.every=4", "penalty.phase=separate", "optim.d.name=adam",
                                    "optim.g.name=adam"]), "/nonexistent")
    d, g = run.game.disc.opt.param_groups[0], run.game.gen.opt.param_groups[0]
    assert d["lr"] == pytest.approx(run.cfg.optim.d.lr * 0.8) and d["betas"][1] == pytest.approx(0.9 ** 0.8)
    assert g["lr"] == run.cfg.optim.g.lr and tuple(g["betas"]) == (0.5, 0.9)


def test_separate_penalty_phase_takes_its_own_step_after_the_main_one():
    k = 2
    game, batches = fixed_game(loss="nonsaturating", penalty="r1", penalty_weight=10.0, penalty_every=k,
                               penalty_phase="separate")
    steps = [len(game.disc.calls)]
    stats = []
    for i in range(4):
        stats.append("penalty" in game.step(i))
        steps.append(len(game.disc.calls))
    assert [b - a for a, b in zip(steps, steps[1:])] == [2, 1, 2, 1] and stats == [True, False, True, False]
    # the second step of critic step 0: gain k × ∇R1 on the same real batch, at the critic after the main step
    params, grads = game.disc.calls[1]
    assert all(not torch.equal(a, b) for a, b in zip(params, game.disc.calls[0][0]))
    ref = Critic().double()
    for got, want in zip(grads, grads_at(ref, params, lambda: k * P.r1(ref, batches[0], 10.0))):
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)


def test_separate_needs_altgd():
    with pytest.raises(UsageError, match=r"^penalty.phase: separate needs game.scheme altgd"):
        resolve(small("r1"), ["penalty.phase=separate", "game.scheme=simgd"])


# ---- fused R1/R2 --------------------------------------------------------------------------------------------
def small(method, **over):
    base = {"method": method, "model": {"g_width": 16, "d_width": 16, "g_depth": 2, "d_depth": 2},
            "data": {"batch_size": 32}}
    return base | over


def first_critic_grads(cfg, fuse, scale=None):
    """The critic's first-step gradients and the number of critic forwards in that step (``scale``: fp16's
    loss scale S to start from)."""
    run = Run(cfg, "/nonexistent")
    run.game.precision.scale = scale or run.game.precision.scale
    run.game.rules = dataclasses.replace(run.game.rules, fuse=fuse)
    grads, forwards = [], []
    apply = run.game.disc.apply
    run.game.disc.apply = lambda g: (grads.append([x.detach().clone() for x in g]), apply(g))
    hook = run.game.disc.net.register_forward_hook(lambda *a: forwards.append(1))
    run.game._critic_step(0)
    hook.remove()
    return grads[0], len(forwards), run


@pytest.mark.parametrize("values,overrides,fused", [
    (small("r1"), [], True),
    (small("r1", penalty={"name": "r2", "weight": 1.0}), [], True),
    (small("r1"), ["ensemble=2"], True),
    (small("r1"), ["noise.sigma=0.1"], False),  # R1 stays on the clean input: nothing to share
])
def test_fused_and_unfused_give_the_same_gradients(values, overrides, fused):
    cfg = resolve(values, overrides)
    want, n_unfused, _ = first_critic_grads(cfg, fuse=False)
    got, n_fused, _ = first_critic_grads(cfg, fuse=True)
    assert n_unfused == 3 and n_fused == (2 if fused else 3)  # one forward of the penalised batch saved
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7)


def test_fused_r1_on_rp_gans_k_views_equals_r1():
    """RP-GAN's critic maps (B, C, H, W) to (K, B) logits (the engine trains it without penalties; a user's loop
    may add one): the fused form (loss and input gradient from one forward) gives R1's parameter gradients."""
    cfg = resolve({"method": "nonsaturating", "data": {"name": "digits", "batch_size": 8}, "net": "dcgan",
                   "rp": {"k": 3}, "model": {"g_width": 8, "d_width": 8}}, [])
    run = Run(cfg, "/nonexistent")
    disc, real = run.task.disc, run.task.real()
    params = [p for p in disc.parameters() if p.requires_grad]
    loss = run.game.objective.d_loss

    def unfused():
        return (loss(disc(real), disc(real.flip(0))).sum() + P.r1(disc, real, 10.0, event_dims=3)).sum()

    def fused():
        x = real.detach().requires_grad_(True)
        d_x = disc(x)
        assert d_x.shape == (3, 8)
        return (loss(d_x, disc(real.flip(0))).sum() + P.sq_penalty(P.input_grad_sq(d_x, x, 3), 10.0)).sum()

    for a, b in zip(torch.autograd.grad(fused(), params), torch.autograd.grad(unfused(), params)):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7)


def test_penalty_under_instance_noise_is_on_the_clean_input():
    cfg = resolve(small("r1"), ["noise.sigma=0.3"])
    run = Run(cfg, "/nonexistent")
    reals = []
    real = run.task.real
    run.task.real = lambda: reals.append(real()) or reals[-1]
    before = [p.detach().clone() for p in run.game.disc.params]
    stats = run.game._critic_step(0)
    with torch.no_grad():
        for p, v in zip(run.game.disc.params, before):
            p.copy_(v)
    want = P.r1(run.game.critic, reals[0], cfg.penalty.weight, event_dims=1)
    torch.testing.assert_close(stats["penalty"], want, rtol=1e-6, atol=0)


# ---- the non-finite guard -------------------------------------------------------------------------------------
def test_guard_reads_back_every_check_every_steps_and_names_the_range():
    run = Run(resolve(small("r1"), ["ensemble=2", "train.log_every=5"]), "/nonexistent")
    assert run.game.rules.check_every == 5
    with torch.no_grad():
        next(iter(run.game.disc.net.parameters()))[1].fill_(float("nan"))  # member 1's critic
    for i in range(4):
        run.game.step(i)  # recorded on the device, not read yet
    with pytest.raises(NonFiniteLoss, match=r"^d_loss is not finite \(nan\) at a generator step in 0–4 "
                                            r"\(ensemble member 1\)$"):
        run.game.step(4)
    run.game.check_finite()  # the record starts over
