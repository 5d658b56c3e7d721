"""ganscope.cli.args: the shared argument checks (one line naming the flag) and the --json/--plot tail."""
import argparse
import json
import math

import numpy as np
import pytest

from ganscope.cli.args import check_float, check_int, check_out_dir, check_png, emit, print_json
from ganscope.errors import UsageError


def test_check_int_bounds_and_types():
    assert check_int(5, "--n", 1, 10) == 5 and check_int(np.int64(3), "--n", 1, 10) == 3
    assert check_int(None, "--n", 1, 10) is None and check_int(10**9, "--n", 1) == 10**9
    for bad in (0, 11, True, 2.0, "3"):
        with pytest.raises(UsageError, match=r"^--n: must be an integer in \[1, 10\]"):
            check_int(bad, "--n", 1, 10)
    with pytest.raises(UsageError, match=r"^--n: must be an integer >= 1, got 0"):
        check_int(0, "--n", 1)


def test_check_float_is_finite_and_in_bounds():
    assert check_float(0.1, "--h", 0, 10, low_open=True) == 0.1 and check_float(10, "--h", 0, 10) == 10
    assert check_float(None, "--h", 0, 10) is None and check_float(0.0, "--g", 0, 1) == 0.0
    for bad in (0.0, -1.0, 10.5, 1e308, math.inf, -math.inf, math.nan, True):
        with pytest.raises(UsageError, match=r"^--h: must be a finite number in \(0, 10\], got "):
            check_float(bad, "--h", 0, 10, low_open=True)


def test_check_png_needs_the_suffix_and_an_existing_directory(tmp_path):
    assert check_png(str(tmp_path / "a.PNG")) == str(tmp_path / "a.PNG") and check_png(None) is None
    with pytest.raises(UsageError, match=r"^--plot: expected a \.png file name"):
        check_png(str(tmp_path / "a.pdf"))
    with pytest.raises(UsageError, match=r"^--plot: directory .*missing.* does not exist"):
        check_png(str(tmp_path / "missing" / "a.png"))
    (tmp_path / "d.png").mkdir()
    with pytest.raises(UsageError, match=r"^--plot: .* is a directory"):
        check_png(str(tmp_path / "d.png"))
    assert not (tmp_path / "missing").exists()


def test_check_out_dir_refuses_a_file_and_a_path_below_one(tmp_path):
    (tmp_path / "f").write_text("x")
    assert check_out_dir(tmp_path) == tmp_path and check_out_dir(tmp_path / "new" / "deeper")
    with pytest.raises(UsageError, match=r"^--out: .*f is a file, not a directory; give a new or an existing"):
        check_out_dir(tmp_path / "f")
    with pytest.raises(UsageError, match=r"^--dir: .*f is a file, so .*sub cannot be created; give a directory"):
        check_out_dir(tmp_path / "f" / "sub", "--dir")
    assert (tmp_path / "f").read_text() == "x" and not (tmp_path / "new").exists()


def test_emit_json_summary_and_plot(tmp_path, capsys):
    said = []
    args = argparse.Namespace(json=True, plot=None)
    assert emit(args, {"x": math.nan, "y": np.float64(2)}, lambda: said.append(1)) == 0
    assert json.loads(capsys.readouterr().out) == {"x": None, "y": 2.0} and said == []
    args = argparse.Namespace(json=False, plot=str(tmp_path / "p.png"))

    def figure():
        from ganscope.plots import plt

        return plt.figure()
    assert emit(args, {}, lambda: said.append(1), figure) == 0
    assert said == [1] and (tmp_path / "p.png").read_bytes()[:4] == b"\x89PNG"
    print_json([math.inf])
    assert capsys.readouterr().out.strip() == "[null]"
