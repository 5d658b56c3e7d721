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

from conftest import short_run
from ganscope.config import describe, resolve
from ganscope.errors import UsageError
from ganscope.rundir import state_tensors

ROOT = Path(__file__).resolve().parent.parent
SMALL = ["model.g_width=32", "model.d_width=32", "data.batch_size=64", "data.eval_samples=200",
         "train.eval_every=50", "train.log_every=5"]


def cli(*args, timeout=300, env=None):
    return subprocess.run([sys.executable, "-m", "ganscope", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT, env=env)


def tensors(path):
    """Every tensor in a checkpoint, flattened to {dotted.key: tensor}."""
    return state_tensors(torch.load(path, weights_only=True))


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
    evals = [r for r in rows(cut) if "w1" in r]  # the diagnostics' speeds span the kill: their state resumed
    assert evals and all(r["speed_g"] > 0 and r["speed_d"] > 0 and "grad_sq_real" in r for r in evals)
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
    (["toy2d", "data.name=digits", "net=dcgan", "train.spectrum_at=[1]"], "train.spectrum_at: the leading"),
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


# ---- the convergence diagnostics in the engine (docs/diagnostics.md, "In the engine") ---------------------------
DIAG_KEYS = {"grad_sq_real", "grad_sq_fake", "d_real", "d_fake", "d_gap", "speed_g", "speed_d"}
TINY_IMAGES = ["data.name=digits", "net=dcgan", "model.g_width=8", "model.d_width=8", "model.latent_dim=8",
               "data.batch_size=16", "data.eval_samples=40"]


def in_process(tmp_path, name, overrides, steps=6):
    return short_run(tmp_path, name, overrides, steps, extra=["checkpoint.keep=[3]"])


@pytest.mark.parametrize("overrides", [
    ["method=r1", "noise.sigma=0.05", "game.ema=0.9", "ensemble=2", *SMALL],  # RNG-using penalty, noise, EMA
    ["method=wgan-gp", *SMALL],
    [*TINY_IMAGES, "method=nonsaturating"],  # BatchNorm in the generator: its buffers must stay as they were
    [*TINY_IMAGES, "method=nonsaturating", "rp.k=2"],
    ["data.name=fortunes", "net=charcnn", "model.g_width=8", "model.d_width=8", "model.g_depth=1",
     "model.d_depth=1", "data.seq_len=8", "data.batch_size=16", "data.eval_samples=40", "method=wgan-gp"],
], ids=["toy2d-ensemble", "toy2d-wgan-gp", "images", "rp-gan", "text"])
def test_diagnostics_leave_training_bit_identical(tmp_path, overrides):
    watched, rows_on = in_process(tmp_path, "on", overrides)
    plain, rows_off = in_process(tmp_path, "off", [*overrides, "train.diagnostics=false"])
    a, b = watched.state_dict(), plain.state_dict()
    assert set(a) - set(b) == {"diagnostics"}
    flat_a, flat_b = state_tensors(a), state_tensors(b)
    assert flat_a.keys() - flat_b.keys() == {k for k in flat_a if k.startswith(".diagnostics")}
    for key in flat_b:
        assert torch.equal(flat_a[key], flat_b[key]), key  # weights, buffers, optimizers, EMA, every RNG
    assert [{k: v for k, v in r.items() if k not in DIAG_KEYS | {"wall_s"}} for r in rows_on] == \
        [{k: v for k, v in r.items() if k != "wall_s"} for r in rows_off]
    evals = [r for r in rows_on if "wall_s" in r]
    assert [r["step"] for r in evals] == [3, 6] and all(DIAG_KEYS <= set(r) for r in evals)
    assert not any(DIAG_KEYS & set(r) for r in rows_off)


def test_logged_diagnostics_are_the_measurements_per_member(tmp_path):
    from ganscope.metrics import dynamics

    run, rows = in_process(tmp_path, "e", ["method=r1", "ensemble=3", *SMALL])
    last = [r for r in rows if "wall_s" in r][-1]
    real, z = run.task.diagnostic_batch()
    assert real.shape == z.shape == (3, 200, 2)  # min(256, data.eval_samples) per member
    direct = dynamics.evaluate(run.game.gen.net, run.game.disc.net, real, z, event_dims=1)
    for key, value in direct.items():
        assert last[key] == pytest.approx(value, rel=1e-12), key  # the training G (no EMA here), per member
    # the speed: ‖θ_6 − θ_3‖ / 3 per member, θ_3 from the checkpoint kept at the previous evaluation
    then = torch.load(run.out / "checkpoints" / "step_000003.pt", weights_only=True)
    for who, net in (("g", run.game.gen.net), ("d", run.game.disc.net)):
        old = then["generator" if who == "g" else "discriminator"]
        sq = sum((p.detach().double() - old[name].double()).pow(2).reshape(3, -1).sum(-1)
                 for name, p in net.named_parameters())
        assert last[f"speed_{who}"] == pytest.approx((sq.sqrt() / 3).tolist(), rel=1e-6)  # float32 differences
        assert all(v > 0 for v in last[f"speed_{who}"])


def test_the_diagnostics_use_the_training_generator_not_the_ema(tmp_path):
    from ganscope.metrics import dynamics

    run, rows = in_process(tmp_path, "ema", ["method=r1", "game.ema=0.5", *SMALL])
    last = [r for r in rows if "wall_s" in r][-1]
    real, z = run.task.diagnostic_batch()
    live = dynamics.evaluate(run.game.gen.net, run.game.disc.net, real, z, event_dims=1)
    ema = dynamics.evaluate(run.game.ema, run.game.disc.net, real, z, event_dims=1)
    assert last["grad_sq_fake"] == pytest.approx(live["grad_sq_fake"][0], rel=1e-12)  # ensemble 1: squeezed
    assert last["grad_sq_fake"] != pytest.approx(ema["grad_sq_fake"][0], rel=1e-6)


def test_diagnostics_tensorboard_tags(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run, _ = in_process(tmp_path, "tb", ["ensemble=2", *SMALL])
    events = EventAccumulator(str(run.out / "tb"))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    assert {f"diag/{k}/member{i}" for k in DIAG_KEYS for i in (0, 1)} <= tags
    assert "eval/w1/member0" in tags and not any(t.startswith(("grad_sq", "w1")) for t in tags)
    assert [e.step for e in events.Scalars("diag/speed_g/member1")] == [3, 6]


def test_a_checkpoint_without_diagnostics_state_resumes(tmp_path):
    from ganscope.train import Run

    run, _ = in_process(tmp_path, "old", SMALL)
    state = run.state_dict()
    del state["diagnostics"]  # as written before the engine logged diagnostics
    torch.save(state, tmp_path / "old.pt")
    again = Run(run.cfg, tmp_path / "old")
    again.load(tmp_path / "old.pt")
    assert again.diagnostics.since == 6  # the next speeds are measured from the weights at step 6
    assert torch.equal(again.diagnostics.state_dict()["g"]["then"][0], state["generator"]["weights.0"])
    kept = run.out / "checkpoints" / "step_000003.pt"
    again.load(kept)
    assert again.diagnostics.since == 3
    assert torch.equal(again.diagnostics.state_dict()["g"]["then"][0],
                       torch.load(kept, weights_only=True)["generator"]["weights.0"])


def test_spectrum_at_through_the_command_line(tmp_path):
    out = tmp_path / "s"
    res = cli("train", "toy2d", "ensemble=2", "train.steps=4", "train.spectrum_at=[2]", "model.g_width=8",
              "model.d_width=8", "data.batch_size=32", "data.eval_samples=40", "train.plots=false", "--out", out)
    assert res.returncode == 0, res.stderr
    rows = [json.loads(ln) for ln in (out / "metrics.jsonl").read_text().splitlines()]
    spectra = [r for r in rows if "spectrum_radius" in r]
    assert [r["step"] for r in spectra] == [2] and len(spectra[0]["spectrum_max_real_part"]) == 2
    assert all(v > 0 for v in spectra[0]["spectrum_radius"])
