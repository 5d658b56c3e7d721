"""The run directory (ganscope.rundir): its layout and kept checkpoints, stored runs opened without building a
training run (the same nets and weights as the trainer, no global state touched), and the refusals that keep
what was written: --out naming a file, a batch too large for memory, a resume without last.pt, a damaged
checkpoint."""
import random
import shutil

import numpy as np
import pytest
import torch
import yaml

from ganscope import cli, rundir, train
from ganscope.config import resolve, to_dict
from ganscope.errors import UsageError
from ganscope.tasks import make_task
from test_train import tensors  # every tensor of a checkpoint, flattened

# configs written here (not the shipped ones): 2-D by default, tiny image and text runs
IMAGES = {"net": "dcgan", "method": "nonsaturating", "data": {"name": "digits"},
          "model": {"latent_dim": 8, "g_width": 8, "d_width": 8}}
TEXT = {"net": "charcnn", "method": "wgan-gp", "data": {"name": "fortunes", "seq_len": 8},
        "model": {"latent_dim": 8, "g_width": 8, "g_depth": 1, "d_width": 8, "d_depth": 1}}
TINY = ["train.steps=20", "checkpoint.keep=[0,10]", "checkpoint.every=5", "model.g_width=8", "model.d_width=8",
        "data.batch_size=32", "data.eval_samples=50", "train.eval_every=10", "train.plots=false", "ensemble=2",
        "game.ema=0.9", "method=wgan-gp", "noise.sigma=0.05"]


def config_file(folder, values=None):
    path = folder / "config_in.yaml"
    path.write_text(yaml.safe_dump(values or {}))
    return path


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    folder = tmp_path_factory.mktemp("rundir")
    assert train.start(config_file(folder), TINY, folder / "run") == 0
    return folder / "run"


@pytest.fixture
def copy(stored, tmp_path):
    out = tmp_path / "run"
    shutil.copytree(stored, out)
    return out




def global_state():
    return (torch.get_rng_state(), np.random.get_state()[1].copy(), random.getstate(), torch.get_num_threads())


def same_state(a, b):
    return torch.equal(a[0], b[0]) and np.array_equal(a[1], b[1]) and a[2] == b[2] and a[3] == b[3]


# ---- layout --------------------------------------------------------------------------------------------------
def test_layout_and_kept_checkpoints(stored, tmp_path):
    assert rundir.is_run(stored) and rundir.is_done(stored) and rundir.holds_run(stored)
    assert not rundir.is_run(tmp_path) and not rundir.is_done(tmp_path) and not rundir.holds_run(tmp_path)
    assert rundir.last_checkpoint(stored) == stored / "checkpoints" / "last.pt"
    assert rundir.step_checkpoint(stored, 10) == stored / "checkpoints" / "step_000010.pt"
    assert rundir.kept_steps(stored) == [0, 10] and rundir.step_of("step_000010.pt") == 10
    assert rundir.step_of("last.pt") is None and rundir.step_of("step_10.pt.tmp") is None
    assert rundir.stored_checkpoints(stored) == rundir.kept_checkpoints(stored)
    assert rundir.checkpoint_for(stored) == rundir.last_checkpoint(stored)
    with pytest.raises(UsageError, match=r"^--step: .*kept no checkpoint for step 7; kept steps: 0, 10$"):
        rundir.checkpoint_for(stored, 7)
    with pytest.raises(UsageError, match=r"^--step: must be an integer >= 0"):
        rundir.checkpoint_for(stored, -1)
    with pytest.raises(UsageError, match=r"^RUN_DIR: .* is not a run directory \(no config.yaml\)$"):
        rundir.open_run(tmp_path)


# ---- stored runs -------------------------------------------------------------------------------------------------
def test_open_run_has_the_trainers_weights_and_touches_no_global_state(stored):
    cfg = rundir.load_config(stored)
    trained = train.Run(cfg, stored)
    trained.load(rundir.last_checkpoint(stored))
    before = global_state()
    run = rundir.open_run(stored)
    assert same_state(before, global_state())
    assert run.step == 20 and run.cfg == cfg and run.path == rundir.last_checkpoint(stored)
    for mine, theirs in ((run.gen, trained.game.gen.net), (run.disc, trained.game.disc.net),
                         (run.ema, trained.game.ema)):
        want = theirs.state_dict()
        assert mine.state_dict().keys() == want.keys()
        assert all(torch.equal(v, want[k]) for k, v in mine.state_dict().items())
    assert run.sampler is run.ema
    z = torch.randn(2, 7, cfg.model.latent_dim)
    assert torch.equal(run.gen(z), trained.game.gen.net(z).detach())
    early = rundir.open_run(stored, step=10)
    assert early.step == 10 and not torch.equal(early.gen.weights[0], run.gen.weights[0])


