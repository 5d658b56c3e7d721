"""Gradient penalties on the discriminator's input, and weight clipping.

Conventions (docs/references.md §C1, §C3–C5, §M5, §G1–G2):

* The critic ``D`` outputs a **logit**, high on real data. Penalties are computed on that logit.
* **R1 / R2** (Mescheder et al. 2018, eqs. 9–10):  ``R(ψ) = (γ/2)·E‖∇ₓD(x)‖²`` with x real (R1) or
  generated (R2). The squared norm is taken **per sample over all non-batch axes** (C, H, W, …), never
  over one axis of an NCHW tensor. GAN_stability's ``reg_param = r`` applies ``r·E‖∇D‖²``, i.e. **γ = 2r**.
* **WGAN-GP** (Gulrajani et al. 2017, Alg. 1):  ``λ·E(‖∇D(x̂)‖₂ − g₀)²`` with ``x̂ = εx + (1−ε)x̃``,
  ``ε ~ U[0,1]`` drawn per sample, λ = 10 and g₀ = 1 by default. The norm is ``sqrt(‖∇D‖² + 1e-12)``,
  so value and gradients stay finite where the input gradient is zero.
* **Zero-centred GP on interpolates** (GAN_stability's ``wgangp0``):  ``λ·E‖∇D(x̂)‖²``, i.e. WGAN-GP with
  g₀ = 0 (computed without the sqrt, so without the 1e-12). Note: no ½ here, unlike R1/R2.
* Every penalty is a pure function of (critic, inputs, weight): no optimizer steps, no global state. The
  penalised inputs are detached, so a penalty never backpropagates into the generator; it builds a graph
  (``create_graph=True``) to the critic's parameters, and works inside ``torch.no_grad()`` too.
  ``detach=False`` keeps the inputs' graph instead (the Jacobian of the game's field needs ∂/∂θ of a
  penalty on generated samples: ``ganscope.analysis.spectrum``); the values are the same.
* **Ensembles.** A batched critic maps ``(*members, B, *event) -> (*members, B)``; a single one
  ``(B, *event) -> (B,)``. ``event_dims`` is the number of trailing axes forming one sample (default
  ``x.ndim - 1``: a single model). A penalty averages over the sample axis (the last batch axis) and keeps
  the member axes: a scalar for one model, shape ``(E,)`` for an ensemble; the caller sums over members.
  Weights (``gamma``, ``lam``) are floats or tensors broadcastable to the member shape.
* The critic must not couple samples (no BatchNorm in training mode): the per-sample gradient is read off
  the gradient of ``D(x).sum()``.
"""
from __future__ import annotations

import functools
import math
import numbers
from dataclasses import dataclass
from typing import Callable

import torch

from .errors import UsageError
from .rng import draw

GP_EPS = 1e-12  # inside the sqrt of the WGAN-GP norm


def _event_dims(x: torch.Tensor, event_dims: int | None) -> int:
    k = x.ndim - 1 if event_dims is None else event_dims
    if not isinstance(k, int) or not 0 <= k < x.ndim:
        raise UsageError(f"event_dims: must be an integer in [0, {x.ndim - 1}] for an input of shape "
                         f"{tuple(x.shape)}, got {event_dims!r}")
    return k


def _check_weight(name: str, w) -> None:
    if not torch.is_tensor(w) and not (isinstance(w, numbers.Real) and math.isfinite(w) and w >= 0):
        raise UsageError(f"{name}: must be a finite number >= 0 or a tensor, got {w!r}")


def grad_sq_norm(critic: Callable, x: torch.Tensor, event_dims: int | None = None,
                 detach: bool = True) -> torch.Tensor:
    """Per-sample ``‖∇ₓ critic(x)‖²``, summed over the ``event_dims`` trailing axes.

    Returns shape ``x.shape[:x.ndim - event_dims]`` (the batch axes), with a graph to the critic's parameters
    (and, with ``detach=False``, to whatever ``x`` was computed from).
    """
    k = _event_dims(x, event_dims)
    with torch.enable_grad():
        if detach or not x.requires_grad:
            x = x.detach().requires_grad_(True)
        out = critic(x)
        if out.requires_grad:
            (g,) = torch.autograd.grad(out.sum(), x, create_graph=True, allow_unused=True)
        else:
            g = None
        if g is None:  # the output does not depend on x
            g = torch.zeros_like(x)
        sq = g.pow(2)
    return sq.reshape(*sq.shape[: x.ndim - k], -1).sum(-1)


def r1(critic: Callable, real: torch.Tensor, gamma, event_dims: int | None = None, detach: bool = True) -> torch.Tensor:
    """R1 = (γ/2)·E_{x~p_D}‖∇ₓD(x)‖² on real samples (Mescheder et al. 2018, eq. 9)."""
    _check_weight("gamma", gamma)
    return gamma / 2 * grad_sq_norm(critic, real, event_dims, detach).mean(-1)


def r2(critic: Callable, fake: torch.Tensor, gamma, event_dims: int | None = None, detach: bool = True) -> torch.Tensor:
    """R2 = (γ/2)·E_{x~p_θ}‖∇ₓD(x)‖² on generated samples (Mescheder et al. 2018, eq. 10)."""
    _check_weight("gamma", gamma)
    return gamma / 2 * grad_sq_norm(critic, fake, event_dims, detach).mean(-1)


