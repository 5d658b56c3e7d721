"""The GAN objectives the papers compare, on discriminator logits that are high on real data.

Every objective gives the discriminator's loss ``d_loss(real, fake)`` and the generator's loss
``g_loss(fake)`` to minimise, each the mean over the sample axis (the last one): a scalar for logits of shape
(B,), one loss per member, shape (E,), for an ensemble's logits of shape (E, B). Where the game has Mescheder's f-form
(Mescheder et al. 2018, §2.1, in our sign convention)

    L(D, G) = E_x f(d(x)) + E_z f(-d(G(z))),      D maximises L,

the objective also carries ``f`` with its derivatives f', f'' so that the Dirac-GAN lab and the
Jacobian tools analyse exactly the function the trainer optimises. The generator is *saturating*
when it minimises L (E f(-d(G(z)))) and *non-saturating* when it maximises E f(d(G(z))).

Logit shapes (one rule everywhere: objectives, the spectrum's field, the probe, the diagnostics): (B,) for one
critic, (E, B) for E members; the sample axis is the last one. A critic that returns (B, 1) is refused with a
UsageError saying to squeeze it, never read as B members of one sample: here, where the batch is unknown, every
logit tensor with two or more axes whose last axis has length 1 is refused (one sample per member is not a batch
a GAN loss is estimated on; use B >= 2).

Hinge's f describes its discriminator only: its generator loss is -E d(G(z)), as for WGAN.
Mescheder writes D for minus our logit: his L(θ,ψ) = f(D_ψ(G_θ)) + f(-D_ψ(x)) is the same number.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from scipy.special import expit

from ganscope.errors import UsageError

def _sigmoid(t):
    return torch.sigmoid(t) if torch.is_tensor(t) else expit(t)


def _softplus(t):
    return F.softplus(t) if torch.is_tensor(t) else np.logaddexp(0.0, t)


def _relu(t):
    return torch.relu(t) if torch.is_tensor(t) else np.maximum(t, 0.0)


def _where(cond, a, b):
    return torch.where(cond, a, b) if torch.is_tensor(cond) else np.where(cond, a, b)


@dataclass(frozen=True)
class FForm:
    """A concave scalar f with its first two derivatives; works on numpy arrays and torch tensors."""

    name: str
    f: Callable
    df: Callable
    d2f: Callable


LOG_SIGMOID = FForm(
    "log-sigmoid",
    f=lambda t: -_softplus(-t),  # f(t) = -log(1 + e^{-t}) = log σ(t)
    df=lambda t: _sigmoid(-t),  # f'(t) = σ(-t), f'(0) = 1/2
    d2f=lambda t: -_sigmoid(t) * _sigmoid(-t),  # f''(t) = -σ(t)σ(-t), f''(0) = -1/4
)
LINEAR = FForm("linear", f=lambda t: t, df=lambda t: t * 0 + 1.0, d2f=lambda t: t * 0.0)
HINGE = FForm(  # f(t) = min(0, t - 1) = -relu(1 - t)
    "hinge",
    f=lambda t: -_relu(1 - t),
    df=lambda t: _where(t < 1, t * 0 + 1.0, t * 0.0),
    d2f=lambda t: t * 0.0,
)


def check_logits(name: str, logits) -> None:
    """Refuse logits whose last (sample) axis has length 1 on a tensor of two or more axes: the (B, 1) output of
    a critic ending in ``Linear(..., 1)``, which the means over the last axis would read as B members of one
    sample each (a vector loss, and a spectrum off by a factor of about B)."""
    shape = tuple(getattr(logits, "shape", ()))
    if len(shape) >= 2 and shape[-1] == 1:
        raise UsageError(f"{name}: logits of shape {shape}; the critic must return one logit per sample, shape (B,) "
                         f"or (E, B) for E members: squeeze the last axis (return D(x).squeeze(-1))")


@dataclass(frozen=True)
class Objective:
    """One GAN objective. Losses take logits (high on real), shape (B,) or (E, B), and return scalars (or (E,)) to
    minimise; ``d_mean``/``g_mean`` are the same formulas without the shape check (per-sample terms: shape (B, 1))."""

    name: str
    d_mean: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    g_mean: Callable[[torch.Tensor], torch.Tensor]
    f: FForm | None = None  # Mescheder's f where L = E f(d(x)) + E f(-d(G(z)))
    saturating: bool = False  # G minimises E f(-d(G(z))) (part of L) instead of maximising E f(d(G(z)))
    doc: str = ""

    def d_loss(self, real, fake):
        """The discriminator's loss on logits ``real`` = d(x), ``fake`` = d(G(z)) (``check_logits`` first)."""
        check_logits("d_loss: real", real)
        check_logits("d_loss: fake", fake)
        return self.d_mean(real, fake)

    def g_loss(self, fake):
        """The generator's loss on logits ``fake`` = d(G(z)) (``check_logits`` first)."""
        check_logits("g_loss: fake", fake)
        return self.g_mean(fake)


def _f_d_loss(f: FForm):
    """Discriminator loss -L = -(E f(d(x)) + E f(-d(x̃)))."""
    return lambda real, fake: -(f.f(real).mean(-1) + f.f(-fake).mean(-1))


OBJECTIVES: dict[str, Objective] = {
    o.name: o
    for o in [
        Objective(
            "minimax",
            _f_d_loss(LOG_SIGMOID),
            lambda fake: LOG_SIGMOID.f(-fake).mean(-1),  # G minimises E log(1 - σ(d(G(z))))
            LOG_SIGMOID,
            saturating=True,
            doc="Goodfellow et al. 2014: D max E log σ(d(x)) + E log(1-σ(d(G(z)))); G minimises the same.",
        ),
        Objective(
            "nonsaturating",
            _f_d_loss(LOG_SIGMOID),
            lambda fake: -LOG_SIGMOID.f(fake).mean(-1),  # G minimises -E log σ(d(G(z)))
            LOG_SIGMOID,
            doc="Goodfellow et al. 2014, the -log D trick: G minimises -E log σ(d(G(z))).",
        ),
        Objective(
            "lsgan",
            lambda real, fake: 0.5 * ((real - 1) ** 2).mean(-1) + 0.5 * (fake**2).mean(-1),
            lambda fake: 0.5 * ((fake - 1) ** 2).mean(-1),
            doc="Mao et al. 2017 with 0/1 targets: D ½E(d(x)-1)² + ½E d(G(z))², G ½E(d(G(z))-1)².",
        ),
        Objective(
            "wgan",
            _f_d_loss(LINEAR),  # = E d(G(z)) - E d(x)
            lambda fake: -fake.mean(-1),
            LINEAR,
            doc="Arjovsky et al. 2017: D minimises E d(G(z)) - E d(x), G minimises -E d(G(z)).",
        ),
        Objective(
            "hinge",
            _f_d_loss(HINGE),  # = E relu(1 - d(x)) + E relu(1 + d(G(z)))
            lambda fake: -fake.mean(-1),
            HINGE,
            doc="Lim & Ye 2017: D E relu(1-d(x)) + E relu(1+d(G(z))), G -E d(G(z)).",
        ),
    ]
}


def get_objective(name: str) -> Objective:
    """Look an objective up by name; the error names what is allowed."""
    try:
        return OBJECTIVES[name]
    except KeyError:
        raise ValueError(f"unknown loss {name!r}; allowed: {', '.join(OBJECTIVES)}") from None
