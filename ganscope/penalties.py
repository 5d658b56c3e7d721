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
                 detach: bool = True, grad_scale=None) -> torch.Tensor:
    """Per-sample ``‖∇ₓ critic(x)‖²``, summed over the ``event_dims`` trailing axes.

    Returns shape ``x.shape[:x.ndim - event_dims]`` (the batch axes), with a graph to the critic's parameters
    (and, with ``detach=False``, to whatever ``x`` was computed from). ``grad_scale`` (a loss scale S, fp16):
    the gradient is taken of S·Σ critic(x) and divided by S before the norm (see :func:`input_grad_sq`).
    """
    k = _event_dims(x, event_dims)
    with torch.enable_grad():
        if detach or not x.requires_grad:
            x = x.detach().requires_grad_(True)
        return input_grad_sq(critic(x), x, k, grad_scale)


def input_grad_sq(out: torch.Tensor, x: torch.Tensor, event_dims: int | None = None,
                  grad_scale=None) -> torch.Tensor:
    """Per-sample ``‖∇ₓ Σ out‖²`` of an output ``out`` already computed from ``x`` (which requires grad), with
    ``create_graph=True``: the engine's fused R1/R2 takes the loss and this from one forward of the batch.

    The gradient and its squared norm are float32 whatever the forward's autocast dtype. ``grad_scale`` S:
    g = ∇ₓ(S·Σ out) / S, the way to keep R1 right under an fp16 loss scaler (the scaled backward stays
    representable; the norm is of the unscaled gradient).
    """
    k = _event_dims(x, event_dims)
    with torch.enable_grad():
        g = None
        if out.requires_grad:
            total = out.sum() if grad_scale is None else out.sum() * grad_scale
            (g,) = torch.autograd.grad(total, x, create_graph=True, allow_unused=True)
        if g is None:  # the output does not depend on x
            g = torch.zeros_like(x)
        g = g.to(torch.promote_types(g.dtype, torch.float32))
        g = g if grad_scale is None else g / grad_scale
        sq = g.pow(2)
    # summed over the event axes in place, not through a reshape: a reshape of a channels_last gradient copies
    # it to NCHW, and the double backward then carries NCHW gradients through a channels_last critic
    return sq.sum(dim=tuple(range(x.ndim - k, x.ndim))) if k else sq


def sq_penalty(sq: torch.Tensor, gamma) -> torch.Tensor:
    """(γ/2)·E‖∇ₓD‖² from the per-sample squared norms ``sq`` (the sample axis last): R1 and R2's formula."""
    return gamma / 2 * sq.mean(-1)


def r1(critic: Callable, real: torch.Tensor, gamma, event_dims: int | None = None, detach: bool = True,
       grad_scale=None) -> torch.Tensor:
    """R1 = (γ/2)·E_{x~p_D}‖∇ₓD(x)‖² on real samples (Mescheder et al. 2018, eq. 9)."""
    _check_weight("gamma", gamma)
    return sq_penalty(grad_sq_norm(critic, real, event_dims, detach, grad_scale), gamma)


def r2(critic: Callable, fake: torch.Tensor, gamma, event_dims: int | None = None, detach: bool = True,
       grad_scale=None) -> torch.Tensor:
    """R2 = (γ/2)·E_{x~p_θ}‖∇ₓD(x)‖² on generated samples (Mescheder et al. 2018, eq. 10)."""
    _check_weight("gamma", gamma)
    return sq_penalty(grad_sq_norm(critic, fake, event_dims, detach, grad_scale), gamma)


