"""Exact W1 and mode statistics against closed forms and independent computations."""
import itertools
import json
import math

import numpy as np
import pytest
import torch
from scipy import stats

from ganscope.data.toy2d import DATASETS
from ganscope.errors import UsageError
from ganscope.metrics.toy2d import evaluate, mode_stats, w1

RNG = np.random.default_rng(0)
RING = DATASETS["8gaussians"].centres.double().numpy()
RING_STD = DATASETS["8gaussians"].std


def cloud(n, seed=0, d=2):
    return np.random.default_rng(seed).normal(size=(n, d))


# ---- W1 -----------------------------------------------------------------------------------------


def test_w1_of_a_cloud_to_itself_is_zero():
    x = cloud(300)
    assert w1(x, x) == pytest.approx(0.0, abs=1e-12)


def test_w1_between_two_diracs_is_their_distance():
    a, b = np.array([[0.5, -1.0]]), np.array([[3.5, 3.0]])
    assert w1(np.repeat(a, 7, 0), np.repeat(b, 11, 0)) == pytest.approx(5.0, rel=1e-12)


@pytest.mark.parametrize("shift", [(0.3, -0.4), (10.0, 0.0), (-1e-3, 2e-3)])
def test_w1_to_a_translate_is_the_norm_of_the_shift(shift):
    # Translation is an optimal coupling for W1 (the potential <x, t/|t|> attains the dual bound).
    x = cloud(200, seed=1)
    t = np.array(shift)
    assert w1(x, x + t) == pytest.approx(np.linalg.norm(t), rel=1e-9)


def test_w1_on_a_line_matches_the_sorted_sample_closed_form():
    # Points on a line through the plane, unequal sizes: W1 = ∫|F - G| (scipy), rotation-invariant.
    u = np.array([math.cos(0.7), math.sin(0.7)])
    a, b = RNG.normal(size=300), RNG.exponential(size=170) - 0.5
    expected = stats.wasserstein_distance(a, b)
    got = w1(a[:, None] * u + [1.0, -2.0], b[:, None] * u + [1.0, -2.0])
    assert got == pytest.approx(expected, rel=1e-9)


def test_w1_equals_the_best_assignment_by_brute_force():
    # Equal sizes and uniform weights: an optimal plan is a permutation (Birkhoff).
    x, y = cloud(6, seed=2), cloud(6, seed=3) + 0.5
    cost = np.linalg.norm(x[:, None] - y[None], axis=-1)
    perms = np.array(list(itertools.permutations(range(6))))
    best = cost[np.arange(6), perms].mean(1).min()
    assert w1(x, y) == pytest.approx(best, rel=1e-9)


def test_w1_is_symmetric_and_accepts_tensors():
    x, y = cloud(50, seed=4), cloud(80, seed=5) * 2
    ref = w1(x, y)
    assert isinstance(ref, float) and ref > 0
    assert w1(y, x) == pytest.approx(ref, rel=1e-12)
    assert w1(torch.tensor(x), torch.tensor(y, dtype=torch.float64)) == pytest.approx(ref, rel=1e-12)
    assert w1(torch.tensor(x, requires_grad=True), y) == pytest.approx(ref, rel=1e-12)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_w1_is_nan_for_non_finite_points(bad):
    x = cloud(20)
    x[3, 1] = bad
    assert math.isnan(w1(x, cloud(20, seed=1)))
    assert math.isnan(w1(cloud(20, seed=1), x))


@pytest.mark.parametrize("x,y", [(np.zeros((0, 2)), np.zeros((3, 2))), (np.zeros(4), np.zeros((3, 2))),
                                 (np.zeros((3, 2)), np.zeros((3, 3)))])
def test_w1_rejects_bad_shapes(x, y):
    with pytest.raises(UsageError):
        w1(x, y)


# ---- mode statistics ----------------------------------------------------------------------------


def test_samples_from_the_data_cover_every_mode():
    # Isotropic 2-D Gaussian: P(|ε| <= 3σ) = 1 - exp(-9/2) (Rayleigh), so hq_fraction ≈ 0.98889.
    n = 8000
    x = DATASETS["8gaussians"].sample(n, torch.Generator().manual_seed(0))
    s = mode_stats(x, RING, RING_STD)
    assert set(s) == {"modes_covered", "hq_fraction", "mode_kl"}
    assert type(s["modes_covered"]) is int and type(s["hq_fraction"]) is float and type(s["mode_kl"]) is float
    assert s["modes_covered"] == 8
    p = 1 - math.exp(-4.5)
    assert abs(s["hq_fraction"] - p) < 5 * math.sqrt(p * (1 - p) / n)
    assert 0 <= s["mode_kl"] < 0.005  # E ≈ (K-1)/(2n) = 4.4e-4 for multinomial noise


def test_all_samples_at_one_centre_give_log_k():
    s = mode_stats(np.repeat(RING[2:3], 100, 0), RING, RING_STD)
    assert s == {"modes_covered": 1, "hq_fraction": 1.0, "mode_kl": pytest.approx(math.log(8), abs=1e-12)}


