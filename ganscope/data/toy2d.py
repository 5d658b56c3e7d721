"""Two-dimensional data sets as samplers driven by an explicit ``torch.Generator``.

Every sampler is ``sample(n, generator) -> Tensor`` of shape (n, 2), dtype float32, on the
generator's device; the global RNG is never touched, so the same generator state gives the same
points bit for bit.

WGAN-GP toy data (Gulrajani et al. 2017, ``gan_toy.py``; docs/references.md §G4):

* ``8gaussians``: centres 2·(cos k·45°, sin k·45°), k = 0..7, std 0.02, all points divided by 1.414.
* ``25gaussians``: centres on the grid {-4,-2,0,2,4}², std 0.05, divided by 2.828. The original
  draws batches from a fixed, shuffled pool of 100,000 points (4,000 per mode); we draw fresh
  i.i.d. points with a uniformly chosen mode, the distribution that pool approximates.
* ``swissroll``: sklearn's ``make_swiss_roll(noise=0.25)`` columns (0, 2), divided by 7.5, i.e.
  t = 1.5π(1 + 2u), u ~ U[0,1), point (t cos t + 0.25 ε₁, t sin t + 0.25 ε₂) / 7.5, ε ~ N(0, I).
  Computed here with torch (sklearn is not used).

Mescheder et al. 2018 (App., Figs. 8-9) train on 2-D problems named "2D Gaussian", "Line",
"Circle" and "Four lines", but their code is not published (GAN_stability issue #21 asks for
it, unanswered) and the paper text was not available to us. The definitions below are therefore
**ours**, chosen to keep those names' meaning and a scale comparable to the WGAN-GP sets:

* ``gaussian``: the standard normal N(0, I₂).
* ``line``: uniform on the segment [-1, 1] × {0} (a 1-D manifold).
* ``circle``: uniform on the unit circle (angle ~ U[0, 2π)).
* ``four-lines``: uniform on four parallel segments [-1, 1] × {y}, y ∈ {-1.5, -0.5, 0.5, 1.5},
  each chosen with probability 1/4 (a disconnected 1-D manifold).

``point``: every sample at one fixed point (the Dirac case), the origin in the registry; use
:func:`make_point` for another location.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor

from ganscope.errors import UsageError

Sampler = Callable[[int, torch.Generator], Tensor]


@dataclass(frozen=True)
class Toy2D:
    """A 2-D data set: ``sample(n, generator)`` draws (n, 2) float32 points.

    ``centres`` (K, 2) and ``std`` are the mode centres and per-mode standard deviation, both
    after scaling, for the Gaussian mixtures; None for the other sets.
    """

    name: str
    sample: Sampler
    centres: Tensor | None
    std: float | None
    doc: str


def _check(n: int, generator: torch.Generator) -> None:
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise UsageError(f"n: number of samples must be a non-negative int, got {n!r}")
    if not isinstance(generator, torch.Generator):
        raise UsageError(f"generator: expected a torch.Generator, got {type(generator).__name__}")


def _randn(n: int, g: torch.Generator) -> Tensor:
    return torch.randn(n, 2, generator=g, device=g.device, dtype=torch.float32)


def _rand(n: int, g: torch.Generator) -> Tensor:
    return torch.rand(n, generator=g, device=g.device, dtype=torch.float32)


def _choice(k: int, n: int, g: torch.Generator) -> Tensor:
    return torch.randint(k, (n,), generator=g, device=g.device)


def _placed(t: Tensor) -> Callable[[torch.device], Tensor]:
    """``on(device)``: ``t`` on ``device``, copied there once (no host-to-device copy per batch)."""
    copies: dict = {}

    def on(device) -> Tensor:
        if device not in copies:
            copies[device] = t.to(device)
        return copies[device]

    return on


def _mixture(centres: Tensor, std: float) -> Sampler:
    """Equal-weight isotropic Gaussian mixture: x = c_J + std·ε, J ~ U{0..K-1}, ε ~ N(0, I)."""
    placed = _placed(centres)

    def sample(n: int, generator: torch.Generator) -> Tensor:
        _check(n, generator)
        idx = _choice(len(centres), n, generator)
        noise = _randn(n, generator)
        return placed(generator.device)[idx] + std * noise

    return sample


def _ring_centres(k: int = 8, radius: float = 2.0, scale: float = 1.414) -> Tensor:
    angle = torch.arange(k, dtype=torch.float64) * (2 * math.pi / k)
    return (radius * torch.stack([angle.cos(), angle.sin()], 1) / scale).float()


def _grid_centres(coords=(-4.0, -2.0, 0.0, 2.0, 4.0), scale: float = 2.828) -> Tensor:
    c = torch.tensor(coords, dtype=torch.float64)
    xx, yy = torch.meshgrid(c, c, indexing="ij")
    return (torch.stack([xx.flatten(), yy.flatten()], 1) / scale).float()


def swissroll(n: int, generator: torch.Generator) -> Tensor:
    """t = 1.5π(1 + 2u); (t cos t, t sin t) + 0.25·N(0, I), all / 7.5 (sklearn make_swiss_roll cols 0, 2)."""
    _check(n, generator)
    t = 1.5 * math.pi * (1 + 2 * _rand(n, generator))
    roll = torch.stack([t * torch.cos(t), t * torch.sin(t)], 1)
    return (roll + 0.25 * _randn(n, generator)) / 7.5


def gaussian(n: int, generator: torch.Generator) -> Tensor:
    """Standard normal N(0, I₂) (our definition of Mescheder's "2D Gaussian")."""
    _check(n, generator)
    return _randn(n, generator)


def line(n: int, generator: torch.Generator) -> Tensor:
    """Uniform on the segment [-1, 1] × {0} (our definition of Mescheder's "Line")."""
    _check(n, generator)
    x = 2 * _rand(n, generator) - 1
    return torch.stack([x, torch.zeros_like(x)], 1)


def circle(n: int, generator: torch.Generator) -> Tensor:
    """Uniform on the unit circle: (cos φ, sin φ), φ ~ U[0, 2π) (our "Circle")."""
    _check(n, generator)
    phi = 2 * math.pi * _rand(n, generator)
    return torch.stack([torch.cos(phi), torch.sin(phi)], 1)


FOUR_LINES_Y = (-1.5, -0.5, 0.5, 1.5)
_FOUR_LINES_LEVELS = _placed(torch.tensor(FOUR_LINES_Y, dtype=torch.float32))


def four_lines(n: int, generator: torch.Generator) -> Tensor:
    """Uniform on [-1, 1] × {y}, y uniform over {-1.5, -0.5, 0.5, 1.5} (our "Four lines")."""
    _check(n, generator)
    x = 2 * _rand(n, generator) - 1
    levels = _FOUR_LINES_LEVELS(generator.device)
    y = levels[_choice(len(FOUR_LINES_Y), n, generator)]
    return torch.stack([x, y], 1)


def make_point(x: float = 0.0, y: float = 0.0) -> Sampler:
    """A Dirac at (x, y): every sample equals that point (consumes no randomness)."""

    placed = _placed(torch.tensor([x, y], dtype=torch.float32))

    def sample(n: int, generator: torch.Generator) -> Tensor:
        _check(n, generator)
        return placed(generator.device).expand(n, 2).clone()

    return sample


_RING = _ring_centres()
_GRID = _grid_centres()

DATASETS: dict[str, Toy2D] = {
    d.name: d
    for d in (
        Toy2D("8gaussians", _mixture(_RING, 0.02 / 1.414), _RING, 0.02 / 1.414,
              "8 Gaussians on a circle of radius 2, std 0.02, scaled by 1/1.414 (WGAN-GP)."),
        Toy2D("25gaussians", _mixture(_GRID, 0.05 / 2.828), _GRID, 0.05 / 2.828,
              "25 Gaussians on the grid {-4,-2,0,2,4}², std 0.05, scaled by 1/2.828 (WGAN-GP)."),
        Toy2D("swissroll", swissroll, None, None,
              "Swiss roll: sklearn make_swiss_roll(noise=0.25) columns (0, 2) / 7.5 (WGAN-GP)."),
        Toy2D("gaussian", gaussian, None, None, "Standard normal N(0, I2) (ours, after Mescheder 2018)."),
        Toy2D("line", line, None, None, "Uniform on [-1, 1] x {0} (ours, after Mescheder 2018)."),
        Toy2D("circle", circle, None, None, "Uniform on the unit circle (ours, after Mescheder 2018)."),
        Toy2D("four-lines", four_lines, None, None,
              "Uniform on [-1, 1] x {-1.5, -0.5, 0.5, 1.5} (ours, after Mescheder 2018)."),
        Toy2D("point", make_point(), None, None, "Dirac at the origin: every sample is (0, 0)."),
    )
}


def get_dataset(name: str) -> Toy2D:
    """The registered data set called ``name``; UsageError naming ``data.name`` otherwise."""
    try:
        return DATASETS[name]
    except (KeyError, TypeError):
        allowed = ", ".join(DATASETS)
        raise UsageError(f"data.name: unknown data set {name!r}; allowed: {allowed}") from None
