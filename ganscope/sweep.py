"""Sweeps: a grid (and random search) over config keys × seeds, run on a process pool, SLURM or Ray.

``ganscope sweep SPEC.yaml --out DIR [--executor local|submitit|ray] [--workers N] [--dry-run]`` and
``ganscope sweep --aggregate DIR``. The spec format, grouping rule and resume semantics are in docs/sweeps.md.

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
"""
from __future__ import annotations

import copy
import csv
import functools
import hashlib
import io
import itertools
import json
import math
import os
import random as _random
import re
import sys
import time
from collections import deque
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ganscope import rundir
from ganscope.config import MEMBER_KEYS, flatten, load_yaml, merge, nest, resolve, to_dict
from ganscope.errors import UsageError
from ganscope.io import json_safe, read_jsonl, write_json, write_text

SPEC_KEYS = ("base", "set", "grid", "random", "seeds", "success", "ensemble", "submitit", "ray")
RESERVED = {"seed": "seeds are given by the top-level `seeds`",
            "ensemble": "the sweep forms ensembles itself; use the top-level `ensemble: true|false|N`",
            "members": "the sweep forms ensembles itself; use the top-level `ensemble: true|false|N`"}
DISTRIBUTIONS = ("uniform", "loguniform", "int", "choice")
EXECUTORS = ("local", "submitit", "ray")


# ---- the spec ------------------------------------------------------------------------------------------
@dataclass
class Spec:
    """A parsed, validated sweep spec (see docs/sweeps.md)."""

    base: dict = field(default_factory=dict)
    base_file: str | None = None
    set: dict = field(default_factory=dict)
    grid: dict = field(default_factory=dict)
    random: dict | None = None
    seeds: list = field(default_factory=lambda: [0])
    success: dict | None = None
    ensemble: int = 0  # most members per ensemble; 0: no limit, 1: no grouping
    submitit: dict = field(default_factory=dict)
    ray: dict = field(default_factory=dict)
    raw: dict = field(default_factory=dict)

    @property
    def keys(self) -> list[str]:
        """The keys that vary between configurations (table columns)."""
        return list(self.grid) + list((self.random or {}).get("params", {}))


def load_spec(path) -> Spec:
    return parse_spec(load_yaml(path, "spec"), Path(path).parent)


def parse_spec(data, root=".") -> Spec:
    """Validate a spec mapping; ``base`` is looked up beside the spec (``root``), then in the cwd, then shipped."""
    if not isinstance(data, dict):
        raise UsageError(f"spec: expected a mapping of {', '.join(SPEC_KEYS)}, got {type(data).__name__}")
    unknown = [k for k in data if k not in SPEC_KEYS]
    if unknown:
        raise UsageError(f"spec: unknown key {unknown[0]!r}; allowed: {', '.join(SPEC_KEYS)}")
    spec = Spec(raw=json_safe(data))
    if data.get("base") is not None:
        spec.base_file = str(_find_base(data["base"], Path(root)))
        spec.base = load_yaml(spec.base_file)
    spec.set = _flat_mapping(data.get("set") or {}, "set")
    spec.grid = _parse_grid(data.get("grid") or {}, spec.set)
    spec.random = _parse_random(data["random"], spec) if data.get("random") is not None else None
    spec.seeds = _parse_seeds(data.get("seeds"), spec.base.get("seed", 0))
    spec.success = _parse_success(data["success"]) if data.get("success") is not None else None
    spec.ensemble = _parse_ensemble(data.get("ensemble", True))
    for name in ("submitit", "ray"):
        setattr(spec, name, _mapping(data.get(name) or {}, name))
    return spec


def _find_base(name, root: Path) -> Path:
    from ganscope.presets import CONFIG_DIR

    if not isinstance(name, str) or not name:
        raise UsageError(f"base: expected a config file name, got {name!r}")
    shipped = CONFIG_DIR / (name if name.endswith(".yaml") else f"{name}.yaml")
    for path in (root / name, Path(name), shipped):
        if path.is_file():
            return path.resolve()
    raise UsageError(f"base: no config file {name!r} beside the spec, in the working directory or shipped")


def _mapping(value, where) -> dict:
    if not isinstance(value, dict):
        raise UsageError(f"{where}: expected a mapping, got {value!r}")
    return value