def interpolate(real: torch.Tensor, fake: torch.Tensor, generator: torch.Generator | None = None,
                event_dims: int | None = None, detach: bool = True) -> torch.Tensor:
    """``x̂ = εx + (1−ε)x̃`` (detached unless ``detach=False``), ε ~ U[0,1] per sample (one draw from
    ``generator``), shared by its event axes.

    ``generator``: a ``torch.Generator`` on ``real.device``, a ``ganscope.rng.Streams`` (one stream per member),
    or None (the global RNG).
    """
    if real.shape != fake.shape:
        raise UsageError(f"fake: must have the shape of real {tuple(real.shape)}, got {tuple(fake.shape)}")
    k = _event_dims(real, event_dims)
    batch = real.shape[: real.ndim - k]
    eps = draw("rand", (*batch, *([1] * k)), generator, real)
    x_hat = eps * real + (1 - eps) * fake
    return x_hat.detach() if detach else x_hat


def wgan_gp(critic: Callable, real: torch.Tensor, fake: torch.Tensor, lam=10.0, target: float = 1.0,
            generator: torch.Generator | None = None, event_dims: int | None = None,
            detach: bool = True) -> torch.Tensor:
    """WGAN-GP = λ·E(‖∇D(x̂)‖₂ − g₀)² on interpolates x̂ (Gulrajani et al. 2017, Alg. 1; g₀ = ``target``)."""
    _check_weight("lam", lam)
    sq = grad_sq_norm(critic, interpolate(real, fake, generator, event_dims, detach), event_dims, detach)
    return lam * (torch.sqrt(sq + GP_EPS) - target).pow(2).mean(-1)


def zero_gp(critic: Callable, real: torch.Tensor, fake: torch.Tensor, lam,
            generator: torch.Generator | None = None, event_dims: int | None = None,
            detach: bool = True) -> torch.Tensor:
    """Zero-centred GP on interpolates = λ·E‖∇D(x̂)‖² (WGAN-GP with g₀ = 0; GAN_stability ``wgangp0``)."""
    _check_weight("lam", lam)
    x_hat = interpolate(real, fake, generator, event_dims, detach)
    return lam * grad_sq_norm(critic, x_hat, event_dims, detach).mean(-1)


def lazy(penalty: Callable, every: int) -> Callable:
    """Lazy regularisation (Karras et al. 2020, StyleGAN2 §B): apply ``every × penalty`` once every ``every`` steps.

    The wrapper takes the penalty's arguments plus a keyword ``step``: when ``step % every == 0`` it returns
    ``every * penalty(...)`` (so the sum over ``every`` consecutive steps equals the dense penalty's sum),
    otherwise ``None`` without calling the penalty. ``every = 1`` is the dense penalty.
    """
    if isinstance(every, bool) or not isinstance(every, int) or every < 1:
        raise UsageError(f"every: must be an integer >= 1, got {every!r}")

    @functools.wraps(penalty)
    def lazy_penalty(*args, step: int, **kwargs):
        if step % every:
            return None
        return every * penalty(*args, **kwargs)

    lazy_penalty.every = every
    return lazy_penalty


def clip_weights_(module: torch.nn.Module, c: float) -> torch.nn.Module:
    """Clamp every parameter of ``module`` into [−c, c] in place (WGAN weight clipping, Arjovsky et al. 2017).

    Call it after each critic optimizer step. Returns the module.
    """
    if not (isinstance(c, numbers.Real) and math.isfinite(c) and c > 0):
        raise UsageError(f"clip: must be a finite number > 0, got {c!r}")
    with torch.no_grad():
        for p in module.parameters():
            p.clamp_(-c, c)
    return module


_INPUTS = {"none": (), "real": ("real",), "fake": ("fake",), "both": ("real", "fake")}


@dataclass(frozen=True)
class PenaltySpec:
    """How to call one penalty by its config name.

    ``needs``: which batches it reads ("none", "real", "fake", "both"); ``weight``: the keyword of its weight
    (``gamma`` or ``lam``); ``default``: the weight's default, or None where it must be given; ``random``:
    whether it draws from a ``torch.Generator`` (the interpolating penalties).
    """

    name: str
    fn: Callable | None
    needs: str
    weight: str | None
    default: float | None = None
    random: bool = False
    doc: str = ""

    def __call__(self, critic: Callable, real, fake, weight=None, *, generator=None, event_dims=None,
                 detach: bool = True):
        """Apply the penalty to (real, fake), passing only the batches it needs; ``None`` for "none".
        ``detach=False`` keeps the inputs' graph (see the module doc)."""
        if self.fn is None:
            return None
        w = self.default if weight is None else weight
        if w is None:
            raise UsageError(f"{self.weight}: penalty {self.name!r} needs a weight")
        batches = {"real": real, "fake": fake}
        kwargs = {self.weight: w, "event_dims": event_dims, "detach": detach}
        kwargs |= {"generator": generator} if self.random else {}
        return self.fn(critic, *(batches[k] for k in _INPUTS[self.needs]), **kwargs)


PENALTIES: dict[str, PenaltySpec] = {
    p.name: p
    for p in [
        PenaltySpec("none", None, "none", None, doc="no penalty"),
        PenaltySpec("r1", r1, "real", "gamma", doc="(γ/2)·E‖∇D(x)‖² on real samples"),
        PenaltySpec("r2", r2, "fake", "gamma", doc="(γ/2)·E‖∇D(x̃)‖² on generated samples"),
        PenaltySpec("wgan-gp", wgan_gp, "both", "lam", 10.0, True, "λ·E(‖∇D(x̂)‖ − 1)² on interpolates"),
        PenaltySpec("gp0", zero_gp, "both", "lam", None, True, "λ·E‖∇D(x̂)‖² on interpolates"),
    ]
}


def get_penalty(name: str) -> PenaltySpec:
    """Look a penalty up by its config name; the error names what is allowed."""
    try:
        return PENALTIES[name]
    except KeyError:
        raise UsageError(f"penalty: unknown penalty {name!r}; allowed: {', '.join(PENALTIES)}") from None
