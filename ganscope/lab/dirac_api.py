"""Pane 1's numbers: a query (the page's URL state, ``?loss=minimax&reg=r1&gamma=0.3&scheme=altgd&h=0.1``) →
the Dirac-GAN analysis of ``ganscope.analysis.dirac`` and what the page draws.

``analysis`` is the object ``ganscope dirac --json`` prints for the same settings (``dirac.analyse``: one
implementation of the maths, none in JavaScript); beside it the trajectory, the vector field on a grid, and the
(h, γ) convergence map ρ(F_h') with its step bound (``dirac.radius_map``, ``DiracGAN.max_step``: closed form
h* = min −2 Re λ/|λ|² for SimGD, a scan for AltGD; Mescheder et al. 2018 §2, docs/references.md §M4).
Bad input raises ``UsageError`` naming the query field (the app answers 400 with the message).
"""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from ganscope.analysis import dirac
from ganscope.errors import UsageError

# Bounds: the CLI's (cli/dirac.py) where the page needs them, tighter where the page must stay fast.
H_MAX = 10.0
PARAM_MAX = 1000.0
START_MAX = 1000.0
STEPS_MAX = 5000  # the page animates at most this many iterates
SUB_STEPS_MAX = 100
FIELD_POINTS = 17  # the vector field's grid is FIELD_POINTS² arrows
MAP_HS = np.geomspace(1e-3, H_MAX, 61)  # the convergence map's h axis (log)
MAP_VALUES = 21  # rows of the convergence map (see convergence_map for their range)
KEYS = ("loss", "reg", *dirac.PARAMS, "scheme", "order", "h", "n_g", "n_d", "steps", "theta", "psi")
DEFAULTS = {"loss": "minimax", "reg": "none", "scheme": "simgd", "h": 0.1, "steps": 1000, "theta": 1.0, "psi": 1.0}


def _number(query: dict, key: str, low: float, high: float, *, low_open=False, integer=False):
    """The query's ``key`` as a finite number in [low, high] ((low, high] with ``low_open``); None if absent."""
    raw = query.get(key)
    if raw is None or raw == "":
        return None
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise UsageError(f"{key}: expected a number, got {raw!r}") from None
    inside = (low < value if low_open else low <= value) and value <= high
    if not math.isfinite(value) or not inside or (integer and not value.is_integer()):
        kind = "an integer" if integer else "a finite number"
        raise UsageError(f"{key}: must be {kind} in {'(' if low_open else '['}{low:g}, {high:g}], got {raw!r}")
    return int(value) if integer else value


def parse(query: dict) -> dict:
    """The settings of a query (strings, as in a URL), checked; the keys of ``KEYS`` with defaults filled in."""
    unknown = sorted(set(query) - set(KEYS))
    if unknown:
        raise UsageError(f"{unknown[0]}: unknown parameter; allowed: {', '.join(KEYS)}")
    s = {k: query.get(k) or DEFAULTS.get(k) for k in ("loss", "reg", "scheme", "order")}
    h = _number(query, "h", 0.0, H_MAX, low_open=True)
    s["h"] = DEFAULTS["h"] if h is None else h
    s["steps"] = _number(query, "steps", 1, STEPS_MAX, integer=True) or DEFAULTS["steps"]
    for key in ("n_g", "n_d"):
        s[key] = _number(query, key, 1, SUB_STEPS_MAX, integer=True)
    for key in ("theta", "psi"):
        value = _number(query, key, -START_MAX, START_MAX)
        s[key] = DEFAULTS[key] if value is None else value
    s["params"] = {k: v for k in dirac.PARAMS if (v := _number(query, k, 0.0, PARAM_MAX)) is not None}
    if s["scheme"] == "simgd":
        if any(s[k] not in (None, 1) for k in ("n_g", "n_d")):
            raise UsageError("n_g/n_d: only the altgd scheme takes sub-step counts")
        if s["order"] is not None:
            raise UsageError("order: only the altgd scheme has an update order")
    s["n_g"], s["n_d"] = s["n_g"] or 1, s["n_d"] or 1
    s["order"] = s["order"] or dirac.ORDER_DEFAULT
    return s


