"""2-D data sets against their definitions (WGAN-GP gan_toy.py, docs/references.md §G4; ours for Mescheder's)."""
import ast
import dataclasses
import inspect
import itertools
import math

import numpy as np
import pytest
import torch
from scipy import stats

from ganscope.data import toy2d
from ganscope.data.toy2d import DATASETS, Toy2D, get_dataset
from ganscope.errors import UsageError

NAMES = ["8gaussians", "25gaussians", "swissroll", "gaussian", "line", "circle", "four-lines", "point"]


def draw(name, n, seed=0):
    return get_dataset(name).sample(n, torch.Generator().manual_seed(seed)).double().numpy()


def nearest_offsets(x, centres):
    """Index of the nearest centre and the offset to it, by brute force."""
    d = np.linalg.norm(x[:, None, :] - centres[None], axis=-1)
    idx = d.argmin(1)
    return idx, x - centres[idx]


# ---- registry -------------------------------------------------------------------------------


def test_registry_holds_exactly_the_documented_sets():
    assert list(DATASETS) == NAMES
    for name, ds in DATASETS.items():
        assert isinstance(ds, Toy2D) and ds.name == name
        assert ds.doc.strip() and "\n" not in ds.doc
        assert (ds.centres is None) == (ds.std is None) == (name not in ("8gaussians", "25gaussians"))


def test_toy2d_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        DATASETS["line"].name = "other"


@pytest.mark.parametrize("bad", ["9gaussians", "", "Swissroll", None])
def test_unknown_name_raises_usage_error_naming_the_field(bad):
    with pytest.raises(UsageError) as err:
        get_dataset(bad)
    msg = str(err.value)
    assert isinstance(err.value, ValueError)
    assert msg.startswith("data.name: unknown data set ") and repr(bad) in msg
    assert all(name in msg for name in NAMES)


def test_get_dataset_returns_the_registered_object():
    for name in NAMES:
        assert get_dataset(name) is DATASETS[name]


# ---- sampler contract ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("n", [0, 1, 257])
def test_shape_and_dtype(name, n):
    x = get_dataset(name).sample(n, torch.Generator().manual_seed(1))
    assert isinstance(x, torch.Tensor) and x.shape == (n, 2) and x.dtype == torch.float32
    assert torch.isfinite(x).all()


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_samples_different_seed_different(name):
    a, b, c = draw(name, 100, seed=7), draw(name, 100, seed=7), draw(name, 100, seed=8)
    assert np.array_equal(a, b)
    if name == "point":
        assert np.array_equal(a, c)
    else:
        assert not np.array_equal(a, c)


def test_successive_draws_differ_and_global_rng_is_untouched():
    torch.manual_seed(123)
    state = torch.get_rng_state()
    g = torch.Generator().manual_seed(0)
    for name in NAMES:
        first, second = get_dataset(name).sample(50, g), get_dataset(name).sample(50, g)
        assert torch.equal(first, second) == (name == "point")
    assert torch.equal(state, torch.get_rng_state())


@pytest.mark.parametrize("n", [-1, 2.0, True])
def test_bad_n_raises(n):
    with pytest.raises(UsageError, match="^n: "):
        DATASETS["circle"].sample(n, torch.Generator())


def test_bad_generator_raises():
    with pytest.raises(UsageError, match="^generator: "):
        DATASETS["circle"].sample(3, 0)


def test_sklearn_is_not_imported():
    tree = ast.parse(inspect.getsource(toy2d))
    modules = {a.name for node in ast.walk(tree) if isinstance(node, ast.Import) for a in node.names}
    modules |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert "torch" in modules and not any(m.split(".")[0] == "sklearn" for m in modules)


# ---- WGAN-GP mixtures ---------------------------------------------------------------------------


def test_8gaussians_centres_and_std_follow_the_definition():
    ds = DATASETS["8gaussians"]
    s = math.sqrt(2)
    raw = [(2, 0), (-2, 0), (0, 2), (0, -2), (s, s), (s, -s), (-s, s), (-s, -s)]
    expected = np.array(sorted(raw)) / 1.414
    got = np.array(sorted(ds.centres.double().numpy().tolist()))
    np.testing.assert_allclose(got, expected, atol=1e-6)
    assert ds.std == pytest.approx(0.02 / 1.414, rel=1e-12)


def test_8gaussians_samples():
    x = draw("8gaussians", 16000, seed=3)
    centres = DATASETS["8gaussians"].centres.double().numpy()
    idx, off = nearest_offsets(x, centres)
    sigma = 0.02 / 1.414
    assert np.abs(np.linalg.norm(x, axis=1).mean() - 2 / 1.414) < 1e-3
    counts = np.bincount(idx, minlength=8)
    assert np.all(np.abs(counts - 2000) < 5 * math.sqrt(16000 * 0.125 * 0.875))
    for k in range(8):
        o = off[idx == k]
        assert np.all(np.abs(o.mean(0)) < 5 * sigma / math.sqrt(len(o)))
        np.testing.assert_allclose(o.std(0, ddof=1), sigma, rtol=0.06)


