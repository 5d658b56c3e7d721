"""Data-parallel training (ganscope.distributed) with 2 gloo processes on the CPU, started by torchrun.

(a) A 2-rank run equals a 1-process run whose batch is the concatenation of the two ranks' batches (the same
streams: rank 0's then rank 1's), for R1, WGAN-GP, n_d = 5, clipping, EMA, lazy R1 and consensus; the ranks'
parameters are identical after every step. (b) A SIGKILL of the whole torchrun job, then
``torchrun ... train --resume DIR``, equals the uninterrupted job bit for bit. (c) Only rank 0 writes.
One launch of the worker (tests/ddp_worker.py) and the resume share one module fixture (each launch costs
seconds of imports).
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from ganscope import distributed
from ganscope.config import resolve
from ganscope.errors import UsageError
from ganscope.game import Game, GameRules
from ganscope.rng import Streams, rank_seed
from ganscope.tasks import make_task
from ganscope.train import Run

ROOT = Path(__file__).resolve().parents[1]
WORKER = Path(__file__).with_name("ddp_worker.py")
SMALL = {"model": {"g_width": 16, "d_width": 16, "g_depth": 2, "d_depth": 2}, "data": {"batch_size": 32}}
CASES = {  # name: (method, overrides); 4 generator steps each
    "r1": ("r1", []),
    "wgan-gp": ("wgan-gp", []),  # n_d = 5
    "n_d5": ("nonsaturating", ["game.n_d=5"]),
    "clip": ("wgan-clip", []),  # n_d = 5, clipping at 0.01
    "ema": ("r1", ["game.ema=0.9"]),
    "lazy-r1": ("r1", ["penalty.every=3"]),
    "consensus": ("consensus", []),  # simultaneous
    "consensus-alt": ("consensus", ["game.scheme=altgd"]),
    "noise": ("noise", []),  # instance noise from the ranks' streams
    "ensemble": ("r1", ["ensemble=2"]),  # per-member streams on each rank
}
STEPS = 4
KILL_AT = 20  # the generator step whose checkpoint the killed job wrote last
RESUME_CONFIG = {"method": "r1", "seed": 3, **SMALL,
                 "data": {"name": "8gaussians", "batch_size": 32, "eval_samples": 200},
                 "game": {"ema": 0.9}, "penalty": {"every": 2},
                 "train": {"steps": 50, "log_every": 5, "eval_every": 10, "plots": False},
                 "checkpoint": {"every": 10}}


def torchrun(*args, timeout=240):
    """``torchrun --standalone --nproc_per_node 2 ARGS`` (a free port), run to its end."""
    proc = subprocess.run(_torchrun_command(*args), cwd=ROOT, env=_env(), capture_output=True, text=True,
                          timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


def _torchrun_command(*args):
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", *map(str, args)]


def _env():
    return {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    kids = [int(p) for p in text.split()]
    return kids + [g for k in kids for g in _children(k)]


def kill_job_when(marker: Path, args, timeout=240):
    """Start ``torchrun ARGS``; once ``marker`` exists, SIGKILL the agent and every worker at once."""
    proc = subprocess.Popen(_torchrun_command(*args), cwd=ROOT, env=_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    deadline = time.monotonic() + timeout
    while not marker.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail("the job ended or hung before its pause point:\n" + proc.communicate()[0][-3000:])
        time.sleep(0.05)
    for pid in [proc.pid, *_children(proc.pid)]:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.communicate()


@pytest.fixture(scope="module")
def ddp(tmp_path_factory):
    """One torchrun launch of the worker (the cases, the uninterrupted job, the job killed at KILL_AT), then the
    resume of the killed job by the command line."""
    tmp = tmp_path_factory.mktemp("ddp")
    cases = [{"name": name, "values": {"method": method, "seed": 1, **SMALL}, "overrides": over, "steps": STEPS}
             for name, (method, over) in CASES.items()]
    (tmp / "cases.json").write_text(json.dumps(cases))
    config = tmp / "run.yaml"
    config.write_text(yaml.safe_dump(RESUME_CONFIG))
    (tmp / "results").mkdir()
    marker, cut = tmp / "paused", tmp / "cut"
    kill_job_when(marker, [WORKER, tmp / "cases.json", tmp / "results", config, tmp / "full", cut, KILL_AT, marker])
    killed_at = torch.load(cut / "checkpoints" / "last.pt", weights_only=True)["step"]
    resumed = torchrun("-m", "ganscope", "train", "--resume", cut)
    return {"tmp": tmp, "cases": cases, "killed_at": killed_at, "resume_stdout": resumed.stdout}


# ---- the 1-process reference: both ranks' streams in one process ---------------------------------------------
class JointStreams(Streams):
    """The random streams of W ranks as one: a draw whose batch axis is W·B takes B from each rank's streams, in
    rank order (the batch axis follows the member axis of an ensemble's streams)."""

    def __init__(self, parts):
        self.parts, self.members = parts, parts[0].members
        self.device, self.dtype, self.generators = parts[0].device, parts[0].dtype, None

    def _draw(self, fn, shape, dtype=None):
        axis = 1 if self.members else 0
        share = [*shape[:axis], shape[axis] // len(self.parts), *shape[axis + 1:]]
        return torch.cat([p._draw(fn, share, dtype) for p in self.parts], dim=axis)


class GlobalBatch:
    """The task of the 1-process reference: rank 0's task with every batch the concatenation of the W ranks'
    batches, drawn from rank r's streams (``Streams.for_rank(r)``) exactly as rank r draws them."""

    def __init__(self, cfg, world=2):
        with torch.random.fork_rng(devices=[]):  # the tasks seed their nets' initialisation
            self.tasks = [make_task(cfg) for _ in range(world)]
        for rank, task in enumerate(self.tasks):
            task.streams.for_rank(rank)
        first = self.tasks[0]
        self.streams, self.event_dims, self.g_loss_total = JointStreams([t.streams for t in self.tasks]), \
            first.event_dims, first.g_loss_total
        self.axis = 1  # the 2-D task's batches are (E, B, ...)

    def real(self):
        return torch.cat([t.real() for t in self.tasks], dim=self.axis)

    def latent(self):
        return torch.cat([t.latent() for t in self.tasks], dim=self.axis)


def reference(case, batch=None):
    """The weights after ``steps`` generator steps of one process on the global batch (``batch=None``), or on
    rank 0's batch alone (``batch="rank0"``)."""
    cfg = resolve(case["values"], case["overrides"])
    run = Run(cfg, "/nonexistent")
    if batch is None:
        run.game = Game(GameRules.from_config(cfg), run.game.gen, run.game.disc, GlobalBatch(cfg),
                        run.task.member_values)
    for step in range(case["steps"]):
        run.game.step(step)
    ema = run.game.ema.state_dict() if run.game.ema is not None else None
    return {"generator": run.game.gen.net.state_dict(), "discriminator": run.game.disc.net.state_dict(), "ema": ema}


def _max_gap(a: dict, b: dict) -> float:
    return max((a[k] - b[k]).abs().max().item() for k in a)


# ---- (a) ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(CASES))
def test_two_ranks_equal_one_process_on_the_concatenated_batch(ddp, name):
    case = next(c for c in ddp["cases"] if c["name"] == name)
    got = torch.load(ddp["tmp"] / "results" / f"{name}.pt", weights_only=True)
    assert all(got["same"]) and len(got["same"]) == STEPS + 1, "the ranks' parameters differ after some step"
    want, alone = reference(case), reference(case, batch="rank0")
    for net in ("generator", "discriminator", "ema"):
        if want[net] is None:
            assert got[net] is None
            continue
        gap, apart = _max_gap(got[net], want[net]), _max_gap(got[net], alone[net])
        assert gap < 2e-6, f"{name} {net}: 2 ranks vs the concatenated batch differ by {gap}"
        assert apart > 1e3 * max(gap, 1e-9), f"{name} {net}: rank 0's batch alone is as close ({apart})"


# ---- (b), (c) ------------------------------------------------------------------------------------------------
def _rows(run_dir):
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if k != "wall_s"} for r in rows]


