"""The game step: update order (SimGD vs AltGD), clipping after the critic step, warm-up, lazy penalties,
consensus, EMA, per-member values, and ensemble member == single run."""
import types

import pytest
import torch
from torch import nn

from ganscope.config import resolve
from ganscope.errors import UsageError
from ganscope.game import Game, NonFiniteLoss, Player, ema_update
from ganscope.rng import Streams
from ganscope.train import Run


class Theta(nn.Module):
    """The Dirac generator: outputs θ for every latent."""

    def __init__(self, theta):
        super().__init__()
        self.theta = nn.Parameter(torch.tensor([theta]))

    def forward(self, z):
        return self.theta.expand(z.shape[0], 1)


class Linear(nn.Module):
    """The Dirac critic, logit ψ x."""

    def __init__(self, psi):
        super().__init__()
        self.psi = nn.Parameter(torch.tensor(psi))

    def forward(self, x):
        return self.psi * x[..., 0]


def dirac_game(scheme="altgd", theta=1.0, psi=0.5, h=0.1, **game):
    cfg = resolve({"method": "wgan-clip"}, [f"game.scheme={scheme}", "game.n_d=1", "game.clip=0",
                                             *[f"game.{k}={v}" for k, v in game.items()]])
    task = types.SimpleNamespace(real=lambda: torch.zeros(4, 1), latent=lambda: torch.zeros(4, 1),
                                 streams=Streams([0], members=False), event_dims=1, member_values={},
                                 g_loss_total=torch.sum)
    gen, disc = Theta(theta), Linear(psi)
    game = Game(cfg, Player(gen, torch.optim.SGD(gen.parameters(), lr=h)),
                Player(disc, torch.optim.SGD(disc.parameters(), lr=h)), task)
    return game, gen, disc


def values(gen, disc):
    return gen.theta.item(), disc.psi.item()


def test_altgd_critic_first_then_generator_with_the_new_critic():
    # WGAN on the Dirac-GAN: L_D = ψθ - ψ·0, L_G = -ψθ.  D: ψ ← ψ - hθ; then G: θ ← θ + hψ_new.
    game, gen, disc = dirac_game("altgd")
    game.step(0)
    assert values(gen, disc) == pytest.approx((1.0 + 0.1 * 0.4, 0.5 - 0.1 * 1.0), abs=1e-7)


def test_simgd_both_gradients_at_the_same_point():
    game, gen, disc = dirac_game("simgd")
    game.step(0)
    assert values(gen, disc) == pytest.approx((1.0 + 0.1 * 0.5, 0.5 - 0.1 * 1.0), abs=1e-7)


def test_n_d_critic_steps_per_generator_step():
    game, gen, disc = dirac_game("altgd", n_d=3)
    game.step(0)
    psi = 0.5 - 3 * 0.1 * 1.0
    assert values(gen, disc) == pytest.approx((1.0 + 0.1 * psi, psi), abs=1e-7)


def test_clipping_after_the_critic_step_and_before_the_generator_step():
    game, gen, disc = dirac_game("altgd", psi=0.25, theta=-1.0, clip=0.3)
    game.step(0)  # ψ ← 0.25 + 0.1 = 0.35 → clipped to 0.3; θ ← -1 + 0.1·0.3
    assert values(gen, disc) == pytest.approx((-1.0 + 0.03, 0.3), abs=1e-7)


def test_wgan_warmup_schedule():
    game, _, _ = dirac_game("altgd", n_d=5, wgan_warmup=True)
    assert [game.n_critic(s) for s in (0, 24, 25, 499, 500, 501, 1000)] == [100, 100, 5, 5, 100, 5, 100]


def test_consensus_adds_the_gradient_of_half_norm_squared():
    # v = (∂θ L_G, ∂ψ L_D) = (-ψ, θ); (γ/2)‖v‖² = (γ/2)(ψ² + θ²): each player adds γ × its own coordinate.
    gamma, h, theta, psi = 0.5, 0.1, 1.0, 0.5
    game, gen, disc = dirac_game("simgd", theta=theta, psi=psi, consensus=gamma)
    game.step(0)
    expected = (theta - h * (-psi + gamma * theta), psi - h * (theta + gamma * psi))
    assert values(gen, disc) == pytest.approx(expected, abs=1e-7)


