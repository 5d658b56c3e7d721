"""Devices (docs/scale.md, "Devices"): the ``device`` spelling and its resolution, the one-line error for a device
this machine lacks, what a run records, cross-device checkpoints, ``train.deterministic``; the CUDA paths
themselves in the ``@pytest.mark.cuda`` tests (skipped without a GPU)."""
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch

from ganscope import device, rundir, train
from ganscope.config import resolve
from ganscope.errors import UsageError
from ganscope.rng import Streams, restart_seed
from ganscope.shipped import find_config

ROOT = Path(__file__).resolve().parent.parent
TINY = ["model.g_width=16", "model.d_width=16", "data.batch_size=32", "data.eval_samples=50", "train.eval_every=4",
        "train.log_every=2", "train.plots=false", "train.diagnostics=false", "checkpoint.every=4"]
HAS_CUDA = torch.cuda.is_available()


def cli(*args):
    return subprocess.run([sys.executable, "-m", "ganscope", *map(str, args)], capture_output=True, text=True,
                          timeout=300, cwd=ROOT)


def start(out, *overrides):
    train.start(find_config("toy2d"), [*TINY, *overrides], out)
    return torch.load(rundir.last_checkpoint(out), weights_only=True)


# ---- the spelling and the resolution ------------------------------------------------------------------------------
@pytest.mark.parametrize("spec", ["auto", "cpu", "cuda", "cuda:0", "cuda:12", "mps"])
def test_check_accepts_the_device_spellings(spec):
    assert device.check(spec) == spec
    assert resolve({}, [f"device={spec}"]).device == spec  # a config naming cuda validates on any machine


@pytest.mark.parametrize("spec", ["gpu", "cuda:", "cuda:x", "CPU", "", 0, None])
def test_check_refuses_anything_else_in_one_line(spec):
    with pytest.raises(UsageError) as err:
        device.check(spec)
    assert str(err.value) == f"device: {spec!r} is not a device; allowed: auto, cpu, cuda, cuda:N, mps"
    with pytest.raises(UsageError, match=r"^device: (.* is not a device|expected str)"):
        resolve({"device": spec})


def test_config_default_is_auto():
    assert resolve({}).device == "auto"
    assert resolve({}).train.deterministic is False


def test_resolve_cpu_and_auto():
    assert device.resolve("cpu") == torch.device("cpu")
    expected = "cuda" if HAS_CUDA else ("mps" if device._mps_available() else "cpu")
    assert device.resolve("auto").type == expected


