"""The sweep spec: ``Spec``, reading it from YAML (``load_spec``) and validating it (``parse_spec``).

The format (``base``, ``set``, ``grid``, ``random``, ``seeds``, ``success``, ``ensemble``, ``submitit``, ``ray``)
is in docs/sweeps.md. Every bad field raises a UsageError naming it.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from ganscope.config import flatten, load_yaml
from ganscope.errors import UsageError
from ganscope.io import json_safe

SPEC_KEYS = ("base", "set", "grid", "random", "seeds", "success", "ensemble", "submitit", "ray")
RESERVED = {"seed": "seeds are given by the top-level `seeds`",
            "ensemble": "the sweep forms ensembles itself; use the top-level `ensemble: true|false|N`",
            "members": "the sweep forms ensembles itself; use the top-level `ensemble: true|false|N`"}
DISTRIBUTIONS = ("uniform", "loguniform", "int", "choice")


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
    """A spec file, or the name of a shipped one (``toy2d_methods``)."""
    from ganscope.shipped import find_sweep

    path = find_sweep(path)
    return parse_spec(load_yaml(path, "spec"), path.parent)


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
    from ganscope.shipped import configs, find_config

    if not isinstance(name, str) or not name:
        raise UsageError(f"base: expected a config file name, got {name!r}")
    if (root / name).is_file():
        return (root / name).resolve()
    try:
        return find_config(name).resolve()  # in the working directory, else shipped
    except UsageError:
        raise UsageError(f"base: no config file {name!r} beside the spec, in the working directory or shipped "
                         f"({', '.join(p.stem for p in configs())})") from None


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


def _parse_success(value) -> dict | list[dict]:
    """A success rule: one condition ``{metric, below|above, hold}`` or a list of them (all must hold)."""
    if isinstance(value, list):
        if not value:
            raise UsageError("success: expected a condition or a non-empty list of conditions")
        return [_parse_condition(v, f"success[{i}]") for i, v in enumerate(value)]
    return _parse_condition(value, "success")


def _parse_condition(value, where: str) -> dict:
    value = _mapping(value, where)
    extra = sorted(set(value) - {"metric", "below", "above", "hold"})
    if extra:
        raise UsageError(f"{where}.{extra[0]}: unknown key; allowed: metric, below, above, hold")
    if not isinstance(value.get("metric"), str):
        raise UsageError(f"{where}.metric: expected a metric name (e.g. w1), got {value.get('metric')!r}")
    bounds = [k for k in ("below", "above") if k in value]
    if len(bounds) != 1 or not _is_number(_yaml_float(value[bounds[0]])):
        raise UsageError(f"{where}: give exactly one threshold, below: X or above: X (a number)")
    hold = value.get("hold", 1)
    if not _is_int(hold) or hold < 1:
        raise UsageError(f"{where}.hold: expected an integer >= 1 (logged evaluations), got {hold!r}")
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
