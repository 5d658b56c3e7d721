"""The perturbed-equilibrium start of a finite 2-D game (ganscope.equilibrium, game.start: equilibrium): the
optimal assignment against brute force, an exact equilibrium where every method's field vanishes, the
perturbation's size and streams, ensemble = single seeds, the logged distance, resume, bad input."""
import itertools
import json
import math

import numpy as np
import pytest
import torch

from ganscope import equilibrium
from ganscope.config import load_yaml, resolve
from ganscope.errors import UsageError
from ganscope.metrics.toy2d import w1
from ganscope.shipped import find_config
from ganscope.train import Run

TINY = ["model.g_width=16", "model.d_width=16", "data.finite=12", "data.eval_samples=50", "train.eval_every=2",
        "train.log_every=1", "checkpoint.every=4", "train.plots=false", "game.start=equilibrium"]


def cfg_of(*overrides):
    return resolve(load_yaml(find_config("convergence2d")), [*TINY, *overrides])


def trained(cfg, out):
    """``Run(cfg, out)`` trained to ``cfg.train.steps`` (out created)."""
    out.mkdir(parents=True, exist_ok=True)
    run = Run(cfg, out)
    run.train(progress=False)
    return run


def test_assignment_is_the_optimal_matching():
    gen = torch.Generator().manual_seed(0)
    a, b = torch.randn(3, 6, 2, generator=gen), torch.randn(3, 6, 2, generator=gen)
    pi = equilibrium.assignment(a, b)
    for e in range(3):
        cost = lambda p: sum(float((a[e, i] - b[e, j]).square().sum()) for i, j in enumerate(p))  # noqa: E731
        best = min(itertools.permutations(range(6)), key=cost)
        assert cost(pi[e].tolist()) == pytest.approx(cost(best), rel=1e-9)
        assert sorted(pi[e].tolist()) == list(range(6))


@pytest.mark.parametrize("method", ["minimax", "nonsaturating", "r1", "r2", "consensus"])
def test_the_start_is_an_exact_equilibrium(method, tmp_path):
    """With ε = 0: the data are G's points (W1 = 0), D ≡ 0 (∇ₓD = 0), so one step of the field moves nothing
    (G's gradient is ∝ ∇ₓD = 0; D's real and fake terms cancel on identical points)."""
    run = Run(cfg_of(f"method={method}", "game.perturb=0", "game.scheme=simgd", "game.n_d=1"), tmp_path)
    x, z = run.task.finite
    with torch.no_grad():
        assert torch.equal(run.task.gen(z), x) and run.task.r0 == [0.0]
        probe = torch.randn(1, 40, 2)
        assert torch.count_nonzero(run.task.disc(probe)) == 0
    before = [p.detach().clone() for p in [*run.task.gen.parameters(), *run.task.disc.parameters()]]
    run.game.step(0)
    after = [p.detach() for p in [*run.task.gen.parameters(), *run.task.disc.parameters()]]
    assert max(float((a - b).abs().max()) for a, b in zip(after, before)) < 1e-6


def test_the_fitted_points_are_near_the_problem_and_the_perturbation_has_its_size(tmp_path):
    cfg = cfg_of("method=r1", "game.perturb=0")
    random_start = [o for o in TINY if not o.startswith("game.start=")]
    fresh = Run(resolve(load_yaml(find_config("convergence2d")), random_start), tmp_path / "a")
    at_eq = Run(cfg, tmp_path / "b")
    problem, fitted = fresh.task.finite[0][0].numpy(), at_eq.task.finite[0][0].numpy()
    assert w1(fitted, problem) < 0.1  # within a tenth of the circle's scale s = 1
    perturbed = Run(cfg_of("method=r1", "game.perturb=0.1"), tmp_path / "c")
    for p, q in zip(perturbed.task.gen.parameters(), at_eq.task.gen.parameters()):
        rel = float(((p - q).square().mean().sqrt() / q.square().mean().sqrt()).detach())
        assert 0.05 < rel < 0.2  # ε·rms(p)·ξ with ξ ~ N(0, I): relative size ε up to sampling
    assert perturbed.task.r0[0] > 0 and torch.equal(perturbed.task.finite[0], at_eq.task.finite[0])


def test_an_ensemble_member_starts_as_the_single_run_of_its_seed(tmp_path):
    ens = Run(cfg_of("method=r1", "ensemble=3", "seed=5"), tmp_path / "e")
    single = Run(cfg_of("method=r1", "seed=6"), tmp_path / "s")
    torch.testing.assert_close(ens.task.finite[0][1], single.task.finite[0][0], rtol=1e-5, atol=1e-6)
    for p, q in zip(ens.task.gen.parameters(), single.task.gen.parameters()):
        torch.testing.assert_close(p[1], q[0], rtol=1e-5, atol=1e-6)
    assert ens.task.r0[1] == pytest.approx(single.task.r0[0], rel=1e-4)


def test_the_logged_distance_is_recomputed_from_its_parts(tmp_path):
    run = trained(cfg_of("method=minimax", "ensemble=2", "train.steps=4"), tmp_path)
    rows = [json.loads(ln) for ln in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    evals = [r for r in rows if "eq_ratio" in r]
    assert [r["step"] for r in evals] == [2, 4]
    for r in evals:
        for e in range(2):
            dist = math.sqrt(r["w1_finite"][e] ** 2 + r["grad_sq_real"][e])
            assert r["eq_distance"][e] == pytest.approx(dist, rel=1e-9)
            assert r["eq_ratio"][e] == pytest.approx(dist / run.task.r0[e], rel=1e-9)


def test_a_resumed_run_equals_the_uninterrupted_one(tmp_path):
    whole = trained(cfg_of("method=r1", "train.steps=8"), tmp_path / "whole")
    trained(cfg_of("method=r1", "train.steps=4"), tmp_path / "part")
    again = Run(cfg_of("method=r1", "train.steps=8"), tmp_path / "part")
    again.load(tmp_path / "part" / "checkpoints" / "last.pt")
    again.train(progress=False)
    for p, q in zip(again.task.gen.parameters(), whole.task.gen.parameters()):
        assert torch.equal(p, q)
    read = lambda d: [ln for ln in (d / "metrics.jsonl").read_text().splitlines() if "eq_ratio" in ln]  # noqa: E731
    strip = lambda lines: [{k: v for k, v in json.loads(ln).items() if k != "wall_s"} for ln in lines]  # noqa: E731
    assert strip(read(tmp_path / "part")) == strip(read(tmp_path / "whole"))


@pytest.mark.parametrize("overrides", [["data.finite=0"], ["train.diagnostics=false"]])
def test_the_start_needs_a_finite_game_with_diagnostics(overrides):
    with pytest.raises(UsageError, match=r"^game\.start: equilibrium needs a finite 2-D game"):
        cfg_of(*overrides)


def test_distance_is_the_dirac_norm():
    assert equilibrium.distance(0.3, 0.16) == pytest.approx(0.5)
    assert np.isclose(equilibrium.distance(0.0, 0.0), 0.0)