def interpolate(real: torch.Tensor, fake: torch.Tensor, generator: torch.Generator | None = None,
                event_dims: int | None = None, detach: bool = True) -> torch.Tensor:
    """``x̂ = εx + (1−ε)x̃`` (detached unless ``detach=False``), ε ~ U[0,1] per sample (one draw from
    ``generator``), shared by its event axes.

    ``generator``: a ``torch.Generator`` on ``real.device``, a ``ganscope.rng.Streams`` (one stream per member),
    or None (the global RNG).
    """
    if real.shape != fake.shape:
        raise UsageError(f"fake: must have the shape of real {tuple(real.shape)}, got {tuple(fake.shape)}")
    eps = interpolation_weights(real, generator, event_dims)
    x_hat = eps * real + (1 - eps) * fake
    return x_hat.detach() if detach else x_hat


def interpolation_weights(real: torch.Tensor, generator=None, event_dims: int | None = None) -> torch.Tensor:
    """ε ~ U[0,1] of :func:`interpolate`: one draw per sample from ``generator``, of shape (*batch, 1, ..., 1)."""
    k = _event_dims(real, event_dims)
    return draw("rand", (*real.shape[: real.ndim - k], *([1] * k)), generator, real)


def wgan_gp(critic: Callable, real: torch.Tensor, fake: torch.Tensor, lam=10.0, target: float = 1.0,
            generator: torch.Generator | None = None, event_dims: int | None = None,
            detach: bool = True, grad_scale=None) -> torch.Tensor:
    """WGAN-GP = λ·E(‖∇D(x̂)‖₂ − g₀)² on interpolates x̂ (Gulrajani et al. 2017, Alg. 1; g₀ = ``target``)."""
    _check_weight("lam", lam)
    x_hat = interpolate(real, fake, generator, event_dims, detach)
    return gp_penalty(grad_sq_norm(critic, x_hat, event_dims, detach, grad_scale), lam, target)


def gp_penalty(sq: torch.Tensor, lam, target: float = 1.0) -> torch.Tensor:
    """λ·E(sqrt(‖∇D(x̂)‖² + 1e-12) − g₀)² from the per-sample squared norms ``sq`` (the sample axis last)."""
    return lam * (torch.sqrt(sq + GP_EPS) - target).pow(2).mean(-1)


def zero_gp_penalty(sq: torch.Tensor, lam) -> torch.Tensor:
    """λ·E‖∇D(x̂)‖² from the per-sample squared norms ``sq`` (the sample axis last)."""
    return lam * sq.mean(-1)


def zero_gp(critic: Callable, real: torch.Tensor, fake: torch.Tensor, lam,
            generator: torch.Generator | None = None, event_dims: int | None = None,
            detach: bool = True, grad_scale=None) -> torch.Tensor:
    """Zero-centred GP on interpolates = λ·E‖∇D(x̂)‖² (WGAN-GP with g₀ = 0; GAN_stability ``wgangp0``)."""
    _check_weight("lam", lam)
    x_hat = interpolate(real, fake, generator, event_dims, detach)
    return zero_gp_penalty(grad_sq_norm(critic, x_hat, event_dims, detach, grad_scale), lam)


def lazy(penalty: Callable, every: int) -> Callable:
    """Lazy regularisation (Karras et al. 2020, StyleGAN2 §B): apply ``every × penalty`` once every ``every`` steps.

    The wrapper takes the penalty's arguments plus a keyword ``step``: when ``step % every == 0`` it returns
    ``every * penalty(...)`` (so the sum over ``every`` consecutive steps equals the dense penalty's sum),
    otherwise a zero tensor of the penalty's shape (the member shape of its input: () for one model, (E,) for
    an ensemble, broadcast with a tensor weight) on the input's device, without calling the penalty; a loop
    can always add the term. ``every = 1`` is the dense penalty.
    """
    if isinstance(every, bool) or not isinstance(every, int) or every < 1:
        raise UsageError(f"every: must be an integer >= 1, got {every!r}")

    @functools.wraps(penalty)
    def lazy_penalty(*args, step: int, **kwargs):
        if step % every:
            return _zero_like_penalty(args[1:], kwargs)
        return every * penalty(*args, **kwargs)

    lazy_penalty.every = every
    return lazy_penalty


