"""Arjovsky & Bottou 2017 §2 in fixed settings: JSD saturation, perfect discrimination, Thm 2.5
(ganscope.experiments.arjovsky2017)."""
import math

import numpy as np
import pytest

from ganscope.errors import UsageError
from ganscope.experiments import arjovsky2017 as T

LOG2 = math.log(2)


# ---- JSD saturation ---------------------------------------------------------------------------------------------------
def test_jsd_saturation_rows():
    rows = T.jsd_saturation([0.0, 0.5, 1.0, 2.0, 10.0, 1000.0])
    assert [r["uniform"] for r in rows] == pytest.approx([0, 0.5 * LOG2, LOG2, LOG2, LOG2, LOG2], abs=1e-10)
    assert all(r["uniform"] == LOG2 for r in rows if r["uniform_disjoint"])
    assert [r["point"] for r in rows] == [0.0] + [LOG2] * 5
    normal = [r["normal"] for r in rows]
    assert normal[0] == 0.0 and 0 < normal[1] < normal[2] < normal[3] < LOG2  # overlapping: below log 2
    assert [r["w1"] for r in rows] == [0.0, 0.5, 1.0, 2.0, 10.0, 1000.0]


# ---- Theorem 2.5 ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("theta0", [-1.5, 0.5, 2.0])
def test_theorem_2_5(theta0):
    r = T.theorem_2_5(theta0)
    assert r["lhs"] == pytest.approx(r["rhs"], abs=1e-6)
    assert abs(r["lhs"] - theta0) > 0.2  # the JSD term matters: not the reverse-KL gradient θ0 alone
    assert np.sign(r["jsd_grad"]) == np.sign(theta0)  # JSD grows as the distributions separate


# ---- perfect discrimination -----------------------------------------------------------------------------------------
def test_perfect_discrimination_lines_quickly():
    r = T.perfect_discrimination("lines", seeds=3, max_steps=300)
    assert r["reached"] == 3 and all(1 <= f <= 300 for f in r["first_perfect"])
    assert r["median_first_perfect"] == sorted(r["first_perfect"])[1]
    for run in r["runs"]:
        assert run["accuracy"][run["first_perfect"]] == 1.0 and max(run["accuracy"][:run["first_perfect"]]) < 1.0


def test_perfect_discrimination_overlap_control_never_perfect():
    r = T.perfect_discrimination("overlap", seeds=1, max_steps=100)
    assert r["first_perfect"] == [None] and r["median_first_perfect"] is None and r["reached"] == 0
    assert 0.5 < max(r["runs"][0]["accuracy"]) < 0.75
    with pytest.raises(UsageError, match="--setting"):
        T.perfect_discrimination("nope")