def _flat_mapping(value, where) -> dict:
    """A mapping of dotted keys (nested mappings are flattened); reserved keys are refused."""
    out = flatten(_mapping(value, where))
    for key in out:
        if key.split(".")[0] in RESERVED:
            raise UsageError(f"{where}.{key}: {RESERVED[key.split('.')[0]]}")
    return out


def _parse_grid(value, fixed) -> dict:
    grid = _flat_mapping(value, "grid")
    for key, values in grid.items():
        if not isinstance(values, list) or not values:
            raise UsageError(f"grid.{key}: expected a non-empty list of values, got {values!r}")
        if len({json.dumps(v, sort_keys=True) for v in values}) != len(values):
            raise UsageError(f"grid.{key}: duplicate values in {values!r}")
        if key in fixed:
            raise UsageError(f"grid.{key}: also given in set; give it in one place")
    return grid


def _parse_random(value, spec) -> dict:
    value = _mapping(value, "random")
    extra = sorted(set(value) - {"n", "seed", "params"})
    if extra:
        raise UsageError(f"random.{extra[0]}: unknown key; allowed: n, seed, params")
    n, seed = value.get("n"), value.get("seed", 0)
    if not _is_int(n) or n < 1:
        raise UsageError(f"random.n: expected an integer >= 1 (draws per grid point), got {n!r}")
    if not _is_int(seed):
        raise UsageError(f"random.seed: expected an integer, got {seed!r}")
    params = dict(_mapping(value.get("params") or {}, "random.params"))  # dotted keys: a value is a distribution
    _flat_mapping({k: None for k in params}, "random.params")  # refuses the reserved keys
    if not params:
        raise UsageError("random.params: expected a mapping of keys to distributions, e.g. {optim.d.lr: "
                         "{loguniform: [1e-5, 1e-3]}}")
    for key, dist in params.items():
        if key in spec.set or key in spec.grid:
            raise UsageError(f"random.params.{key}: also given in set or grid; give it in one place")
        params[key] = _distribution(key, dist)
    return {"n": n, "seed": seed, "params": params}


def _distribution(key, dist) -> dict:
    where = f"random.params.{key}"
    if not isinstance(dist, dict) or len(dist) != 1 or next(iter(dist)) not in DISTRIBUTIONS:
        raise UsageError(f"{where}: expected one of {{{': [...]}, {'.join(DISTRIBUTIONS)}: [...]}}, got {dist!r}")
    kind, args = next(iter(dist.items()))
    if kind == "choice":
        if not isinstance(args, list) or not args:
            raise UsageError(f"{where}.choice: expected a non-empty list of values, got {args!r}")
        return {kind: args}
    number = _is_int if kind == "int" else _is_number
    if not (isinstance(args, list) and len(args) == 2 and all(number(_yaml_float(a)) for a in args)):
        raise UsageError(f"{where}.{kind}: expected [low, high], got {args!r}")
    low, high = (_yaml_float(a) for a in args)
    if low > high or (kind == "loguniform" and low <= 0):
        raise UsageError(f"{where}.{kind}: expected low <= high{' and low > 0' if kind == 'loguniform' else ''}, "
                         f"got {args!r}")
    return {kind: [low, high]}


def _parse_seeds(value, default) -> list[int]:
    if value is None:
        return [default]
    if isinstance(value, dict):
        extra = sorted(set(value) - {"count", "start"})
        count, start = value.get("count"), value.get("start", 0)
        if extra or not _is_int(count) or count < 1 or not _is_int(start) or start < 0:
            raise UsageError(f"seeds: expected a list of seeds or {{count: N >= 1, start: S >= 0}}, got {value!r}")
        return list(range(start, start + count))
    if not isinstance(value, list) or not value or not all(_is_int(s) and s >= 0 for s in value):
        raise UsageError(f"seeds: expected a non-empty list of integers >= 0 or {{count: N, start: S}}, got {value!r}")
    if len(set(value)) != len(value):
        raise UsageError(f"seeds: duplicate seeds in {value!r}")
    return list(value)