def test_building_a_run_sets_no_global_state_and_prepare_does():
    cfg = resolve({}, [*TINY, "train.threads=2"])
    threads = torch.get_num_threads()
    try:
        before = global_state()
        train.Run(cfg, "/nonexistent")
        assert same_state(before, global_state())
        train.prepare(cfg)
        assert torch.get_num_threads() == 2
        assert torch.equal(torch.get_rng_state(), torch.manual_seed(cfg.seed).get_state())
    finally:
        torch.set_num_threads(threads)


@pytest.mark.parametrize("overrides,want", [(["ensemble=1"], 1), ([], None), (["ensemble=1", "train.threads=2"], 2),
                                            (["ensemble=1", "net=dcgan", "data.name=digits"], None)])
def test_threads_default_is_one_for_a_single_2d_run(overrides, want):
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(3)
        train.prepare(resolve({}, [*TINY, *overrides]))
        assert torch.get_num_threads() == (3 if want is None else want)
    finally:
        torch.set_num_threads(threads)


@pytest.mark.parametrize("values,overrides", [
    ({}, ["ensemble=3", "model.g_depth=2"]),
    (IMAGES, []),
    (IMAGES, ["rp.k=3"]),
    (IMAGES, ["net=resnet", "method=r1"]),
    (IMAGES, ["model.variant=g-mlp", "method=wgan-gp"]),
    (IMAGES, ["model.variant=tanh", "method=lsgan"]),
    (TEXT, []),
])
def test_build_nets_are_the_tasks_nets(values, overrides):
    cfg = resolve(values, overrides)
    config = {"mlp": "toy2d", "charcnn": "text"}.get(cfg.net, "images")
    with torch.random.fork_rng(devices=[]):
        task = make_task(cfg)
    states = [None]
    if config == "images":  # the image shape from a checkpoint's snapshots, or else from the data set
        states.append({"snapshots": {"0": task.generate(task.gen, 2)}})
    for state in states:
        gen, disc = rundir.build_nets(cfg, state)
        for mine, theirs in ((gen, task.gen), (disc, task.disc)):
            assert type(mine) is type(theirs)
            assert {k: v.shape for k, v in mine.state_dict().items()} == \
                   {k: v.shape for k, v in theirs.state_dict().items()}
        if config == "images" and cfg.rp.k > 1:  # the fixed projections are the run's own
            assert all(torch.equal(a, b) for a, b in zip(disc.buffers(), task.disc.buffers()))


# ---- damaged checkpoints -------------------------------------------------------------------------------------------
def test_damaged_checkpoint_names_the_newest_that_loads(copy):
    last, kept = rundir.last_checkpoint(copy), rundir.step_checkpoint(copy, 10)
    metrics = rundir.metrics_path(copy).read_bytes()
    last.write_bytes(last.read_bytes()[:300])  # truncated
    with pytest.raises(UsageError) as err:
        train.resume(copy)
    text = str(err.value)
    assert text == (f"checkpoint: {last} is damaged or not a ganscope checkpoint; the newest kept checkpoint that "
                    f"loads is {kept} (step 10); to resume from it: cp {kept} {last}")
    assert "\n" not in text and rundir.metrics_path(copy).read_bytes() == metrics
    with pytest.raises(UsageError, match=r"loads is .*step_000010\.pt \(step 10\)$"):
        rundir.open_run(copy)
    kept.write_bytes(b"garbage")
    with pytest.raises(UsageError, match=r"step_000010\.pt is damaged .* loads is .*step_000000\.pt \(step 0\)$"):
        rundir.open_run(copy, step=10)
    rundir.step_checkpoint(copy, 0).write_bytes(b"")
    with pytest.raises(UsageError, match=r"^checkpoint: .*last\.pt is damaged or not a ganscope checkpoint; "
                                         r"no other checkpoint in .*checkpoints loads$"):
        rundir.open_run(copy)


def test_damaged_checkpoint_through_spectrum_and_probe(copy, tmp_path, capsys):
    rundir.step_checkpoint(copy, 10).write_bytes(b"not a checkpoint")
    torch.save({"format": "something else"}, rundir.last_checkpoint(copy))
    for argv in (["spectrum", str(copy), "--step", "10"],
                 ["probe", str(copy), "--steps", "1", "--seeds", "1", "--out", str(tmp_path / "p")]):
        assert cli.main(argv) == 2
        lines = capsys.readouterr().err.strip().splitlines()
        assert len(lines) == 1 and "step_000010.pt is damaged or not a ganscope checkpoint" in lines[0]
        assert lines[0].endswith("(step 0)") and len(lines[0]) < 400
    assert not (tmp_path / "p").exists()


