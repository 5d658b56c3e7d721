"""`ganscope reproduce`: a smoke run at the smallest size (cheap sections of two papers plus the index), a failing
experiment recorded instead of fatal, the page checked in headless Chromium, and the specs of the sweeps the
reproductions launch validated without training."""
import json
import math
import subprocess
import sys
from contextlib import contextmanager

import numpy as np
import pytest

from ganscope import reproduce
from ganscope.pagecheck import check_page, find_browser
from ganscope.report import validate
from ganscope.reproduce import arjovsky2017, barnett2018, common, gulrajani2017, mescheder2018, neyshabur2017
from ganscope.reproduce.common import Context


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    out = tmp_path_factory.mktemp("reproduce")
    patch = pytest.MonkeyPatch()
    patch.setattr(reproduce, "PAPERS", ("arjovsky2017", "barnett2018"))
    patch.setattr(arjovsky2017, "SECTIONS", [arjovsky2017._jsd_saturation, arjovsky2017._theorem_2_5])
    patch.setattr(barnett2018, "SECTIONS", [barnett2018._gradient_play, _failing])
    reproduce.reproduce("all", out, quick=True, log=lambda msg: None)
    patch.undo()
    return out


def _failing(ctx):
    raise RuntimeError("boom")


@contextmanager
def one_thread():
    """torch at one intra-op thread (a worker's) for a block, restored afterwards."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def test_smoke_writes_valid_reports_and_an_index(smoke):
    for paper in ("arjovsky2017", "barnett2018"):
        report = json.loads((smoke / paper / "report.json").read_text())
        validate(report)
        assert report["paper"] == paper and report["mode"] == "quick"
        assert (smoke / paper / "index.html").is_file() and (smoke / paper / "REPORT.md").is_file()
    assert "arjovsky2017/index.html" in (smoke / "index.html").read_text()


def test_smoke_verdicts_agree_with_the_papers(smoke):
    report = json.loads((smoke / "arjovsky2017" / "report.json").read_text())
    verdicts = [c["verdict"] for s in report["sections"] for c in s["comparisons"]]
    assert verdicts == ["agrees", "agrees"]  # JSD saturation at log 2 and Theorem 2.5 to 1e-6


def test_a_failing_experiment_is_recorded_not_fatal(smoke):
    report = json.loads((smoke / "barnett2018" / "report.json").read_text())
    failed = report["sections"][-1]
    assert "failed" in failed["text"] and "boom" in failed["text"]
    assert failed["comparisons"][0]["verdict"] == "not compared"
    assert report["sections"][0]["comparisons"][0]["verdict"] == "agrees"


@pytest.mark.skipif(find_browser() is None, reason="no Chromium on PATH (apt-get install chromium)")
def test_pages_load_in_headless_chromium(smoke):
    for page in (smoke / "index.html", smoke / "barnett2018" / "index.html"):
        assert check_page(page) == []


def test_the_lane_runs_serial_sections_in_its_process_with_the_same_result(tmp_path):
    ctx, fn = Context(tmp_path), arjovsky2017._theorem_2_5
    here, here_s = common.run_section(ctx, fn)
    lines = []
    with common.Lane(2, lines.append) as lane:
        future = lane.submit(ctx, fn)
        there, there_s = lane.result(future, ctx, fn)
    assert there == here and there_s > 0
    assert lines == ["[quick] theorem_2_5 ...", f"[quick] theorem_2_5 done in {there_s:.0f} s"]  # relayed
    assert common.Lane(1, lines.append).submit(ctx, fn) is None  # one worker: no lane, run in order


def test_reports_are_the_same_with_and_without_the_lane(tmp_path, monkeypatch):
    monkeypatch.setattr(reproduce, "PAPERS", ("arjovsky2017", "barnett2018"))
    monkeypatch.setattr(arjovsky2017, "SECTIONS", [arjovsky2017._jsd_saturation, arjovsky2017._theorem_2_5])
    monkeypatch.setattr(barnett2018, "SECTIONS", [_failing, barnett2018._gradient_play])  # pooled, then serial
    reports = {}
    for workers in (1, 2):
        reproduce.reproduce("all", tmp_path / str(workers), workers=workers, log=lambda msg: None)
        reports[workers] = [json.loads((tmp_path / str(workers) / p / "report.json").read_text())
                            for p in ("arjovsky2017", "barnett2018")]
    for one, two in zip(reports[1], reports[2]):
        assert one["sections"] == two["sections"]  # the same sections in SECTIONS' order
        assert 0 < two["wall_s"] < 60
    assert [s["id"] for s in reports[2][1]["sections"]] == ["failing", "gradient_play"]


def test_unknown_paper_is_a_one_line_error(tmp_path):
    res = subprocess.run([sys.executable, "-m", "ganscope", "reproduce", "nobody2020", "--out", str(tmp_path)],
                         capture_output=True, text=True)
    assert res.returncode == 2
    assert res.stderr.count("\n") == 1 and "PAPER" in res.stderr and "mescheder2018" in res.stderr


@pytest.mark.parametrize("label", list(mescheder2018.MATRIX_METHODS))
def test_every_convergence_matrix_row_is_a_valid_sweep(label):
    from ganscope.sweep import expand, parse_spec

    spec = parse_spec(mescheder2018.matrix_spec(label, "circle", ["simgd", "altgd"], 2, 10, 5))  # shipped base
    runs = expand(spec)
    schemes = {r.overrides["game.scheme"] for r in runs}
    assert schemes == ({"altgd"} if "5 critic" in label else {"simgd", "altgd"})
    assert len(runs) == 2 * len(schemes)


def test_rp_sweep_spec_is_valid(tmp_path):
    from ganscope.sweep import expand, parse_spec

    runs = expand(parse_spec(neyshabur2017.rp_spec(Context(tmp_path), [1, 4, 12], 2, 10)))
    assert sorted({r.overrides["rp.k"] for r in runs}) == [1, 4, 12] and len(runs) == 6
    assert [r.overrides["rp.k"] for r in runs] == [12, 12, 4, 4, 1, 1]  # the longest runs start first


@pytest.mark.parametrize("problem,scale", [("circle", 1.0), ("line", 0.5), ("gaussian", (math.pi / 2) ** 0.5)])
def test_problem_scale_against_closed_forms(problem, scale):
    """s = E‖x − E x‖: 1 on the unit circle, 1/2 for U[-1, 1] × {0}, sqrt(π/2) for a standard 2-D Gaussian."""
    assert mescheder2018.problem_scale(problem) == pytest.approx(scale, rel=0.01)


def test_every_matrix_row_starts_at_a_perturbed_equilibrium_and_reads_its_distance():
    """Protocol v2b: the same start, perturbation and criterion on every row and problem; σ = 0.3·s for noise."""
    for label in mescheder2018.MATRIX_METHODS:
        for problem in ("circle", "line"):
            spec = mescheder2018.matrix_spec(label, problem, ["simgd", "altgd"], 2, 10, 5)
            assert spec["set"]["game.start"] == "equilibrium" and spec["set"]["game.perturb"] == 0.1
            assert spec["success"] == [{"metric": "eq_ratio", "below": 0.1, "hold": 3}]
    noise = mescheder2018.matrix_spec("instance noise", "line", ["altgd"], 2, 10, 5)["set"]
    assert noise["noise.sigma"] == pytest.approx(0.15, abs=1e-3) and noise["noise.draws"] == 16


@pytest.mark.parametrize("label,k,n,verdict", [
    ("R1", 8, 8, True), ("R1", 13, 16, True), ("R1", 12, 16, False), ("R1", 7, 8, True), ("R1", 6, 8, False),
    ("R1", 0, 0, None),
    ("unregularised", 0, 16, True), ("unregularised", 4, 16, True), ("unregularised", 6, 16, False),
    ("WGAN, 5 critic steps", 1, 8, True), ("WGAN, 5 critic steps", 2, 8, False), ("consensus", 3, 8, False)])
def test_row_verdicts_follow_the_rule_fixed_in_advance(label, k, n, verdict):
    """≥ 80 % with the Wilson interval above ½ (converges), ≤ 40 % with it below ½ (does not): 7/8 is 88 %
    and its interval is 0.53–0.98, so it agrees; 12/16 is 75 % (< 80 %); 6/16's interval reaches 0.61 and 2/8's
    0.59, so eight seeds can show "does not converge" with at most one converged."""
    assert mescheder2018.row_verdict(label, k, n) is verdict


def test_the_matrix_criterion_reads_what_the_engine_logs(tmp_path):
    """One tiny matrix cell end to end: the sweep splits the ensemble and evaluates the success rule on the
    logged eq_ratio of each seed."""
    from ganscope.sweep import aggregate, parse_spec, run_sweep

    spec = mescheder2018.matrix_spec("R1", "circle", ["altgd"], 2, 6, 2)
    spec["set"].update({"model.g_width": 8, "model.d_width": 8, "data.finite": 8})
    spec["base"] = str(common.find_config("convergence2d"))
    run_sweep(parse_spec(spec), tmp_path, workers=1)
    (row,) = aggregate(tmp_path)
    assert row["done"] == 2 and row["success"] == 0.0  # 6 steps cannot shrink the perturbation tenfold
    rows = common.evaluations(next((tmp_path / "runs").iterdir()), "eq_ratio")
    assert [r["step"] for r in rows] == [2, 4, 6] and all(isinstance(r["eq_ratio"], float) for r in rows)
    assert all(r["eq_ratio"] > 0.1 for r in rows)


def test_commands_and_configs_use_shipped_names(tmp_path, monkeypatch):
    from ganscope.reproduce import common
    from ganscope.shipped import find_config

    monkeypatch.chdir(tmp_path)  # from any directory, as an installed package
    cmd = common.command("mode_collapse", ["method=r1", "train.steps=5"], "mc")
    assert cmd == "ganscope train mode_collapse method=r1 train.steps=5 --out DIR/mc"
    assert find_config(cmd.split()[2]).parent.name == "configs"
    assert common.config_of("mode_collapse", ["train.steps=5"]).train.steps == 5
    from ganscope.sweep import parse_spec

    (tmp_path / "images.yaml").write_text("seed: 99\n")  # a user's file here does not shadow the shipped name
    spec = neyshabur2017.rp_spec(Context(tmp_path), [1], 1, 10)
    assert spec["base"] == "images" and parse_spec(spec).base_file == str(find_config("images").resolve())


def test_smoke_commands_name_no_repository_paths(smoke):
    for paper in ("arjovsky2017", "barnett2018"):
        rep = json.loads((smoke / paper / "report.json").read_text())
        commands = [rep["command"], *(s.get("command", "") for s in rep["sections"])]
        assert not any("configs/" in c for c in commands), commands


def test_the_base_seed_shifts_every_trained_run_and_sweep(tmp_path, monkeypatch):
    from ganscope.reproduce import common
    from ganscope.sweep import SweepState

    seen = {}

    def run_sweeps(sweeps, **kw):  # records the spec, trains nothing
        seen["spec"] = sweeps[0][0]
        return [SweepState(tmp_path / "m", sweeps[0][0], [])]

    monkeypatch.setattr("ganscope.sweep.run_sweeps", run_sweeps)
    spec = mescheder2018.matrix_spec("R1", "line", ["simgd"], 3, 10, 5)
    common.sweep(Context(tmp_path, seed=7), spec, "m")
    assert seen["spec"].seeds == [7, 8, 9]
    monkeypatch.setattr(common, "config_of", lambda name, overrides: seen.setdefault("overrides", overrides))
    with pytest.raises(Exception):  # stops after the config is resolved
        common.train(Context(tmp_path, seed=7), "toy2d", ["train.steps=5"])
    assert seen["overrides"][0] == "seed=7" and "train.steps=5" in seen["overrides"]


@pytest.mark.parametrize("args, message", [
    (["barnett2018", "--problem", "line"], "--problem: only mescheder2018"),
    (["mescheder2018", "--problem", "spiral"], "--problem: unknown problem 'spiral'; allowed: gaussian"),
    (["mescheder2018", "--seed", "-1"], "--seed"),
])
def test_seed_and_problem_are_checked(tmp_path, args, message):
    res = subprocess.run([sys.executable, "-m", "ganscope", "reproduce", *args, "--out", str(tmp_path / "o")],
                         capture_output=True, text=True)
    assert res.returncode == 2 and res.stderr.count("\n") == 1 and message in res.stderr
    assert not (tmp_path / "o").exists()


def test_rp_caption_says_what_was_drawn():
    cap = neyshabur2017.over_seeds_caption
    assert cap("FID", {1: [200.0], 4: [190.0]}) == "FID over training, one seed per K (no interval shown)"
    assert cap("FID", {1: [1.0] * 5, 4: [2.0] * 5}) == ("FID over training: mean over 5 seeds per K (band: 95 % "
                                                       "confidence interval)")
    assert "mean over 2–3 seeds" in cap("FID", {1: [1.0] * 3, 4: [2.0] * 2})


def test_rp_spec_sizes_each_view_as_the_single_discriminator(tmp_path):
    from ganscope.sweep import expand, parse_spec

    ctx = Context(tmp_path)
    width = neyshabur2017.full_size_view_width(ctx)
    assert width == 325  # d_width 32 at 28 px grey (quick, 8×8 views): one view as large as the single one
    spec = neyshabur2017.rp_spec(ctx, [1, 4], 5, 500, width)
    assert spec["set"]["rp.view_width"] == 325 and spec["set"]["checkpoint.keep"] == [100, 200, 300, 400, 500]
    assert len(expand(parse_spec(spec))) == 10


@pytest.mark.parametrize("final, late, ok", [
    ({1: [200, 205, 210], 4: [150, 152, 149], 12: [170, 171, 169]}, {1: [0.1, 0.11, 0.12], 4: [1, 1.1, 0.9]},
     {"samples": True, "mechanism": True}),
    ({1: [200, 205, 210], 4: [150, 250, 149]}, {1: [1, 1.1, 0.9], 4: [0.1, 0.11, 0.12]},
     {"samples": False, "mechanism": False}),  # intervals overlap; K = 1's gradient is the larger
    ({1: [200], 4: [150]}, {1: [0.1], 4: [1.0]}, {"samples": False, "mechanism": False}),  # one seed: no interval
    ({1: [], 4: [150, 151]}, {1: [], 4: [1.0, 1.1]}, {"samples": None, "mechanism": None}),  # nothing to compare
])
def test_rp_verdicts_follow_the_fixed_criteria(final, late, ok):
    out = neyshabur2017.rp_verdicts(final, late)
    assert out["ok"] == ok
    if ok["samples"] is not None:
        assert out["best"] == 4  # the lowest final FID mean among K > 1


def test_criteria_pieces():
    from ganscope.reproduce import criteria as C

    assert C.below_apart([1.0, 1.1, 0.9], [2.0, 2.1, 1.9]) and not C.below_apart([2.0, 2.1, 1.9], [1.0, 1.1, 0.9])
    assert not C.below_apart([1.0, 3.0, 0.5], [2.0, 2.1, 1.9])  # means ordered, intervals overlap
    assert not C.below_apart([1.0], [2.0, 2.1])
    assert C.largest_rise([100, 50, 60, 40]) == 1.2 and C.largest_rise([100, 80, 60]) == 1.0
    assert C.growth_last_half([100, 200, 300, 400], [1.0, 2.0, 5.0, 30.0]) == 15.0  # 30 / value at step 200
    assert C.late_mean([1, 2, 3, 4, 5, 6]) == 5.5 and C.late_mean([1, 2, 3, 4]) == 3.5
    assert C.fmt_interval([1.0, 1.0, 1.0]) == "1.0 ± 0.0 (3 seeds)" and C.fmt_interval([2.0]) == "2.0 (1 seed)"


def _r1_stats(final, rise=1.0, growth=1.0):
    from ganscope.reproduce import r1_images as R

    return R.run_stats([{"step": 100, "fid": final * rise, "grad_sq_real": 1.0},
                        {"step": 200, "fid": final, "grad_sq_real": 1.0},
                        {"step": 300, "fid": final * rise, "grad_sq_real": growth}])


@pytest.mark.parametrize("r1, un, ok, clause", [
    ([_r1_stats(f) for f in (20, 21, 19)], [_r1_stats(f) for f in (40, 41, 39)], True, "by (i)"),
    ([_r1_stats(f) for f in (20, 40, 19)], [_r1_stats(40, rise=1.3), _r1_stats(30), _r1_stats(35)], True, "by (ii)"),
    ([_r1_stats(f) for f in (20, 40, 19)], [_r1_stats(40, growth=11.0), _r1_stats(30)], True, "by (ii)"),
    ([_r1_stats(20, rise=1.3), _r1_stats(40)], [_r1_stats(40, rise=1.3), _r1_stats(30)], False, "neither"),
    ([_r1_stats(f) for f in (20, 40, 19)], [_r1_stats(f) for f in (40, 30, 35)], False, "neither"),
])
def test_r1_images_verdict_follows_the_fixed_criterion(r1, un, ok, clause):
    from ganscope.reproduce import r1_images as R

    got, how = R.verdict({"R1": r1, "unregularised": un})
    assert got is ok and how.startswith(clause)


def test_r1_images_spec_differs_only_in_the_penalty(tmp_path):
    from ganscope.reproduce import r1_images as R
    from ganscope.sweep import expand, parse_spec

    runs = expand(parse_spec(R.r1_spec(Context(tmp_path), 3, 600)))
    assert len(runs) == 6 and {r.overrides["penalty.name"] for r in runs} == {"r1", "none"}
    from ganscope.config import to_dict

    shared = [f"{k}={v}" for k, v in R.r1_spec(Context(tmp_path), 3, 600)["set"].items()]
    a, b = (to_dict(common.config_of("images", [*shared, f"penalty.name={p}"])) for p in ("r1", "none"))
    assert {k for k in a if a[k] != b[k]} == {"penalty"} and a["penalty"]["name"] == "r1"


def test_mode_collapse_text_names_the_methods_run():
    assert barnett2018.methods_text(["nonsaturating", "r1"]) == "unregularised (non-saturating) against R1"
    assert barnett2018.methods_text(list(barnett2018.METHODS)) == ("unregularised (non-saturating) against R1 "
                                                                   "and WGAN-GP")


def test_mode_collapse_verdict_follows_the_fixed_criterion():
    verdict = barnett2018.collapse_verdict
    ok, text = verdict({"nonsaturating": [3, 4, 2, 5, 3, 4], "r1": [8] * 6, "wgan-gp": [8, 8, 7, 8, 8, 8]}, 8)
    assert ok is True and "R1 8.00 ± 0.00 (6 seeds) of 8" in text and "WGAN-GP 7.83 ± 0.43 (6 seeds) of 8" in text
    # (a) fails: WGAN-GP's mean 7.0 < 0.9·8 = 7.2, though its CI lies above the unregularised one
    assert verdict({"nonsaturating": [1] * 6, "r1": [8] * 6, "wgan-gp": [7] * 6}, 8)[0] is False
    # (a) holds exactly at 90 % (22.5 of 25 is not reached by 22, is by 23)
    assert verdict({"nonsaturating": [5] * 6, "r1": [23] * 6, "wgan-gp": [23] * 6}, 25)[0] is True
    assert verdict({"nonsaturating": [5] * 6, "r1": [22] * 6, "wgan-gp": [23] * 6}, 25)[0] is False
    # (b) fails: the intervals overlap though the means differ (the quick run's numbers, seeds 0-5)
    assert verdict({"nonsaturating": [0, 3, 8, 3, 2, 7], "r1": [8] * 6, "wgan-gp": [0, 8, 5, 0, 8, 8]}, 8)[0] is False
    assert verdict({"nonsaturating": [6, 8, 7, 8, 8, 7], "r1": [8] * 6, "wgan-gp": [8] * 6}, 8)[0] is False
    # one seed has no interval: never "agrees"
    assert verdict({"nonsaturating": [1], "r1": [8], "wgan-gp": [8]}, 8) == (False, verdict(
        {"nonsaturating": [1], "r1": [8], "wgan-gp": [8]}, 8)[1]) and "8.00 (1 seed)" in verdict(
        {"nonsaturating": [1], "r1": [8], "wgan-gp": [8]}, 8)[1]


def test_mode_collapse_section_says_what_ran(tmp_path, monkeypatch):
    import numpy as np

    ran = []

    def fake_train(ctx, name, overrides, sub):
        ran.append((name, overrides))
        method = overrides[0].split("=")[1]
        covered = {"nonsaturating": [2, 3, 2, 3, 2, 3]}.get(method, [8] * 6)
        members = [{"modes_covered": c, "n_modes": 8, "hq_fraction": 0.9, "mode_kl": 0.1, "mode_collapse": c < 6}
                   for c in covered]
        return tmp_path / sub, {"data": "8gaussians", "members": members}

    monkeypatch.setattr(barnett2018, "train_all", lambda ctx, jobs: [fake_train(ctx, *job) for job in jobs])
    monkeypatch.setattr(barnett2018, "_final_samples",
                        lambda ctx, name, overrides, out: np.zeros((6, 10, 2)))
    result = barnett2018._mode_collapse(Context(tmp_path, quick=True, seed=3))
    assert [o[0] for _, o in ran] == ["method=wgan-gp", "method=nonsaturating", "method=r1"]  # longest first
    assert all(name == "toy2d" and "ensemble=6" in o and "train.steps=1500" in o for name, o in ran)
    table_ = result["tables"][0]
    assert [r[0] for r in table_["rows"]] == ["unregularised (non-saturating)", "R1", "WGAN-GP"]
    assert "seeds 3–8" in table_["caption"] and "against R1 and WGAN-GP" in result["figures"][0]["caption"]
    assert "6 seeds per method" in result["text"] and "Adam(0.001, β = (0.5, 0.9)), EMA 0.99 of G" in result["text"]
    assert barnett2018.CRITERION in result["text"]
    assert "R1 γ = 0.1, WGAN-GP λ = 0.1 with 5 critic steps" in result["text"]
    assert result["comparisons"][0]["verdict"] == "agrees"
    assert result["command"].count("ganscope train toy2d") == 3


@pytest.mark.parametrize("quick", [True, False])
def test_mode_collapse_runs_differ_only_in_their_method(quick, tmp_path):
    """The three runs share the recipe's nets, optimiser and budget; only loss, penalty and critic steps differ,
    with R1's γ = 0.1 and WGAN-GP's λ = 0.1 (the amended protocol) and the preset's n_d = 5."""
    from ganscope.config import to_dict

    name, extra, steps = barnett2018.QUICK if quick else barnett2018.FULL
    cfgs = {m: to_dict(common.config_of(name, [f"method={m}", *o, *extra, f"train.steps={steps}"]))
            for m, o in barnett2018.METHODS.items()}
    assert cfgs["r1"]["penalty"] == {**cfgs["r1"]["penalty"], "name": "r1", "weight": 0.1}
    assert cfgs["wgan-gp"]["penalty"] == {**cfgs["wgan-gp"]["penalty"], "name": "wgan-gp", "weight": 0.1}
    assert cfgs["wgan-gp"]["game"]["n_d"] == 5 and cfgs["r1"]["game"]["n_d"] == 1
    for key in ("model", "optim", "data", "train"):
        assert cfgs["nonsaturating"][key] == cfgs["r1"][key] == cfgs["wgan-gp"][key], key