def test_sigkill_of_the_job_then_resume_is_bit_identical(ddp):
    full, cut = ddp["tmp"] / "full", ddp["tmp"] / "cut"
    assert ddp["killed_at"] == KILL_AT
    a = torch.load(full / "checkpoints" / "last.pt", weights_only=True)
    b = torch.load(cut / "checkpoints" / "last.pt", weights_only=True)
    assert a["step"] == b["step"] == RESUME_CONFIG["train"]["steps"]
    for key in ("generator", "discriminator", "opt_g", "opt_d", "game", "ranks", "rng", "diagnostics"):
        assert _equal(a[key], b[key]), key
    assert len(a["ranks"]) == 2 and not torch.equal(a["ranks"][0]["streams"][0], a["ranks"][1]["streams"][0])
    assert _rows(full) == _rows(cut)
    summary = json.loads((cut / "summary.json").read_text())
    assert summary["world_size"] == 2
    assert summary["final"] == json.loads((full / "summary.json").read_text())["final"]
    assert ddp["resume_stdout"].count('"out"') == 1  # rank 0 alone prints the summary line


def _equal(a, b) -> bool:
    if torch.is_tensor(a):
        return torch.is_tensor(b) and a.dtype == b.dtype and torch.equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return isinstance(b, (list, tuple)) and len(a) == len(b) and all(map(_equal, a, b))
    return a == b


