"""Gradient penalties and weight clipping against closed forms and per-sample loops (docs/references.md §C3–C5, §M5, §G1)."""
import pytest
import torch
from torch import nn

from ganscope import penalties as P
from ganscope.errors import UsageError

D = 5


def linear_critic(w, b):
    return lambda x: x @ w + b  # D(x) = wᵀx + b, (B, d) -> (B,)


@pytest.fixture
def lin():
    g = torch.Generator().manual_seed(0)
    w = torch.randn(D, generator=g, dtype=torch.float64, requires_grad=True)
    b = torch.randn((), generator=g, dtype=torch.float64, requires_grad=True)
    real = 3 * torch.randn(16, D, generator=g, dtype=torch.float64)
    fake = torch.randn(16, D, generator=g, dtype=torch.float64) - 2
    return w, b, real, fake


def conv_critic():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.Tanh(), nn.Flatten(), nn.Linear(4 * 3 * 3, 1), nn.Flatten(0))


# --- closed forms for a linear critic -------------------------------------------------------------------------


@pytest.mark.parametrize("gamma", [0.1, 10.0])
def test_r1_r2_of_linear_critic_is_half_gamma_w_squared_for_any_input(lin, gamma):
    w, b, real, fake = lin
    expected = gamma / 2 * w.detach().pow(2).sum()
    for x in (real, fake, 100 * real):
        assert P.r1(linear_critic(w, b), x, gamma).item() == pytest.approx(expected.item(), rel=1e-12)
        assert P.r2(linear_critic(w, b), x, gamma).item() == pytest.approx(expected.item(), rel=1e-12)


def test_gamma_convention_differs_from_gan_stability_reg_param(lin):
    w, b, real, _ = lin
    sq = w.detach().pow(2).sum().item()
    # GAN_stability applies reg_param·E‖∇D‖²: reg_param = r matches γ = 2r, not γ = r.
    assert P.r1(linear_critic(w, b), real, 2 * 10.0).item() == pytest.approx(10.0 * sq, rel=1e-12)
    assert P.r1(linear_critic(w, b), real, 10.0).item() == pytest.approx(5.0 * sq, rel=1e-12)


@pytest.mark.parametrize("lam,target", [(10.0, 1.0), (3.0, 2.5)])
def test_wgan_gp_of_linear_critic(lin, lam, target):
    w, b, real, fake = lin
    norm = w.detach().norm().item()
    value = P.wgan_gp(linear_critic(w, b), real, fake, lam=lam, target=target)
    assert value.item() == pytest.approx(lam * (norm - target) ** 2, rel=1e-9)


def test_wgan_gp_default_weight_is_ten(lin):
    w, b, real, fake = lin
    norm = w.detach().norm().item()
    assert P.wgan_gp(linear_critic(w, b), real, fake).item() == pytest.approx(10 * (norm - 1) ** 2, rel=1e-9)


def test_zero_gp_of_linear_critic_is_lam_w_squared(lin):
    w, b, real, fake = lin
    sq = w.detach().pow(2).sum().item()
    assert P.zero_gp(linear_critic(w, b), real, fake, 4.0).item() == pytest.approx(4.0 * sq, rel=1e-12)
    # ... which is WGAN-GP with target 0, up to the 1e-12 inside the sqrt
    gp = P.wgan_gp(linear_critic(w, b), real, fake, lam=4.0, target=0.0).item()
    assert gp == pytest.approx(4.0 * sq, rel=1e-9)


# --- gradients w.r.t. the critic's parameters ---------------------------------------------------------------------


def test_r1_parameter_gradient_is_gamma_w(lin):
    w, b, real, _ = lin
    P.r1(linear_critic(w, b), real, 3.0).backward()
    torch.testing.assert_close(w.grad, 3.0 * w.detach(), rtol=1e-12, atol=0)
    assert b.grad is None  # b does not move the input gradient