def test_25gaussians_centres_and_samples():
    ds = DATASETS["25gaussians"]
    grid = np.array(sorted(itertools.product([-4, -2, 0, 2, 4], repeat=2))) / 2.828
    np.testing.assert_allclose(np.array(sorted(ds.centres.double().numpy().tolist())), grid, atol=1e-6)
    sigma = 0.05 / 2.828
    assert ds.std == pytest.approx(sigma, rel=1e-12)
    x = draw("25gaussians", 25000, seed=4)
    idx, off = nearest_offsets(x, grid)
    counts = np.bincount(idx, minlength=25)
    assert np.all(np.abs(counts - 1000) < 5 * math.sqrt(25000 * 0.04 * 0.96))
    np.testing.assert_allclose(off.std(0, ddof=1), sigma, rtol=0.03)
    assert np.all(np.abs(off.mean(0)) < 5 * sigma / math.sqrt(len(off)))


# ---- Swiss roll -------------------------------------------------------------------------------------


def test_swissroll_moments_match_closed_forms():
    # t ~ U[1.5π, 4.5π]: E[t cos t] = 6π/3π = 2, E[t sin t] = 2/(3π), E[t²] = 9.75π²; noise var 0.0625 per axis.
    x = draw("swissroll", 20000, seed=5) * 7.5
    se = x.std(0) / math.sqrt(len(x))
    assert abs(x[:, 0].mean() - 2.0) < 5 * se[0]
    assert abs(x[:, 1].mean() - 2 / (3 * math.pi)) < 5 * se[1]
    r2 = (x**2).sum(1)
    assert abs(r2.mean() - (9.75 * math.pi**2 + 0.125)) < 5 * r2.std() / math.sqrt(len(x))


def test_swissroll_lies_on_the_spiral_r_equals_t_with_noise_025():
    # Unscaled, the noise-free point is t(cos t, sin t): radius t at angle t (mod 2π). The nearest
    # branch t* = θ + 2πk to the radius leaves r - t* = radial noise - tangential noise / r:
    # std 0.25·sqrt(1 + 1/r²) ∈ [0.25, 0.256] for r ≥ 1.5π.
    x = draw("swissroll", 20000, seed=6) * 7.5
    r, theta = np.linalg.norm(x, axis=1), np.arctan2(x[:, 1], x[:, 0])
    t = theta + 2 * math.pi * np.round((r - theta) / (2 * math.pi))
    resid = r - t
    assert abs(resid.mean()) < 0.01
    assert 0.24 < resid.std() < 0.27
    assert abs(t.mean() - 3 * math.pi) < 0.1  # t uniform on [1.5π, 4.5π]
    assert t.min() > 1.5 * math.pi - 1.5 and t.max() < 4.5 * math.pi + 1.5


# ---- Mescheder's 2-D problems (our definitions) and the Dirac ---------------------------------


def test_gaussian_is_standard_normal():
    x = draw("gaussian", 20000, seed=7)
    np.testing.assert_allclose(x.mean(0), 0, atol=5 / math.sqrt(20000))
    np.testing.assert_allclose(np.cov(x.T), np.eye(2), atol=0.04)
    assert stats.kstest(x[:, 0], "norm").pvalue > 1e-3


def test_line_is_uniform_on_the_segment():
    x = draw("line", 20000, seed=8)
    assert np.all(x[:, 1] == 0) and x[:, 0].min() >= -1 and x[:, 0].max() <= 1
    assert stats.kstest(x[:, 0], "uniform", args=(-1, 2)).pvalue > 1e-3
    assert abs(x[:, 0].var() - 1 / 3) < 0.01


def test_circle_is_uniform_on_the_unit_circle():
    x = draw("circle", 20000, seed=9)
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, atol=1e-6)
    angle = np.mod(np.arctan2(x[:, 1], x[:, 0]), 2 * math.pi)
    assert stats.kstest(angle, "uniform", args=(0, 2 * math.pi)).pvalue > 1e-3


def test_four_lines_are_uniform_on_four_segments():
    x = draw("four-lines", 20000, seed=10)
    levels = np.array([-1.5, -0.5, 0.5, 1.5])
    assert np.isin(x[:, 1], levels).all()
    counts = np.array([(x[:, 1] == y).sum() for y in levels])
    assert np.all(np.abs(counts - 5000) < 5 * math.sqrt(20000 * 0.25 * 0.75))
    assert x[:, 0].min() >= -1 and x[:, 0].max() <= 1
    for y in levels:
        assert stats.kstest(x[x[:, 1] == y, 0], "uniform", args=(-1, 2)).pvalue > 1e-3


def test_point_is_a_dirac():
    assert np.array_equal(draw("point", 10), np.zeros((10, 2)))
    x = toy2d.make_point(1.5, -2.0)(4, torch.Generator())
    assert x.dtype == torch.float32 and torch.equal(x, torch.tensor([[1.5, -2.0]] * 4))