# ---- resume without checkpoints/last.pt ----------------------------------------------------------------------------
def test_resume_without_last_pt_refuses_and_names_the_kept_steps(copy, stored):
    last, kept = rundir.last_checkpoint(copy), rundir.step_checkpoint(copy, 10)
    last.unlink()
    written = {p: p.read_bytes() for p in copy.rglob("*") if p.is_file()}
    with pytest.raises(UsageError) as err:
        train.resume(copy)
    assert str(err.value) == (f"--resume: {copy} has no checkpoints/last.pt, but the run went past its first "
                              f"checkpoint; kept steps: 10; to resume from step 10: cp {kept} {last}")
    assert {p: p.read_bytes() for p in copy.rglob("*") if p.is_file()} == written  # nothing replaced
    shutil.copy(kept, last)  # as the message says: then the resume is exact
    assert train.resume(copy) == 0
    want, got = tensors(rundir.last_checkpoint(stored)), tensors(last)
    assert want.keys() == got.keys() and all(torch.equal(want[k], got[k]) for k in want)


def test_resume_before_the_first_checkpoint_starts_over(tmp_path):
    cfg = resolve({}, TINY)
    out = tmp_path / "fresh"
    out.mkdir()
    (out / "config.yaml").write_text(yaml.safe_dump(to_dict(cfg)))  # as a sweep leaves a job before it starts
    assert rundir.resume_point(out, cfg) is None
    rundir.metrics_path(out).write_text('{"step": 0}\n{"step": 4}\n{"step": 5, "d_lo')  # killed at step 5
    assert rundir.resume_point(out, cfg) is None  # the first checkpoint is due at step 5: not reached
    rundir.metrics_path(out).write_text('{"step": 5}\n')
    with pytest.raises(UsageError, match=r"^--resume: .*no kept step checkpoint to resume from"):
        rundir.resume_point(out, cfg)
    rundir.metrics_path(out).unlink()
    assert train.resume(out) == 0 and rundir.is_done(out)


# ---- --out naming a file -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("command", ["train", "sweep", "dirac"])
@pytest.mark.parametrize("below", [False, True])
def test_out_naming_a_file_is_one_line(tmp_path, capsys, command, below):
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    base = config_file(inputs)
    spec = inputs / "spec.yaml"
    spec.write_text(yaml.safe_dump({"base": str(base), "set": {"train.steps": 2}, "grid": {"method": ["r1"]}}))
    argv = {"train": ["train", str(base), "train.steps=2"], "sweep": ["sweep", str(spec)],
            "dirac": ["dirac", "--all"]}[command]
    path = tmp_path / "taken.txt"
    path.write_text("keep me")
    out = path / "sub" if below else path
    assert cli.main([*argv, "--out", str(out)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: --out: ") and str(path) in lines[0]
    assert path.read_text() == "keep me" and sorted(tmp_path.iterdir()) == [inputs, path]


# ---- out of memory -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("values,batch", [({}, 10**13), (IMAGES, 10**12)])
@pytest.mark.parametrize("existing", [None, "empty", "other"])
def test_a_batch_too_large_for_memory_leaves_no_run_directory(tmp_path, capsys, values, batch, existing):
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    out = tmp_path / "a" / "run"
    if existing:
        out.mkdir(parents=True)
    if existing == "other":
        (out / "notes.txt").write_text("mine")
    argv = ["train", str(config_file(inputs, values)), f"data.batch_size={batch}", "train.steps=3", "--out", str(out)]
    assert cli.main(argv) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "out of memory at generator step 0" in lines[0]
    assert "lower data.batch_size (now 1" in lines[0] and "Traceback" not in lines[0]
    if existing is None:
        assert not (tmp_path / "a").exists()
    else:
        assert sorted(p.name for p in out.iterdir()) == (["notes.txt"] if existing == "other" else [])


def test_out_of_memory_is_recognised():
    assert rundir.is_out_of_memory(MemoryError())
    assert rundir.is_out_of_memory(torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"))
    assert rundir.is_out_of_memory(RuntimeError("DefaultCPUAllocator: not enough memory: you tried to allocate 8"))
    assert not rundir.is_out_of_memory(RuntimeError("shape mismatch"))
    assert not rundir.is_out_of_memory(ValueError("out of memory"))