def test_charlm_text_states_the_run():
    quick = gulrajani2017.charlm_settings(common.config_of("charlm", ["train.steps=100", "optim.g.lr=1e-3",
                                                                      "optim.d.lr=1e-3", "game.n_d=5"]))
    assert quick == "WGAN-GP, λ = 10, 5 critic steps per generator step, Adam(0.001, 0.5, 0.9), batch 64, 100 " \
                    "generator steps"
    assert "10 critic steps" in gulrajani2017.charlm_settings(common.config_of("charlm"))


def _grid(gp=True, fail=("nonsaturating", "lsgan", "wgan-clip")):
    cells = {(a, m): True for a in ("baseline", "g-mlp") for m in gulrajani2017.GRID_METHODS}
    cells[("g-mlp", "wgan-gp")] = gp
    cells.update({("baseline", m): False for m in fail})
    return cells


def test_architecture_grid_verdict():
    assert gulrajani2017.grid_verdict(_grid()) is True
    assert gulrajani2017.grid_verdict(_grid(gp=False)) is False  # WGAN-GP must train every architecture
    assert gulrajani2017.grid_verdict(_grid(fail=("nonsaturating", "lsgan"))) is False  # clipping never failed
    missing = _grid()
    del missing[("baseline", "wgan-gp")]  # a run that did not finish counts as a failure
    assert gulrajani2017.grid_verdict(missing) is False
    assert gulrajani2017.grid_summary(_grid()) == "WGAN-GP 2/2, DCGAN 1/2, LSGAN 1/2, WGAN-clip 1/2"


