"""The optimal-discriminator lab: closed form against trained (ganscope.analysis.theory)."""
import importlib
import math

import numpy as np
import pytest
from scipy.special import expit

from ganscope.analysis import theory as T

LOG2 = math.log(2)


@pytest.fixture(scope="module")
def report_1d():
    return T.optimal_d_report("normal:0,1", "normal:2,1", steps=400, seed=0, held_out=40_000)


# ---- trained estimate -------------------------------------------------------------------------------------------------
def test_trained_estimate_close_to_closed_form(report_1d):
    r = report_1d
    assert r["jsd"] == pytest.approx(0.336831, abs=1e-6)
    assert abs(r["jsd_trained"] - r["jsd"]) < 0.03
    assert abs(r["value_trained"] - r["value_at_optimum"]) < 0.06
    assert r["gap_jsd"] == pytest.approx(r["jsd_trained"] - r["jsd"], abs=1e-12)
    c = r["curve"]
    inside = np.abs(c["x"] - 1.0) < 2.5  # where the samples are
    assert np.max(np.abs(c["d_trained"] - c["d_star"])[inside]) < 0.08
    assert c["d_star"] == pytest.approx(expit(2.0 - 2.0 * c["x"]), abs=1e-12)


def test_trained_estimate_deterministic_and_seed_dependent():
    a = T.optimal_d_report("normal:0,1", "normal:2,1", steps=30, seed=3, held_out=500)["value_trained"]
    b = T.optimal_d_report("normal:0,1", "normal:2,1", steps=30, seed=3, held_out=500)["value_trained"]
    c = T.optimal_d_report("normal:0,1", "normal:2,1", steps=30, seed=4, held_out=500)["value_trained"]
    assert a == b and a != c


def test_singular_report_tends_to_log2():
    r = T.optimal_d_report("point:0", "point:3", steps=200, seed=0, held_out=2000)
    assert r["jsd"] == LOG2 and r["value_at_optimum"] == 0.0 and r["relation"] == "singular"
    assert -0.05 < r["value_trained"] < 0 and r["curve"]["d_star"] is None


def test_plot_2d(tmp_path):
    r = T.optimal_d_report("normal:0,0,1", "mixture:normal:2,0,0.5+normal:-1,1,0.7", steps=20, seed=0, held_out=100)
    assert np.asarray(r["curve"]["d_star"]).shape == (61, 61)
    from ganscope.plots import save

    assert save(T.plot_optimal_d(r), tmp_path / "d2.png").stat().st_size > 5000


# ---- deprecated aliases (removed in 0.3) -----------------------------------------------------------------------------
def test_old_names_still_resolve_to_their_new_homes():
    from ganscope.analysis import distributions
    from ganscope.cli import theory as cli_theory
    from ganscope.experiments import arjovsky2017

    for name in ("jsd", "kl", "parse_density", "Density", "Normal", "relation", "optimal_discriminator",
                 "value_at_optimum", "LOG2", "FORMS"):
        assert getattr(T, name) is getattr(distributions, name), name
    for name in ("jsd_saturation", "perfect_discrimination", "theorem_2_5", "SETTINGS", "SATURATION_DISTANCES",
                 "plot_jsd_saturation", "plot_perfect_discrimination"):
        assert getattr(T, name) is getattr(arjovsky2017, name), name
    assert T.register is cli_theory.register
    from ganscope.analysis.theory import Point, jsd, theorem_2_5  # the from-import form goes through __getattr__ too

    assert jsd(Point((0.0,)), Point((1.0,))) == LOG2 and theorem_2_5 is arjovsky2017.theorem_2_5
    assert {"jsd", "perfect_discrimination", "optimal_d_report"} <= set(dir(T))
    with pytest.raises(AttributeError, match="no_such_name"):
        T.no_such_name


def test_library_modules_hold_no_argparse_and_analysis_does_not_import_experiments():
    for name in ("ganscope.analysis.theory", "ganscope.analysis.distributions", "ganscope.experiments.arjovsky2017"):
        module = importlib.import_module(name)
        source = open(module.__file__, encoding="utf-8").read()
        assert "argparse" not in source and "add_argument" not in source and "def register" not in source, name
    for name in ("ganscope.analysis.theory", "ganscope.analysis.distributions"):
        source = open(importlib.import_module(name).__file__, encoding="utf-8").read()
        assert "from ganscope.experiments" not in source and "import ganscope.experiments" not in source, name
