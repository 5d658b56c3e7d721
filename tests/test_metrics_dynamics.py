"""The convergence measurements (ganscope.metrics.dynamics) against closed forms, members run alone, their
checkpoint state, and a training loop they leave bit-identical."""
import math

import pytest
import torch
from torch import nn

from ganscope import penalties as P
from ganscope.analysis import spectrum as S
from ganscope.errors import UsageError
from ganscope.metrics import dynamics as G
from ganscope.nets.mlp import MLP, EnsembleMLP
from ganscope.nets.rp import RPDiscriminator
from ganscope.tasks.toy2d import Logit

F64 = torch.float64


def gauss(*shape, seed=0, scale=1.0):
    return scale * torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=F64)


# ---- closed forms --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("theta,psi", [(0.0, 0.0), (0.7, -0.4), (-2.5, 1.3)])
def test_dirac_critic_grad_sq_is_psi_squared_on_real_and_fake(theta, psi):
    gen, critic = S.DiracGenerator(theta), S.DiracCritic(psi)  # d(x) = −ψx, G(z) = θ, data δ₀
    real, z = torch.zeros(7, 1, dtype=F64), gauss(7, 1)
    out = G.evaluate(gen, critic, real, z)
    psi_sq = (torch.tensor(psi, dtype=F64) ** 2).item()
    assert out["grad_sq_real"] == pytest.approx(psi_sq, rel=1e-15, abs=1e-300)  # the mean of 7 equal terms
    assert out["grad_sq_fake"] == pytest.approx(psi_sq, rel=1e-15, abs=1e-300)
    one = G.evaluate(gen, critic, real[:1], z[:1])  # one sample: exactly ψ²
    assert one["grad_sq_real"] == one["grad_sq_fake"] == psi_sq
    assert out["d_real"] == 0.0
    assert out["d_fake"] == pytest.approx(-psi * theta, rel=1e-15, abs=1e-300)
    assert out["d_gap"] == pytest.approx(psi * theta, rel=1e-15, abs=1e-300)


def test_linear_critic_gives_w_squared_on_any_batch():
    w, b = gauss(5, seed=1), gauss((), seed=2)
    critic = lambda x: x @ w + b  # noqa: E731
    expected = w.pow(2).sum().item()
    for x in (gauss(16, 5, seed=3), gauss(3, 5, seed=4, scale=100.0), torch.zeros(1, 5, dtype=F64)):
        assert G.critic_grad_sq(critic, x).item() == pytest.approx(expected, rel=1e-14)
    # the same number R1 reads off penalties.grad_sq_norm: R1 = (γ/2)·this
    x = gauss(16, 5, seed=5)
    assert P.r1(critic, x, 3.0).item() == pytest.approx(1.5 * G.critic_grad_sq(critic, x).item(), rel=1e-14)


def test_quadratic_critic_gives_the_per_sample_gradient():
    a, c = gauss(4, 4, seed=6), gauss(4, seed=7)
    critic = lambda x: 0.5 * ((x @ a) * x).sum(-1) + x @ c  # noqa: E731  ∇ = ½(A + Aᵀ)x + c
    x = gauss(32, 4, seed=8)
    grad = x @ (0.5 * (a + a.T)) + c
    expected = grad.pow(2).sum(-1).mean().item()
    assert G.critic_grad_sq(critic, x).item() == pytest.approx(expected, rel=1e-13)
    assert G.critic_grad_sq(critic, x[:1]).item() == pytest.approx(grad[0].pow(2).sum().item(), rel=1e-13)


def test_all_non_batch_axes_by_default_and_event_dims_as_the_penalties():
    c = gauss(3, 4, 4, seed=9)
    critic = lambda x: (c * x.pow(2)).flatten(x.ndim - 3).sum(-1)  # noqa: E731  ∇ = 2c·x
    x = gauss(6, 3, 4, 4, seed=10)
    expected = (2 * c * x).pow(2).flatten(1).sum(-1).mean().item()
    assert G.critic_grad_sq(critic, x).item() == pytest.approx(expected, rel=1e-13)
    assert G.critic_grad_sq(critic, x, event_dims=3).item() == pytest.approx(expected, rel=1e-13)
    # a leading member axis: event_dims = 3 keeps (E, B) and gives one value per member
    xe = torch.stack([x, 2 * x])
    per = G.critic_grad_sq(critic, xe, event_dims=3)
    assert per.shape == (2,)
    assert per.tolist() == pytest.approx([expected, 4 * expected], rel=1e-13)