def test_grid_success_is_half_the_untrained_fid():
    assert gulrajani2017.grid_success(199.9, 400.0) and not gulrajani2017.grid_success(200.0, 400.0)
    assert not gulrajani2017.grid_success(float("nan"), 400.0) and not gulrajani2017.grid_success(None, 400.0)


def test_equal_wallclock_fid_reads_the_curve_before_that_time():
    rows = [{"wall_s": 10.0, "fid": 300.0}, {"wall_s": 20.0, "fid": 200.0}]
    assert gulrajani2017.equal_wallclock_fid(rows, 25.0, 500.0) == 200.0
    assert gulrajani2017.equal_wallclock_fid(rows, 15.0, 500.0) == 300.0
    assert gulrajani2017.equal_wallclock_fid(rows, 5.0, 500.0) == 500.0  # before any evaluation: untrained


def test_charlm_verdict():
    gp_first, gp_last, gan = [0.69, 0.69, 0.69], [0.60, 0.61, 0.60], [0.693, 0.692, 0.693]
    assert gulrajani2017.charlm_verdict(gp_first, gp_last, gan) is True
    assert gulrajani2017.charlm_verdict(gp_first, [0.65, 0.66, 0.65], gan) is False  # falls by < 10 %
    assert gulrajani2017.charlm_verdict(gp_first, [0.50, 0.60, 0.70], gan) is False  # intervals overlap
    assert gulrajani2017.charlm_verdict(gp_first[:2], gp_last[:2], gan[:2]) is False  # fewer than 3 seeds
    assert gulrajani2017.charlm_verdict(gp_first, gan, gp_last) is False  # the standard GAN lower