def test_ema_of_weights_and_buffers():
    net, ema = nn.BatchNorm1d(3), nn.BatchNorm1d(3)
    with torch.no_grad():
        net.weight.fill_(2.0)
        net.running_mean.fill_(4.0)
        net.num_batches_tracked.fill_(7)
    ema_update(ema, net, beta=0.75)
    assert torch.allclose(ema.weight, torch.full((3,), 0.75 * 1 + 0.25 * 2))
    assert torch.allclose(ema.running_mean, torch.full((3,), 0.25 * 4))  # buffers averaged too
    assert ema.num_batches_tracked.item() == 7


def small(method, **over):
    base = {"method": method, "model": {"g_width": 16, "d_width": 16, "g_depth": 2, "d_depth": 2},
            "data": {"batch_size": 32}}
    return base | over


def train_steps(values_, steps=12, overrides=()):
    run = Run(resolve(values_, list(overrides)), "/nonexistent")
    for i in range(steps):
        run.game.step(i)
    return run


@pytest.mark.parametrize("method,overrides", [
    ("r1", ()), ("wgan-gp", ()), ("noise", ()), ("consensus", ()), ("wgan-clip", ()), ("lsgan", ()),
    ("r1", ("game.ema=0.9", "penalty.every=4")),
    ("noise", ("noise.draws=4",)), ("noise", ("noise.draws=3", "data.finite=16", "game.scheme=simgd")),
    ("r1", ("members.penalty.weight=[1.0,5.0,20.0]", "members.optim.d.lr=[1.0e-4,3.0e-4,1.0e-3]")),
])
def test_ensemble_member_equals_single_run(method, overrides):
    ens = train_steps(small(method, ensemble=3, seed=5), overrides=overrides)
    for i in range(3):
        single_over = [o.replace("members.", "").split("=")[0] + "=" + o.split("[")[1].rstrip("]").split(",")[i]
                       if o.startswith("members.") else o for o in overrides]
        single = train_steps(small(method, seed=5 + i), overrides=single_over)
        got, want = ens.game.gen.net.member(i).state_dict(), single.game.gen.net.member(0).state_dict()
        for k in want:
            torch.testing.assert_close(got[k], want[k], rtol=1e-5, atol=1e-6)
        moved = Run(resolve(small(method, seed=5 + i), single_over), "/x").game.gen.net.member(0).state_dict()
        assert any((moved[k] - want[k]).abs().max() > 1e-4 for k in want)  # the runs did train


def test_noise_draws_average_the_critic_loss_over_repeated_noisy_copies():
    """noise.draws = M: the critic's loss is the mean over M noisy copies of each sample (tests/test_noise.py
    checks the copies); with σ → 0 it equals the one-draw loss, and draws need noise. On the finite game, where
    the extra draws cannot shift later batches."""
    one = train_steps(small("noise", noise={"sigma": 1e-12}, data={"finite": 16}), steps=3)
    many = train_steps(small("noise", noise={"sigma": 1e-12, "draws": 5}, data={"finite": 16}), steps=3)
    for a, b in zip(one.game.disc.net.parameters(), many.game.disc.net.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    noisy = train_steps(small("noise", noise={"sigma": 0.5, "draws": 5}, data={"finite": 16}), steps=3)
    assert any((a - b).abs().max() > 1e-4 for a, b in zip(one.game.disc.net.parameters(),
                                                            noisy.game.disc.net.parameters()))
    with pytest.raises(UsageError, match=r"^noise.draws: several noise draws need instance noise"):
        resolve(small("r1", noise={"draws": 2}))


def test_lazy_penalty_every_k_critic_steps_with_gain_k():
    run = train_steps(small("r1"), steps=0, overrides=["penalty.every=3"])
    pens = []
    for i in range(6):
        pens.append("penalty" in run.game.step(i))
    assert pens == [True, False, False, True, False, False]


def test_non_finite_loss_names_loss_and_step():
    run = train_steps(small("wgan-gp"), steps=0, overrides=["optim.d.name=sgd", "optim.d.lr=1.0e30",
                                                            "optim.g.name=sgd", "optim.g.lr=1.0e30"])
    with pytest.raises(NonFiniteLoss, match=r"(d_loss|g_loss|penalty) is not finite \((nan|inf|-inf)\) at a "
                                            r"generator step in \d+–\d+"):
        for i in range(50):
            run.game.step(i)
