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


# ---- bench/flops.py: the FLOP counter against closed forms --------------------------------------------------------
def _tiny_net():
    """A convolution, a grouped convolution, a grouped transposed convolution and a linear layer, and the closed
    form of one forward's FLOPs (2 × multiply-adds) at batch n, input (n, 3, 6, 6)."""
    import torch
    from torch import nn

    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1, groups=4),
                        nn.ConvTranspose2d(8, 4, 4, stride=2, padding=1, groups=2), nn.Flatten(), nn.Linear(576, 5))

    def forward_flops(n):
        conv = 2 * n * 6 * 6 * (8 * 3 * 9)  # output 6×6, |w| = 8·3·3·3
        grouped = 2 * n * 6 * 6 * (8 * 2 * 9)  # |w| = 8·(8/4)·3·3: 4 groups
        transposed = 2 * n * 6 * 6 * (8 * 2 * 16)  # input 6×6 → 12×12, |w| = 8·(4/2)·4·4
        linear = 2 * n * 576 * 5
        return conv + grouped + transposed + linear
    return net, forward_flops


def test_flop_count_matches_the_closed_form_forward_backward_and_input_gradient():
    import torch

    import flops

    net, forward_flops = _tiny_net()
    x = torch.randn(2, 3, 6, 6, requires_grad=True)
    with flops.FlopCount() as c:
        net(x)
    assert c.total == forward_flops(2)
    with flops.FlopCount() as c:
        net(x).square().sum().backward()  # every layer: grad_input and grad_weight, each the forward's count
    assert c.total == 3 * forward_flops(2)
    with flops.FlopCount() as c:  # R1's call: only the input's gradient, where FlopCounterMode breaks
        (g,) = torch.autograd.grad(net(x).square().sum(), inputs=[x])
    assert c.total == 2 * forward_flops(2) and g.shape == x.shape
    with flops.FlopCount() as c:  # the double backward of a penalty on that gradient counts more, and is seen
        (g,) = torch.autograd.grad(net(x).square().sum(), inputs=[x], create_graph=True)
        g.square().sum().backward()
    assert c.total > 3 * forward_flops(2) and set(c.by_op) == {"addmm", "mm", "convolution", "convolution_backward"}


def test_flop_count_agrees_with_torch_where_torch_is_right():
    """Ungrouped convolution and linear layers, a plain backward: torch's FlopCounterMode counts the same."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    import flops

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 6, 3), torch.nn.Flatten(), torch.nn.Linear(6 * 4 * 4, 7))
    x = torch.randn(3, 3, 6, 6)
    with flops.FlopCount() as ours:
        net(x).sum().backward()
    with FlopCounterMode(display=False) as theirs:
        net(x).sum().backward()
    assert ours.total == theirs.get_total_flops() == 3 * (2 * 3 * 16 * (6 * 3 * 9) + 2 * 3 * 96 * 7) - \
        2 * 3 * 16 * (6 * 3 * 9)  # the first layer computes no input gradient: x does not require one


def test_conv_flops_formula():
    import flops

    assert flops.conv_flops((2, 4, 5, 5), (6, 2, 3, 3), (2, 6, 3, 3), False) == 2 * 2 * 9 * 108
    assert flops.conv_flops((2, 4, 5, 5), (4, 3, 2, 2), (2, 6, 10, 10), True) == 2 * 2 * 25 * 48


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