def test_gulrajani_sections_list_the_grid_not_the_single_architecture():
    names = [fn.__name__ for fn in gulrajani2017.SECTIONS]
    assert names == ["_critic_surfaces", "_clipping_pathology", "_architectures", "_charlm"]
    assert set(gulrajani2017.QUICK_ARCHITECTURES) <= set(gulrajani2017.ARCHITECTURES)
    assert len(gulrajani2017.ARCHITECTURES) == 6


def test_fid_axes_are_linear():
    rows = [{"step": s, "wall_s": s / 10, "fid": f} for s, f in ((100, 180.0), (200, 120.0), (300, 95.0))]
    fig = common.fid_against({"a": rows, "b": rows}, ("step", "wall_s"))
    assert [ax.get_yscale() for ax in fig.axes] == ["linear", "linear"]
    fig = neyshabur2017._over_seeds({1: [rows], 4: [rows, rows]}, "fid")
    assert fig.axes[0].get_yscale() == "linear"
    ticks = [t for t in fig.axes[0].get_yticks() if 95 <= t <= 180]
    assert 3 <= len(ticks) <= 7  # a few plain ticks inside the data range


def test_grid_specs_are_valid_sweeps_of_every_method_and_architecture(tmp_path):
    from ganscope.config import resolve
    from ganscope.sweep import expand, parse_spec

    specs = gulrajani2017.grid_specs(Context(tmp_path, quick=False), tuple(gulrajani2017.ARCHITECTURES), 10)
    assert [s["set"]["net"] for s in specs] == ["dcgan", "resnet"]
    runs = [r for s in specs for r in expand(parse_spec(s))]
    assert len(runs) == 6 * 4
    cfg = resolve(parse_spec(specs[0]).base, [f"{k}={v}" for k, v in {**specs[0]["set"], "method": "lsgan"}.items()])
    assert (cfg.loss, cfg.optim.d.name, cfg.optim.d.lr, cfg.game.n_d, cfg.game.ema) == ("lsgan", "rmsprop", 1e-4, 1, 0)


