"""The `ganscope dirac` command: its JSON contract, bad input, and the --all report."""
import json
import subprocess
import sys

import pytest

from ganscope.cli import main

KEYS = {"jacobian", "eigenvalues", "update_eigenvalues", "spectral_radius", "max_step", "final", "radius",
        "local_verdict", "trajectory_verdict"}


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "ganscope", *args], capture_output=True, text=True, timeout=300)


def test_json_contract(capsys):
    assert main(["dirac", "--loss", "standard", "--reg", "r1", "--gamma", "0.5", "--scheme", "altgd",
                 "--n-d", "2", "--h", "0.2", "--steps", "300", "--start", "0.5", "-1", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert KEYS <= set(out)
    assert out["jacobian"] == [[0.0, -0.5], [0.5, -0.5]]
    assert len(out["radius"]) == 301 and out["radius"][0] == pytest.approx(5**0.5 / 2)
    assert out["local_verdict"] == "converges" and out["spectral_radius"] < 1
    assert out["final"] == pytest.approx([0, 0], abs=1e-3)


def test_json_nulls_where_undefined(capsys):
    assert main(["dirac", "--loss", "wgan", "--reg", "wgan-gp", "--json", "--steps", "50"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["jacobian"] is None and out["eigenvalues"] is None and out["update_eigenvalues"] is None
    assert out["max_step"] is None and out["spectral_radius"] is None
    assert out["local_verdict"] in ("converges", "no-convergence", "diverges")


def test_plot_written(tmp_path):
    png = tmp_path / "p.png"
    assert main(["dirac", "--reg", "clip", "--loss", "wgan", "--steps", "100", "--plot", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_alias_reported_under_the_canonical_name(capsys):
    """`--loss standard` is the engine's `minimax`: same numbers, the JSON names minimax and the alias used."""
    common = ["--reg", "r1", "--gamma", "0.5", "--steps", "50", "--json"]
    assert main(["dirac", "--loss", "standard", *common]) == 0
    alias = json.loads(capsys.readouterr().out)
    assert main(["dirac", "--loss", "minimax", *common]) == 0
    canon = json.loads(capsys.readouterr().out)
    assert alias["loss"] == canon["loss"] == "minimax"
    assert alias["aliases"] == {"loss": "standard"} and canon["aliases"] == {}
    assert alias["radius"] == canon["radius"] and alias["eigenvalues"] == canon["eigenvalues"]
    assert main(["dirac", "--loss", "wgan", "--reg", "gp0", "--gamma", "0.4", "--steps", "20", "--json"]) == 0
    gp0 = json.loads(capsys.readouterr().out)
    assert (gp0["reg"], gp0["params"], gp0["aliases"]) == ("wgan-gp", {"gamma": 0.4, "target": 0.0}, {"reg": "gp0"})
    assert main(["dirac", "--loss", "wgan", "--reg", "wgan-clip", "--steps", "20", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["reg"] == "clip"


def test_order_option(capsys):
    """--order: g-first (the default) and d-first give the same spectrum but different iterates."""
    common = ["--reg", "r1", "--scheme", "altgd", "--n-d", "3", "--h", "0.3", "--steps", "40", "--json"]
    out = {}
    for order in ("g-first", "d-first", None):
        assert main(["dirac", *common, *(["--order", order] if order else [])]) == 0
        out[order] = json.loads(capsys.readouterr().out)
    assert out[None]["order"] == "g-first" and out[None]["radius"] == out["g-first"]["radius"]
    assert out["d-first"]["order"] == "d-first"
    assert out["d-first"]["spectral_radius"] == pytest.approx(out["g-first"]["spectral_radius"], rel=1e-12)
    assert abs(out["d-first"]["radius"][1] - out["g-first"]["radius"][1]) > 1e-3
    assert main(["dirac", "--steps", "10", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["order"] is None  # SimGD has no order


@pytest.mark.parametrize("args,field", [
    (["--loss", "nope"], "--loss"), (["--reg", "l2"], "--reg"), (["--reg", "r1", "--gamma", "-1"], "--gamma"),
    (["--h", "0"], "--h"), (["--h", "-0.1"], "--h"), (["--reg", "none", "--sigma", "1"], "--sigma"),
    (["--n-d", "2"], "--n-g/--n-d"), (["--scheme", "adam"], "--scheme"), (["--steps", "x"], "--steps"),
    (["--all"], "--out"), (["--order", "d-first"], "--order"), (["--scheme", "altgd", "--order", "c-first"], "--order"),
    (["--reg", "gp0", "--target", "1"], "--target"),
])
def test_bad_arguments_one_line_exit_2(args, field):
    res = run_cli("dirac", *args)
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and field in lines[0] and "Traceback" not in res.stderr


def test_help_lists_subcommands():
    res = run_cli("--help")
    assert res.returncode == 0 and "dirac" in res.stdout


def test_all_writes_the_report(tmp_path):
    res = run_cli("dirac", "--all", "--steps", "200", "--out", str(tmp_path))
    assert res.returncode == 0, res.stderr
    readme = (tmp_path / "README.md").read_text()
    assert "| loss | reg |" in readme
    csv_rows = (tmp_path / "summary.csv").read_text().strip().splitlines()
    assert len(csv_rows) == 1 + 3 * 7 * 2
    for name in ("overview_simgd.png", "eigenvalue_paths_minimax.png", "convergence_map_r1_simgd.png",
                 "phase/wgan_clip_altgd.png", "phase/minimax_r1_altgd.png"):
        assert (tmp_path / "figures" / name).stat().st_size > 1000
    results = json.loads((tmp_path / "results.json").read_text())
    assert {(r["loss"], r["reg"], r["scheme"]) for r in results} >= {("minimax", "r1", "simgd")}
    assert {r["loss"] for r in results} == {"minimax", "nonsaturating", "wgan"}  # canonical names only
    assert {r["order"] for r in results} == {None, "g-first"} and "g-first" in readme
    assert ", 42 rows agree" not in readme and "rows agree with the paper" in readme


def test_overview_fits_a_page():
    """At most 4 columns, about a page (1040 px) wide, titles of at least 9 pt, one per method."""
    from ganscope.analysis import dirac_report

    fig = dirac_report._overview("simgd", 0.1, 50, (1.0, 1.0), 1, 1, "g-first")
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert len(visible) == len(dirac_report.PAPER_METHODS)
    assert len({round(ax.get_position().x0, 3) for ax in visible}) <= 4
    assert fig.get_size_inches()[0] <= 11.5
    assert all(ax.title.get_fontsize() >= 9 and ax.title.get_text() for ax in visible)
