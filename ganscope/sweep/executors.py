"""Where jobs run: a local process pool, SLURM through submitit, or Ray; and the worker, ``run_job``.

Every pool has ``submit(job, root) -> handle`` (``handle.done()``, ``handle.result()``), ``close()`` and a
``poll`` interval in seconds; ``make_pool`` picks one by name (``EXECUTORS``).
"""
from __future__ import annotations

import io
import json
import os
import time
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import yaml

from ganscope.errors import UsageError
from ganscope.io import read_jsonl, write_json, write_text
from ganscope.sweep.gpus import rank, ray_gpus, slot_env, submitit_gpus, torchrun_command, torchrun_env
from ganscope.sweep.jobs import Job
from ganscope.sweep.spec import Spec

EXECUTORS = ("local", "submitit", "ray")


# ---- the worker ----------------------------------------------------------------------------------------
def run_job(job: Job, root, threads: int | None = None, nproc: int = 1) -> dict:
    """Train ``job`` in-process (``train.resume``: from its checkpoint if there is one), its output in
    ``train.log``; split an ensemble's results into its runs. Returns ``{"rc", "error", "wall_s"}``.

    ``nproc > 1``: train it as that many data-parallel ranks instead (``torchrun`` on this machine, see
    ``sweep.gpus``). A rank other than 0 (a task of a multi-task submitit job) writes only its own log,
    ``train.rankN.log``; rank 0 owns the run directory."""
    import torch

    from ganscope import train
    from ganscope.analysis.diagnostics import run_spectrum  # the hook of train.spectrum_at

    if threads:
        torch.set_num_threads(threads)
    root, out, me = Path(root), Path(root) / job.name, rank()
    out.mkdir(parents=True, exist_ok=True)
    if me == 0 and not (out / "config.yaml").exists():
        write_text(out / "config.yaml", yaml.safe_dump(job.config, sort_keys=False))
    start, err, error = time.perf_counter(), io.StringIO(), None
    log_name = "train.log" if me == 0 else f"train.rank{me}.log"
    with open(out / log_name, "a", encoding="utf-8") as log, redirect_stdout(log), redirect_stderr(err):
        resumed = (out / "checkpoints" / "last.pt").exists()
        print(f"sweep: {'resuming from checkpoints/last.pt' if resumed else 'starting'}{_devices()}", flush=True)
        try:
            rc = _torchrun(out, nproc, log) if nproc > 1 else train.resume(out, spectrum=run_spectrum)
        except Exception as exc:  # recorded with the run; the sweep goes on
            rc, error = 1, one_line(exc)
        log.write(err.getvalue())
    if rc == train.EXIT_DIVERGED:
        error = next((ln for ln in reversed(err.getvalue().splitlines()) if ln.startswith("error:")), "error: diverged")
        error = f"exit 3: {error[len('error: '):]}"
    elif rc not in (0, train.EXIT_DIVERGED) and error is None:
        error = f"exit {rc}: see {out / log_name}"
    if rc == 0 and job.is_ensemble and me == 0:
        split_ensemble(out, job, root)
    return {"rc": rc, "error": error, "wall_s": round(time.perf_counter() - start, 3)}


def _devices() -> str:
    """`` on CUDA_VISIBLE_DEVICES=...`` (and the rank) when the sweep placed this worker, else nothing."""
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    where = "" if env is None else f" on CUDA_VISIBLE_DEVICES={env or '(none)'}"
    return where + (f" as rank {os.environ['RANK']} of {os.environ.get('WORLD_SIZE', '?')}"
                    if "RANK" in os.environ else "")


def _torchrun(out: Path, nproc: int, log) -> int:
    """Run the job's directory as ``nproc`` ranks (``torch.distributed.run --standalone``); its exit status."""
    import subprocess

    log.flush()
    return subprocess.run(torchrun_command(out, nproc), stdout=log, stderr=subprocess.STDOUT, check=False).returncode