def test_critic_without_input_dependence_gives_zero():
    assert G.critic_grad_sq(lambda x: x.sum(-1) * 0 + 1.0, gauss(4, 2)).item() == 0.0
    bias = nn.Parameter(torch.zeros((), dtype=F64))
    assert G.critic_grad_sq(lambda x: bias + 0 * x[:, 0].detach(), gauss(4, 2)).item() == 0.0


def test_critic_outputs_are_the_mean_logits():
    w = gauss(3, seed=11)
    critic = lambda x: x @ w  # noqa: E731
    real, fake = gauss(10, 3, seed=12), gauss(20, 3, seed=13) + 1
    d_real, d_fake = G.critic_outputs(critic, real, fake)
    assert d_real.item() == pytest.approx((real @ w).mean().item(), rel=1e-14)
    assert d_fake.item() == pytest.approx((fake @ w).mean().item(), rel=1e-14)


# ---- shapes ---------------------------------------------------------------------------------------------------
def test_other_logit_shapes_are_refused():
    with pytest.raises(UsageError, match=r"critic: must return one logit per sample, shape \(8,\)"):
        G.critic_grad_sq(lambda x: x, gauss(8, 3))
    with pytest.raises(UsageError, match="event_dims"):  # (E, B, 2) input without event_dims=1
        G.critic_grad_sq(Logit(EnsembleMLP(3, 2, 1, depth=1, width=4).double()), gauss(3, 5, 2))
    with pytest.raises(UsageError, match="event_dims"):
        G.critic_grad_sq(lambda x: x.sum(-1), gauss(4, 2), event_dims=2)


# ---- ensembles -----------------------------------------------------------------------------------------------
def test_stacked_ensemble_per_member_values_equal_each_member_alone():
    torch.manual_seed(0)
    e = 3
    gens = [MLP(2, 2, depth=2, width=8).double() for _ in range(e)]
    discs = [MLP(2, 1, depth=2, width=8, activation="tanh").double() for _ in range(e)]
    gen, critic = EnsembleMLP.from_members(gens), Logit(EnsembleMLP.from_members(discs))
    real, z = gauss(e, 16, 2, seed=1), gauss(e, 16, 2, seed=2)
    out = G.evaluate(gen, critic, real, z, event_dims=1)
    assert set(out) == {"grad_sq_real", "grad_sq_fake", "d_real", "d_fake", "d_gap"}
    for i in range(e):
        alone = G.evaluate(gens[i], Logit(discs[i]), real[i], z[i])
        for key, value in alone.items():
            assert out[key][i] == pytest.approx(value, rel=1e-12, abs=1e-15), key


def test_critics_reading_one_input_get_one_gradient_each():
    ws = gauss(4, 5, seed=3)  # K = 4 linear critics on one (B, 5) input: (K, B) logits, like RP-GAN
    critic = lambda x: ws @ x.T  # noqa: E731
    per = G.critic_grad_sq(critic, gauss(9, 5, seed=4))
    assert per.shape == (4,)
    assert per.tolist() == pytest.approx(ws.pow(2).sum(-1).tolist(), rel=1e-14)  # not ‖Σ_k w_k‖²


def test_rp_discriminator_members_alone():
    torch.manual_seed(0)
    rp = RPDiscriminator(k=3, channels=1, image_size=8, d_width=4).double()
    x = gauss(5, 1, 8, 8, seed=5)
    per = G.critic_grad_sq(rp, x)
    d_real, _ = G.critic_outputs(rp, x, x)
    assert per.shape == d_real.shape == (3,)
    for i in range(3):
        member = rp.member(i)
        alone = lambda inp: member(rp.views(inp)[:, i:i + 1])  # noqa: E731
        assert per[i].item() == pytest.approx(G.critic_grad_sq(alone, x).item(), rel=1e-12)
        assert d_real[i].item() == pytest.approx(alone(x).mean().item(), rel=1e-12)