def test_half_the_modes_give_log_2():
    x = np.repeat(RING[[0, 2, 5, 7]], 30, 0)
    s = mode_stats(x, RING, RING_STD)
    assert s["modes_covered"] == 4 and s["hq_fraction"] == 1.0
    assert s["mode_kl"] == pytest.approx(math.log(2), abs=1e-12)


def test_no_high_quality_sample():
    s = mode_stats(np.full((40, 2), 50.0), RING, RING_STD)
    assert s == {"modes_covered": 0, "hq_fraction": 0.0, "mode_kl": pytest.approx(math.log(8), abs=1e-12)}


def test_mode_kl_matches_scipy_entropy_for_an_arbitrary_histogram():
    counts = np.array([5, 0, 17, 3, 9, 0, 1, 12])
    x = np.repeat(RING, counts, 0)
    expected = stats.entropy(counts / counts.sum(), np.full(8, 1 / 8))
    s = mode_stats(x, RING, RING_STD)
    assert s["mode_kl"] == pytest.approx(expected, rel=1e-12)
    assert s["modes_covered"] == 6  # threshold max(1, round(0.1·47/8)) = 1: the 6 non-empty modes


def test_hq_radius_is_three_std():
    c = np.array([[0.0, 0.0], [10.0, 0.0]])
    x = np.array([[2.9, 0.0], [0.0, -2.99], [3.1, 0.0], [0.0, 3.2]])
    s = mode_stats(x, c, std=1.0)
    assert s["hq_fraction"] == 0.5


def test_modes_covered_threshold_rule():
    # n = 80, K = 4, min_fraction 0.1: threshold max(1, round(2.0)) = 2 HQ samples.
    c = np.array([[0.0, 0.0], [5.0, 0.0], [0.0, 5.0], [5.0, 5.0]])
    far = np.full((77, 2), 100.0)
    x = np.concatenate([c[[0]], c[[1, 1]], far])
    assert mode_stats(x, c, 0.1)["modes_covered"] == 1
    assert mode_stats(x, c, 0.1, min_fraction=0.0)["modes_covered"] == 2  # threshold max(1, 0) = 1
    assert mode_stats(x, c, 0.1, min_fraction=0.2)["modes_covered"] == 0  # threshold 4


def test_non_finite_samples_count_as_not_high_quality():
    x = np.concatenate([np.repeat(RING, 2, 0), np.full((8, 2), np.nan), [[np.inf, 0.0]] * 8])
    s = mode_stats(torch.tensor(x), RING, RING_STD)
    assert s["hq_fraction"] == pytest.approx(0.5, abs=1e-15)
    assert s["mode_kl"] == pytest.approx(0.0, abs=1e-12)
    assert s["modes_covered"] == 8  # threshold max(1, round(0.1·32/8)) = 1


@pytest.mark.parametrize("std", [0.0, -1.0, float("nan")])
def test_mode_stats_rejects_a_bad_std(std):
    with pytest.raises(UsageError, match="^std: "):
        mode_stats(RING, RING, std)


# ---- evaluate ---------------------------------------------------------------------------------------


def test_evaluate_on_a_mixture_has_w1_and_mode_stats():
    ds = DATASETS["25gaussians"]
    g = torch.Generator().manual_seed(1)
    fake, real = ds.sample(400, g), ds.sample(400, g)
    out = evaluate(ds, fake, real)
    assert set(out) == {"w1", "modes_covered", "hq_fraction", "mode_kl"}
    assert out["w1"] == pytest.approx(w1(fake, real), rel=1e-12)
    assert out == {"w1": out["w1"], **mode_stats(fake, ds.centres, ds.std)}


def test_evaluate_without_centres_has_only_w1():
    ds = DATASETS["circle"]
    g = torch.Generator().manual_seed(2)
    real = ds.sample(300, g)
    out = evaluate(ds, real + torch.tensor([0.0, 0.25]), real)
    assert set(out) == {"w1"} and out["w1"] == pytest.approx(0.25, rel=1e-6)


def test_evaluate_survives_a_diverged_generator():
    ds = DATASETS["8gaussians"]
    real = ds.sample(64, torch.Generator().manual_seed(3))
    fake = real.clone()
    fake[:32] = float("nan")
    out = evaluate(ds, fake, real)
    assert math.isnan(out["w1"])
    assert out["hq_fraction"] <= 0.5 and math.isfinite(out["mode_kl"])
    json.dumps(out)  # serialisable (nan is written as NaN)


def test_mode_collapse_summary():
    from ganscope.metrics.toy2d import mode_collapse

    assert mode_collapse([3, 20, 25, 9], 25) == {"mode_collapse": True, "modes_dropped": 16, "peak_modes": 25,
                                                 "n_modes": 25}
    assert mode_collapse([5, 24, 25], 25)["mode_collapse"] is False
    assert mode_collapse([6, 6], 8)["mode_collapse"] is False and mode_collapse([5], 8)["mode_collapse"] is True
    assert mode_collapse([4, 4], 8, threshold=0.5)["mode_collapse"] is False  # exactly K/2 is not below K/2
    assert mode_collapse([18], 25)["mode_collapse"] is True and mode_collapse([19], 25)["mode_collapse"] is False