def _parse_success(value) -> dict:
    value = _mapping(value, "success")
    extra = sorted(set(value) - {"metric", "below", "above", "hold"})
    if extra:
        raise UsageError(f"success.{extra[0]}: unknown key; allowed: metric, below, above, hold")
    if not isinstance(value.get("metric"), str):
        raise UsageError(f"success.metric: expected a metric name (e.g. w1), got {value.get('metric')!r}")
    bounds = [k for k in ("below", "above") if k in value]
    if len(bounds) != 1 or not _is_number(_yaml_float(value[bounds[0]])):
        raise UsageError("success: give exactly one threshold, below: X or above: X (a number)")
    hold = value.get("hold", 1)
    if not _is_int(hold) or hold < 1:
        raise UsageError(f"success.hold: expected an integer >= 1 (logged evaluations), got {hold!r}")
    return {"metric": value["metric"], bounds[0]: float(_yaml_float(value[bounds[0]])), "hold": hold}


def _parse_ensemble(value) -> int:
    if value is True:
        return 0
    if value is False:
        return 1
    if not _is_int(value) or value < 1:
        raise UsageError(f"ensemble: expected true, false or the most members per ensemble (>= 1), got {value!r}")
    return value


def _is_int(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _is_number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _yaml_float(x):
    """YAML 1.1 reads 1e-4 as a string; take it as the number meant."""
    try:
        return float(x) if isinstance(x, str) else x
    except ValueError:
        return x


# ---- expansion -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RunSpec:
    """One logical run: its name (``runs/NAME``), configuration id (all but the seed), varying keys, seed, config."""

    name: str
    config_id: str
    overrides: dict
    seed: int
    config: dict


def expand(spec: Spec) -> list[RunSpec]:
    """grid points × random draws × seeds, each validated through ``config.resolve``; identical runs once."""
    runs, seen = [], set()
    for point in _points(spec):
        for seed in spec.seeds:
            run = _make_run(spec, point, seed)
            if run.name not in seen:
                seen.add(run.name)
                runs.append(run)
    return runs


def _points(spec: Spec) -> list[dict]:
    grid = [dict(zip(spec.grid, combo)) for combo in itertools.product(*spec.grid.values())]
    if spec.random is None:
        return grid
    rng = _random.Random(spec.random["seed"])
    draws = [{k: _draw(rng, d) for k, d in spec.random["params"].items()} for _ in range(spec.random["n"])]
    return [{**g, **d} for g in grid for d in draws]


def _draw(rng: _random.Random, dist: dict):
    kind, args = next(iter(dist.items()))
    if kind == "choice":
        return rng.choice(args)
    if kind == "int":
        return rng.randint(int(args[0]), int(args[1]))
    if kind == "loguniform":
        return math.exp(rng.uniform(math.log(args[0]), math.log(args[1])))
    return rng.uniform(args[0], args[1])


def _make_run(spec: Spec, point: dict, seed: int) -> RunSpec:
    values = merge(spec.base, _nest({**spec.set, **point}))
    values["seed"] = seed
    label = _slug(point)
    try:
        cfg = resolve(values)
    except UsageError as err:
        raise UsageError(f"run {label or 'base'} seed {seed}: {err}") from None
    if cfg.ensemble != 1 or cfg.members:
        raise UsageError("ensemble: the base config sets an ensemble; a sweep forms ensembles itself (use 1)")
    without_seed = {k: v for k, v in values.items() if k != "seed"}
    config_id = f"{label or 'config'}-{_hash(without_seed)}"
    name = f"{label + '_' if label else ''}s{seed}-{_hash(values)}"
    return RunSpec(name, config_id, json_safe(point), seed, to_dict(cfg))


def _nest(flat: dict) -> dict:
    return functools.reduce(merge, (nest(k, v) for k, v in flat.items()), {})


def _slug(point: dict) -> str:
    parts = [f"{k}-{_fmt(v)}" for k, v in point.items()]
    return re.sub(r"[^A-Za-z0-9._+-]+", "_", "_".join(parts))[:80]


def _fmt(v) -> str:
    return f"{v:.3g}" if isinstance(v, float) else str(v)


def _hash(obj) -> str:
    return hashlib.sha1(json.dumps(json_safe(obj), sort_keys=True).encode()).hexdigest()[:8]


# ---- grouping into ensembles ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Job:
    """What one worker trains: ``name`` is its directory under the sweep dir (``runs/X`` or ``ensembles/Y``)."""

    name: str
    config: dict
    runs: tuple  # the logical runs' names, in member order

    @property
    def is_ensemble(self) -> bool:
        return self.name.startswith("ensembles/")


def group(runs: list[RunSpec], max_size: int = 0) -> list[Job]:
    """Jobs for ``runs``: 2-D runs equal but for the seed and per-member keys share an ensemble when their
    seeds are consecutive (member i has seed s0 + i); at most ``max_size`` members (0: no limit, 1: none)."""
    buckets: dict[str, list[RunSpec]] = {}
    for run in runs:
        key = _group_key(run.config) if max_size != 1 and _groupable(run.config) else run.name
        buckets.setdefault(key, []).append(run)
    jobs = []
    for members in buckets.values():
        for chain in _chains(members):
            size = max_size or len(chain)
            jobs += [_job(chain[i:i + size]) for i in range(0, len(chain), size)]
    return jobs


def _groupable(cfg: dict) -> bool:
    from ganscope.data import task_kind

    return task_kind(cfg["data"]["name"]) == "toy2d"


def member_keys(cfg: dict) -> list[str]:
    """The per-member keys that may differ inside an ensemble of this config. noise.sigma only under a
    constant σ > 0: a scheduled σ is scaled as a whole, and a single run with σ = 0 draws no noise."""
    noise = cfg["noise"]
    sigma_ok = noise["schedule"] == "constant" and noise["sigma"] > 0
    return [k for k in MEMBER_KEYS if k != "noise.sigma" or sigma_ok]


def _group_key(cfg: dict) -> str:
    cfg = copy.deepcopy(cfg)
    cfg.pop("seed")
    for key in member_keys(cfg):
        _put(cfg, key, None)
    return json.dumps(cfg, sort_keys=True)


def _chains(runs: list[RunSpec]) -> list[list[RunSpec]]:
    """Split runs into chains of consecutive seeds s0, s0+1, ...; the k-th run with seed s extends the chain
    of the k-th run with seed s-1 (so a full grid over a per-member key gives one chain per value)."""
    by_seed: dict[int, list[RunSpec]] = {}
    for run in runs:
        by_seed.setdefault(run.seed, []).append(run)
    chains, ends = [], {}
    for seed in sorted(by_seed):
        previous, ends[seed] = ends.get(seed - 1, []), []
        for k, run in enumerate(by_seed[seed]):
            chain = previous[k] if k < len(previous) else None
            if chain is None:
                chain = []
                chains.append(chain)
            chain.append(run)
            ends[seed].append(chain)
    return chains


def _job(part: list[RunSpec]) -> Job:
    if len(part) == 1:
        return single_job(part[0])
    cfg = copy.deepcopy(part[0].config)
    cfg.update(ensemble=len(part), seed=part[0].seed, members={})
    for key in member_keys(cfg):
        values = [_get(run.config, key) for run in part]
        if len(set(values)) > 1:
            cfg["members"][key] = values
            _put(cfg, key, max(values))  # the base value: per-member lr and σ are scalings of it
    name = f"ensembles/{_slug(_common(part))[:60] or 'ensemble'}_s{part[0].seed}-{part[-1].seed}-" \
           f"{_hash([r.name for r in part])}"
    return Job(name, to_dict(resolve(cfg)), tuple(r.name for r in part))


def single_job(run: RunSpec) -> Job:
    return Job(f"runs/{run.name}", run.config, (run.name,))


def _common(part: list[RunSpec]) -> dict:
    first = part[0].overrides
    return {k: v for k, v in first.items() if all(r.overrides.get(k) == v for r in part)}


def _get(cfg: dict, dotted: str):
    for part in dotted.split("."):
        cfg = cfg[part]
    return cfg


def _put(cfg: dict, dotted: str, value):
    *path, last = dotted.split(".")
    for part in path:
        cfg = cfg[part]
    cfg[last] = value


# ---- the worker ----------------------------------------------------------------------------------------
def run_job(job: Job, root, threads: int | None = None) -> dict:
    """Train ``job`` in-process (``train.resume``: from its checkpoint if there is one), its output in
    ``train.log``; split an ensemble's results into its runs. Returns ``{"rc", "error", "wall_s"}``."""
    import torch

    from ganscope import train

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
            rc = train.resume(out)
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


# ---- the state file ------------------------------------------------------------------------------------
class SweepState:
    """``DIR/sweep.json``: every run's overrides, status (done/failed/running/pending), error, wall time."""

    def __init__(self, out, spec: Spec, runs: list[RunSpec]):
        self.out, self.spec, self.runs = Path(out), spec, {r.name: r for r in runs}
        previous = _read_state(self.out).get("runs", []) if (self.out / "sweep.json").exists() else []
        old = {r["name"]: r for r in previous}
        self.records = {r.name: self._record(r, old.get(r.name, {})) for r in runs}

    def _record(self, run: RunSpec, old: dict) -> dict:
        status = "done" if self.done(run.name) else ("failed" if old.get("status") == "failed" else "pending")
        return {"name": run.name, "config": run.config_id, "overrides": run.overrides, "seed": run.seed,
                "status": status, "error": old.get("error") if status != "done" else None,
                "wall_s": old.get("wall_s"), "job": old.get("job"), "attempts": old.get("attempts", 0)}

    def done(self, name: str) -> bool:
        return rundir.is_done(self.out / "runs" / name)

    def counts(self) -> dict:
        out = dict.fromkeys(("done", "running", "failed", "pending"), 0)
        for rec in self.records.values():
            out[rec["status"]] += 1
        return out

    def save(self):
        write_json(self.out / "sweep.json", json_safe({
            "format": "ganscope-sweep-1", "spec": self.spec.raw, "base_file": self.spec.base_file,
            "keys": self.spec.keys, "success": self.spec.success, "counts": self.counts(),
            "runs": list(self.records.values())}))

    def started(self, job: Job):
        for name in job.runs:
            self.records[name].update(status="running", error=None, job=job.name)
            self.records[name]["attempts"] += 1
        self.save()

    def finished(self, job: Job, outcome: dict) -> list[Job]:
        """Record a job's outcome; a diverged ensemble comes back as single-run jobs to retry."""
        from ganscope.train import EXIT_DIVERGED

        retry = job.is_ensemble and outcome.get("rc") == EXIT_DIVERGED
        for name in job.runs:
            ok = outcome.get("rc") == 0 and self.done(name)
            error = None if ok else (outcome.get("error") or f"exit {outcome.get('rc')}")
            status = "done" if ok else ("pending" if retry else "failed")
            self.records[name].update(status=status, error=error, wall_s=outcome.get("wall_s"))
        self.save()
        return [single_job(self.runs[name]) for name in job.runs] if retry else []

    def interrupted(self, jobs):
        for job in jobs:
            for name in job.runs:
                self.records[name].update(status="pending", error="interrupted")
        self.save()


def _read_state(out: Path) -> dict:
    path = Path(out) / "sweep.json"
    if not path.is_file():
        raise UsageError(f"sweep: {out} is not a sweep directory (no sweep.json)")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError:
        raise UsageError(f"sweep: {path} is not valid JSON") from None


# ---- the driver ----------------------------------------------------------------------------------------
def run_sweep(spec, out, executor="local", workers=None, dry_run=False, log=None) -> SweepState:
    """Run (or with ``dry_run`` list) every unfinished run of ``spec`` (a Spec or a YAML path) into ``out``;
    then write the results tables. Returns the state (``counts()`` says how many failed)."""
    log = log or sys.stderr
    spec = spec if isinstance(spec, Spec) else load_spec(spec)
    if executor not in EXECUTORS:
        raise UsageError(f"--executor: {executor!r} is not allowed; allowed: {', '.join(EXECUTORS)}")
    if workers is not None and (not _is_int(workers) or workers < 1):
        raise UsageError(f"--workers: must be an integer >= 1, got {workers!r}")
    runs = expand(spec)
    state = SweepState(out, spec, runs)
    jobs = group([r for r in runs if not state.done(r.name)], spec.ensemble)
    if dry_run:
        print(plan(runs, jobs, state), file=sys.stdout)
        return state
    limit = workers or ((os.cpu_count() or 1) if executor == "local" else len(runs))
    pool = make_pool(executor, state.out, spec, limit) if jobs else None  # a missing executor: nothing written
    state.out.mkdir(parents=True, exist_ok=True)
    state.save()
    if pool is not None:
        _drive(state, jobs, pool, limit, log)
    else:
        print(f"sweep: all {len(runs)} runs done", file=log)
    aggregate(state.out)
    return state


def _drive(state: SweepState, jobs: list[Job], pool, limit: int, log):
    queue, running, clock = deque(jobs), {}, _Clock(state)
    _report(state, clock, log)
    try:
        while queue or running:
            while queue and len(running) < limit:
                job = queue.popleft()
                state.started(job)
                try:
                    running[pool.submit(job, state.out)] = job
                except Exception as err:  # e.g. sbatch refused the job: record it, go on with the others
                    state.finished(job, {"rc": 1, "error": f"submission failed: {one_line(err)}"})
                    print(f"sweep: {job.name} could not be submitted: {one_line(err)}", file=log)
            finished = [h for h in running if h.done()]
            if not finished:
                time.sleep(pool.poll)
            for handle in finished:
                job = running.pop(handle)
                outcome = _outcome(handle)
                retry = state.finished(job, outcome)
                queue.extend(retry)
                if outcome.get("error"):
                    then = "; retrying its runs alone" if retry else ""
                    print(f"sweep: {job.name} failed: {outcome['error']}{then}", file=log)
                _report(state, clock, log)
    except BaseException:
        state.interrupted(running.values())
        raise
    finally:
        pool.close()


def _outcome(handle) -> dict:
    try:
        return handle.result()
    except Exception as err:  # the worker itself died (killed, out of memory, cluster failure)
        return {"rc": 1, "error": one_line(err), "wall_s": None}


class _Clock:
    """Time left ≈ elapsed / runs finished in this launch × runs left."""

    def __init__(self, state: SweepState):
        self.start, self.left0 = time.monotonic(), sum(c for k, c in state.counts().items() if k != "done")

    def line(self, counts: dict) -> str:
        elapsed, left = time.monotonic() - self.start, counts["running"] + counts["pending"]
        finished = self.left0 - left
        eta = f"~{_hms(elapsed / finished * left)} left" if finished > 0 and left else "time left unknown"
        return f"{_hms(elapsed)} elapsed, {eta if left else 'finished'}"


def _report(state: SweepState, clock: _Clock, log):
    c = state.counts()
    total = sum(c.values())
    print(f"sweep: {c['done']}/{total} done, {c['running']} running, {c['failed']} failed, {c['pending']} pending; "
          f"{clock.line(c)}", file=log, flush=True)


def _hms(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


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


# ---- aggregation ---------------------------------------------------------------------------------------
def mean_ci(values) -> tuple[float, float]:
    """Mean and half-width of the Student-t 95 % confidence interval (NaN with fewer than 2 values)."""
    import numpy as np
    from scipy import stats

    x = np.asarray([np.nan if v is None else float(v) for v in values], dtype=float)
    if x.size == 0:
        return math.nan, math.nan
    if x.size < 2:
        return float(x[0]), math.nan
    half = stats.t.ppf(0.975, x.size - 1) * x.std(ddof=1) / math.sqrt(x.size)
    return float(x.mean()), float(half)


def succeeded(run_dir, final: dict, success: dict) -> bool:
    """The metric beyond the threshold in ``final`` and in each of the last ``hold`` logged evaluations."""
    metric = success["metric"]
    if metric not in final:
        raise UsageError(f"success.metric: {metric!r} is not a final metric of {run_dir}; "
                         f"allowed: {', '.join(final)}")
    rows = read_jsonl(Path(run_dir) / "metrics.jsonl")
    history = [r[metric] for r in rows if metric in r][-success["hold"]:]
    values = history + [final[metric]]
    if "below" in success:
        ok = [v is not None and v < success["below"] for v in values]
    else:
        ok = [v is not None and v > success["above"] for v in values]
    return len(history) == success["hold"] and all(ok)


def aggregate(out) -> list[dict]:
    """One row per configuration: runs, done, failed, success rate, and ``M_mean``/``M_ci95`` for every final
    numeric metric M over the done seeds; written to ``results.csv`` and ``results.md``."""
    out = Path(out)
    state = _read_state(out)
    configs: dict[str, list[dict]] = {}
    for rec in state["runs"]:
        configs.setdefault(rec["config"], []).append(rec)
    rows = [_row(out, cid, recs, state.get("keys", []), state.get("success")) for cid, recs in configs.items()]
    _write_csv(out / "results.csv", rows)
    write_text(out / "results.md", markdown(rows, state.get("keys", []), bool(state.get("success"))))
    return rows


def _row(out: Path, config_id: str, recs: list[dict], keys: list[str], success) -> dict:
    row = {"config": config_id, **{k: recs[0]["overrides"].get(k) for k in keys}, "runs": len(recs)}
    done = [r for r in recs if (out / "runs" / r["name"] / "summary.json").is_file()]
    finals = [json.loads((out / "runs" / r["name"] / "summary.json").read_text())["final"] for r in done]
    failed = sum(r["status"] == "failed" for r in recs if r not in done)
    row.update(done=len(done), failed=failed)
    if success:
        wins = sum(succeeded(out / "runs" / r["name"], f, success) for r, f in zip(done, finals))
        row["success"] = wins / (len(done) + failed) if done or failed else math.nan
    for metric in _numeric_keys(finals):
        row[f"{metric}_mean"], row[f"{metric}_ci95"] = mean_ci([f.get(metric) for f in finals])
    return row


def _numeric_keys(finals: list[dict]) -> list[str]:
    keys = []
    for final in finals:
        keys += [k for k, v in final.items() if k not in keys and (v is None or isinstance(v, (int, float)))]
    return [k for k in keys if any(isinstance(f.get(k), (int, float)) for f in finals)]


def _write_csv(path: Path, rows: list[dict]):
    columns = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, columns, restval="", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if isinstance(v, float) and math.isnan(v) else v for k, v in row.items()})
    write_text(path, buf.getvalue())