def _events(run):
    """A run's TensorBoard events files (tb/hparams holds the final hyper-parameters apart)."""
    return list((run / "tb").glob("events.out.tfevents.*"))


def test_only_rank_0_writes(ddp):
    tmp = ddp["tmp"]
    assert not (tmp / "full.rank1").exists()  # rank 1 was given its own --out: nothing was written there
    assert not list((tmp / "results").glob("*.rank*"))
    full = tmp / "full"
    assert sorted(p.name for p in full.iterdir()) == ["checkpoints", "config.yaml", "device.json", "metrics.jsonl",
                                                       "summary.json", "tb"]
    assert len(json.loads((full / "device.json").read_text())["sessions"]) == 1  # rank 0's session alone
    assert len(_events(full)) == 1
    assert len(_events(tmp / "cut")) == 2  # one events file per launch, rank 0's


def test_resume_needs_the_same_number_of_processes(ddp, tmp_path):
    cfg = resolve(RESUME_CONFIG)
    with pytest.raises(UsageError, match=r"written by 2 data-parallel process\(es\), this job has 1; resume it "
                                         r"with torchrun --nproc_per_node 2"):
        Run(cfg, tmp_path).load(ddp["tmp"] / "full" / "checkpoints" / "last.pt")


# ---- pieces, in one process ----------------------------------------------------------------------------------
def test_ranks_from_torchrun_environment():
    assert distributed.Ranks.from_env({}) is distributed.SINGLE
    ranks = distributed.Ranks.from_env({"RANK": "1", "WORLD_SIZE": "4", "LOCAL_RANK": "1"})
    assert (ranks.rank, ranks.world, ranks.local_rank, ranks.main, ranks.parallel) == (1, 4, 1, False, True)
    with pytest.raises(UsageError, match="RANK/WORLD_SIZE: rank 4 of 4"):
        distributed.Ranks.from_env({"RANK": "4", "WORLD_SIZE": "4"})
    with pytest.raises(UsageError, match="RANK: torchrun's environment gives 'x'"):
        distributed.Ranks.from_env({"RANK": "x", "WORLD_SIZE": "2"})
    assert distributed.backend("cpu") == "gloo" and distributed.backend("cuda:1") == "nccl"
    assert distributed.rank_device("cuda", ranks) == torch.device("cuda", 1)
    assert distributed.rank_device("cpu", ranks) == torch.device("cpu")


def test_a_single_rank_is_the_identity():
    grads = [torch.randn(3, 2), torch.randn(4)]
    assert distributed.SINGLE.average(grads) == grads
    assert distributed.SINGLE.gather("x") == ["x"] and distributed.SINGLE.same_on_all_ranks(grads)


def test_rank_streams():
    assert rank_seed(7, 0) == 7
    seeds = {rank_seed(s, r) for s in range(5) for r in range(1, 5)}
    assert len(seeds) == 20 and 10**7 < min(seeds) and max(seeds) < 2**63  # far from the seed + i streams
    a, b = Streams([7, 8]), Streams([7, 8]).for_rank(1)
    assert b.seeds == [rank_seed(7, 1), rank_seed(8, 1)]
    assert not torch.equal(a.randn((2, 3)), b.randn((2, 3)))
    assert torch.equal(Streams([7, 8]).for_rank(0).randn((2, 3)), Streams([7, 8]).randn((2, 3)))


def test_image_metrics_make_no_collective_call(monkeypatch):
    """Rank 0 evaluates alone: a metric that synchronised over the process group (torchmetrics does by default)
    would wait forever for the other ranks. With a group 'initialised', FID/KID must not touch it."""
    from ganscope.metrics.images import fid_kid

    def collective(*args, **kwargs):
        raise AssertionError("a collective call during rank 0's evaluation")

    monkeypatch.setattr(torch.distributed, "is_initialized", lambda: True)
    for name in ("all_gather", "all_reduce", "broadcast", "barrier", "all_gather_object"):
        monkeypatch.setattr(torch.distributed, name, collective)
    g = torch.Generator().manual_seed(0)
    out = fid_kid(torch.randn(40, 4, generator=g), torch.randn(40, 4, generator=g), kid_subsets=5)
    assert out["fid"] > 0
