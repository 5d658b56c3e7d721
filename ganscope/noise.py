"""Instance noise and its σ schedules.

Convention (docs/references.md §C6): instance noise adds the **same-σ** Gaussian noise N(0, σ²I) to the real and to the
generated inputs of the discriminator, with independent draws (Arjovsky & Bottou 2017, §3, Thm 3.2–3.3;
Mescheder et al. 2018, §3.2). Smoothing both distributions makes their supports overlap; σ is annealed
over training (Arjovsky & Bottou's recipe) by a :class:`SigmaSchedule`.

A schedule is a pure function of the step: resuming a run needs only the step counter, no schedule state.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import torch

from .errors import UsageError
from .rng import draw

KINDS = ("constant", "linear", "exp")


def _number(name: str, value, low: float, strict: bool = False) -> None:
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < low or (strict and value == low):
        raise UsageError(f"{name}: must be {'>' if strict else '>='} {low:g}, got {value!r}")


@dataclass(frozen=True)
class SigmaSchedule:
    """σ(step) for instance noise, with ``t = min(step / steps, 1)``:

    * ``constant``: σ(step) = sigma
    * ``linear``:   σ(step) = sigma + (end − sigma)·t          (``end`` defaults to 0)
    * ``exp``:      σ(step) = sigma·(end / sigma)^t             (geometric; needs sigma > 0 and end > 0)

    Past the horizon ``steps`` the value stays at ``end``. ``steps`` is ignored by ``constant``.
    """

    sigma: float
    kind: str = "constant"
    end: float = 0.0
    steps: int = 0

    def __post_init__(self):
        if self.kind not in KINDS:
            raise UsageError(f"noise.kind: unknown schedule {self.kind!r}; allowed: {', '.join(KINDS)}")
        _number("noise.sigma", self.sigma, 0.0)
        _number("noise.end", self.end, 0.0)
        if self.kind == "constant":
            return
        if isinstance(self.steps, bool) or not isinstance(self.steps, numbers.Integral) or self.steps < 1:
            raise UsageError(f"noise.steps: must be an integer >= 1 for a {self.kind!r} schedule, got {self.steps!r}")
        if self.kind == "exp":
            _number("noise.sigma", self.sigma, 0.0, strict=True)
            _number("noise.end", self.end, 0.0, strict=True)

    def __call__(self, step: int) -> float:
        if step < 0:
            raise UsageError(f"step: must be >= 0, got {step!r}")
        if self.kind == "constant":
            return float(self.sigma)
        t = min(step / self.steps, 1.0)
        if self.kind == "linear":
            return float(self.sigma + (self.end - self.sigma) * t)
        return float(self.sigma * (self.end / self.sigma) ** t)


def _per_member(sigma: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Right-pad a member-shaped σ, e.g. (E,), with singleton axes so it broadcasts over (E, B, *event)."""
    return sigma.to(x).reshape(*sigma.shape, *([1] * (x.ndim - sigma.ndim)))


def add_noise(x: torch.Tensor, sigma, generator=None) -> torch.Tensor:
    """``x + σ·ε``, ε ~ N(0, I) from ``generator`` (a ``torch.Generator``, a ``ganscope.rng.Streams`` or None).

    ``sigma`` is a float or a tensor of the leading member shape (one σ per member, e.g. ``(E,)`` for inputs
    ``(E, B, *event)``). A float σ = 0 returns ``x`` itself and draws nothing. Differentiable in ``x``.
    """
    if torch.is_tensor(sigma):
        return x + _per_member(sigma, x) * draw("randn", x.shape, generator, x)
    _number("sigma", sigma, 0.0)
    return x if sigma == 0 else x + sigma * draw("randn", x.shape, generator, x)


def instance_noise(real: torch.Tensor, fake: torch.Tensor, sigma, generator=None, draws: int = 1,
                   event_dims: int | None = None):
    """``(real + σ·ε₁, fake + σ·ε₂)``: the same σ on both inputs of D, independent ε₁ then ε₂ (see add_noise),
    each input first repeated ``draws`` times along its batch axis (see :func:`repeat_draws`).

    The generator's gradient passes through the noisy fake input.
    """
    return (add_noise(repeat_draws(real, draws, event_dims), sigma, generator),
            add_noise(repeat_draws(fake, draws, event_dims), sigma, generator))


def repeat_draws(x: torch.Tensor, draws: int, event_dims: int | None = None) -> torch.Tensor:
    """``x`` with each sample repeated ``draws`` times along the batch axis (the axis before the last
    ``event_dims``; default: axis 0), so that a mean loss over the noisy copies is the M-draw Monte-Carlo
    estimate E_ε[L(x + σε)] of the instance-noise objective (Mescheder et al. 2018, Lemma 3.2 is about this
    expectation). ``draws = 1`` returns ``x`` itself."""
    if draws == 1:
        return x
    axis = 0 if event_dims is None else x.ndim - event_dims - 1
    return x.repeat_interleave(draws, dim=axis)
