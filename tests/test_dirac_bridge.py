"""The training engine on the Dirac-GAN reproduces the lab's trajectories, in either AltGD order.

One-parameter generator G_θ(z) = θ, linear critic (our logit d(x) = −ψx, Mescheder's D_ψ(x) = ψx), real data
at 0, plain SGD with step h for both players: ``ganscope.game.Game`` configured with ``game.order`` against
``DiracGAN.trajectory(..., order=...)``. The names are the shared vocabulary: the lab's ``standard`` is the
engine's ``minimax``, the lab's ``gp0`` alias is the engine's ``penalty.name: gp0`` with γ = 2λ.
"""
import types

import numpy as np
import pytest
import torch

from ganscope.analysis.dirac import DiracGAN
from ganscope.analysis.spectrum import DiracCritic, DiracGenerator
from ganscope.config import resolve
from ganscope.errors import UsageError
from ganscope.game import Game, Player
from ganscope.rng import Streams

STEPS, H, START = 50, 0.2, (0.8, -0.6)

# lab (loss, reg, params) -> engine overrides; every one is exact on the Dirac-GAN
METHODS = {
    "minimax": (("standard", "none", {}), ["loss=minimax"]),
    "nonsaturating": (("nonsaturating", "none", {}), ["loss=nonsaturating"]),
    "wgan": (("wgan", "none", {}), ["loss=wgan"]),
    "r1": (("minimax", "r1", {"gamma": 0.6}), ["loss=minimax", "penalty.name=r1", "penalty.weight=0.6"]),
    "r2": (("nonsaturating", "r2", {"gamma": 0.4}), ["loss=nonsaturating", "penalty.name=r2", "penalty.weight=0.4"]),
    "consensus": (("minimax", "consensus", {"gamma": 0.5}), ["loss=minimax", "game.consensus=0.5"]),
    "clip": (("wgan", "clip", {"clip": 0.5}), ["loss=wgan", "game.clip=0.5"]),
    "gp0": (("wgan", "gp0", {"gamma": 0.6}), ["loss=wgan", "penalty.name=gp0", "penalty.weight=0.3"]),  # γ = 2λ
}


def engine_trajectory(overrides, scheme="altgd", order="d-first", n_g=1, n_d=1, steps=STEPS, h=H, start=START):
    """(θ_k, ψ_k), k = 0..steps, of the engine's Game with SGD(h) on the Dirac-GAN, float64."""
    cfg = resolve({"method": "minimax"}, [*overrides, f"game.scheme={scheme}", f"game.order={order}",
                                          f"game.n_g={n_g}", f"game.n_d={n_d}"])
    zeros = torch.zeros(4, 1, dtype=torch.float64)
    task = types.SimpleNamespace(real=lambda: zeros, latent=lambda: zeros, streams=Streams([0], members=False),
                                 event_dims=1, member_values={}, g_loss_total=torch.sum)
    gen, disc = DiracGenerator(start[0]), DiracCritic(start[1])
    game = Game(cfg, Player(gen, torch.optim.SGD(gen.parameters(), lr=h)),
                Player(disc, torch.optim.SGD(disc.parameters(), lr=h)), task)
    out = [(gen.theta.item(), disc.psi.item())]
    for k in range(steps):
        game.step(k)
        out.append((gen.theta.item(), disc.psi.item()))
    return np.array(out)


def lab_trajectory(method, scheme="altgd", order="g-first", n_g=1, n_d=1):
    loss, reg, params = METHODS[method][0]
    return DiracGAN(loss, reg, **params).trajectory(START, H, STEPS, scheme, n_g, n_d, order)


@pytest.mark.parametrize("n_g, n_d", [(1, 1), (1, 3), (2, 2)])
@pytest.mark.parametrize("order", ["d-first", "g-first"])
@pytest.mark.parametrize("method", list(METHODS))
def test_engine_reproduces_the_lab_in_either_order(method, order, n_g, n_d):
    lab = lab_trajectory(method, "altgd", order, n_g, n_d)
    engine = engine_trajectory(METHODS[method][1], "altgd", order, n_g, n_d)
    assert np.abs(engine - lab).max() < 1e-10
    assert np.abs(lab[-1] - lab[0]).max() > 1e-2  # the iterates moved


@pytest.mark.parametrize("method", ["minimax", "r1", "consensus", "clip"])
def test_engine_reproduces_the_lab_simgd(method):
    assert np.abs(engine_trajectory(METHODS[method][1], "simgd") - lab_trajectory(method, "simgd")).max() < 1e-10


@pytest.mark.parametrize("method", ["minimax", "r1"])
def test_the_two_orders_differ_and_each_keeps_its_default(method):
    """The engine steps the critic first by default, the lab the generator first; the orders drift apart."""
    overrides = METHODS[method][1]
    assert resolve({}, []).game.order == "d-first"
    engine_default = engine_trajectory(overrides, order=resolve({}, []).game.order, n_d=2)
    loss, reg, params = METHODS[method][0]
    lab_default = DiracGAN(loss, reg, **params).trajectory(START, H, STEPS, "altgd", 1, 2)  # g-first
    assert np.abs(engine_default - lab_trajectory(method, order="d-first", n_d=2)).max() < 1e-10
    assert np.abs(lab_default - lab_trajectory(method, order="g-first", n_d=2)).max() == 0
    assert np.abs(engine_default - lab_default).max() > 1e-2


def test_order_is_validated_in_one_line():
    with pytest.raises(UsageError, match=r"^game\.order: 'c-first' is not allowed; allowed: d-first, g-first$"):
        resolve({}, ["game.order=c-first"])
    with pytest.raises(UsageError, match=r"^game\.order: simultaneous updates have no order"):
        resolve({}, ["game.scheme=simgd", "game.order=g-first"])


def test_engine_accepts_the_labs_names_as_aliases():
    cfg = resolve({"method": "clip", "loss": "standard"})
    assert (cfg.method, cfg.loss, cfg.game.clip) == ("wgan-clip", "minimax", 0.01)
    assert resolve({"method": "standard"}).loss == "minimax"