def test_charlm_specs_differ_only_by_the_methods_own_settings(tmp_path):
    from ganscope.config import resolve
    from ganscope.sweep import expand, parse_spec

    cfgs = {}
    for label in gulrajani2017.CHARLM_METHODS:
        spec = parse_spec(gulrajani2017.charlm_spec(label, 300, 4, gulrajani2017.CHARLM_QUICK))
        assert [r.seed for r in expand(spec)] == [0, 1, 2, 3]
        cfgs[label] = resolve(spec.base, [f"{k}={v}" for k, v in spec.set.items()])
    gp, gan = cfgs["wgan-gp"], cfgs["standard GAN"]
    assert (gp.loss, gp.penalty.name, gp.game.n_d) == ("wgan", "wgan-gp", 5)
    assert (gan.loss, gan.penalty.name, gan.game.n_d) == ("nonsaturating", "none", 1)
    assert gp.optim == gan.optim and gp.model == gan.model and gp.data == gan.data and gp.train == gan.train


def test_the_convergence_matrix_section_from_stubbed_sweeps(tmp_path, monkeypatch):
    """The section's bookkeeping without training: every row's cells, the pooled k/n with its Wilson interval,
    the verdicts and the report schema, from sweeps stubbed to R1 converging on every seed and nothing else."""
    def fake_sweep(ctx, spec, sub):
        run = tmp_path / sub / "run"
        run.mkdir(parents=True, exist_ok=True)
        r1 = spec["set"]["method"] == "r1"
        (run / "metrics.jsonl").write_text("".join(json.dumps(
            {"step": s, "eq_ratio": 0.02 if r1 else 1.5, "w1_finite": 0.05 if r1 else 0.5,
             "grad_sq_real": 0.001 if r1 else 3.0}) + "\n"
            for s in (200, 400)))
        rows = [{"game.scheme": s, "done": 2, "failed": 0, "success": 1.0 if r1 else 0.0}
                for s in spec["grid"]["game.scheme"]]
        return rows, {"a": ({}, run)}

    monkeypatch.setattr(mescheder2018, "sweeps", lambda ctx, specs: [fake_sweep(ctx, *s) for s in specs])
    monkeypatch.setattr(mescheder2018, "premise", lambda problem, seed: {
        "generator_rank": 128, "coupling_rank": 50 + seed, "invisible": 78 - seed, "points": 64})
    sec = mescheder2018._convergence_matrix(Context(tmp_path, problem="line", seed=3))
    assert "line: 128 and 53, 75 invisible" in sec["text"] and sec["config"]["premise"]["line"]["invisible"] == 75
    verdicts = {c["quantity"]: (c["measured"], c["verdict"]) for c in sec["comparisons"]}
    assert verdicts["R1"] == ("4/4 seeds converged (100%, 95 % CI 51%–100%)", "agrees")
    assert verdicts["R2"][1] == "differs" and verdicts["unregularised"][1] == "agrees"
    assert verdicts["WGAN, 5 critic steps"][0].startswith("0/2 seeds")  # AltGD only
    rows = {r[0]: r for r in sec["tables"][0]["rows"]}
    assert rows["R1"][1:] == ["2/2", "2/2", "0.02", "0.05", "0.001"] and rows["WGAN-GP, 5 critic steps"][1] == "n/a"
    assert (tmp_path / "matrix" / "distance_to_equilibrium.png").is_file()
    assert "No seed of any method converged" not in sec["text"]  # R1 did
    from ganscope.report import validate

    validate({"paper": "mescheder2018", "title": "t", "citation": "c", "mode": "quick", "command": "x",
              "wall_s": 1.0, "created": "2026-12-01T00:00:00Z", "sections": [sec]})


