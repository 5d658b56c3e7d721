"""Metrics for the 2-D data sets: exact Wasserstein-1 and mode statistics.

* ``w1``: W₁(μ̂, ν̂) = min_{π ∈ Π(a, b)} Σ_ij π_ij ‖x_i − y_j‖₂ between empirical measures with
  uniform weights a = 1/n, b = 1/m, solved exactly by network simplex (POT ``ot.emd2``) in
  float64. Mescheder et al. 2018 judge convergence on their 2-D problems by W₁.
* ``mode_stats``: the mixture protocol of Gulrajani et al. 2017 / VEEGAN (Srivastava et al. 2017):
  each sample goes to its nearest centre and is high-quality (HQ) when within 3·std of it.

Inputs are numpy arrays or torch tensors of shape (n, d); outputs are plain Python numbers.
"""
from __future__ import annotations

import math

import numpy as np
import ot
from scipy.spatial.distance import cdist

from ganscope.errors import UsageError


def _as_points(a, what: str) -> np.ndarray:
    """(n, d) float64 numpy copy of an array or tensor; UsageError for a wrong shape or no points."""
    if hasattr(a, "detach"):
        a = a.detach().cpu().numpy()
    a = np.asarray(a, dtype=np.float64)
    if a.ndim != 2 or a.shape[0] == 0:
        raise UsageError(f"{what}: expected a non-empty (n, d) array of points, got shape {a.shape}")
    return a


def w1(x, y) -> float:
    """Exact W₁ between the point clouds x (n, d) and y (m, d), uniform weights, Euclidean cost.

    Returns nan when either cloud holds a non-finite value (a diverged generator), so the result
    always fits in JSON.
    """
    x, y = _as_points(x, "x"), _as_points(y, "y")
    if x.shape[1] != y.shape[1]:
        raise UsageError(f"y: dimension {y.shape[1]} differs from x's {x.shape[1]}")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        return float("nan")
    a = np.full(len(x), 1.0 / len(x))
    b = np.full(len(y), 1.0 / len(y))
    cost = cdist(x, y, metric="euclidean")
    value, log = ot.emd2(a, b, cost, numItermax=max(100_000, 50 * cost.size), log=True)
    if log.get("warning"):
        raise RuntimeError(f"w1: optimal transport did not finish: {log['warning']}")
    return float(value)


def _nearest(samples: np.ndarray, centres: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of each sample's nearest centre and the distance to it (nan for non-finite samples)."""
    with np.errstate(invalid="ignore", over="ignore"):
        d2 = ((samples[:, None, :] - centres[None, :, :]) ** 2).sum(-1)
    idx = np.argmin(np.where(np.isnan(d2), np.inf, d2), axis=1)
    return idx, np.sqrt(d2[np.arange(len(samples)), idx])


def _kl_to_uniform(counts: np.ndarray) -> float:
    """KL(p̂ ‖ U_K) = Σ_k p̂_k log(K p̂_k), 0·log 0 = 0; log K when there are no counts."""
    k, total = len(counts), counts.sum()
    if total == 0:
        return math.log(k)
    p = counts[counts > 0] / total
    return float(np.sum(p * np.log(k * p)))


def mode_stats(samples, centres, std: float, min_fraction: float = 0.1) -> dict:
    """Mode coverage of ``samples`` (n, d) for a mixture with ``centres`` (K, d) and per-mode ``std``.

    A sample belongs to its nearest centre and is high-quality (HQ) when its distance to that
    centre is at most 3·std (Gulrajani et al. 2017; Srivastava et al. 2017). Returns

    * ``hq_fraction``: HQ samples / all n samples (non-finite samples count, as not HQ);
    * ``modes_covered``: the number of centres with at least max(1, round(min_fraction · n / K))
      HQ samples (Python's ``round``, half to even), i.e. a mode counts when it holds at least
      ``min_fraction`` of its fair share n/K;
    * ``mode_kl``: KL(p̂ ‖ uniform over K) = Σ_k p̂_k log(K p̂_k) of the histogram p̂ of HQ samples
      over modes, with 0·log 0 = 0; log K when no sample is HQ.
    """
    samples, centres = _as_points(samples, "samples"), _as_points(centres, "centres")
    if samples.shape[1] != centres.shape[1]:
        raise UsageError(f"centres: dimension {centres.shape[1]} differs from the samples' {samples.shape[1]}")
    if not (np.isfinite(std) and std > 0):
        raise UsageError(f"std: must be a positive number, got {std!r}")
    n, k = len(samples), len(centres)
    idx, dist = _nearest(samples, centres)
    with np.errstate(invalid="ignore"):
        hq = dist <= 3.0 * std  # nan distances compare False
    counts = np.bincount(idx[hq], minlength=k)
    threshold = max(1, round(min_fraction * n / k))
    return {
        "modes_covered": int((counts >= threshold).sum()),
        "hq_fraction": float(hq.sum() / n),
        "mode_kl": _kl_to_uniform(counts),
    }


def evaluate(dataset, fake, real) -> dict:
    """Metrics of generated points ``fake`` against data points ``real`` for a ``Toy2D`` data set.

    ``{"w1": ...}`` plus, when the data set has mode centres, the keys of :func:`mode_stats`
    (with the data set's centres and std). A diverged generator (non-finite ``fake``) gives
    ``w1 = nan`` (JSON cannot hold inf); its non-finite points count as not high-quality.
    """
    out = {"w1": w1(fake, real)}
    if dataset.centres is not None:
        out.update(mode_stats(fake, dataset.centres, dataset.std))
    return out


def mode_collapse(history: list[int], n_modes: int, threshold: float = 0.75) -> dict:
    """Mode-collapse summary from the modes covered at successive evaluations (Barnett 2018 §mode collapse).

    ``modes_dropped`` = peak − final modes covered (modes the generator had and lost); ``mode_collapse`` is
    true when the final count is below ``threshold`` · K (by default: more than a quarter of the modes missing). Both refer to the run's own evaluations.
    """
    if not history:
        raise UsageError("history: needs at least one evaluation of modes_covered")
    final, peak = int(history[-1]), int(max(history))
    return {"mode_collapse": bool(final < threshold * n_modes), "modes_dropped": peak - final,
            "peak_modes": peak, "n_modes": int(n_modes)}