# ---- parameter speed -----------------------------------------------------------------------------------------
def flat(module):
    return torch.cat([p.detach().reshape(-1) for p in module.parameters()]).clone()


def sgd_steps(net, n, seed=0, lr=0.1):
    opt = torch.optim.SGD(net.parameters(), lr=lr)
    g = torch.Generator().manual_seed(seed)
    for _ in range(n):
        x = torch.randn(8, 3, generator=g, dtype=F64)
        opt.zero_grad()
        net(x).pow(2).mean().backward()
        opt.step()
        yield


def test_parameter_speed_is_the_displacement_per_step():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 6), nn.Tanh(), nn.Linear(6, 2)).double()
    tracker = G.ParameterSpeed(net, path=True)
    start, prev, path = flat(net), flat(net), 0.0
    for _ in sgd_steps(net, 7):
        tracker.update()
        now = flat(net)
        path += (now - prev).norm().item()
        prev = now
    read = tracker.read()
    assert read["steps"] == 7
    assert read["speed"].item() == pytest.approx((flat(net) - start).norm().item() / 7, rel=1e-12)
    assert read["path_speed"].item() == pytest.approx(path / 7, rel=1e-12)
    assert read["speed"].item() <= read["path_speed"].item() * (1 + 1e-12)
    # the next interval starts at the read; steps= replaces the counting
    lean = G.ParameterSpeed(net)
    mid = flat(net)
    for _ in sgd_steps(net, 3, seed=1):
        pass
    assert lean.read(steps=3)["speed"].item() == pytest.approx((flat(net) - mid).norm().item() / 3, rel=1e-12)
    assert "path_speed" not in lean.read(steps=1)


def test_parameter_speed_per_member_of_stacked_and_grouped_parameters():
    torch.manual_seed(0)
    members = [MLP(3, 2, depth=1, width=4).double() for _ in range(3)]
    ens = EnsembleMLP.from_members(members)
    tracker = G.ParameterSpeed(ens, members=3)
    before = [flat(ens.member(i)) for i in range(3)]
    with torch.no_grad():
        for p in ens.parameters():
            p.add_(gauss(*p.shape, seed=p.numel()))
    got = tracker.read(steps=2)["speed"]
    assert got.shape == (3,)
    assert got.tolist() == pytest.approx([(flat(ens.member(i)) - before[i]).norm().item() / 2 for i in range(3)],
                                         rel=1e-12)
    rp = RPDiscriminator(k=3, channels=1, image_size=8, d_width=4).double()
    tracker = G.ParameterSpeed(rp, members=3)
    before = [flat(rp.member(i)) for i in range(3)]
    with torch.no_grad():
        for p in rp.parameters():
            p.mul_(1.5)
    got = tracker.read(steps=1)["speed"]
    assert got.tolist() == pytest.approx([(flat(rp.member(i)) - before[i]).norm().item() for i in range(3)],
                                         rel=1e-12)


def test_parameter_speed_input_checks():
    net = nn.Linear(3, 2)
    with pytest.raises(UsageError, match="members"):
        G.ParameterSpeed(net, members=4)  # weight (2, 3): 2 is not divisible by 4
    with pytest.raises(UsageError, match="members"):
        G.ParameterSpeed(net, members=0)
    with pytest.raises(UsageError, match="module"):
        G.ParameterSpeed(lambda x: x)
    tracker = G.ParameterSpeed(net, path=True)
    with pytest.raises(UsageError, match="steps"):
        tracker.read(steps=-1)
    with pytest.raises(UsageError, match="steps"):
        tracker.read(steps=5)  # a path tracker counts its own steps (0 so far)
    assert math.isnan(tracker.read()["speed"].item())  # no step yet: undefined, not 0