def test_the_matrix_says_when_nothing_converged(tmp_path, monkeypatch):
    def fake_sweep(ctx, spec, sub):
        run = tmp_path / sub / "run"
        run.mkdir(parents=True, exist_ok=True)
        (run / "metrics.jsonl").write_text(json.dumps({"step": 2, "eq_ratio": 0.5, "w1_finite": 0.1,
                                                       "grad_sq_real": 0.01}) + "\n")
        return [{"game.scheme": s, "done": 2, "failed": 0, "success": 0.0} for s in spec["grid"]["game.scheme"]], \
            {"a": ({}, run)}

    monkeypatch.setattr(mescheder2018, "sweeps", lambda ctx, specs: [fake_sweep(ctx, *s) for s in specs])
    monkeypatch.setattr(mescheder2018, "premise", lambda problem, seed: {
        "generator_rank": 128, "coupling_rank": 53, "invisible": 75, "points": 64})
    sec = mescheder2018._convergence_matrix(Context(tmp_path, problem="circle"))
    assert "No seed of any method converged" in sec["text"]
    verdicts = {c["quantity"]: c["verdict"] for c in sec["comparisons"]}
    assert verdicts["R1"] == "differs" and verdicts["unregularised"] == "agrees"


def test_the_matrix_games_premise_as_documented():
    """docs/reproduce.md, "Protocol v3": on circle at seed 0 G moves its 64 points in all 128 directions, the
    critic at D ≡ 0 feels 53 of them."""
    assert mescheder2018.premise("circle", 0) == {"generator_rank": 128, "coupling_rank": 53, "invisible": 75,
                                                  "points": 64}


