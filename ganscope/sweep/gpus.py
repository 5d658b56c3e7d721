"""GPUs for a sweep: which GPUs a run gets on each executor, and the environment a rank of a DDP run needs.

One rule for every executor: ``--gpus-per-run G`` gives each run G GPUs and, when G > 1, runs it as a
G-process data-parallel job (one rank per GPU, as ``torchrun --nproc_per_node G`` would).

* local: the visible GPUs (``CUDA_VISIBLE_DEVICES`` if set, else every device torch counts) are cut into
  ``gpu_slots``: consecutive groups of G; each worker process owns one slot for its life and sees only it
  (``CUDA_VISIBLE_DEVICES`` set before CUDA starts), so at most one run per slot trains at a time.
* submitit: ``gpus_per_node = tasks_per_node = G`` (``submitit_gpus``); a job of several tasks runs the worker
  once per task, each with torchrun's variables (``torchrun_env``: RANK, LOCAL_RANK, WORLD_SIZE,
  LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT) taken from SLURM through submitit.
* Ray: the remote task asks for ``num_gpus = G`` (``ray_gpus``); Ray sets its CUDA_VISIBLE_DEVICES.
"""
from __future__ import annotations

import os
import random
import sys

from ganscope.errors import UsageError

GPU_KEYS = ("gpus_per_node", "tasks_per_node", "slurm_gpus_per_node", "slurm_tasks_per_node", "slurm_gpus_per_task")


def visible_gpus() -> list[str]:
    """The GPU ids this process may hand out: the entries of CUDA_VISIBLE_DEVICES when it is set (empty: none),
    else ``0 .. torch.cuda.device_count() - 1`` (which does not initialise CUDA)."""
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is not None:
        return [d.strip() for d in env.split(",") if d.strip() and not d.strip().startswith("-")]
    import torch

    return [str(i) for i in range(torch.cuda.device_count())]


def gpu_slots(gpus: list[str], per_run: int) -> list[list[str]]:
    """Cut ``gpus`` into consecutive slots of ``per_run`` (left-over GPUs stay idle); [] when there are none.

    ``gpu_slots(["0", "1", "2", "3", "4"], 2) == [["0", "1"], ["2", "3"]]``."""
    if isinstance(per_run, bool) or not isinstance(per_run, int) or per_run < 1:
        raise UsageError(f"--gpus-per-run: must be an integer >= 1 here, got {per_run!r}")
    if gpus and per_run > len(gpus):
        raise UsageError(f"--gpus-per-run: {per_run} GPUs per run, but only {len(gpus)} visible "
                         f"({','.join(gpus)})")
    return [list(gpus[i:i + per_run]) for i in range(0, len(gpus) - per_run + 1, per_run)]


def local_slots(gpus_per_run: int | None, gpus: list[str] | None = None) -> list[list[str]] | None:
    """The local pool's slots: None (CPU workers, the environment untouched) when no GPU is visible and none
    was asked for; [] when ``gpus_per_run == 0`` (CPU workers that see no GPU); else ``gpu_slots``."""
    gpus = visible_gpus() if gpus is None else gpus
    if gpus_per_run == 0:
        return [] if gpus else None
    if not gpus:
        if gpus_per_run:
            raise UsageError(f"--gpus-per-run: {gpus_per_run} GPUs per run asked for, but no GPU is visible "
                             "(CUDA_VISIBLE_DEVICES or torch.cuda.device_count())")
        return None
    return gpu_slots(gpus, gpus_per_run or 1)


def slot_env(slot: list[str]) -> dict:
    """The environment of a worker that owns ``slot`` (an empty slot: a worker that sees no GPU)."""
    return {"CUDA_VISIBLE_DEVICES": ",".join(slot)}


def submitit_gpus(options: dict, gpus_per_run: int | None) -> dict:
    """submitit parameters with G GPUs and G tasks (ranks) on one node; the spec's own GPU keys when G is None."""
    if not gpus_per_run:
        return dict(options)
    given = [k for k in GPU_KEYS if k in options]
    if given:
        raise UsageError(f"--gpus-per-run: the spec's submitit mapping also sets {given[0]}; give the GPUs in "
                         "one place")
    return {**options, "nodes": options.get("nodes", 1), "gpus_per_node": gpus_per_run,
            "tasks_per_node": gpus_per_run}


def ray_gpus(options: dict, gpus_per_run: int | None) -> dict:
    """Ray task options with ``num_gpus = G`` (and one CPU per GPU at least)."""
    if not gpus_per_run:
        return dict(options)
    if "num_gpus" in options:
        raise UsageError("--gpus-per-run: the spec's ray mapping also sets num_gpus; give the GPUs in one place")
    return {**options, "num_gpus": gpus_per_run, "num_cpus": max(options.get("num_cpus", 1), gpus_per_run)}


def torchrun_command(run_dir, nproc: int) -> list[str]:
    """The command that resumes (or starts) the run in ``run_dir`` as ``nproc`` ranks on this machine."""
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
            "-m", "ganscope", "train", "--resume", str(run_dir)]


def torchrun_env(global_rank: int, local_rank: int, num_tasks: int, num_nodes: int, master_addr: str,
                 job_id: str) -> dict:
    """What torchrun would export for one rank (the ``env://`` initialisation): the master port is drawn from
    the job id, so every task of a job agrees on it without talking."""
    port = random.Random(str(job_id)).randint(20000, 60000)
    return {"RANK": str(global_rank), "LOCAL_RANK": str(local_rank), "WORLD_SIZE": str(num_tasks),
            "LOCAL_WORLD_SIZE": str(num_tasks // max(1, num_nodes)), "MASTER_ADDR": master_addr,
            "MASTER_PORT": str(port)}


def rank() -> int:
    """This process's rank in a data-parallel job (0 outside one)."""
    return int(os.environ.get("RANK", "0") or 0)
