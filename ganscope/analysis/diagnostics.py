"""Convergence diagnostics for any generator G and critic D: the measurements of ``ganscope.metrics.dynamics``
(re-exported here: ``critic_grad_sq``, ``critic_outputs``, ``ParameterSpeed``, ``evaluate``, ``member_axes``,
``untouched``, ``KEYS``), which the engine logs at every evaluation, and the leading eigenvalues of the game
Jacobian at a point (``leading_eigenvalues``, through ``analysis/spectrum.py``), which ``train.spectrum_at``
logs at chosen steps of a 2-D run (``run_spectrum``, the hook the entry points give the engine).

Mescheder et al. 2018 §2.1: the game's ODE is locally stable at (θ*, ψ*) iff every eigenvalue of the Jacobian
v′ of v = (−∇_θ L_G, −∇_ψ L_D) has Re λ < 0, and SimGD with step h converges locally iff every |1 + hλ| < 1.
Reference and readings: docs/diagnostics.md.
"""
from __future__ import annotations

import torch
from torch import nn

from ganscope.analysis import spectrum as S
from ganscope.errors import UsageError
from ganscope.metrics.dynamics import (KEYS, ParameterSpeed, critic_grad_sq, critic_outputs, evaluate,
                                       member_axes, untouched)
from ganscope.objectives import get_objective

__all__ = ["KEYS", "ParameterSpeed", "critic_grad_sq", "critic_outputs", "evaluate", "leading_eigenvalues",
           "member_axes", "untouched"]


def leading_eigenvalues(gen: nn.Module, critic: nn.Module, objective, real: torch.Tensor, z: torch.Tensor, *,
                        k: int = S.K_DEFAULT, penalty: str = "none", weight: float | None = None,
                        sigma: float = 0.0, consensus: float = 0.0, h: float = 0.1, scheme: str = "simgd",
                        seed: int = 0, max_dense: int = S.DENSE_MAX) -> dict:
    """The k eigenvalues of largest real part of the game Jacobian v' at (θ, ψ) = the modules' parameters, on
    the fixed batch (``real``, ``z``): ``spectrum.make_field`` + ``spectrum.spectrum`` (Mescheder et al. 2018
    §2.1: locally convergent in continuous time iff every Re λ < 0). Dense up to ``max_dense`` parameters,
    matrix-free Arnoldi above. One game: ``real`` is (B, *event) and the critic returns (B,) logits.

    Returns {"eigenvalues": [[Re, Im], ...] by decreasing real part, "max_real_part", "method",
    "n_params", "n_gen_params", "n_disc_params", "field_norm", "h", "scheme", "spectral_radius",
    "local_verdict", "notes"}; h and scheme only enter the update operator's radius and verdict.
    """
    obj = get_objective(objective) if isinstance(objective, str) else objective
    with untouched(critic, real), torch.no_grad():
        members = member_axes(critic(real).shape, real.shape[:1])
    if members:
        raise UsageError(f"critic: returns logits of shape {(*members, len(real))} (several critics); the "
                         "spectrum is of one game: pass one member (e.g. ensemble.member(i)) and its own data")
    fld = S.make_field(gen, critic, obj, real, z, penalty=penalty, weight=weight, sigma=sigma,
                       consensus=consensus, seed=seed, event_dims=real.ndim - 1)
    out = S.spectrum(fld, h, scheme, k=k, max_dense=max_dense)
    keys = ("max_real_part", "method", "n_params", "n_gen_params", "n_disc_params", "field_norm", "h", "scheme",
            "local_verdict", "notes")
    return {"eigenvalues": out["eigenvalues_largest_real"], **{key: out[key] for key in keys},
            "spectral_radius": out[f"spectral_radius_{scheme}"]}
