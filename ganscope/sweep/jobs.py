"""From a spec to what workers train: ``expand`` into logical runs (``RunSpec``), ``group`` them into ``Job``s.

A run is base config + ``set`` + one grid point + one random draw + one seed, named by a readable slug and a
hash of its settings (``runs/NAME``). A job is one run, or an ensemble (``ensembles/NAME``) of 2-D runs that
differ only by seed and ``config.MEMBER_KEYS``, trained as one batched model.
"""
from __future__ import annotations

import copy
import functools
import hashlib
import itertools
import json
import math
import random as _random
import re
from dataclasses import dataclass

from ganscope.config import MEMBER_KEYS, merge, nest, resolve, to_dict
from ganscope.errors import UsageError
from ganscope.io import json_safe
from ganscope.sweep.spec import Spec


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
    from ganscope.tasks import task_class

    return task_class(cfg["data"]["name"]).groupable_in_sweeps


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
