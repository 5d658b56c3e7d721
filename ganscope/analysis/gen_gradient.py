"""The generator's gradient norm, the quantity of RP-GAN's mechanism claim (Neyshabur et al. 2017, abstract and §3;
docs/references.md §N): a single discriminator on high-dimensional images soon rejects nearly every sample, so the
gradient it passes to the generator vanishes; K discriminators on low-dimensional random projections cannot
reject perfectly and keep passing one.

    ‖∇_θ L_G(θ)‖₂,   L_G(θ) = (1/K) Σ_k ℓ_G(D_k(G_θ(z)))       (ℓ_G: the objective's generator loss, mean over z)

over all of G's parameters θ, on fixed latents z: the gradient the generator's optimizer receives (for K = 1 the
single critic; ``RPDiscriminator`` returns (K, B) logits and the mean over K is its ``g_loss_total``). For the
non-saturating loss ℓ_G(t) = E softplus(−t), so ∇_θ L_G = −(1/(KB)) Σ_{k,i} σ(−t_ki) (∂t_ki/∂θ).

``run_gradient_norms`` reads it off a stored run's kept checkpoints (``checkpoint.keep``): nothing in the run's
training changes. G keeps its stored (train) mode, so BatchNorm uses the batch's statistics as in training; its
running statistics, the parameters' ``requires_grad`` and the global RNG are restored afterwards.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from ganscope.metrics.dynamics import untouched
from ganscope.objectives import get_objective

LATENT_SEED = 9_100_003  # the fixed latents of run_gradient_norms (apart from the runs' own seeds)


def generator_grad_norm(gen: nn.Module, critic: nn.Module, z: torch.Tensor, objective="nonsaturating") -> float:
    """‖∇_θ L_G‖₂ over all of ``gen``'s parameters: L_G the mean over the critic's members (logits (B,) or
    (K, B)) of ``objective``'s generator loss on ``critic(gen(z))``. Writes no ``.grad``."""
    obj = get_objective(objective) if isinstance(objective, str) else objective
    params = list(gen.parameters())
    flags = [p.requires_grad for p in params]
    try:
        for p in params:
            p.requires_grad_(True)
        with untouched(gen, critic, z), torch.enable_grad():
            loss = obj.g_loss(critic(gen(z))).mean()
            grads = torch.autograd.grad(loss, params, allow_unused=True)
    finally:
        for p, flag in zip(params, flags):
            p.requires_grad_(flag)
    squares = [g.double().pow(2).sum() for g in grads if g is not None]
    return math.sqrt(float(sum(squares))) if squares else 0.0


def run_gradient_norms(run_dir, n: int = 256, seed: int = LATENT_SEED) -> list[dict]:
    """``[{"step", "grad_norm_g"}, ...]`` at each kept checkpoint of a stored run (its training generator and
    critic there, the run's loss), on n latents drawn from ``torch.Generator().manual_seed(seed)``: the same
    latents at every step and in every run of one latent size."""
    from ganscope import rundir

    out, z = [], None
    for step in rundir.kept_steps(run_dir):
        run = rundir.open_run(run_dir, step)
        if z is None:
            z = torch.randn(n, run.cfg.model.latent_dim, generator=torch.Generator().manual_seed(seed))
        out.append({"step": step, "grad_norm_g": generator_grad_norm(run.gen, run.disc, z, run.cfg.loss)})
    return out
