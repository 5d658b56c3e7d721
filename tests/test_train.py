"""The trainer through its command line: run directory, exact resume after SIGKILL, divergence guard,
bad input, and R1 covering 8 Gaussians."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from ganscope.config import describe, resolve
from ganscope.errors import UsageError

ROOT = Path(__file__).resolve().parent.parent
SMALL = ["model.g_width=32", "model.d_width=32", "data.batch_size=64", "data.eval_samples=200",
         "train.eval_every=50", "train.log_every=5"]


def cli(*args, timeout=300, env=None):
    return subprocess.run([sys.executable, "-m", "ganscope", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT, env=env)


def tensors(path):
    """Every tensor in a checkpoint, flattened to {dotted.key: tensor}."""
    def walk(obj, prefix):
        if torch.is_tensor(obj):
            yield prefix, obj
        elif isinstance(obj, dict):
            for k, v in obj.items():
                yield from walk(v, f"{prefix}.{k}")
        elif isinstance(obj, (list, tuple)):
            for i, v in enumerate(obj):
                yield from walk(v, f"{prefix}.{i}")
    return dict(walk(torch.load(path, weights_only=True), ""))


def test_run_directory_contract(tmp_path):
    out = tmp_path / "run"
    res = cli("train", "toy2d", "data.name=25gaussians", "train.steps=60", "checkpoint.every=30",
              *SMALL, "--out", out)
    assert res.returncode == 0, res.stderr
    for name in ("config.yaml", "metrics.jsonl", "checkpoints/last.pt", "summary.json", "plots/samples.png",
                 "plots/metrics.png"):
        assert (out / name).exists(), name
    assert list((out / "tb").glob("events.out.tfevents.*"))
    ckpt = torch.load(out / "checkpoints" / "last.pt", weights_only=True)
    assert ckpt["step"] == 60 and "weights.0" in ckpt["generator"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["steps"] == 60
    assert set(summary["final"]) == {"w1", "modes_covered", "hq_fraction", "mode_kl", "mode_collapse",
                                     "modes_dropped", "peak_modes", "n_modes"}
    assert summary["final"]["n_modes"] == 25 and summary["final"]["mode_collapse"] is True  # 60 steps: not yet
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if "w1" in r] == [50, 60]
    resolved = resolve(__import__("yaml").safe_load((out / "config.yaml").read_text()))
    assert resolved.data.name == "25gaussians" and resolved.train.steps == 60


def test_ensemble_summary_has_members(tmp_path):
    res = cli("train", "toy2d", "ensemble=3", "train.steps=20", *SMALL, "--out", tmp_path / "e")
    assert res.returncode == 0, res.stderr
    summary = json.loads((tmp_path / "e" / "summary.json").read_text())
    assert len(summary["members"]) == 3 and summary["seeds"] == [0, 1, 2]
    assert summary["final"]["w1"] == pytest.approx(sum(m["w1"] for m in summary["members"]) / 3)


def test_resume_after_sigkill_is_bit_identical(tmp_path):
    args = ["toy2d", "method=wgan-gp", "noise.sigma=0.05", "game.ema=0.9", "train.steps=250",
            "checkpoint.every=25", *SMALL]
    full, cut = tmp_path / "full", tmp_path / "cut"
    assert cli("train", *args, "--out", full).returncode == 0
    proc = subprocess.Popen([sys.executable, "-m", "ganscope", "train", *args, "--out", str(cut)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ckpt, deadline = cut / "checkpoints" / "last.pt", time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        if ckpt.exists() and torch.load(ckpt, weights_only=True)["step"] >= 75:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the run finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    killed_at = torch.load(ckpt, weights_only=True)["step"]
    assert 75 <= killed_at < 250
    res = cli("train", "--resume", cut)
    assert res.returncode == 0, res.stderr
    a, b = tensors(full / "checkpoints" / "last.pt"), tensors(ckpt)
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    def rows(run):  # wall-clock seconds differ between the two; everything else must not
        return [{k: v for k, v in json.loads(ln).items() if k != "wall_s"}
                for ln in (run / "metrics.jsonl").read_text().splitlines()]

    assert rows(cut) == rows(full)
    assert all("wall_s" in r for r in map(json.loads, (cut / "metrics.jsonl").read_text().splitlines()) if "w1" in r)


def test_divergence_stops_with_exit_3_and_keeps_the_checkpoint(tmp_path):
    out = tmp_path / "nan"
    # an unconstrained WGAN critic under plain SGD with a large step: weights grow geometrically
    res = cli("train", "toy2d", "method=wgan-gp", "penalty.name=none", "game.n_d=1",
              "optim.d.name=sgd", "optim.g.name=sgd", "optim.d.lr=0.5", "optim.g.lr=0.5", "train.steps=300",
              "checkpoint.every=1", *SMALL, "--out", out)
    assert res.returncode == 3
    line = res.stderr.strip().splitlines()[-1]
    assert "diverged" in line and "generator step" in line and "last good checkpoint" in line
    state = torch.load(out / "checkpoints" / "last.pt", weights_only=True)
    assert all(torch.isfinite(t).all() for t in state["discriminator"].values())


@pytest.mark.parametrize("args,field", [
    (["toy2d", "train.stepz=3"], "train.stepz"),
    (["toy2d", "train.steps=abc"], "train.steps"),
    (["toy2d", "train.steps=-5"], "train.steps"),
    (["toy2d", "data.name=mnist"], "data.name"),
    (["toy2d", "method=gan"], "method"),
    (["toy2d", "game.scheme=simgd", "game.n_d=5"], "game.n_d"),
    (["toy2d", "optim.d.betas=[0.5]"], "optim.d.betas"),
    (["toy2d", "members.penalty.weight=[1,2]"], "members.penalty.weight"),
    (["configs/nope.yaml"], "config"),
    (["nope"], "config: no such file or shipped config 'nope'; shipped: charlm, convergence2d"),
    (["toy2d", "steps"], "override"),
])
def test_bad_input_one_line_exit_2(tmp_path, args, field):
    res = cli("train", *args, "--out", tmp_path / "bad")
    assert res.returncode == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and field in lines[0] and "Traceback" not in res.stderr
    assert not (tmp_path / "bad" / "checkpoints").exists()


def test_existing_run_is_not_overwritten_and_bad_checkpoint_is_refused(tmp_path):
    out = tmp_path / "r"
    assert cli("train", "toy2d", "train.steps=5", *SMALL, "--out", out).returncode == 0
    before = (out / "checkpoints" / "last.pt").read_bytes()
    res = cli("train", "toy2d", "--out", out)
    assert res.returncode == 2 and "--resume" in res.stderr
    (out / "checkpoints" / "last.pt").write_bytes(b"not a checkpoint")
    res = cli("train", "--resume", out)
    assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1 and "checkpoint" in res.stderr
    assert before != b"not a checkpoint"


def test_kept_checkpoints(tmp_path):
    out = tmp_path / "k"
    res = cli("train", "toy2d", "train.steps=20", "checkpoint.keep=[0,10,20]", "checkpoint.every=7",
              *SMALL, "--out", out)
    assert res.returncode == 0, res.stderr
    kept = sorted(p.name for p in (out / "checkpoints").glob("step_*.pt"))
    assert kept == ["step_000000.pt", "step_000010.pt", "step_000020.pt"]
    assert torch.load(out / "checkpoints" / "step_000010.pt", weights_only=True)["step"] == 10
    assert torch.equal(tensors(out / "checkpoints" / "step_000020.pt")[".generator.weights.0"],
                       tensors(out / "checkpoints" / "last.pt")[".generator.weights.0"])


def test_list_shows_configs_and_methods():
    res = cli("train", "--list")
    assert res.returncode == 0
    assert "toy2d" in res.stdout and "wgan-gp" in res.stdout and "consensus" in res.stdout
    from ganscope.shipped import configs, sweeps

    listed = {line.split()[0] for line in res.stdout.splitlines() if line.startswith("  ")}
    assert {p.stem for p in configs() + sweeps()} <= listed and {"mode_collapse", "toy2d_methods"} <= listed


def test_yaml_floats_without_dot_and_override_precedence():
    cfg = resolve({"method": "wgan-gp", "optim": {"d": {"lr": "3e-4"}}}, ["penalty.weight=1"])
    assert cfg.optim.d.lr == 3e-4 and cfg.optim.g.lr == 1e-4  # file beats preset, preset beats default
    assert cfg.penalty.weight == 1.0 and cfg.penalty.name == "wgan-gp" and cfg.game.n_d == 5
    with pytest.raises(UsageError, match="train.steps"):
        resolve({"train": {"steps": 1.5}})
    assert any(line.startswith("penalty.weight") for line in describe())


def test_r1_covers_all_eight_modes_in_a_short_cpu_run(tmp_path):
    res = cli("train", "toy2d", "method=r1", "ensemble=2", "train.steps=1500", "train.eval_every=500",
              "model.g_width=64", "model.d_width=64", "optim.g.name=adam", "optim.d.name=adam",
              "optim.g.lr=1.0e-3", "optim.d.lr=1.0e-3", "penalty.weight=1", "game.ema=0.99",
              "--out", tmp_path / "r1")
    assert res.returncode == 0, res.stderr
    summary = json.loads((tmp_path / "r1" / "summary.json").read_text())
    assert [m["modes_covered"] for m in summary["members"]] == [8, 8]
    assert all(m["w1"] < 0.15 for m in summary["members"])