def cli_command(s: dict) -> list[str]:
    """The ``ganscope dirac`` arguments that print the same ``analysis`` (shown in the page, used by the tests)."""
    args = ["--loss", s["loss"], "--reg", s["reg"], "--scheme", s["scheme"], "--h", repr(s["h"]),
            "--steps", str(s["steps"]), "--start", repr(s["theta"]), repr(s["psi"])]
    for k, v in s["params"].items():
        args += [f"--{k}", repr(v)]
    if s["scheme"] == "altgd":
        args += ["--order", s["order"], "--n-g", str(s["n_g"]), "--n-d", str(s["n_d"])]
    return args + ["--json"]


def answer(query: dict) -> dict:
    """Everything pane 1 shows for ``query``: ``analysis`` (= ``ganscope dirac --json``), ``trajectory``,
    ``field``, ``map``, ``clip`` (the band |ψ| ≤ c, or None) and ``command``."""
    s = parse(query)
    game = dirac.DiracGAN(s["loss"], s["reg"], **s["params"])
    start = (s["theta"], s["psi"])
    sub = (s["scheme"], s["n_g"], s["n_d"])
    analysis = dirac.analyse(game, s["scheme"], s["h"], s["n_g"], s["n_d"], s["steps"], start, s["order"])
    traj = game.trajectory(start, s["h"], s["steps"], *sub, order=s["order"])
    return {
        "analysis": analysis,
        "trajectory": np.where(np.isfinite(traj), traj, np.nan).tolist(),
        "field": field_grid(game, max(2.0, 1.25 * max(abs(start[0]), abs(start[1])))),
        "map": convergence_map(game, *sub, s["order"]),
        "clip": float(game.clip) if game.reg == "clip" else None,
        "command": "ganscope dirac " + " ".join(cli_command(s)),
    }


def field_grid(game: dirac.DiracGAN, lim: float) -> dict:
    """The field v(θ, ψ) on a FIELD_POINTS² grid over [−lim, lim]²: rows of [θ, ψ, v₁, v₂]."""
    axis = np.linspace(-lim, lim, FIELD_POINTS)
    theta, psi = np.meshgrid(axis, axis, indexing="xy")
    v1, v2 = game.field(theta, psi)
    rows = np.stack([theta, psi, *np.broadcast_arrays(v1, v2)], -1).reshape(-1, 4)
    return {"lim": lim, "arrows": rows.tolist()}


def convergence_map(game: dirac.DiracGAN, scheme: str, n_g: int, n_d: int, order: str) -> dict | None:
    """ρ(F_h') over (h, value) with value the swept parameter (γ, or σ for instance noise; one row for a method
    without one), and the step bound h*(value); None where the Jacobian is undefined (WGAN-GP, g₀ ≠ 0).

    The rows span [0, top], top = max(1, 2 × the regulariser's default), doubled until it holds the current
    value: the map does not depend on h, the start or the steps, so it is cached and a move of h costs nothing."""
    param = dirac.sweep_param(game)
    current = float(getattr(game, param)) if param else 0.0
    top = max(1.0, 2.0 * dirac.REGULARISERS[game.reg].params[param]) if param else 0.0
    while current > top:
        top *= 2.0
    others = tuple(sorted((k, float(v)) for k, v in game.params.items() if k != param))
    cached = _map(game.loss, game.reg, others, param, top, scheme, n_g, n_d, order)
    return None if cached is None else {**cached, "current": current}


@lru_cache(maxsize=256)
def _map(loss, reg, others, param, top, scheme, n_g, n_d, order):
    game = dirac.DiracGAN(loss, reg, **dict(others))
    values = np.linspace(0.0, top, MAP_VALUES) if param else np.array([0.0])
    radius = dirac.radius_map(game, MAP_HS, values if param else None, scheme, n_g, n_d, order)
    if radius is None:
        return None
    bound = [game.with_params(**({param: float(v)} if param else {})).max_step(scheme, n_g, n_d, order)
             for v in values]
    return {"param": param, "values": values.tolist(), "hs": MAP_HS.tolist(),
            "radius": np.round(np.minimum(radius, 1e6), 6).tolist(),
            "bound": [None if b is None else (b if math.isfinite(b) else "inf") for b in bound]}
