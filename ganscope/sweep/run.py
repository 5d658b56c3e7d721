"""The sweep driver: ``run_sweep`` expands a spec, skips done runs, keeps the pool busy, records every outcome
in ``sweep.json``, prints progress lines, and writes the results tables at the end."""
from __future__ import annotations

import json
import os
import sys
import time
from collections import deque

from ganscope.errors import UsageError
from ganscope.progress import Progress
from ganscope.sweep.executors import EXECUTORS, LocalPool, make_pool, one_line
from ganscope.sweep.gpus import local_slots
from ganscope.sweep.jobs import Job, RunSpec, expand, group
from ganscope.sweep.results import aggregate
from ganscope.sweep.spec import Spec, _is_int, load_spec
from ganscope.sweep.state import SweepState


def run_sweep(spec, out, executor="local", workers=None, dry_run=False, log=None, gpus_per_run=None) -> SweepState:
    """Run (or with ``dry_run`` list) every unfinished run of ``spec`` (a Spec or a YAML path) into ``out``;
    then write the results tables. Returns the state (``counts()`` says how many failed).

    ``gpus_per_run`` G (``sweep.gpus``): local: each run on its own G visible GPUs (default 1 when a GPU is
    visible; 0: workers that see none); submitit / Ray: each job asks for G GPUs (default none). G > 1 trains
    each run data-parallel over its G GPUs."""
    log = log or sys.stderr
    spec = spec if isinstance(spec, Spec) else load_spec(spec)
    if executor not in EXECUTORS:
        raise UsageError(f"--executor: {executor!r} is not allowed; allowed: {', '.join(EXECUTORS)}")
    _check_workers(workers)
    if gpus_per_run is not None and (not _is_int(gpus_per_run) or gpus_per_run < 0):
        raise UsageError(f"--gpus-per-run: must be an integer >= 0, got {gpus_per_run!r}")
    state, jobs = _prepare(spec, out)
    runs = state.runs
    if dry_run:
        print(plan(runs, jobs, state), file=sys.stdout)
        return state
    slots = local_slots(gpus_per_run) if executor == "local" else None
    limit = _limit(workers or ((os.cpu_count() or 1) if executor == "local" else len(runs)), slots, log)
    # a missing executor: nothing written
    pool = make_pool(executor, state.out, spec, limit, gpus_per_run, slots) if jobs else None
    state.out.mkdir(parents=True, exist_ok=True)
    state.save()
    if pool is not None:
        _drive([(state, job) for job in jobs], pool, limit, log)
    else:
        print(f"sweep: all {len(runs)} runs done", file=log)
    state.rows = aggregate(state.out)
    return state


def run_sweeps(sweeps, workers=None, log=None) -> list[SweepState]:
    """Several sweeps, ``[(spec, out), ...]``, on one local pool of ``workers`` processes: the unfinished jobs
    of all of them queue together (in the order given), each outcome is recorded in its own sweep.json and each
    sweep gets its results tables, as ``run_sweep`` does for one; no worker idles while another sweep's last job
    runs. The runs are those ``run_sweep`` would train with the local executor (one per GPU slot where GPUs are
    visible, else one torch thread each)."""
    log = log or sys.stderr
    _check_workers(workers)
    prepared = [_prepare(spec if isinstance(spec, Spec) else load_spec(spec), out) for spec, out in sweeps]
    pairs = [(state, job) for state, jobs in prepared for job in jobs]
    for state, _ in prepared:
        state.out.mkdir(parents=True, exist_ok=True)
        state.save()
    if pairs:
        slots = local_slots(None)
        limit = _limit(workers or os.cpu_count() or 1, slots, log)
        _drive(pairs, LocalPool(limit, slots), limit, log)
    else:
        print(f"sweep: all {sum(len(s.runs) for s, _ in prepared)} runs done", file=log)
    for state, _ in prepared:
        state.rows = aggregate(state.out)
    return [state for state, _ in prepared]


def _check_workers(workers):
    if workers is not None and (not _is_int(workers) or workers < 1):
        raise UsageError(f"--workers: must be an integer >= 1, got {workers!r}")


