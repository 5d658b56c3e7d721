"""A finite 2-D game started at a perturbed, exact equilibrium: the local convergence test of Mescheder et al.
2018 (Lemmas 2.4–3.3 and Theorem 4.1 are statements about a neighbourhood of an equilibrium; docs/reproduce.md,
"Protocol v2b").

The equilibrium of Assumption I on a finite game (N data points X, N fixed latents Z per member): one generated
point on each data point and a flat critic, D = 0. ``start`` matches G's initial points to the data (the
optimal assignment π), fits G to them, makes the fitted points the game's data (so the equilibrium is exact),
zeroes the critic's output layer and perturbs every generator tensor p by ε·rms(p)·ξ, ξ ~ N(0, I) from each
member's own stream.

The distance to it, in the Dirac-GAN's coordinates (θ the generator's offset, ψ the critic's slope; the
unregularised flow conserves θ² + ψ²): r = sqrt(W1(G(Z), X)² + E_X‖∇ₓD‖²).
"""
from __future__ import annotations

import math

import torch

from ganscope.rng import Streams

FIT_STEPS = 2000  # full-batch Adam steps of the fit
FIT_LR = 1e-3
PERTURB_SEED_OFFSET = 3_000_017  # the perturbation's streams, apart from every training stream


def assignment(points: torch.Tensor, data: torch.Tensor) -> torch.Tensor:
    """(E, N) indices π: member e's point i goes to data point π[e, i], the assignment of least total squared
    distance (the exact W1 coupling of two N-point sets)."""
    from scipy.optimize import linear_sum_assignment

    cost = torch.cdist(points, data).square().cpu().numpy()
    return torch.stack([torch.as_tensor(linear_sum_assignment(c)[1]) for c in cost]).to(data.device)


def fit_generator(gen: torch.nn.Module, z: torch.Tensor, targets: torch.Tensor, steps: int = FIT_STEPS,
                  lr: float = FIT_LR) -> None:
    """G alone by full-batch Adam(lr, β = (0.9, 0.999)) on mean_i ‖G(zᵢ) − tᵢ‖², summed over members (Adam is
    elementwise and members share no parameter, so each member takes the steps it would take alone)."""
    opt = torch.optim.Adam(gen.parameters(), lr=lr, betas=(0.9, 0.999))
    for _ in range(steps):
        opt.zero_grad(set_to_none=True)
        (gen(z) - targets).square().sum(-1).mean(-1).sum().backward()
        opt.step()


@torch.no_grad()
def flatten_critic(disc: torch.nn.Module) -> None:
    """D ≡ 0: the critic's output layer (weights and bias) set to zero; the hidden layers keep theirs."""
    net = disc.net if hasattr(disc, "net") else disc
    net.weights[-1].zero_()
    net.biases[-1].zero_()


@torch.no_grad()
def perturb(gen: torch.nn.Module, eps: float, seeds) -> None:
    """p[e] += ε·rms(p[e])·ξ, ξ ~ N(0, I) from member e's stream (its seed + PERTURB_SEED_OFFSET), for every
    parameter tensor p of G (member axis first)."""
    streams = Streams([s + PERTURB_SEED_OFFSET for s in seeds])
    for p in gen.parameters():
        xi = streams.randn(tuple(p.shape)).to(p.device, p.dtype)
        rms = p.square().flatten(1).mean(1).sqrt().view(-1, *[1] * (p.dim() - 1))
        p.add_(eps * rms * xi)


def start(gen, disc, data: torch.Tensor, z: torch.Tensor, eps: float, seeds) -> torch.Tensor:
    """Move a finite game's players (member axis first) to an exact equilibrium and perturb G; returns the game's
    new data (E, N, 2): the fitted generator's points. Draws from no training stream and no global RNG."""
    with torch.no_grad():
        pi = assignment(gen(z), data)
    fit_generator(gen, z, torch.gather(data, 1, pi.unsqueeze(-1).expand_as(data)))
    with torch.no_grad():
        fitted = gen(z)
    flatten_critic(disc)
    perturb(gen, eps, seeds)
    return fitted


def distance(w1_finite: float, grad_sq_real: float) -> float:
    """r = sqrt(W1² + E‖∇ₓD‖²): the Dirac-GAN's sqrt(θ² + ψ²) on a finite game."""
    return math.sqrt(w1_finite ** 2 + grad_sq_real)
