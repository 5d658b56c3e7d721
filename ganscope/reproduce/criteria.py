"""The pieces of the comparisons' criteria fixed in advance (docs/reproduce.md): means with Student-t 95 %
confidence intervals over seeds (``ganscope.sweep.results.mean_ci``), "below with non-overlapping intervals",
and the instability readings of one run's curves."""
from __future__ import annotations

import math

from ganscope.sweep.results import mean_ci


def interval(values) -> tuple[float, float]:
    """(mean, 95 % half-width) over seeds; the half-width is NaN for fewer than two finite values."""
    values = [v for v in values if v is not None and math.isfinite(v)]
    return mean_ci(values) if values else (math.nan, math.nan)


def below_apart(a, b) -> bool:
    """True iff mean(a) < mean(b) and their 95 % intervals do not overlap: mean(a) + h(a) < mean(b) − h(b).
    False when either interval is undefined (fewer than two seeds)."""
    (ma, ha), (mb, hb) = interval(a), interval(b)
    if not all(math.isfinite(v) for v in (ma, ha, mb, hb)):
        return False
    return ma + ha < mb - hb


def fmt_interval(values, digits: int = 1) -> str:
    """"m ± h (n seeds)"; "m (1 seed)" without an interval."""
    m, h = interval(values)
    n = sum(v is not None and math.isfinite(v) for v in values)
    if not math.isfinite(m):
        return "n/a"
    if not math.isfinite(h):
        return f"{m:.{digits}f} ({n} seed{'s' * (n != 1)})"
    return f"{m:.{digits}f} ± {h:.{digits}f} ({n} seeds)"


def late_mean(values) -> float:
    """The mean over the last third of a run's evaluations (⌈n/3⌉ of them)."""
    if not values:
        return math.nan
    tail = values[-math.ceil(len(values) / 3):]
    return float(sum(tail) / len(tail))


def largest_rise(values) -> float:
    """max over t of values[t] / min(values[:t]): how far a curve (FID) rises above its best so far (1.0: never)."""
    best, rise = math.inf, 1.0
    for v in values:
        if best < math.inf and best > 0:
            rise = max(rise, v / best)
        best = min(best, v)
    return rise


def growth_last_half(steps, values) -> float:
    """values at the last evaluation / values at the first evaluation of the second half (step ≥ last step / 2)."""
    if not values:
        return math.nan
    half = steps[-1] / 2
    first = next(v for s, v in zip(steps, values) if s >= half)
    return values[-1] / first if first > 0 else math.inf
