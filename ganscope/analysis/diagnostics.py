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
from ganscope.nets.mlp import Logit
from ganscope.objectives import get_objective

__all__ = ["KEYS", "ParameterSpeed", "SPECTRUM_K", "critic_grad_sq", "critic_outputs", "evaluate",
           "leading_eigenvalues", "member_axes", "run_spectrum", "untouched"]

SPECTRUM_K = 4  # eigenvalues per member at the steps of train.spectrum_at


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


def run_spectrum(run, member: int, k: int = SPECTRUM_K) -> dict:
    """The spectrum of ensemble member ``member`` of a 2-D training run (``ganscope.train.Run``) at its current
    step: the field of the game the engine plays (the run's loss, penalty and the member's weight, the member's
    instance-noise σ at this step, consensus) on the task's fixed ``diagnostic_batch()``, its k eigenvalues of
    largest real part and the spectral radius of the update operator of the run's scheme (n_g, n_d) with step
    h = the member's critic learning rate (``spectrum.spectrum``; as ``ganscope spectrum RUN_DIR``). This is the
    hook behind ``train.spectrum_at``: the entry points hand it to the engine, which cannot import analysis.

    Returns {"max_real_part", "spectral_radius", "eigenvalues" ([[Re, Im], ...]), "method", "h"}. The run's
    modules, gradients and every RNG are left as they were (the field works on float64 copies).
    """
    cfg = run.cfg
    real, z = run.task.diagnostic_batch()
    gen, disc = run.game.gen.net.member(member), Logit(run.game.disc.net.net.member(member))
    sigma, weight = S.member_rules(run, member)
    h = S._member_value(run, "lr_d", member, cfg.optim.d.lr)
    penalised = cfg.penalty.name != "none"
    with torch.random.fork_rng(devices=[]):
        fld = S.make_field(gen, disc, get_objective(cfg.loss), real[member], z[member].to(S.DTYPE),
                           penalty=cfg.penalty.name, weight=weight if penalised else None, sigma=sigma,
                           consensus=cfg.game.consensus, seed=cfg.seed + member)
        out = S.spectrum(fld, h, cfg.game.scheme, cfg.game.n_g, cfg.game.n_d, k=k)
    return {"max_real_part": out["max_real_part"], "spectral_radius": out[f"spectral_radius_{cfg.game.scheme}"],
            "eigenvalues": out["eigenvalues_largest_real"], "method": out["method"], "h": out["h"]}