def _zero_like_penalty(args, kwargs) -> torch.Tensor:
    """0 of the shape a penalty returns for these arguments (after the critic): the input's member axes,
    broadcast with any tensor weight."""
    tensors = [a for a in (*args, *kwargs.values()) if torch.is_tensor(a)]
    if not tensors:
        raise UsageError("lazy: the penalty's arguments hold no input tensor")
    x = tensors[0]
    k = _event_dims(x, kwargs.get("event_dims"))
    shape = x.shape[: x.ndim - k - 1]
    for w in tensors[1:]:
        if w.ndim < x.ndim:  # a weight, not a batch
            shape = torch.broadcast_shapes(shape, w.shape)
    dtype = x.dtype if x.is_floating_point() else torch.get_default_dtype()
    return torch.zeros(shape, dtype=dtype, device=x.device)


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
    whether it draws from a ``torch.Generator`` (the interpolating penalties); ``from_sq``: R1/R2's penalty
    from the squared norms of the loss's own batch (the fused path); ``of_sq``: every penalty as a function
    ``(sq, weight)`` of the per-sample squared input-gradient norms at its points (the batch it ``needs``, or the
    interpolates for "both"), what the compiled functional step (``ganscope.func_step``) evaluates.
    """

    name: str
    fn: Callable | None
    needs: str
    weight: str | None
    default: float | None = None
    random: bool = False
    doc: str = ""
    from_sq: Callable | None = None
    of_sq: Callable | None = None

    @property
    def fusable(self) -> bool:
        """Whether the penalty is ``from_sq`` of the input gradient of the loss's own batch (R1, R2): the
        engine then takes both from one forward (:func:`input_grad_sq`)."""
        return self.from_sq is not None

    def __call__(self, critic: Callable, real, fake, weight=None, *, generator=None, event_dims=None,
                 detach: bool = True, grad_scale=None):
        """Apply the penalty to (real, fake), passing only the batches it needs; ``None`` for "none".
        ``detach=False`` keeps the inputs' graph (see the module doc); ``grad_scale``: see :func:`input_grad_sq`."""
        if self.fn is None:
            return None
        w = self.default if weight is None else weight
        if w is None:
            raise UsageError(f"{self.weight}: penalty {self.name!r} needs a weight")
        batches = {"real": real, "fake": fake}
        kwargs = {self.weight: w, "event_dims": event_dims, "detach": detach}
        kwargs |= {"grad_scale": grad_scale} if grad_scale is not None else {}
        kwargs |= {"generator": generator} if self.random else {}
        return self.fn(critic, *(batches[k] for k in _INPUTS[self.needs]), **kwargs)


PENALTIES: dict[str, PenaltySpec] = {
    p.name: p
    for p in [
        PenaltySpec("none", None, "none", None, doc="no penalty"),
        PenaltySpec("r1", r1, "real", "gamma", doc="(γ/2)·E‖∇D(x)‖² on real samples", from_sq=sq_penalty,
                    of_sq=sq_penalty),
        PenaltySpec("r2", r2, "fake", "gamma", doc="(γ/2)·E‖∇D(x̃)‖² on generated samples", from_sq=sq_penalty,
                    of_sq=sq_penalty),
        PenaltySpec("wgan-gp", wgan_gp, "both", "lam", 10.0, True, "λ·E(‖∇D(x̂)‖ − 1)² on interpolates",
                    of_sq=gp_penalty),
        PenaltySpec("gp0", zero_gp, "both", "lam", None, True, "λ·E‖∇D(x̂)‖² on interpolates",
                    of_sq=zero_gp_penalty),
    ]
}


def get_penalty(name: str) -> PenaltySpec:
    """Look a penalty up by its config name; the error names what is allowed."""
    try:
        return PENALTIES[name]
    except KeyError:
        raise UsageError(f"penalty: unknown penalty {name!r}; allowed: {', '.join(PENALTIES)}") from None