def markdown(rows: list[dict], keys: list[str], with_success: bool) -> str:
    """The results table: one row per configuration, metrics as mean ± 95 % CI."""
    metrics = []
    for row in rows:
        metrics += [k[:-5] for k in row if k.endswith("_mean") and k[:-5] not in metrics]
    head = ["config", *keys, "done/runs", "failed", *(["success"] if with_success else []), *metrics]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        cells = [row["config"], *(_fmt(row[k]) for k in keys), f"{row['done']}/{row['runs']}", str(row["failed"])]
        cells += [_pct(row["success"])] if with_success else []
        cells += [_pm(row.get(f"{m}_mean"), row.get(f"{m}_ci95")) for m in metrics]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n\nmetrics: mean ± half-width of the Student-t 95 % confidence interval over seeds\n"


def _pct(x) -> str:
    return "n/a" if x is None or math.isnan(x) else f"{100 * x:.0f} %"


def _pm(mean, half) -> str:
    if mean is None or math.isnan(mean):
        return "n/a"
    return f"{mean:.4g}" if half is None or math.isnan(half) else f"{mean:.4g} ± {half:.2g}"


# ---- command line --------------------------------------------------------------------------------------
def register(subparsers):
    """Add ``ganscope sweep SPEC --out DIR [--executor E] [--workers N] [--dry-run]`` / ``--aggregate DIR``."""
    p = subparsers.add_parser(
        "sweep", help="grid / random search over config keys × seeds (process pool, SLURM, Ray)",
        description="Train every run of a sweep spec (2-D runs that differ only by seed or a per-member "
                    "hyperparameter share one batched ensemble), resumably, and tabulate the results "
                    "(mean and 95 %% CI over seeds, success rate). See docs/sweeps.md.")
    p.add_argument("spec", nargs="?", metavar="SPEC.yaml", help="the sweep spec")
    p.add_argument("--out", metavar="DIR", help="sweep directory (re-run the same command to resume)")
    p.add_argument("--executor", default="local", help="local (process pool, default), submitit (SLURM) or ray")
    p.add_argument("--workers", type=int, help="runs at once (default: CPU cores for local, all for the others)")
    p.add_argument("--dry-run", action="store_true", help="list the runs and ensembles without training")
    p.add_argument("--aggregate", metavar="DIR", help="only rebuild results.csv and results.md of a sweep")
    p.set_defaults(run=_run_cli)
    return p


def _run_cli(args) -> int:
    if args.aggregate:
        if args.spec or args.out or args.dry_run:
            raise UsageError("--aggregate: takes only the sweep directory")
        rows = aggregate(args.aggregate)
        print(markdown(rows, _read_state(Path(args.aggregate)).get("keys", []), "success" in (rows or [{}])[0]))
        return 0
    if not args.spec:
        raise UsageError("SPEC.yaml: give a sweep spec (see docs/sweeps.md)")
    if not args.out:
        raise UsageError("--out: give the sweep directory")
    rundir.check_out(args.out)
    state = run_sweep(args.spec, args.out, args.executor, args.workers, args.dry_run)
    if args.dry_run:
        return 0
    print((Path(args.out) / "results.md").read_text())
    failed = state.counts()["failed"]
    if failed:
        print(f"sweep: {failed} runs failed; see {Path(args.out) / 'sweep.json'} (re-run the command to retry)",
              file=sys.stderr)
    return 1 if failed else 0
