"""Instance noise and its σ schedules.

Convention (DESIGN.md): instance noise adds the **same-σ** Gaussian noise N(0, σ²I) to the real and to the
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


def instance_noise(real: torch.Tensor, fake: torch.Tensor, sigma, generator: torch.Generator | None = None):
    """Return ``(real + σ·ε₁, fake + σ·ε₂)`` with independent ε₁, ε₂ ~ N(0, I) drawn in that order from ``generator``.

    ``sigma`` is a float or a tensor of the leading member shape (e.g. ``(E,)`` for inputs ``(E, B, *event)``),
    one σ per member. A float σ = 0 returns the inputs themselves and draws nothing. The result is
    differentiable in ``fake``, so the generator's gradient passes through the noisy input. ``generator``:
    a ``torch.Generator`` on the inputs' device, a ``ganscope.rng.Streams`` (one stream per member), or None.
    """
    if torch.is_tensor(sigma):
        s_real, s_fake = _per_member(sigma, real), _per_member(sigma, fake)
    else:
        _number("sigma", sigma, 0.0)
        if sigma == 0:
            return real, fake
        s_real = s_fake = sigma
    eps_real = draw("randn", real.shape, generator, real)
    eps_fake = draw("randn", fake.shape, generator, fake)
    return real + s_real * eps_real, fake + s_fake * eps_fake
