"""Instance noise and σ schedules (Arjovsky & Bottou 2017 §3; docs/references.md §A3, §C6)."""
import dataclasses
import math

import pytest
import torch

from ganscope.errors import UsageError
from ganscope import noise
from ganscope.noise import SigmaSchedule, instance_noise


def test_constant_schedule():
    s = SigmaSchedule(0.3)
    assert [s(0), s(17), s(10**9)] == [0.3, 0.3, 0.3]


def test_linear_schedule_values():
    s = SigmaSchedule(1.0, "linear", steps=100)  # end defaults to 0
    assert s(0) == pytest.approx(1.0, abs=1e-15)
    assert s(25) == pytest.approx(0.75, abs=1e-15)
    assert s(50) == pytest.approx(0.5, abs=1e-15)
    assert s(100) == pytest.approx(0.0, abs=1e-15)
    assert s(1000) == pytest.approx(0.0, abs=1e-15)
    up = SigmaSchedule(0.2, "linear", end=1.0, steps=10)
    assert [up(0), up(5), up(10), up(11)] == pytest.approx([0.2, 0.6, 1.0, 1.0], abs=1e-15)


def test_exp_schedule_is_geometric():
    s = SigmaSchedule(1.0, "exp", end=0.01, steps=100)
    assert s(0) == pytest.approx(1.0, rel=1e-12)
    assert s(50) == pytest.approx(0.1, rel=1e-12)  # geometric mean of 1 and 0.01
    assert s(25) == pytest.approx(10 ** -0.5, rel=1e-12)
    assert s(100) == pytest.approx(0.01, rel=1e-12)
    assert s(10**6) == pytest.approx(0.01, rel=1e-12)
    ratios = [s(t + 1) / s(t) for t in range(0, 100, 10)]
    assert ratios == pytest.approx([0.01 ** 0.01] * len(ratios), rel=1e-12)


def test_schedule_is_a_pure_function_of_the_step():
    a, b = SigmaSchedule(2.0, "exp", end=0.5, steps=40), SigmaSchedule(2.0, "exp", end=0.5, steps=40)
    assert [a(t) for t in (30, 3, 30)] == [b(30), b(3), b(30)]
    assert a == b and isinstance(a(3), float)
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.sigma = 1.0


@pytest.mark.parametrize("kwargs,message", [
    (dict(sigma=1.0, kind="foo"), "noise.kind: unknown schedule 'foo'; allowed: constant, linear, exp"),
    (dict(sigma=-1), "noise.sigma: must be >= 0, got -1"),
    (dict(sigma=float("nan")), "noise.sigma: must be >= 0, got nan"),
    (dict(sigma=1.0, kind="linear", end=-0.5, steps=10), "noise.end: must be >= 0, got -0.5"),
    (dict(sigma=1.0, kind="exp", steps=10), "noise.end: must be > 0, got 0.0"),
    (dict(sigma=0.0, kind="exp", end=0.1, steps=10), "noise.sigma: must be > 0, got 0.0"),
    (dict(sigma=1.0, kind="linear"), "noise.steps: must be an integer >= 1 for a 'linear' schedule, got 0"),
    (dict(sigma=1.0, kind="exp", end=0.1, steps=2.5), "noise.steps: must be an integer >= 1"),
])
def test_schedule_validation_names_the_field(kwargs, message):
    with pytest.raises(UsageError) as info:
        SigmaSchedule(**kwargs)
    assert str(info.value).startswith(message)


def test_negative_step_raises():
    with pytest.raises(UsageError, match="step: must be >= 0"):
        SigmaSchedule(1.0)(-1)


def test_instance_noise_same_seed_same_noise():
    real, fake = torch.zeros(5, 3), torch.ones(5, 3)
    a = instance_noise(real, fake, 0.5, torch.Generator().manual_seed(0))
    b = instance_noise(real, fake, 0.5, torch.Generator().manual_seed(0))
    c = instance_noise(real, fake, 0.5, torch.Generator().manual_seed(1))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[0], c[0])


def test_instance_noise_std_is_sigma_and_draws_are_independent():
    n, sigma = 200_000, 0.7
    x = torch.full((n, 2), 3.0, dtype=torch.float64)
    r, f = instance_noise(x, x, sigma, torch.Generator().manual_seed(0))
    er, ef = (r - 3.0).flatten(), (f - 3.0).flatten()
    se_std = sigma / math.sqrt(2 * er.numel())  # standard error of the sample std
    for e in (er, ef):
        assert abs(e.std().item() - sigma) < 6 * se_std
        assert abs(e.mean().item()) < 6 * sigma / math.sqrt(e.numel())
    corr = torch.corrcoef(torch.stack([er, ef]))[0, 1].item()
    assert abs(corr) < 6 / math.sqrt(er.numel())  # ε₁ and ε₂ independent, not the same draw
    assert not torch.equal(er, ef)