def test_unavailable_cuda_is_one_line_naming_the_flag(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(UsageError) as err:
        device.resolve("cuda")
    text = str(err.value)
    assert text.startswith(f"device: cuda is not available on this machine (torch {torch.__version__}")
    assert text.endswith("); use device=cpu or auto") and "\n" not in text
    with pytest.raises(UsageError, match=r"^--device: cuda:1 is not available .*; use --device cpu or auto$"):
        device.resolve("cuda:1", "--device")
    assert device.resolve("auto").type in ("cpu", "mps")  # auto never fails


def test_missing_cuda_index_names_the_devices_there_are(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    with pytest.raises(UsageError, match=r"^device: cuda:2 is not available on this machine \(2 CUDA devices: "
                                         r"cuda:0 to cuda:1\); use device=cpu or auto$"):
        device.resolve("cuda:2")
    assert device.resolve("cuda:1") == torch.device("cuda", 1)


def test_describe_cpu():
    info = device.describe(torch.device("cpu"))
    assert info == {"device": "cpu", "torch": torch.__version__, "cuda": torch.version.cuda, "cudnn": None,
                    "gpu": None, "cpu_threads": torch.get_num_threads()}
    json.dumps(info)


# ---- train.deterministic ------------------------------------------------------------------------------------------
def test_deterministic_changes_nothing_on_cpu():
    before = torch.are_deterministic_algorithms_enabled()
    assert device.set_deterministic(torch.device("cpu"), True) is False
    assert torch.are_deterministic_algorithms_enabled() == before


def test_deterministic_on_cuda_sets_the_algorithms_and_the_cublas_workspace(monkeypatch):
    """The settings themselves need no GPU: set them for a cuda device and read them back."""
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    before = (torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.deterministic,
              torch.backends.cudnn.benchmark)
    try:
        assert device.set_deterministic(torch.device("cuda"), True) is True
        assert torch.are_deterministic_algorithms_enabled() and torch.backends.cudnn.deterministic
        assert not torch.backends.cudnn.benchmark
        assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"
        monkeypatch.setenv("CUBLAS_WORKSPACE_CONFIG", ":16:8")
        device.set_deterministic(torch.device("cuda"), True)
        assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":16:8"  # a user's own valid setting is kept
        assert device.set_deterministic(torch.device("cuda"), False) is False
        assert not torch.are_deterministic_algorithms_enabled()
    finally:
        torch.use_deterministic_algorithms(before[0])
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = before[1], before[2]


# ---- streams ------------------------------------------------------------------------------------------------------
def test_streams_on_the_cpu_device_draw_as_before():
    a, b = Streams([3, 4]), Streams([3, 4], device=torch.device("cpu"))
    expected = torch.stack([torch.randn(5, generator=torch.Generator().manual_seed(s)) for s in (3, 4)])
    assert torch.equal(a.randn((2, 5)), expected) and torch.equal(b.randn((2, 5)), expected)


def test_restart_is_deterministic_and_new():
    s = Streams([5, 6])
    s.randn((2, 3))
    s.restart(40)
    first = s.randn((2, 3))
    s.restart(40)
    assert torch.equal(s.randn((2, 3)), first)
    fresh = Streams([restart_seed(5, 40), restart_seed(6, 40)])
    assert torch.equal(fresh.randn((2, 3)), first)
    assert not torch.equal(Streams([5, 6]).randn((2, 3)), first)
    assert restart_seed(5, 40) != restart_seed(5, 41) and 0 <= restart_seed(2 ** 62, 10 ** 9) < 2 ** 63


# ---- what a run records, and checkpoints across devices -------------------------------------------------------------
def test_run_records_each_session_in_device_json(tmp_path):
    out = tmp_path / "run"
    start(out, "train.steps=8", "device=cpu")
    record = json.loads(rundir.device_path(out).read_text())
    assert record == {"sessions": [{"step": 0, **device.describe(torch.device("cpu"))}]}
    assert "device: cpu" in rundir.config_path(out).read_text()
    train.resume(out)  # from last.pt at step 8: a second session
    assert [s["step"] for s in json.loads(rundir.device_path(out).read_text())["sessions"]] == [0, 8]


def _tagged_as_cuda(src: Path, dst: Path):
    """A copy of the checkpoint ``src`` whose storages say they were saved on cuda:0 (as torch.save writes a
    checkpoint of CUDA tensors): the location string in data.pkl, protocol 2, is rewritten."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED) as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            if info.filename.endswith("data.pkl"):
                old, new = b"X\x03\x00\x00\x00cpu", b"X\x06\x00\x00\x00cuda:0"  # BINUNICODE, length, text
                assert old in data
                data = data.replace(old, new)
            zout.writestr(info.filename, data)


def test_a_checkpoint_saved_on_cuda_loads_on_the_cpu(tmp_path):
    out = tmp_path / "run"
    state = start(out, "train.steps=4")
    cuda_file = rundir.checkpoint_dir(out) / "step_000004.pt"
    _tagged_as_cuda(rundir.last_checkpoint(out), cuda_file)
    if not HAS_CUDA:  # without map_location, torch refuses CUDA storages on a machine without CUDA
        with pytest.raises(RuntimeError, match="CUDA"):
            torch.load(cuda_file, weights_only=True)
    loaded = rundir.read_checkpoint(cuda_file)
    for key in ("generator", "discriminator"):
        assert all(t.device.type == "cpu" and torch.equal(t, state[key][k]) for k, t in loaded[key].items())
    stored = rundir.open_run(out, step=4)
    assert torch.equal(stored.gen.weights[0], state["generator"]["weights.0"])


def test_streams_saved_on_another_device_type_restart(tmp_path, capsys):
    """Generator states do not transfer between device types: a checkpoint whose streams were CUDA generators
    resumes on the CPU with the streams restarted at its step (``Streams.restart``), and says so."""
    out = tmp_path / "run"
    state = start(out, "train.steps=8", "checkpoint.keep=[4]")
    kept = torch.load(rundir.step_checkpoint(out, 4), weights_only=True)
    kept["rng"]["streams_device"] = "cuda"
    kept["rng"]["streams"] = [torch.zeros(16, dtype=torch.uint8)]  # a CUDA generator's state: seed and offset
    moved = tmp_path / "moved.pt"
    torch.save(kept, moved)
    _tagged_as_cuda(moved, rundir.last_checkpoint(out))
    run = train.Run(rundir.load_config(out), out)
    run.load(rundir.last_checkpoint(out))
    assert "restarts them at generator step 4" in capsys.readouterr().err
    expected = Streams([restart_seed(s, 4) for s in run.task.seeds])
    assert all(torch.equal(a, b) for a, b in zip(run.task.streams.state(), expected.state()))
    assert torch.equal(run.game.gen.net.weights[0], kept["generator"]["weights.0"])
    assert run.step == 4 and not torch.equal(kept["generator"]["weights.0"], state["generator"]["weights.0"])


def test_resume_takes_a_device_override_and_checks_it(tmp_path):
    out = tmp_path / "run"
    start(out, "train.steps=4")
    assert train.resume(out, device="cpu") == 0
    with pytest.raises(UsageError, match=r"^device: 'gpu' is not a device"):
        train.resume(out, device="gpu")


@pytest.mark.skipif(HAS_CUDA, reason="this machine has CUDA: device=cuda is available")
def test_cli_device_cuda_without_cuda_is_one_line_and_exit_2(tmp_path):
    res = cli("train", "toy2d", "device=cuda", "--out", tmp_path / "run")
    assert res.returncode == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "device: cuda is not available on this machine (torch " in lines[0], res.stderr
    assert lines[0].endswith("use device=cpu or auto")
    assert not (tmp_path / "run").exists()
    res = cli("fid", "digits:test", "digits:train", "--device", "cuda:0")
    assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1
    assert "--device: cuda:0 is not available" in res.stderr and "use --device cpu or auto" in res.stderr


def test_cli_refuses_a_misspelt_device_and_a_resume_with_other_overrides(tmp_path):
    res = cli("spectrum", "--dirac", "--device", "gpu")
    assert res.returncode == 2 and "--device: 'gpu' is not a device; allowed: auto, cpu, cuda, cuda:N, mps" \
        in res.stderr and len(res.stderr.strip().splitlines()) == 1
    res = cli("train", "--resume", tmp_path, "train.steps=5")
    assert res.returncode == 2 and "optionally device=D" in res.stderr


def test_cpu_features_keep_their_cache_key():
    from ganscope.metrics.extractors import load_extractor
    from ganscope.metrics.images import cache_key

    ext = load_extractor()
    assert ext.device.type == "cpu" and load_extractor(device="cpu") is ext
    assert "device" not in cache_key(ext, "digits:test", 10, 0, 8)


# ---- on a CUDA GPU ---------------------------------------------------------------------------------------------------
@pytest.mark.cuda
def test_cuda_tasks_live_on_the_device():
    from ganscope.tasks import make_task

    task = make_task(resolve({}, [*TINY, "device=cuda", "ensemble=2", "members={penalty.weight: [1, 10]}"]))
    assert all(p.device.type == "cuda" for p in [*task.gen.parameters(), *task.disc.parameters()])
    assert task.real().device.type == task.latent().device.type == "cuda"
    assert task.member_values.penalty_weight.device.type == "cuda"
    assert all(g.device.type == "cuda" for g in task.streams.generators)
    cpu = make_task(resolve({}, [*TINY, "device=cpu", "ensemble=2", "members={penalty.weight: [1, 10]}"]))
    assert torch.equal(task.gen.weights[0].cpu(), cpu.gen.weights[0])  # the same initialisation everywhere
    assert torch.equal(task.heldout(), cpu.heldout())  # the same held-out set everywhere
    images = make_task(resolve({}, ["data.name=digits", "net=dcgan", "data.batch_size=8", "device=cuda"]))
    assert images.examples.device.type == images.real().device.type == "cuda"
    info = device.describe(images.device)
    assert info["gpu"] and info["cudnn"] and info["cuda"]


@pytest.mark.cuda
def test_cuda_run_moves_to_the_cpu_and_back(tmp_path):
    out = tmp_path / "run"
    start(out, "train.steps=8", "checkpoint.keep=[4]", "device=cuda")
    assert json.loads(rundir.device_path(out).read_text())["sessions"][0]["device"].startswith("cuda")
    stored = rundir.open_run(out)  # read on the CPU
    assert stored.gen.weights[0].device.type == "cpu"
    last = rundir.last_checkpoint(out)
    last.write_bytes(rundir.step_checkpoint(out, 4).read_bytes())
    assert train.resume(out, device="cpu") == 0  # cuda -> cpu: steps 5 to 8 on the cpu
    assert train.resume(out, device="cuda") == 0  # cpu -> cuda: the step-8 checkpoint written on the cpu
    sessions = json.loads(rundir.device_path(out).read_text())["sessions"]
    assert [(s["step"], s["device"].split(":")[0]) for s in sessions] == [(0, "cuda"), (4, "cpu"), (8, "cuda")]


@pytest.mark.cuda
def test_cuda_deterministic_resume_equals_the_uninterrupted_run(tmp_path):
    import shutil

    a, b = tmp_path / "a", tmp_path / "b"
    try:
        want = start(a, "train.steps=8", "checkpoint.keep=[4]", "device=cuda", "train.deterministic=true",
                     "penalty.name=r1", "penalty.weight=1")
        assert torch.are_deterministic_algorithms_enabled()
        shutil.copytree(a, b)
        rundir.step_checkpoint(b, 4).replace(rundir.last_checkpoint(b))
        train.resume(b)
    finally:  # process-global: the other tests run as they would alone
        torch.use_deterministic_algorithms(False)
        torch.backends.cudnn.deterministic = False
    got = torch.load(rundir.last_checkpoint(b), weights_only=True)
    for key in ("generator", "discriminator"):
        assert all(torch.equal(got[key][k], want[key][k]) for k in want[key])


@pytest.mark.cuda
def test_cuda_extractor_features_match_the_cpu():
    from ganscope.data.images import load_images
    from ganscope.metrics.extractors import load_extractor

    x = load_images("digits", split="test").x[:64]
    cpu, gpu = load_extractor(), load_extractor(device="cuda")
    assert gpu.device.type == "cuda" and cpu.device.type == "cpu"
    f_cpu, f_gpu = cpu.features(x), gpu.features(x)
    assert f_gpu.device.type == "cpu"
    torch.testing.assert_close(f_gpu, f_cpu, atol=1e-3, rtol=1e-3)


def test_cli_resume_takes_only_a_device_override():
    from argparse import Namespace

    from ganscope.cli.train import _resume_device

    def args(*given, out=None):
        return Namespace(config=given[0] if given else None, overrides=list(given[1:]), out=out)

    assert _resume_device(args()) is None
    assert _resume_device(args("device=cpu")) == "cpu"
    for bad in (args("train.steps=5"), args("device=cpu", "seed=1"), args(out="x")):
        with pytest.raises(UsageError, match="^--resume: takes only the run directory"):
            _resume_device(bad)
