"""`ganscope reproduce`: a smoke run at the smallest size (cheap sections of two papers plus the index), a failing
experiment recorded instead of fatal, the page checked in headless Chromium, and the specs of the sweeps the
reproductions launch validated without training."""
import json
import subprocess
import sys

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


def test_unknown_paper_is_a_one_line_error(tmp_path):
    res = subprocess.run([sys.executable, "-m", "ganscope", "reproduce", "nobody2020", "--out", str(tmp_path)],
                         capture_output=True, text=True)
    assert res.returncode == 2
    assert res.stderr.count("\n") == 1 and "PAPER" in res.stderr and "mescheder2018" in res.stderr


@pytest.mark.parametrize("label", list(mescheder2018.MATRIX_METHODS))
def test_every_convergence_matrix_row_is_a_valid_sweep(label):
    from ganscope.sweep import expand, parse_spec

    spec = parse_spec(mescheder2018.matrix_spec(label, "circle", ["simgd", "altgd"], 2, 10, 0.1))  # shipped base
    runs = expand(spec)
    schemes = {r.overrides["game.scheme"] for r in runs}
    assert schemes == ({"altgd"} if "5 critic" in label else {"simgd", "altgd"})
    assert len(runs) == 2 * len(schemes)


def test_rp_sweep_spec_is_valid(tmp_path):
    from ganscope.sweep import expand, parse_spec

    runs = expand(parse_spec(neyshabur2017.rp_spec(Context(tmp_path), [1, 4, 12], 2, 10)))
    assert sorted({r.overrides["rp.k"] for r in runs}) == [1, 4, 12] and len(runs) == 6


def test_w1_floor_is_the_real_vs_real_distance():
    floor = mescheder2018.w1_floor("circle", 1000)
    assert 0.02 < floor < 0.1  # two samples of 1000 points of the unit circle


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

    seen = {}
    monkeypatch.setattr("ganscope.sweep.run_sweep", lambda spec, out, **kw: seen.setdefault("spec", spec) and 0)
    monkeypatch.setattr("ganscope.sweep.aggregate", lambda out: [])
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "sweep.json").write_text(json.dumps({"runs": []}))
    spec = mescheder2018.matrix_spec("R1", "line", ["simgd"], 3, 10, 0.1)
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
    assert neyshabur2017.fid_caption({1: 1, 4: 1}) == "FID over training, one seed per K (no spread shown)"
    assert neyshabur2017.fid_caption({1: 3, 4: 3}) == "FID over training: median over 3 seeds per K (band: min–max)"
    assert "2–3 seeds" in neyshabur2017.fid_caption({1: 3, 4: 2})


def test_mode_collapse_text_names_the_methods_run():
    assert barnett2018.methods_text(["nonsaturating", "r1"]) == "unregularised (non-saturating) against R1"
    assert barnett2018.methods_text(list(barnett2018.METHODS)) == ("unregularised (non-saturating) against R1 "
                                                                   "and WGAN-GP")


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
    fig = neyshabur2017._fid_over_seeds({1: [rows], 4: [rows, rows]})
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
