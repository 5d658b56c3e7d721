"""Distributions and divergences: D*, the JSD, the KL, V(D*, G), parsing (ganscope.analysis.distributions)."""
import math

import numpy as np
import pytest
from scipy.special import expit

from ganscope.analysis import distributions as T
from ganscope.errors import UsageError

LOG2, LOG4 = math.log(2), math.log(4)


# ---- closed forms ----------------------------------------------------------------------------------------------------
def test_optimal_discriminator_is_logistic_for_unit_gaussians():
    # p_r = N(0,1), p_g = N(1,1): log p_r − log p_g = −x²/2 + (x − 1)²/2 = 1/2 − x
    d_star = T.optimal_discriminator("normal:0,1", "normal:1,1")
    xs = np.array([-3.0, -1.0, 0.0, 0.5, 1.0, 2.5, 6.0])
    assert d_star(xs) == pytest.approx(expit(0.5 - xs), rel=1e-12)
    assert d_star(np.array([0.5]))[0] == pytest.approx(0.5, abs=1e-15)


def test_optimal_discriminator_2d_and_off_support():
    d2 = T.optimal_discriminator("normal:0,0,1", "normal:1,0,1")  # depends on x₁ only
    pts = np.array([[-1.0, 0.0], [-1.0, 5.0], [2.0, -3.0]])
    assert d2(pts) == pytest.approx(expit(0.5 - pts[:, 0]), rel=1e-12)
    du = T.optimal_discriminator("uniform:0,2", "uniform:1,3")
    assert du(np.array([0.5, 1.5, 2.5])) == pytest.approx([1.0, 0.5, 0.0], abs=0)
    assert np.isnan(du(np.array([5.0]))[0])  # neither has mass: undefined
    with pytest.raises(UsageError, match="no density|needs two densities"):
        T.optimal_discriminator("point:0", "normal:0,1")


PAIRS = [("normal:0,1", "normal:1,1"), ("normal:0,1", "normal:2,0.5"), ("uniform:0,1", "normal:0.5,1"),
         ("uniform:0,1", "uniform:0.3,2"), ("mixture:0.3*normal:-2,0.5+0.7*normal:2,0.5", "normal:0,2"),
         ("normal:0,0,1", "normal:1,0.5,1,2"), ("mixture:normal:-1,0,0.5+normal:1,0,0.5", "normal:0,0,1"),
         ("segment:0,0,2,0", "segment:1,0,4,0")]


@pytest.mark.parametrize("real,fake", PAIRS)
def test_value_at_optimum_identity(real, fake):
    j, v = T.jsd(real, fake), T.value_at_optimum(real, fake)
    assert v == pytest.approx(-LOG4 + 2 * j, abs=1e-6)
    assert 1e-3 < j < LOG2 - 1e-3  # overlapping pairs: strictly inside (0, log 2)


def test_identical_distributions():
    for spec in ("normal:0.3,1.7", "uniform:-1,2", "normal:1,2,0.5", "point:3", "segment:0,0,1,1"):
        assert T.jsd(spec, spec) == 0.0
        assert T.value_at_optimum(spec, spec) == pytest.approx(-LOG4, abs=1e-9)
    # the same distribution written two ways goes through the integrals
    same = ("mixture:normal:0,1+normal:0,1", "normal:0,1")
    assert T.jsd(*same) == pytest.approx(0.0, abs=1e-10)
    assert T.value_at_optimum(*same) == pytest.approx(-LOG4, abs=1e-9)
    assert T.jsd("segment:0,0,2,0", "segment:2,0,0,0") == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("d", [1.0, 1.5, 3.0, 100.0, 1e6])
def test_disjoint_supports_give_exactly_log2(d):
    pairs = [(f"uniform:0,1", f"uniform:{d},{d + 1}"), ("point:0", f"point:{d}"), ("point:0,0", f"point:0,{d}"),
             ("segment:-1,0,1,0", f"segment:-1,{d},1,{d + 1}"), ("segment:0,0,1,0", f"segment:{d + 1},0,{d + 2},0"),
             ("point:0", f"uniform:{d},{d + 1}"), ("segment:0,0,1,0", f"normal:0,{d},1"), (f"point:{d}", "normal:0,1")]
    for real, fake in pairs:
        assert T.jsd(real, fake) == LOG2, (real, fake)
        assert T.jsd(fake, real) == LOG2, (fake, real)
        assert T.value_at_optimum(real, fake) == 0.0
        assert T.kl(real, fake) == math.inf


def test_crossing_lines_are_mutually_singular():
    # they share one point, a null set of both (Arjovsky & Bottou Lemma: no perfect alignment)
    assert T.jsd("segment:-1,0,1,0", "segment:0,-1,0,1") == LOG2
    assert T.relation(T.parse_density("segment:-1,0,1,0"), T.parse_density("segment:0,-1,0,1"))[0] == "singular"


