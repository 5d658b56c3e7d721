"""Bad input on the command line: one line on stderr naming the argument, exit status 2, nothing written.

Each command runs in-process in an empty directory that holds one file, ``afile``; afterwards that directory
must hold exactly that file (no run directory, no figure directory, nothing partially written).
"""
import subprocess
import sys

import pytest

from ganscope.cli import main

BAD = [
    # --out naming an existing file, or a path below one: every command that takes --out
    (["train", "toy2d", "train.steps=5", "--out", "afile"],
     "--out: afile is a file, not a directory; give a new or an existing directory"),
    (["train", "toy2d", "--out", "afile/run"],
     "--out: AFILE is a file, so afile/run cannot be created; give a directory path"),
    (["sweep", "toy2d_methods", "--out", "afile"], "--out: afile is a file"),
    (["sweep", "toy2d_methods", "--dry-run", "--out", "afile"], "--out: afile is a file"),
    (["dirac", "--all", "--steps", "20", "--out", "afile"], "--out: afile is a file"),
    (["reproduce", "mescheder2018", "--out", "afile"], "--out: afile is a file"),
    (["probe", "some_run", "--out", "afile"], "--out: afile is a file"),
    (["toy2d", "critic-surface", "--steps", "1", "--out", "afile"], "--out: afile is a file"),
    (["toy2d", "clipping-pathology", "--steps", "1", "--out", "afile/x"], "--out: AFILE is a file, so afile/x"),
    # the Dirac lab's numbers
    (["dirac", "--scheme", "altgd", "--n-d", "0"], "--n-d: must be an integer in [1, 1000], got 0"),
    (["dirac", "--scheme", "altgd", "--n-g", "0"], "--n-g: must be an integer in [1, 1000], got 0"),
    (["dirac", "--h", "1e308"], "--h: must be a finite number in (0, 10], got 1e+308"),
    (["dirac", "--h", "inf"], "--h: must be a finite number in (0, 10], got inf"),
    (["dirac", "--h", "nan"], "--h: must be a finite number in (0, 10], got nan"),
    (["dirac", "--steps", str(10**12)], "--steps: must be an integer in [1, 1000000], got 1000000000000"),
    (["dirac", "--all", "--steps", str(10**12), "--out", "d"], "--steps: must be an integer in [1, 1000000]"),
    (["dirac", "--start", "nan", "1"], "--start: must be a finite number in [-1000, 1000], got nan"),
    (["dirac", "--reg", "r1", "--gamma", "1e308"], "--gamma: must be a finite number in [0, 1000]"),
    (["spectrum", "--dirac", "--h", "1e308"], "--h: must be a finite number in (0, 10]"),
    (["spectrum", "--dirac", "--scheme", "altgd", "--n-d", "0"], "--n-d: must be an integer in [1, 1000]"),
    # --plot into a missing directory (not created), or not a .png: every command with --plot
    (["dirac", "--plot", "missing/p.png"], "--plot: directory 'missing' does not exist (create it first)"),
    (["dirac", "--plot", "p.pdf"], "--plot: expected a .png file name, got 'p.pdf'"),
    (["spectrum", "--dirac", "--plot", "missing/p.png"], "--plot: directory 'missing' does not exist"),
    (["spectrum", "--equilibrium", "toy2d"], "data.finite: the equilibrium spectrum needs a finite game"),
    (["spectrum", "--equilibrium", "convergence2d", "--h", "0"], "--h: must be a finite number in (0, 10]"),
    (["theory", "optimal-d", "--real", "normal:0,1", "--fake", "normal:2,1", "--plot", "missing/p.png"],
     "--plot: directory 'missing' does not exist"),
    (["theory", "jsd-saturation", "--plot", "missing/p.png"], "--plot: directory 'missing' does not exist"),
    (["theory", "perfect-d", "--plot", "missing/p.png"], "--plot: directory 'missing' does not exist"),
    (["reproduce", "mescheder2018", "--workers", "0", "--out", "r"], "--workers: must be an integer >= 1, got 0"),
    (["toy2d", "critic-surface", "--steps", "0", "--out", "r"], "--steps: must be an integer >= 1, got 0"),
]


@pytest.mark.parametrize("argv,message", BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_input_one_line_exit_2_nothing_written(argv, message, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "afile").write_text("keep me")
    assert main(argv) == 2
    err = capsys.readouterr().err.replace(str(tmp_path / "afile"), "AFILE")  # the folder above, named absolutely
    assert err.startswith(f"error: {message}") and err.count("\n") == 1 and "Traceback" not in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"] and (tmp_path / "afile").read_text() == "keep me"


def test_a_subprocess_gives_no_traceback(tmp_path):
    (tmp_path / "afile").write_text("x")
    res = subprocess.run([sys.executable, "-m", "ganscope", "train", "toy2d", "--out", "afile"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 2
    assert res.stderr == "error: --out: afile is a file, not a directory; give a new or an existing directory\n"