def test_wgan_gp_parameter_gradient_closed_form(lin):
    w, b, real, fake = lin
    P.wgan_gp(linear_critic(w, b), real, fake, lam=10.0).backward()
    wd = w.detach()
    n = wd.norm()
    torch.testing.assert_close(w.grad, 2 * 10.0 * (n - 1) * wd / n, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name", ["r1", "r2", "wgan-gp", "gp0"])
def test_penalty_parameter_gradients_match_finite_differences(name):
    g = torch.Generator().manual_seed(1)
    W1 = torch.randn(3, 6, generator=g, dtype=torch.float64, requires_grad=True)
    W2 = torch.randn(6, generator=g, dtype=torch.float64, requires_grad=True)
    real = torch.randn(8, 3, generator=g, dtype=torch.float64)
    fake = torch.randn(8, 3, generator=g, dtype=torch.float64)
    spec = P.PENALTIES[name]

    def value(W1, W2):
        critic = lambda x: torch.tanh(x @ W1) @ W2
        return spec(critic, real, fake, 2.0, generator=torch.Generator().manual_seed(7))

    assert torch.autograd.gradcheck(value, (W1, W2))


# --- per-sample norms on image-shaped inputs ---------------------------------------------------------------------


def test_per_sample_norms_on_images_match_a_loop():
    critic = conv_critic()
    x = torch.randn(6, 3, 5, 5, dtype=torch.float64)
    critic.double()
    loop = []
    for i in range(len(x)):
        xi = x[i : i + 1].clone().requires_grad_(True)
        (gi,) = torch.autograd.grad(critic(xi).sum(), xi)
        loop.append(gi.pow(2).sum())
    loop = torch.stack(loop)
    got = P.grad_sq_norm(critic, x)
    assert got.shape == (6,)
    torch.testing.assert_close(got, loop, rtol=1e-12, atol=0)
    torch.testing.assert_close(P.r1(critic, x, 2.0), loop.mean(), rtol=1e-12, atol=0)
    # the classic mistake: a norm over the channel axis of an NCHW gradient, then a batch mean
    xg = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(critic(xg).sum(), xg)
    wrong = g.norm(dim=1).pow(2).mean()
    assert abs(wrong.item() / loop.mean().item() - 1) > 0.5


def test_wgan_gp_on_images_uses_per_sample_l2_norm():
    critic = conv_critic().double()
    real, fake = torch.randn(6, 3, 5, 5, dtype=torch.float64), torch.randn(6, 3, 5, 5, dtype=torch.float64)
    x_hat = P.interpolate(real, fake, torch.Generator().manual_seed(3))
    expected = 10.0 * (P.grad_sq_norm(critic, x_hat).sqrt() - 1).pow(2).mean()
    got = P.wgan_gp(critic, real, fake, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(got, expected, rtol=1e-9, atol=0)


def test_penalty_does_not_backpropagate_into_inputs(lin):
    w, b, real, fake = lin
    fake = fake.clone().requires_grad_(True)
    P.r2(linear_critic(w, b), fake, 1.0).backward()
    P.wgan_gp(linear_critic(w, b), real, fake).backward()
    assert fake.grad is None


@pytest.mark.parametrize("name", ["r1", "r2", "wgan-gp", "gp0"])
def test_detach_false_keeps_the_inputs_graph_with_the_same_value(name):
    """detach=False (the spectrum's Jacobian): same value; the gradient reaches what the inputs were made from,
    here the scale t of x = t·u, and equals the finite difference of the penalty in t."""
    torch.manual_seed(1)
    critic = nn.Sequential(nn.Linear(3, 6), nn.Tanh(), nn.Linear(6, 1), nn.Flatten(0)).double()
    u = torch.randn(10, 3, dtype=torch.float64)
    spec = P.get_penalty(name)

    def value(t, detach):
        x = t * u
        return spec(critic, x + 1, x, 2.0, generator=torch.Generator().manual_seed(5), detach=detach)

    t = torch.tensor(0.7, dtype=torch.float64, requires_grad=True)
    kept, cut = value(t, False), value(t, True)
    assert kept.item() == pytest.approx(cut.item(), rel=1e-14) and kept.item() > 1e-4
    (grad,) = torch.autograd.grad(kept, t)
    e = 1e-6
    fd = (value(t.detach() + e, True) - value(t.detach() - e, True)) / (2 * e)
    assert grad.item() == pytest.approx(fd.item(), rel=1e-6) and abs(grad.item()) > 1e-4
    assert not cut.requires_grad or torch.autograd.grad(cut, t, allow_unused=True)[0] is None


def test_given_draws_replace_a_generator():
    from ganscope.rng import Given, draw

    eps = torch.arange(4.0, dtype=torch.float64)
    like = torch.zeros(1, dtype=torch.float32)
    given = Given(eps, None)
    out = draw("rand", (4, 1, 1), given, like)
    assert out.shape == (4, 1, 1) and out.dtype == torch.float32 and out.flatten().tolist() == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="no given draw left"):
        draw("randn", (4,), given, like)
    with pytest.raises(ValueError, match="cannot fill"):
        draw("randn", (5,), Given(eps), like)
    real, fake = torch.zeros(4, 2, dtype=torch.float64), torch.ones(4, 2, dtype=torch.float64)
    x_hat = P.interpolate(real, fake, Given(torch.full((4, 1), 0.25, dtype=torch.float64)))
    assert torch.equal(x_hat, torch.full((4, 2), 0.75, dtype=torch.float64))


def test_works_inside_no_grad(lin):
    w, b, real, _ = lin
    with torch.no_grad():
        value = P.r1(linear_critic(w, b), real, 2.0)
    assert value.item() == pytest.approx(w.detach().pow(2).sum().item(), rel=1e-12)


# --- interpolation --------------------------------------------------------------------------------------------


def test_interpolates_lie_on_segments_with_one_epsilon_per_sample():
    real, fake = torch.randn(64, 3, 4, 4, dtype=torch.float64), torch.randn(64, 3, 4, 4, dtype=torch.float64)
    x_hat = P.interpolate(real, fake, torch.Generator().manual_seed(0))
    eps = (x_hat - fake) / (real - fake)  # x̂ = εx + (1−ε)x̃
    per_sample = eps.flatten(1)
    torch.testing.assert_close(per_sample, per_sample[:, :1].expand_as(per_sample), rtol=1e-8, atol=1e-8)
    e = per_sample[:, 0]
    assert (e >= 0).all() and (e <= 1).all()
    assert e.std() > 0.15  # different across samples (U[0,1] has std 0.29)
    again = P.interpolate(real, fake, torch.Generator().manual_seed(0))
    assert torch.equal(x_hat, again)
    assert not torch.equal(x_hat, P.interpolate(real, fake, torch.Generator().manual_seed(1)))


def test_interpolate_rejects_mismatched_shapes():
    with pytest.raises(UsageError, match="fake: must have the shape"):
        P.interpolate(torch.zeros(4, 2), torch.zeros(3, 2))


# --- zero gradient: no NaN ------------------------------------------------------------------------------------


def test_wgan_gp_no_nan_at_zero_input_gradient():
    w = torch.zeros(D, dtype=torch.float64, requires_grad=True)  # D(x) = 0·x + b: constant critic
    b = torch.ones((), dtype=torch.float64, requires_grad=True)
    real, fake = torch.randn(8, D, dtype=torch.float64), torch.randn(8, D, dtype=torch.float64)
    value = P.wgan_gp(linear_critic(w, b), real, fake)
    assert torch.isfinite(value) and value.item() == pytest.approx(10.0, rel=1e-5)
    value.backward()
    assert torch.isfinite(w.grad).all()
    torch.testing.assert_close(w.grad, torch.zeros(D, dtype=torch.float64), rtol=0, atol=1e-9)
    # control: without the epsilon the same computation gives NaN, so the test above can fail
    x = real.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(linear_critic(w, b)(x).sum(), x, create_graph=True)
    (g.pow(2).sum(1).sqrt() - 1).pow(2).mean().backward()
    assert torch.isnan(w.grad).any()


def test_critic_independent_of_input_gives_zero_gradient_penalties():
    c = torch.tensor(0.5, requires_grad=True)
    critic = lambda x: c.expand(x.shape[0])
    x = torch.randn(4, 3)
    assert P.grad_sq_norm(critic, x).tolist() == [0.0] * 4
    assert P.r1(critic, x, 1.0).item() == 0.0
    assert torch.isfinite(P.wgan_gp(critic, x, x + 1))


# --- ensembles ------------------------------------------------------------------------------------------------


def test_ensemble_penalties_equal_per_member_runs():
    g = torch.Generator().manual_seed(2)
    E, B, H = 3, 10, 7
    W1 = torch.randn(E, 2, H, generator=g, dtype=torch.float64)
    W2 = torch.randn(E, H, generator=g, dtype=torch.float64)
    ens = lambda x: torch.einsum("ebh,eh->eb", torch.tanh(torch.einsum("ebd,edh->ebh", x, W1)), W2)
    member = lambda e: (lambda x: torch.tanh(x @ W1[e]) @ W2[e])
    real = torch.randn(E, B, 2, generator=g, dtype=torch.float64)
    fake = torch.randn(E, B, 2, generator=g, dtype=torch.float64)
    gamma = torch.tensor([0.5, 2.0, 10.0], dtype=torch.float64)

    got_r1 = P.r1(ens, real, gamma, event_dims=1)
    got_r2 = P.r2(ens, fake, 3.0, event_dims=1)
    assert got_r1.shape == (E,) and got_r2.shape == (E,)
    for e in range(E):
        torch.testing.assert_close(got_r1[e], P.r1(member(e), real[e], gamma[e].item()), rtol=1e-12, atol=0)
        torch.testing.assert_close(got_r2[e], P.r2(member(e), fake[e], 3.0), rtol=1e-12, atol=0)

    # interpolating penalties: the ensemble draws ε of shape (E, B, 1); replay it per member
    x_hat = P.interpolate(real, fake, torch.Generator().manual_seed(5), event_dims=1)
    got_gp = P.wgan_gp(ens, real, fake, lam=gamma, generator=torch.Generator().manual_seed(5), event_dims=1)
    got_gp0 = P.zero_gp(ens, real, fake, gamma, generator=torch.Generator().manual_seed(5), event_dims=1)
    assert got_gp.shape == (E,) and got_gp0.shape == (E,)
    for e in range(E):
        sq = P.grad_sq_norm(member(e), x_hat[e])
        torch.testing.assert_close(got_gp[e], gamma[e] * (sq.sqrt() - 1).pow(2).mean(), rtol=1e-9, atol=0)
        torch.testing.assert_close(got_gp0[e], gamma[e] * sq.mean(), rtol=1e-12, atol=0)


def test_ensemble_of_linear_critics_closed_form():
    E, B = 4, 6
    w = torch.randn(E, 2, dtype=torch.float64)
    ens = lambda x: torch.einsum("ebd,ed->eb", x, w)
    x = torch.randn(E, B, 2, dtype=torch.float64)
    torch.testing.assert_close(P.r1(ens, x, 2.0, event_dims=1), w.pow(2).sum(1), rtol=1e-12, atol=0)
    # the default event_dims (single model) reads E as the batch and each (B, 2) slab as one sample
    default = P.r1(ens, x, 2.0)
    assert default.shape == ()
    torch.testing.assert_close(default, B * w.pow(2).sum(1).mean(), rtol=1e-12, atol=0)


def test_ensemble_with_per_member_streams_equals_separate_seeded_runs():
    from ganscope.rng import Streams

    E, B = 3, 8
    W1, W2 = torch.randn(E, 2, 5, dtype=torch.float64), torch.randn(E, 5, dtype=torch.float64)
    ens = lambda x: torch.einsum("ebh,eh->eb", torch.tanh(torch.einsum("ebd,edh->ebh", x, W1)), W2)
    real, fake = torch.randn(E, B, 2, dtype=torch.float64), torch.randn(E, B, 2, dtype=torch.float64)
    got = P.wgan_gp(ens, real, fake, generator=Streams([10, 11, 12], dtype=torch.float64), event_dims=1)
    for e in range(E):
        alone = P.wgan_gp(lambda x: torch.tanh(x @ W1[e]) @ W2[e], real[e], fake[e],
                          generator=torch.Generator().manual_seed(10 + e))
        torch.testing.assert_close(got[e], alone, rtol=1e-12, atol=0)


def test_bad_event_dims_and_weights_raise():
    x = torch.randn(4, 3)
    critic = lambda x: x.sum(-1)
    with pytest.raises(UsageError, match="event_dims"):
        P.r1(critic, x, 1.0, event_dims=2)
    with pytest.raises(UsageError, match="gamma: must be"):
        P.r1(critic, x, -1.0)
    with pytest.raises(UsageError, match="lam: must be"):
        P.wgan_gp(critic, x, x, lam=float("nan"))


# --- lazy regularisation --------------------------------------------------------------------------------------


def test_lazy_sums_to_dense_over_k_steps(lin):
    w, b, real, _ = lin
    calls = []

    def critic(x):
        calls.append(1)
        return x @ w + b

    k = 4
    dense = P.r1(critic, real, 10.0)
    lazy_r1 = P.lazy(P.r1, k)
    calls.clear()
    values = [lazy_r1(critic, real, 10.0, step=s) for s in range(2 * k)]
    assert len(calls) == 2  # off-steps compute nothing
    off = [v for s, v in enumerate(values) if s % k]
    assert all(v.shape == dense.shape and v.dtype == dense.dtype and v.item() == 0.0 and not v.requires_grad
               for v in off)  # off-steps: a zero term the loop can always add
    assert all(values[s].item() != 0.0 for s in (0, k))
    total = sum(values[:k])
    torch.testing.assert_close(total, k * dense, rtol=1e-12, atol=0)
    torch.testing.assert_close(values[4], k * dense, rtol=1e-12, atol=0)


def test_lazy_every_one_is_dense(lin):
    w, b, real, fake = lin
    dense = P.wgan_gp(linear_critic(w, b), real, fake, generator=torch.Generator().manual_seed(0))
    lz = P.lazy(P.wgan_gp, 1)
    for s in range(3):
        v = lz(linear_critic(w, b), real, fake, generator=torch.Generator().manual_seed(0), step=s)
        torch.testing.assert_close(v, dense, rtol=0, atol=0)


def test_lazy_off_step_zero_has_the_member_shape():
    lz = P.lazy(P.r1, 2)
    critic = lambda x: x.sum(-1)  # noqa: E731
    ens = torch.randn(3, 5, 2, dtype=torch.float64)  # (E, B, event)
    assert lz(critic, ens, 1.0, event_dims=1, step=0).shape == (3,)
    off = lz(critic, ens, 1.0, event_dims=1, step=1)
    assert off.shape == (3,) and off.dtype == torch.float64 and off.abs().sum().item() == 0.0
    assert lz(critic, torch.randn(5, 2), torch.ones(4), step=1).shape == (4,)  # a per-member weight broadcasts
    spec = P.lazy(P.get_penalty("wgan-gp"), 2)
    off = spec(critic, ens, ens, torch.ones(3), event_dims=1, generator=None, step=1)
    assert off.shape == (3,) and off.abs().sum().item() == 0.0


def test_lazy_validation():
    for bad in (0, -2, 1.5, True):
        with pytest.raises(UsageError, match="every: must be an integer >= 1"):
            P.lazy(P.r1, bad)
    with pytest.raises(TypeError):
        P.lazy(P.r1, 2)(lambda x: x.sum(-1), torch.zeros(2, 2), 1.0)  # step is required


# --- weight clipping ------------------------------------------------------------------------------------------


def test_clip_weights_bounds_and_keeps_in_range_values():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))
    with torch.no_grad():
        for p in net.parameters():
            p.mul_(0.05)  # some inside [-c, c], some outside
    c = 0.01
    before = [p.detach().clone() for p in net.parameters()]
    assert any((p.abs() > c).any() for p in before) and any((p.abs() < c).any() for p in before)
    assert P.clip_weights_(net, c) is net
    for old, p in zip(before, net.parameters()):
        assert p.is_leaf and p.requires_grad
        assert (p >= -c).all() and (p <= c).all()
        inside = old.abs() <= c
        assert torch.equal(p[inside], old[inside])
        torch.testing.assert_close(p[~inside], c * old[~inside].sign(), rtol=0, atol=0)