@pytest.mark.parametrize("d", [0.0, 0.1, 0.25, 0.5, 0.9])
def test_overlapping_uniforms_closed_form(d):
    # U[0,1] vs U[d,d+1]: on the overlap p = q (no contribution), elsewhere mass d each with the other 0
    assert T.jsd("uniform:0,1", f"uniform:{d},{d + 1}") == pytest.approx(d * LOG2, abs=1e-10)


def test_jsd_symmetric_and_bounded():
    specs = ["normal:0,1", "normal:1,0.5", "uniform:-1,1", "mixture:normal:-2,0.5+normal:2,0.5", "point:0"]
    for a in specs:
        for b in specs:
            j = T.jsd(a, b)
            assert 0.0 <= j <= LOG2
            assert j == pytest.approx(T.jsd(b, a), abs=1e-10)


def _grid_jsd(p, q, lo, hi, n=400_001):
    x = np.linspace(lo, hi, n)
    pp, qq = p.pdf(x), q.pdf(x)
    m = (pp + qq) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        f = 0.5 * np.where(pp > 0, pp * np.log(pp / m), 0) + 0.5 * np.where(qq > 0, qq * np.log(qq / m), 0)
    return np.trapezoid(f, x)


@pytest.mark.parametrize("real,fake", [("normal:0,1", "normal:1.5,0.7"), ("mixture:normal:-2,0.5+normal:2,0.5",
                                                                         "normal:0,1.5")])
def test_jsd_quad_matches_independent_grid(real, fake):
    p, q = T.parse_density(real), T.parse_density(fake)
    assert T.jsd(p, q) == pytest.approx(_grid_jsd(p, q, -15, 15), abs=1e-9)


def test_jsd_2d_grid_matches_1d_quad_and_kl_closed_form():
    # a common independent coordinate does not change the JSD
    assert T.jsd("normal:0,0,1", "normal:1,0,1") == pytest.approx(T.jsd("normal:0,1", "normal:1,1"), abs=1e-9)
    assert T.jsd("normal:0,3,1,2", "normal:1,3,1,2") == pytest.approx(T.jsd("normal:0,1", "normal:1,1"), abs=1e-9)
    # KL(N(0,1)‖N(1,2²)) = log 2 + (1 + 1)/8 − 1/2
    assert T.kl("normal:0,1", "normal:1,2") == pytest.approx(LOG2 + 2 / 8 - 0.5, abs=1e-10)
    assert T.kl("normal:0,0,1", "normal:1,0,1") == pytest.approx(0.5, abs=1e-8)
    assert T.kl("uniform:0,1", "uniform:-1,2") == pytest.approx(math.log(3), abs=1e-10)
    assert T.kl("uniform:0,1", "uniform:0.5,2") == math.inf and T.kl("normal:0,1", "uniform:-5,5") == math.inf


# ---- parsing ------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("good", ["normal:0,1", "normal:-1.5,2e-1", "normal:1,2,0.5", "normal:1,2,0.5,3",
                                  "uniform:-1,2", "point:3", "point:1,-2", "segment:0,0,1,1",
                                  "mixture:0.25*normal:-2,0.5+0.75*normal:2,0.5", "mixture:normal:0,0,1+normal:3,3,1"])
def test_parse_round_trip(good):
    d = T.parse_density(good)
    assert T.parse_density(d.spec) == d


def test_parse_mixture_weights_normalised():
    m = T.parse_density("mixture:1*normal:0,1+3*normal:-1e+1,2")
    assert m.weights == pytest.approx((0.25, 0.75)) and m.components[1].mean == (-10.0,)


@pytest.mark.parametrize("bad", ["", "normal", "normal:0", "normal:0,-1", "normal:0,0", "normal:a,1",
                                 "normal:0,1,2,3,4", "normal:nan,1", "uniform:1,0", "uniform:0,1,2", "gauss:0,1",
                                 "point:", "point:1,2,3", "segment:0,0,0,0", "segment:0,0,1",
                                 "mixture:normal:0,1+uniform:0,1", "mixture:normal:0,1+normal:0,0,1",
                                 "mixture:0.5*normal:0,1+normal:1,1", "mixture:-1*normal:0,1+2*normal:1,1"])
def test_parse_errors_name_the_flag(bad):
    with pytest.raises(UsageError, match=r"^--fake: .*allowed forms"):
        T.parse_density(bad, "--fake")


def test_dimension_mismatch_is_a_usage_error():
    with pytest.raises(UsageError, match="--fake"):
        T.jsd("normal:0,1", "normal:0,0,1")
