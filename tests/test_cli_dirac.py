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


@pytest.mark.parametrize("args,field", [
    (["--loss", "nope"], "--loss"), (["--reg", "l2"], "--reg"), (["--reg", "r1", "--gamma", "-1"], "--gamma"),
    (["--h", "0"], "--h"), (["--h", "-0.1"], "--h"), (["--reg", "none", "--sigma", "1"], "--sigma"),
    (["--n-d", "2"], "--n-g/--n-d"), (["--scheme", "adam"], "--scheme"), (["--steps", "x"], "--steps"),
    (["--all"], "--out"),
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
    for name in ("overview_simgd.png", "eigenvalue_paths_standard.png", "convergence_map_r1_simgd.png",
                 "phase/wgan_clip_altgd.png"):
        assert (tmp_path / "figures" / name).stat().st_size > 1000
    results = json.loads((tmp_path / "results.json").read_text())
    assert {(r["loss"], r["reg"], r["scheme"]) for r in results} >= {("standard", "r1", "simgd")}
    assert ", 42 rows agree" not in readme and "rows agree with the paper" in readme
