"""``ganscope theory ...`` on the command line (ganscope.cli.theory)."""
import argparse
import json
import math

import pytest

from ganscope import cli
from ganscope.cli import theory as T
from ganscope.errors import UsageError

LOG2 = math.log(2)


# ---- command line ------------------------------------------------------------------------------------------------------
def _parser():
    parser = cli._Parser(prog="ganscope")
    T.register(parser.add_subparsers(parser_class=cli._Parser))
    return parser


def _run(argv):
    args = _parser().parse_args(argv)
    return args.run(args)


def _strict_json(text):
    return json.loads(text, parse_constant=lambda c: pytest.fail(f"non-JSON constant {c}"))


def test_cli_optimal_d_json(capsys, tmp_path):
    png = tmp_path / "d.png"
    assert _run(["theory", "optimal-d", "--real", "normal:0,1", "--fake", "normal:2,1", "--steps", "200",
                 "--held-out", "20000", "--json", "--plot", str(png)]) == 0
    out = _strict_json(capsys.readouterr().out)
    assert {"jsd", "value_at_optimum", "value_trained", "jsd_trained", "gap_jsd", "gap_value",
            "identity_gap"} <= set(out)
    assert out["jsd"] == pytest.approx(0.336831, abs=1e-6) and abs(out["gap_jsd"]) < 0.05
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_optimal_d_singular_json_has_nulls(capsys):
    assert _run(["theory", "optimal-d", "--real", "segment:-1,0,1,0", "--fake", "point:0,1", "--steps", "20",
                 "--held-out", "100", "--json"]) == 0
    out = _strict_json(capsys.readouterr().out)
    assert out["jsd"] == LOG2 and out["curve"]["d_star"] is None and out["curve"]["p_real"] is None


def test_cli_summary_and_other_commands(capsys):
    assert _run(["theory", "jsd-saturation", "--distances", "0,2,50", "--json"]) == 0
    rows = _strict_json(capsys.readouterr().out)["rows"]
    assert [r["uniform"] for r in rows] == [0.0, LOG2, LOG2]
    assert _run(["theory", "theorem-2-5", "--theta0", "1", "--json"]) == 0
    row = _strict_json(capsys.readouterr().out)["rows"][0]
    assert row["lhs"] == pytest.approx(row["rhs"], abs=1e-6)
    assert _run(["theory", "perfect-d", "--setting", "images", "--seeds", "1", "--max-steps", "200", "--json"]) == 0
    out = _strict_json(capsys.readouterr().out)
    assert out["setting"] == "images" and out["first_perfect"][0] is not None
    assert _run(["theory", "jsd-saturation"]) == 0
    assert "log 2" in capsys.readouterr().out


@pytest.mark.parametrize("argv,flag", [
    (["optimal-d", "--real", "normal:0", "--fake", "normal:0,1"], "--real"),
    (["optimal-d", "--real", "normal:0,1", "--fake", "uniform:2,1"], "--fake"),
    (["optimal-d", "--real", "normal:0,1", "--fake", "normal:1,1", "--steps", "0"], "--steps"),
    (["optimal-d", "--real", "normal:0,1", "--fake", "normal:1,1", "--steps", "x"], "--steps"),
    (["optimal-d", "--real", "normal:0,1", "--fake", "normal:1,1", "--plot", "a.pdf"], "--plot"),
    (["perfect-d", "--setting", "nope"], "--setting"),
    (["perfect-d", "--seeds", "0"], "--seeds"),
    (["optimal-d", "--real", "normal:0,1", "--fake", "normal:1,1", "--held-out", "0"], "--held-out"),
    (["jsd-saturation", "--distances", "1,x"], "--distances"),
])
def test_cli_bad_input_is_usage_error(argv, flag):
    with pytest.raises(UsageError, match=flag):
        _run(["theory", *argv])


def test_register_on_plain_argparse():
    parser = argparse.ArgumentParser()
    T.register(parser.add_subparsers())
    args = parser.parse_args(["theory", "theorem-2-5", "--theta0", "0.5"])
    assert args.run is T._run_theorem_2_5 and args.theta0 == [0.5]
