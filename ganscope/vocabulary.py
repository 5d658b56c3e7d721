"""One vocabulary for the game's names, shared by the engine (config, presets) and the Dirac lab.

Canonical names (the engine's): losses ``minimax``, ``nonsaturating``, ``wgan`` (plus ``lsgan``, ``hinge`` in
the engine); regularisers ``none``, ``r1``, ``r2``, ``noise``, ``consensus``, ``wgan-gp``, ``clip``; the order
of an alternating step ``d-first`` (the critic's n_d steps, then the generator's n_g: WGAN-GP Algorithm 1,
GAN_stability's trainer) or ``g-first`` (the generator first: the official Dirac-GAN notebook).

Aliases are accepted on input and reported under the canonical name; the table is docs/dirac.md and
docs/engine.md ("Names"). This module imports nothing: both the engine and the analysis tools read it.
"""
from __future__ import annotations

LOSS_ALIASES = {"standard": "minimax"}  # the Dirac lab's old name of the saturating GAN
REGULARISERS = ("none", "r1", "r2", "noise", "consensus", "wgan-gp", "clip")
REG_ALIASES = {"gp0": "wgan-gp", "wgan-clip": "clip"}  # the engine's names (gp0: target g₀ = 0)
METHOD_ALIASES = {"standard": "minimax", "clip": "wgan-clip"}  # the lab's names for the engine's presets
ORDERS = ("d-first", "g-first")


def canonical(name, aliases: dict) -> tuple[object, str | None]:
    """(the canonical name of ``name``, the alias that was given or None); names that are no alias pass."""
    if isinstance(name, str) and name in aliases:
        return aliases[name], name
    return name, None


def allowed(names, aliases: dict) -> str:
    """'a, b, c (aliases: x = a)' for an error message."""
    text = ", ".join(names)
    alias = [f"{k} = {v}" for k, v in aliases.items() if v in names]
    return text + (f" (aliases: {', '.join(alias)})" if alias else "")
