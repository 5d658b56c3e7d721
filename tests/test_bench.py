"""bench/: the harness (interleaving, rows, verdicts) and `bench/run.py --quick --json` on one tiny case.

No assertion on timings: only the schema of the rows and of the JSON file."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

import _harness as H  # noqa: E402


def test_interleaved_alternates_and_rotates():
    calls = []
    res = H.interleaved({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, repeats=3, warmup=1)
    assert calls == ["a", "b", "b", "a", "a", "b", "b", "a"]
    assert set(res) == {"a", "b"} and all(t >= 0 for t in res.values())


@pytest.mark.parametrize("ratio, target, verdict", [(0.5, "<= 0.7", "met"), (0.8, "<= 0.7", "missed"),
                                                    (3.0, ">= 3", "met"), (2.9, ">= 3", "missed"),
                                                    (None, ">= 3", "info"), (1.0, None, "info")])
def test_verdict(ratio, target, verdict):
    r = H.row("x", "a / b", ratio, target, threads=1)
    assert r["verdict"] == verdict and tuple(r) == H.ROW_KEYS and r["detail"] == {"threads": 1}


def test_run_quick_json(tmp_path):
    out = tmp_path / "bench.json"
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "run.py"), "--quick", "dirac_grid", "--json", str(out)],
                          capture_output=True, text=True, cwd=ROOT, timeout=300,
                          env={"PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(out.read_text())
    assert set(doc) >= {"machine", "quick", "rows"} and doc["quick"] is True
    assert {"cpu", "threads", "torch", "cores"} <= set(doc["machine"])
    assert doc["rows"] and all(tuple(r) == H.ROW_KEYS for r in doc["rows"])
    for r in doc["rows"]:
        assert r["verdict"] in ("met", "missed", "info") and isinstance(r["ratio"], float)
        assert r["detail"]["module"] == "dirac_grid"
    assert "dirac radius map" in proc.stdout


def test_run_rejects_unknown_module():
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "run.py"), "nope"], capture_output=True, text=True,
                          cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 2 and "unknown benchmark" in proc.stderr


def test_foreign_rows_are_normalised():
    import run

    r = run.normalise({"name": "spectrum_1m_wall_s", "value": 2, "unit": "s", "params": 10})
    assert tuple(r) == H.ROW_KEYS and r["ratio"] == 2.0 and r["measure"] == "s" and r["verdict"] == "info"
    assert r["detail"] == {"params": 10}
    r = run.normalise({"name": "monitor", "ratio": 1.1, "target": 1.05, "verdict": "missed"})
    assert r["target"] == "1.05" and r["verdict"] == "missed"
    r = run.normalise({"name": "x", "ratio": 0.5, "target": "<= 0.7"})
    assert r["verdict"] == "met"


def test_long_modules_run_only_when_asked():
    import run as R

    assert "bf16_quality" in R.modules() and R.is_long("bf16_quality")
    assert not R.is_long("images") and not R.is_long("dirac_grid")


def test_bf16_quality_criterion_is_the_fp32_interval():
    import bf16_quality as Q

    fp32 = [20.0, 22.0, 24.0, 21.0, 23.0]  # mean 22, s = 1.58, t-interval half-width 1.96
    inside = Q.compare({"fp32": fp32, "bf16": [v + 1.5 for v in fp32]})
    outside = Q.compare({"fp32": fp32, "bf16": [v + 2.5 for v in fp32]})
    below = Q.compare({"fp32": fp32, "bf16": [v - 2.5 for v in fp32]})
    assert inside["agrees"] and not outside["agrees"] and not below["agrees"]
    assert abs(inside["fp32"]["half_width"] - 1.963) < 1e-3
    assert inside["paired_diff_bf16_minus_fp32"]["per_seed"] == [1.5] * 5
