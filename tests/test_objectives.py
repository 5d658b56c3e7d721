"""Losses on logits (high on real) against their textbook formulas; f-forms against autograd."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ganscope.objectives import OBJECTIVES, get_objective

torch.manual_seed(0)
REAL, FAKE = torch.randn(64, dtype=torch.float64) + 1.0, torch.randn(64, dtype=torch.float64) - 1.0


def bce(logits, target):
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target))


def test_minimax_is_the_goodfellow_value():
    o = get_objective("minimax")
    value = torch.log(torch.sigmoid(REAL)).mean() + torch.log(1 - torch.sigmoid(FAKE)).mean()
    torch.testing.assert_close(o.d_loss(REAL, FAKE), -value)
    torch.testing.assert_close(o.g_loss(FAKE), torch.log(1 - torch.sigmoid(FAKE)).mean())
    torch.testing.assert_close(o.d_loss(REAL, FAKE), bce(REAL, 1.0) + bce(FAKE, 0.0))


def test_nonsaturating_generator_is_bce_with_target_one():
    o = get_objective("nonsaturating")
    torch.testing.assert_close(o.g_loss(FAKE), bce(FAKE, 1.0))
    torch.testing.assert_close(o.d_loss(REAL, FAKE), get_objective("minimax").d_loss(REAL, FAKE))


def test_lsgan_wgan_hinge():
    torch.testing.assert_close(get_objective("lsgan").d_loss(REAL, FAKE),
                               0.5 * ((REAL - 1) ** 2).mean() + 0.5 * (FAKE**2).mean())
    torch.testing.assert_close(get_objective("lsgan").g_loss(FAKE), 0.5 * ((FAKE - 1) ** 2).mean())
    torch.testing.assert_close(get_objective("wgan").d_loss(REAL, FAKE), FAKE.mean() - REAL.mean())
    torch.testing.assert_close(get_objective("wgan").g_loss(FAKE), -FAKE.mean())
    torch.testing.assert_close(get_objective("hinge").d_loss(REAL, FAKE),
                               torch.relu(1 - REAL).mean() + torch.relu(1 + FAKE).mean())
    torch.testing.assert_close(get_objective("hinge").g_loss(FAKE), -FAKE.mean())


def test_discriminator_losses_prefer_logits_high_on_real():
    for name, o in OBJECTIVES.items():
        high, low = torch.full((8,), 2.0), torch.full((8,), -2.0)
        good, bad = o.d_loss(high, low), o.d_loss(low, high)
        assert good < bad, name


@pytest.mark.parametrize("name", [n for n, o in OBJECTIVES.items() if o.f is not None])
def test_f_form_derivatives_match_autograd_and_numpy(name):
    f = get_objective(name).f
    t = torch.linspace(-4, 4, 81, dtype=torch.float64).requires_grad_()
    (df,) = torch.autograd.grad(f.f(t).sum(), t, create_graph=True)
    (d2f,) = torch.autograd.grad(df.sum(), t, allow_unused=True) if df.requires_grad else (torch.zeros_like(t),)
    mask = (t - 1).abs() > 1e-6  # hinge's kink at t = 1
    torch.testing.assert_close(f.df(t.detach())[mask], df.detach()[mask])
    torch.testing.assert_close(f.d2f(t.detach())[mask], d2f[mask])
    tn = t.detach().numpy()
    np.testing.assert_allclose(f.f(tn), f.f(t.detach()).numpy(), rtol=1e-12)
    np.testing.assert_allclose(f.df(tn), f.df(t.detach()).numpy(), rtol=1e-12)


def test_standard_gan_constants():
    f = get_objective("minimax").f
    assert math.isclose(f.f(0.0), -math.log(2), rel_tol=1e-12)
    assert math.isclose(f.df(0.0), 0.5, rel_tol=1e-12)
    assert math.isclose(f.d2f(0.0), -0.25, rel_tol=1e-12)


@pytest.mark.parametrize("name", [n for n, o in OBJECTIVES.items() if o.f is not None])
def test_d_loss_is_minus_the_f_form_value(name):
    o = get_objective(name)
    torch.testing.assert_close(o.d_loss(REAL, FAKE), -(o.f.f(REAL).mean() + o.f.f(-FAKE).mean()))


def test_unknown_loss_names_allowed():
    with pytest.raises(ValueError, match="allowed: minimax, nonsaturating, lsgan, wgan, hinge"):
        get_objective("foo")


# ---- logit shapes: (B,) or (E, B); (B, 1) refused (issue 14) --------------------------------------------------
@pytest.mark.parametrize("name", list(OBJECTIVES))
def test_b_by_1_logits_are_refused_with_the_fix(name):
    from ganscope.errors import UsageError

    o = get_objective(name)
    col = REAL[:, None]
    with pytest.raises(UsageError, match=r"d_loss: real: logits of shape \(64, 1\).*squeeze\(-1\)"):
        o.d_loss(col, FAKE)
    with pytest.raises(UsageError, match=r"d_loss: fake: logits of shape \(64, 1\)"):
        o.d_loss(REAL, FAKE[:, None])
    with pytest.raises(UsageError, match=r"g_loss: fake: logits of shape \(64, 1\)"):
        o.g_loss(FAKE[:, None])
    torch.testing.assert_close(o.d_loss(col.squeeze(-1), FAKE), o.d_mean(REAL, FAKE))


@pytest.mark.parametrize("name", list(OBJECTIVES))
def test_member_logits_give_one_loss_per_member(name):
    o = get_objective(name)
    real, fake = torch.stack([REAL, REAL + 1]), torch.stack([FAKE, FAKE - 1])  # (E=2, B=64)
    d, g = o.d_loss(real, fake), o.g_loss(fake)
    assert d.shape == (2,) and g.shape == (2,)
    torch.testing.assert_close(d[1], o.d_loss(REAL + 1, FAKE - 1))
    torch.testing.assert_close(g[0], o.g_loss(FAKE))