def _read(rejected, grad):
    return [{"rejected": r, "grad_norm_minus_log_d": g, "grad_norm_original": 0.0} for r, g in zip(rejected, grad)]


@pytest.mark.parametrize("read, ok", [
    ({1: _read([0.99, 0.98, 1.0], [0.1, 0.12, 0.11]), 4: _read([0.6, 0.62, 0.58], [1.0, 1.1, 0.9])}, True),
    ({1: _read([0.99, 0.98, 1.0], [1.0, 1.1, 0.9]), 4: _read([0.6, 0.62, 0.58], [0.1, 0.12, 0.11])}, False),
    ({1: _read([0.6, 0.62, 0.58], [0.1, 0.12, 0.11]), 4: _read([0.99, 0.98, 1.0], [1.0, 1.1, 0.9])}, False),
    ({1: _read([0.99, 0.98, 1.0], [0.1, 0.12, 0.11]), 4: _read([0.6, 0.62, 0.58], [1.0, 1.1, 0.9]),
      12: _read([0.99, 0.4, 1.0], [1.0, 1.1, 0.9])}, False),  # every K > 1 must meet (i) and (ii)
    ({1: _read([1.0], [0.1]), 4: _read([0.5], [1.0])}, False),  # one seed: no interval
    ({4: _read([0.5, 0.6], [1.0, 1.1])}, None),
])
def test_probe_verdict_follows_criterion_c(read, ok):
    assert neyshabur2017.probe_verdict(read)[0] is ok


