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
from ganscope.sweep.jobs import Job
from ganscope.sweep.spec import Spec

EXECUTORS = ("local", "submitit", "ray")


# ---- the worker ----------------------------------------------------------------------------------------
def run_job(job: Job, root, threads: int | None = None) -> dict:
    """Train ``job`` in-process (``train.resume``: from its checkpoint if there is one), its output in
    ``train.log``; split an ensemble's results into its runs. Returns ``{"rc", "error", "wall_s"}``."""
    import torch

    from ganscope import train
    from ganscope.analysis.diagnostics import run_spectrum  # the hook of train.spectrum_at

    if threads:
        torch.set_num_threads(threads)
    root, out = Path(root), Path(root) / job.name
    out.mkdir(parents=True, exist_ok=True)
    if not (out / "config.yaml").exists():
        write_text(out / "config.yaml", yaml.safe_dump(job.config, sort_keys=False))
    start, err, error = time.perf_counter(), io.StringIO(), None
    with open(out / "train.log", "a", encoding="utf-8") as log, redirect_stdout(log), redirect_stderr(err):
        resumed = (out / "checkpoints" / "last.pt").exists()
        print(f"sweep: {'resuming from checkpoints/last.pt' if resumed else 'starting'}", flush=True)
        try:
            rc = train.resume(out, spectrum=run_spectrum)
        except Exception as exc:  # recorded with the run; the sweep goes on
            rc, error = 1, one_line(exc)
        log.write(err.getvalue())
    if rc == train.EXIT_DIVERGED:
        error = next((ln for ln in reversed(err.getvalue().splitlines()) if ln.startswith("error:")), "error: diverged")
        error = f"exit 3: {error[len('error: '):]}"
    if rc == 0 and job.is_ensemble:
        split_ensemble(out, job, root)
    return {"rc": rc, "error": error, "wall_s": round(time.perf_counter() - start, 3)}


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
    once and each worker is forked from it, instead of every worker importing torch, POT and matplotlib."""

    poll = 0.1
    preload = ["ganscope.train", "ganscope.plots"]

    def __init__(self, workers: int):
        import multiprocessing as mp

        method = "forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn"
        self.workers, self.context = workers, mp.get_context(method)
        if method == "forkserver":
            self.context.set_forkserver_preload(self.preload)
        self.pool = self._new()

    def _new(self):
        from concurrent.futures import ProcessPoolExecutor

        return ProcessPoolExecutor(self.workers, mp_context=self.context, initializer=_one_thread)

    def submit(self, job: Job, root):
        from concurrent.futures.process import BrokenProcessPool

        try:
            return self.pool.submit(run_job, job, str(root), 1)
        except BrokenProcessPool:  # a worker died (its runs are recorded failed): start a fresh pool
            self.pool = self._new()
            return self.pool.submit(run_job, job, str(root), 1)

    def close(self):
        self.pool.shutdown(wait=True, cancel_futures=True)


def _one_thread():
    os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = "1"
    import torch

    torch.set_num_threads(1)


class SubmititPool:
    """``submitit.AutoExecutor``: SLURM on a cluster, or ``cluster: local`` (LocalExecutor) / ``debug``."""

    poll = 1.0

    def __init__(self, out: Path, options: dict):
        import submitit

        options = dict(options)
        cluster, folder = options.pop("cluster", None), options.pop("folder", str(out / "submitit"))
        try:
            self.executor = submitit.AutoExecutor(folder=folder, cluster=cluster)
            self.executor.update_parameters(**{"name": "ganscope-sweep", **options})
        except (ValueError, TypeError, NameError, AssertionError, RuntimeError) as err:
            raise UsageError(f"submitit: {(str(err).splitlines() or [type(err).__name__])[0]}") from None

    def submit(self, job: Job, root):
        return self.executor.submit(run_job, job, str(root), None)

    def close(self):
        pass


class RayPool:
    """Ray tasks (``ray.init(address)`` then one remote task per job; other options go to ``.options``)."""

    poll = 0.5

    def __init__(self, options: dict):
        try:
            import ray
        except ImportError:
            raise UsageError("--executor ray: Ray is not installed; pip install 'ganscope[ray]'") from None
        options = {"num_cpus": 1, **options}
        address = options.pop("address", None)
        if not ray.is_initialized():
            ray.init(address=address)
        self.ray, self.task = ray, ray.remote(run_job).options(**options)

    def submit(self, job: Job, root):
        return _RayHandle(self.ray, self.task.remote(job, str(root), None))

    def close(self):
        pass


class _RayHandle:
    def __init__(self, ray, ref):
        self.ray, self.ref = ray, ref

    def done(self) -> bool:
        return bool(self.ray.wait([self.ref], timeout=0)[0])

    def result(self):
        return self.ray.get(self.ref)


def make_pool(executor: str, out: Path, spec: Spec, workers: int):
    if executor == "local":
        return LocalPool(workers)
    if executor == "submitit":
        return SubmititPool(out, spec.submitit)
    if executor == "ray":
        return RayPool(spec.ray)
    raise UsageError(f"--executor: {executor!r} is not allowed; allowed: {', '.join(EXECUTORS)}")