def test_instance_noise_per_member_sigma():
    sigma = torch.tensor([0.1, 1.0, 3.0], dtype=torch.float64)
    x = torch.zeros(3, 50_000, 2, dtype=torch.float64)
    r, f = instance_noise(x, x, sigma, torch.Generator().manual_seed(0))
    for out in (r, f):
        std = out.flatten(1).std(dim=1)
        torch.testing.assert_close(std, sigma, rtol=0.02, atol=0)


def test_instance_noise_sigma_zero_is_identity_and_draws_nothing():
    real, fake = torch.randn(4, 3), torch.randn(4, 3)
    gen = torch.Generator().manual_seed(0)
    state = gen.get_state()
    r, f = instance_noise(real, fake, 0.0, gen)
    assert r is real and f is fake
    assert torch.equal(gen.get_state(), state)
    # the same call with σ > 0 does draw (so the check above can fail)
    instance_noise(real, fake, 0.1, gen)
    assert not torch.equal(gen.get_state(), state)


def test_instance_noise_is_differentiable_in_fake_and_validates_sigma():
    fake = torch.randn(4, 3, requires_grad=True)
    _, f = instance_noise(torch.zeros(4, 3), fake, 0.3, torch.Generator().manual_seed(0))
    f.sum().backward()
    torch.testing.assert_close(fake.grad, torch.ones(4, 3), rtol=0, atol=0)
    with pytest.raises(UsageError, match="sigma: must be >= 0"):
        instance_noise(torch.zeros(2), torch.zeros(2), -0.1)


def test_instance_noise_with_per_member_streams_equals_separate_seeded_runs():
    from ganscope.rng import Streams

    real, fake = torch.zeros(3, 4, 2), torch.ones(3, 5, 2)
    r, f = instance_noise(real, fake, torch.tensor([0.1, 1.0, 2.0]), Streams([7, 8, 9]))
    for e, s in enumerate([0.1, 1.0, 2.0]):
        r_e, f_e = instance_noise(real[e], fake[e], s, torch.Generator().manual_seed(7 + e))
        torch.testing.assert_close(r[e], r_e, rtol=1e-6, atol=0)
        torch.testing.assert_close(f[e], f_e, rtol=1e-6, atol=0)


def test_repeat_draws_repeats_each_sample_along_the_batch_axis():
    x = torch.arange(12.0).reshape(2, 3, 2)  # (E, B, event)
    y = noise.repeat_draws(x, 4, event_dims=1)
    assert y.shape == (2, 12, 2)
    assert torch.equal(y[:, ::4], x) and torch.equal(y[:, 3::4], x)
    assert noise.repeat_draws(x, 1) is x
    assert noise.repeat_draws(x[0], 2).shape == (6, 2)  # default: axis 0


def test_instance_noise_draws_equal_repeating_by_hand():
    real, fake = torch.randn(5, 2), torch.randn(5, 2)
    got = noise.instance_noise(real, fake, 0.3, torch.Generator().manual_seed(1), draws=3, event_dims=1)
    g = torch.Generator().manual_seed(1)
    want_real = real.repeat_interleave(3, 0) + 0.3 * torch.randn(15, 2, generator=g)
    want_fake = fake.repeat_interleave(3, 0) + 0.3 * torch.randn(15, 2, generator=g)
    assert torch.equal(got[0], want_real) and torch.equal(got[1], want_fake)


def test_many_draws_estimate_the_expected_objective():
    """For a linear critic D(x) = w·x, E_ε D(x + σε) = w·x; the M-draw mean per sample deviates by
    σ‖w‖/√M (Student-free: a Gaussian of that scale), so 4096 draws land within 5 of those scales."""
    w, x, sigma, m = torch.tensor([0.6, -0.8]), torch.randn(8, 2, dtype=torch.float64), 0.5, 4096
    noisy, _ = noise.instance_noise(x, x, sigma, torch.Generator().manual_seed(0), draws=m)
    per_sample = (noisy @ w.double()).reshape(8, m).mean(1)
    err = (per_sample - x @ w.double()).abs().max().item()
    assert 1e-4 < err < 5 * sigma / m ** 0.5