def test_views_probe_freezes_each_single_run_and_trains_fresh_views(tmp_path, monkeypatch):
    """Two tiny K = 1 runs on 8×8 digits: per seed one probe per K, the single one equal to a direct
    ``probe_generator`` call on the run's last generator; the read-out is the mean over the last tenth."""
    from ganscope import rundir
    from ganscope.analysis import probe

    tiny = ["net=dcgan", "data.name=digits", "model.g_width=8", "model.d_width=8", "model.latent_dim=8",
            "data.batch_size=16", "data.eval_samples=64", "train.plots=false", "train.steps=2", "train.eval_every=2"]
    ctx = Context(tmp_path, log=lambda msg: None)
    runs = [common.train(ctx, "images", [*tiny, f"seed={s}"], sub=f"k1_{s}")[0] for s in (0, 1)]
    monkeypatch.setitem(neyshabur2017.PROBE_ITERATIONS, "quick", 20)
    out = neyshabur2017.views_probe(ctx, runs, [1, 3], width=4)
    assert sorted(out) == [1, 3] and len(out[1]) == len(out[3]) == 2
    assert out[3][0]["iteration"].tolist() == [0, 10, 18, 19]
    run = rundir.open_run(runs[1])
    gen, sample, fresh = probe.probe_parts(run, 0)
    with one_thread():  # a worker's thread count, the same reductions
        direct = probe.probe_generator(gen, fresh(probe.init_seed(1)), sample, 8, iterations=20, batch_size=16,
                                       seed=1, lr=run.cfg.optim.d.lr, betas=run.cfg.optim.d.betas)
    for m in probe.METRICS:
        assert np.array_equal(out[1][1][m], direct[m][[0, 10, 18, 19]])
    read = neyshabur2017.probe_read(out[3][0])
    assert read["rejected"] == pytest.approx(float(np.mean(out[3][0]["rejected"][-2:])))
    assert not np.array_equal(out[1][0]["grad_norm_minus_log_d"], out[3][0]["grad_norm_minus_log_d"])


def test_train_all_in_workers_equals_train_in_process(tmp_path):
    """Two tiny runs trained by ``train_all`` in two worker processes (one thread each), bit for bit the runs
    ``train`` makes in-process at one thread; each worker's progress lines land in ``sub.log``."""
    import torch

    from ganscope import rundir

    jobs = [("toy2d", ["train.steps=30", "train.eval_every=15", "data.eval_samples=200", "train.plots=false",
                       f"method={m}"], f"mc/{m}") for m in ("nonsaturating", "r1")]
    lines = []
    parallel = common.train_all(Context(tmp_path / "a", seed=4, log=lines.append), jobs)
    with one_thread():
        alone = [common.train(Context(tmp_path / "b", seed=4), *job) for job in jobs]
    for (out_a, sum_a), (out_b, sum_b), job in zip(parallel, alone, jobs):
        assert sum_a["final"] == sum_b["final"]
        a, b = (torch.load(rundir.last_checkpoint(o), weights_only=True) for o in (out_a, out_b))
        flat_a, flat_b = rundir.state_tensors(a), rundir.state_tensors(b)
        assert flat_a.keys() == flat_b.keys() and all(torch.equal(flat_a[k], flat_b[k]) for k in flat_a)
        assert "train:" in (tmp_path / "a" / f"{job[2]}.log").read_text()
    assert sum("trained" in line for line in lines) == 2