def _limit(limit: int, slots, log) -> int:
    """Jobs at a time: ``limit``, at most one per local GPU slot (``gpus.local_slots``), which are announced."""
    if not slots:
        return limit
    limit = min(limit, len(slots))
    print(f"sweep: {len(slots)} GPU slots ({' '.join(','.join(s) for s in slots)}), {limit} at a time", file=log)
    return limit


def _prepare(spec: Spec, out) -> tuple[SweepState, list[Job]]:
    """The sweep's state in ``out`` (runs already done there are kept) and the jobs of its unfinished runs."""
    runs = expand(spec)
    state = SweepState(out, spec, runs)
    return state, group([r for r in runs if not state.done(r.name)], spec.ensemble)


def _drive(pairs: list[tuple[SweepState, Job]], pool, limit: int, log):
    """Keep ``limit`` jobs running until every (sweep state, job) pair has finished, recording each outcome."""
    states = list({id(s): s for s, _ in pairs}.values())
    queue, running = deque(pairs), {}
    bar = _progress(states, [job for _, job in pairs], log)
    try:
        while queue or running:
            while queue and len(running) < limit:
                state, job = queue.popleft()
                state.started(job)
                try:
                    running[pool.submit(job, state.out)] = (state, job)
                except Exception as err:  # e.g. sbatch refused the job: record it, go on with the others
                    state.finished(job, {"rc": 1, "error": f"submission failed: {one_line(err)}"})
                    print(f"sweep: {job.name} could not be submitted: {one_line(err)}", file=log)
                    bar.n += len(job.runs)
            finished = [h for h in running if h.done()]
            if not finished:
                time.sleep(pool.poll)
                bar.tick()  # a line every 30 s while runs are training
            for handle in finished:
                state, job = running.pop(handle)
                outcome = _outcome(handle)
                retry = state.finished(job, outcome)
                queue.extend((state, r) for r in retry)
                bar.n += 0 if retry else len(job.runs)  # a retried ensemble's runs are pending again
                if outcome.get("error"):
                    then = "; retrying its runs alone" if retry else ""
                    print(f"sweep: {job.name} failed: {outcome['error']}{then}", file=log)
                _report(states, bar)
    except BaseException:
        for state in states:
            state.interrupted([job for s, job in running.values() if s is state])
        raise
    finally:
        pool.close()


def _outcome(handle) -> dict:
    try:
        return handle.result()
    except Exception as err:  # the worker itself died (killed, out of memory, cluster failure)
        return {"rc": 1, "error": one_line(err), "wall_s": None}


def _progress(states: list[SweepState], jobs: list[Job], log) -> Progress:
    """Plain lines on ``log`` (``ganscope.progress``): one per finished job and one every 30 s while runs train.
    It counts the runs finished (done or failed) over ``states``; the ETA is elapsed / runs finished in this
    launch × runs left."""
    total = sum(len(s.runs) for s in states)
    bar = Progress(total, total - sum(len(j.runs) for j in jobs), unit="run", desc="sweep", bar=False, stream=log,
                   fraction=0)
    _report(states, bar)
    return bar


def _report(states: list[SweepState], bar: Progress):
    c = {k: sum(s.counts()[k] for s in states) for k in ("done", "failed", "running", "pending")}
    bar.set_postfix_str(f"{c['done']} done, {c['failed']} failed, {c['running']} running, {c['pending']} pending")
    bar.print_line()


def plan(runs: list[RunSpec], jobs: list[Job], state: SweepState) -> str:
    """The dry-run listing: one line per job with its runs."""
    n_ens = sum(j.is_ensemble for j in jobs)
    lines = [f"{len(runs)} runs ({len(runs) - sum(len(j.runs) for j in jobs)} done), {len(jobs)} jobs to train: "
             f"{n_ens} ensembles, {len(jobs) - n_ens} single runs"]
    for job in jobs:
        seeds = [state.runs[n].seed for n in job.runs]
        kind = f"ensemble of {len(job.runs)}, seeds {seeds[0]}-{seeds[-1]}" if job.is_ensemble else f"seed {seeds[0]}"
        members = job.config["members"]
        extra = f", members {json.dumps(members)}" if members else ""
        lines.append(f"  {job.name}  ({kind}{extra})")
    return "\n".join(lines)