def test_clip_weights_rejects_bad_c():
    for bad in (0.0, -0.01, float("inf")):
        with pytest.raises(UsageError, match="clip: must be"):
            P.clip_weights_(nn.Linear(2, 1), bad)


# --- registry -------------------------------------------------------------------------------------------------


def test_registry_names_and_needs():
    assert list(P.PENALTIES) == ["none", "r1", "r2", "wgan-gp", "gp0"]
    needs = {k: (v.needs, v.weight) for k, v in P.PENALTIES.items()}
    assert needs == {"none": ("none", None), "r1": ("real", "gamma"), "r2": ("fake", "gamma"),
                     "wgan-gp": ("both", "lam"), "gp0": ("both", "lam")}


def test_registry_dispatch_matches_direct_calls(lin):
    w, b, real, fake = lin
    critic = linear_critic(w, b)
    assert P.PENALTIES["none"](critic, real, fake, 1.0) is None
    torch.testing.assert_close(P.PENALTIES["r1"](critic, real, None, 3.0), P.r1(critic, real, 3.0))
    torch.testing.assert_close(P.PENALTIES["r2"](critic, None, fake, 3.0), P.r2(critic, fake, 3.0))
    gen = lambda: torch.Generator().manual_seed(0)
    torch.testing.assert_close(P.PENALTIES["wgan-gp"](critic, real, fake, generator=gen()),
                               P.wgan_gp(critic, real, fake, 10.0, generator=gen()))
    torch.testing.assert_close(P.PENALTIES["gp0"](critic, real, fake, 2.0, generator=gen()),
                               P.zero_gp(critic, real, fake, 2.0, generator=gen()))
    with pytest.raises(UsageError, match="gamma: penalty 'r1' needs a weight"):
        P.PENALTIES["r1"](critic, real, fake)
    with pytest.raises(UsageError, match="unknown penalty 'r3'; allowed: none, r1, r2, wgan-gp, gp0"):
        P.get_penalty("r3")
    assert P.get_penalty("r1") is P.PENALTIES["r1"]