def run_rank(job: Job, root) -> dict:
    """A task of a multi-task submitit job: export torchrun's variables for this task (``gpus.torchrun_env``
    from submitit's SLURM environment), then ``run_job`` in-process as that rank."""
    import submitit

    env = submitit.JobEnvironment()
    os.environ.update(torchrun_env(env.global_rank, env.local_rank, env.num_tasks, env.num_nodes,
                                   env.hostnames[0], env.job_id))
    return run_job(job, root)


def split_ensemble(out: Path, job: Job, root: Path):
    """Each member's ``metrics.jsonl`` (its entry of every per-member list) and ``summary.json`` into
    ``runs/NAME``; summary.json is written last (it marks the run done)."""
    summary = json.loads((out / "summary.json").read_text())
    rows = read_jsonl(out / "metrics.jsonl")
    for i, name in enumerate(job.runs):
        run_dir = root / "runs" / name
        lines = [json.dumps({k: v[i] if isinstance(v, list) else v for k, v in row.items()}) for row in rows]
        write_text(run_dir / "metrics.jsonl", "".join(ln + "\n" for ln in lines))
        member = {k: summary[k] for k in ("steps", "method", "data")}
        member.update(final=summary["members"][i], seed=summary["seeds"][i], ensemble=job.name, member=i)
        write_json(run_dir / "summary.json", member)


def one_line(err: BaseException) -> str:
    """``Type: message`` on one line (the last non-empty line of a long message, e.g. a remote traceback)."""
    lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()]
    return f"{type(err).__name__}: {lines[-1][:300] if lines else ''}".rstrip(": ")


# ---- executors -----------------------------------------------------------------------------------------
class LocalPool:
    """A process pool, one torch thread per worker. With forkserver (else spawn) the server imports the engine
    once and each worker is forked from it, instead of every worker importing torch, POT and matplotlib.

    ``slots`` (``gpus.local_slots``): each worker owns one slot of GPUs for its life (CUDA_VISIBLE_DEVICES set
    in the worker before CUDA starts) and gets the CPU threads shared out; at most one worker per slot, so one
    run per slot at a time; a run with several GPUs is trained by ``torchrun`` over them. GPU workers are
    spawned, never forked, so that no CUDA state of another process can reach them (one torch import per
    slot, once). None: CPU workers with the environment as it is (no GPU visible); []: CPU workers that see
    no GPU."""

    poll = 0.1
    gpu_start = "spawn"  # the start method of GPU workers

    def __init__(self, workers: int, slots: list[list[str]] | None = None):
        import multiprocessing as mp

        gpus = bool(slots and slots[0])
        self.slots = slots if slots else ([[]] * workers if slots == [] else None)
        self.workers = min(workers, len(self.slots)) if self.slots else workers
        self.nproc = len(slots[0]) if gpus else 1
        self.threads = max(1, (os.cpu_count() or 1) // self.workers) if gpus else 1
        self.context = mp.get_context(self.gpu_start) if gpus else cpu_context()
        self.pool = self._new()

    def _new(self):
        from concurrent.futures import ProcessPoolExecutor

        if self.slots is None:
            return ProcessPoolExecutor(self.workers, mp_context=self.context, initializer=one_thread)
        free = self.context.SimpleQueue()  # each new worker takes one slot
        for slot in self.slots[:self.workers]:
            free.put(slot)
        return ProcessPoolExecutor(self.workers, mp_context=self.context, initializer=_take_slot,
                                   initargs=(free, self.threads))

    def submit(self, job: Job, root):
        from concurrent.futures.process import BrokenProcessPool

        try:
            return self.pool.submit(run_job, job, str(root), self.threads, self.nproc)
        except BrokenProcessPool:  # a worker died (its runs are recorded failed): start a fresh pool
            self.pool = self._new()
            return self.pool.submit(run_job, job, str(root), self.threads, self.nproc)

    def close(self):
        self.pool.shutdown(wait=True, cancel_futures=True)


PRELOAD = ["ganscope.train", "ganscope.plots"]  # what the forkserver imports once for every CPU worker


def cpu_context():
    """The multiprocessing context of CPU workers (sweeps, ``reproduce``'s pools and lane): forkserver with the
    engine (``PRELOAD``) imported once in the server, else spawn. The forkserver is one per process and takes
    its preload list when it starts, so every pool of the process asks for it here."""
    import multiprocessing as mp

    if "forkserver" not in mp.get_all_start_methods():
        return mp.get_context("spawn")
    context = mp.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)
    return context