@pytest.mark.parametrize("path", [False, True])
def test_parameter_speed_state_round_trips_through_a_weights_only_checkpoint(tmp_path, path):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 6), nn.Tanh(), nn.Linear(6, 2)).double()
    whole = G.ParameterSpeed(net, path=path)
    steps = sgd_steps(net, 7)
    for _ in range(4):
        next(steps)
        whole.update()
    torch.save(whole.state_dict(), tmp_path / "t.pt")
    net_copy = nn.Sequential(nn.Linear(3, 6), nn.Tanh(), nn.Linear(6, 2)).double()  # other parameters
    resumed = G.ParameterSpeed(net_copy, path=path)
    resumed.load_state_dict(torch.load(tmp_path / "t.pt", weights_only=True))
    resumed.module = net  # the resumed run's module holds the checkpointed parameters
    for _ in steps:
        whole.update()
        resumed.update()
    a, b = whole.read(), resumed.read()
    assert a["steps"] == b["steps"] == 7
    assert torch.equal(a["speed"], b["speed"]) and a["speed"].item() > 0
    if path:
        assert torch.equal(a["path_speed"], b["path_speed"])
    with pytest.raises(UsageError, match="path"):
        G.ParameterSpeed(net, path=not path).load_state_dict(whole.state_dict())
    with pytest.raises(UsageError, match="shapes"):
        G.ParameterSpeed(nn.Linear(3, 2).double(), path=path).load_state_dict(whole.state_dict())


class GenWithState(nn.Module):
    """A generator with BatchNorm (buffers) and dropout (RNG): what a diagnostic must leave as it found it."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(2, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Dropout(0.3), nn.Linear(8, 2))

    def forward(self, z):
        return self.net(z)


def train(with_diagnostics):
    torch.manual_seed(0)
    gen = GenWithState()
    critic = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Dropout(0.2), nn.Linear(8, 1), nn.Flatten(0))
    opt_g, opt_d = torch.optim.Adam(gen.parameters(), 1e-2), torch.optim.Adam(critic.parameters(), 1e-2)
    trackers = (G.ParameterSpeed(gen, path=True), G.ParameterSpeed(critic)) if with_diagnostics else ()
    fixed_real, fixed_z = torch.randn(32, 2), torch.randn(32, 2)
    for step in range(12):
        real, z = torch.randn(16, 2) + 2, torch.randn(16, 2)
        opt_d.zero_grad()
        (nn.functional.softplus(-critic(real)).mean() + nn.functional.softplus(critic(gen(z).detach())).mean()
         ).backward()
        opt_d.step()
        opt_g.zero_grad()
        nn.functional.softplus(-critic(gen(z))).mean().backward()
        opt_g.step()
        for t in trackers:
            t.update()
        if with_diagnostics and step % 4 == 3:
            out = G.evaluate(gen, critic, fixed_real, fixed_z, speed_g=trackers[0], speed_d=trackers[1])
            assert set(out) == set(G.KEYS) - {"path_speed_d"}
            assert all(math.isfinite(v) for v in out.values())
    state = {f"{who}.{k}": v for who, net in (("g", gen), ("d", critic)) for k, v in net.state_dict().items()}
    grads = [p.grad.clone() for p in (*gen.parameters(), *critic.parameters())]
    return state, grads, torch.get_rng_state(), opt_g.state_dict(), opt_d.state_dict()


def test_diagnostics_leave_the_training_loop_bit_identical():
    plain, watched = train(False), train(True)
    assert plain[0].keys() == watched[0].keys()
    assert all(torch.equal(plain[0][k], watched[0][k]) for k in plain[0])  # weights and BatchNorm buffers
    assert all(torch.equal(a, b) for a, b in zip(plain[1], watched[1]))  # gradients
    assert torch.equal(plain[2], watched[2])  # the global RNG
    assert str(plain[3]) == str(watched[3]) and str(plain[4]) == str(watched[4])


def test_evaluate_consumes_no_rng_and_writes_no_grad():
    torch.manual_seed(3)
    gen, critic = GenWithState(), nn.Sequential(nn.Linear(2, 4), nn.Dropout(0.5), nn.Linear(4, 1), nn.Flatten(0))
    real, z = torch.randn(10, 2), torch.randn(10, 2)
    state, buffers = torch.get_rng_state(), [b.clone() for b in gen.buffers()]
    G.evaluate(gen, critic, real, z)
    assert torch.equal(state, torch.get_rng_state())
    assert all(torch.equal(a, b) for a, b in zip(buffers, gen.buffers()))
    assert all(p.grad is None for p in (*gen.parameters(), *critic.parameters()))
