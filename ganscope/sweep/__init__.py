"""Sweeps: a grid (and random search) over config keys × seeds, run on a process pool, SLURM or Ray.

``ganscope sweep SPEC.yaml --out DIR [--executor local|submitit|ray] [--workers N] [--dry-run]`` and
``ganscope sweep --aggregate DIR`` (``ganscope.cli.sweep``). The spec format, grouping rule and resume semantics
are in docs/sweeps.md.

* A **run** is one logical training run: base config + ``set`` + one grid point + one random draw + one seed.
  Its directory ``DIR/runs/NAME`` is named by a readable slug and a hash of its settings.
* A **job** is what a worker trains: one run, or an **ensemble** (``DIR/ensembles/NAME``) of 2-D runs that
  differ only by seed and ``config.MEMBER_KEYS``, trained as one batched model. An ensemble's results are
  split back into its runs' directories; a diverged ensemble is retried as single runs.
* ``DIR/sweep.json`` records every run (overrides, status, error, wall time); it is rewritten atomically
  after each job. A run is done when ``DIR/runs/NAME/summary.json`` exists: re-launching skips done runs,
  retries failed ones and resumes killed ones from their checkpoint.
* ``aggregate(DIR)`` writes ``results.csv`` and ``results.md``: per configuration, mean and Student-t 95 %
  confidence interval over seeds of every final numeric metric, and the success rate if the spec defines one.

Modules, each importing only those above it: ``spec`` (Spec, load_spec, parse_spec), ``jobs`` (RunSpec, expand,
Job, group), ``gpus`` (visible_gpus, gpu_slots, local_slots, torchrun_command, torchrun_env: which GPUs a
run gets), ``executors`` (run_job, run_rank, split_ensemble, cpu_context, LocalPool, SubmititPool, RayPool,
make_pool), ``state``
(SweepState, read_state), ``results`` (mean_ci, wilson_ci, succeeded, aggregate, markdown), ``run`` (run_sweep,
run_sweeps: several sweeps on one pool, plan).
Every name is re-exported here: ``from ganscope.sweep import X`` is the public way in.
"""
from __future__ import annotations

import importlib

from ganscope.sweep.executors import (EXECUTORS, LocalPool, RayPool, SubmititPool, cpu_context, make_pool, one_line,
                                      run_job, run_rank, split_ensemble)
from ganscope.sweep.gpus import gpu_slots, local_slots, torchrun_command, torchrun_env, visible_gpus
from ganscope.sweep.jobs import Job, RunSpec, expand, group, member_keys, single_job
from ganscope.sweep.results import aggregate, markdown, mean_ci, succeeded, wilson_ci
from ganscope.sweep.run import plan, run_sweep, run_sweeps
from ganscope.sweep.spec import DISTRIBUTIONS, RESERVED, SPEC_KEYS, Spec, load_spec, parse_spec
from ganscope.sweep.state import SweepState, read_state

__all__ = ["DISTRIBUTIONS", "EXECUTORS", "Job", "LocalPool", "RESERVED", "RayPool", "RunSpec", "SPEC_KEYS", "Spec",
           "SubmititPool", "SweepState", "aggregate", "cpu_context", "expand", "gpu_slots", "group", "load_spec", "local_slots",
           "make_pool", "markdown", "mean_ci", "member_keys", "one_line", "parse_spec", "plan", "read_state",
           "run_job", "run_rank", "run_sweep", "run_sweeps", "single_job", "split_ensemble", "succeeded",
           "torchrun_command", "torchrun_env", "visible_gpus", "wilson_ci"]


def __getattr__(name):
    """``register`` (the ``sweep`` command) moved to ``ganscope.cli.sweep``: a deprecated alias, removed in 0.3."""
    if name == "register":
        return importlib.import_module("ganscope.cli.sweep").register
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