def one_thread():
    """A CPU worker's start: one OpenMP/MKL and torch thread."""
    os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = "1"
    import torch

    torch.set_num_threads(1)


def _take_slot(free, threads: int):
    """A GPU worker's start: own the next free slot (its CUDA_VISIBLE_DEVICES), use ``threads`` CPU threads."""
    os.environ.update(slot_env(free.get()))
    os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = str(threads)
    import torch

    torch.set_num_threads(threads)


class SubmititPool:
    """``submitit.AutoExecutor``: SLURM on a cluster, or ``cluster: local`` (LocalExecutor) / ``debug``.

    ``gpus_per_run`` G: each job asks for one node with G GPUs and G tasks (``gpus.submitit_gpus``); a job of
    several tasks runs ``run_rank`` in each, one data-parallel rank per task."""

    poll = 1.0

    def __init__(self, out: Path, options: dict, gpus_per_run: int | None = None):
        import submitit

        options = submitit_gpus(dict(options), gpus_per_run)
        cluster, folder = options.pop("cluster", None), options.pop("folder", str(out / "submitit"))
        tasks = options.get("tasks_per_node", options.get("slurm_tasks_per_node", 1))
        self.ranks = tasks * options.get("nodes", 1) if isinstance(tasks, int) else 1
        try:
            self.executor = submitit.AutoExecutor(folder=folder, cluster=cluster)
            self.executor.update_parameters(**{"name": "ganscope-sweep", **options})
        except (ValueError, TypeError, NameError, AssertionError, RuntimeError) as err:
            raise UsageError(f"submitit: {(str(err).splitlines() or [type(err).__name__])[0]}") from None

    def submit(self, job: Job, root):
        if self.ranks > 1:
            return self.executor.submit(run_rank, job, str(root))
        return self.executor.submit(run_job, job, str(root), None)

    def close(self):
        pass


class RayPool:
    """Ray tasks (``ray.init(address)`` then one remote task per job; other options go to ``.options``);
    ``gpus_per_run`` G: each task asks for ``num_gpus = G`` and, when G > 1, trains its run with torchrun."""

    poll = 0.5

    def __init__(self, options: dict, gpus_per_run: int | None = None):
        try:
            import ray
        except ImportError:
            raise UsageError("--executor ray: Ray is not installed; pip install 'ganscope[ray]'") from None
        options = ray_gpus({"num_cpus": 1, **options}, gpus_per_run)
        address = options.pop("address", None)
        self.nproc = max(1, int(options.get("num_gpus", 1) or 1))
        if not ray.is_initialized():
            ray.init(address=address)
        self.ray, self.task = ray, ray.remote(run_job).options(**options)

    def submit(self, job: Job, root):
        return _RayHandle(self.ray, self.task.remote(job, str(root), None, self.nproc))

    def close(self):
        pass


class _RayHandle:
    def __init__(self, ray, ref):
        self.ray, self.ref = ray, ref

    def done(self) -> bool:
        return bool(self.ray.wait([self.ref], timeout=0)[0])

    def result(self):
        return self.ray.get(self.ref)


def make_pool(executor: str, out: Path, spec: Spec, workers: int, gpus_per_run: int | None = None,
              slots: list[list[str]] | None = None):
    """The pool of ``executor``; ``slots``: the local pool's GPU slots (``gpus.local_slots``)."""
    if executor == "local":
        return LocalPool(workers, slots)
    if executor == "submitit":
        return SubmititPool(out, spec.submitit, gpus_per_run)
    if executor == "ray":
        return RayPool(spec.ray, gpus_per_run)
    raise UsageError(f"--executor: {executor!r} is not allowed; allowed: {', '.join(EXECUTORS)}")
