"""Jensen–Shannon divergence between the character n-gram statistics of two bodies of text.

WGAN-GP's language model is monitored by "the JS divergence between the 1-, 2-, 3- and 4-gram character
statistics" of generated samples and of real text (Gulrajani et al. 2017, §5.5 and ``gan_language.py``;
docs/references.md §G4). For n-gram distributions P (samples) and Q (reference), M = (P + Q)/2,

    JSD(P, Q) = ½ Σ_g P(g) log(P(g)/M(g)) + ½ Σ_g Q(g) log(Q(g)/M(g))      (nats, 0 ≤ JSD ≤ log 2)

over the union of the n-grams seen. 0 means identical statistics, log 2 disjoint ones. The official code
reports the same quantity in bits (divided by log 2) and counts its padding character as text; here a text is
a list of strings (for generated sequences: their pad-free runs), and an n-gram never crosses a string's end.
An empty side (no n-grams) against a non-empty one counts as disjoint (log 2); two empty sides as 0.
"""
from __future__ import annotations

import math
from collections import Counter
from typing import Iterable, Sequence

import numpy as np

from ganscope.errors import UsageError

ORDERS = (1, 2, 3, 4)


def ngram_counts(texts: Iterable[Sequence], n: int) -> Counter:
    """Counts of the contiguous length-``n`` slices of each text (strings, tuples, ...)."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise UsageError(f"n: must be an integer >= 1, got {n!r}")
    counts = Counter()
    for t in texts:
        counts.update(t[i:i + n] for i in range(len(t) - n + 1))
    return counts


def js_divergence(p: Counter, q: Counter) -> float:
    """JSD in nats between the empirical distributions of two count tables (see the module docstring)."""
    total_p, total_q = sum(p.values()), sum(q.values())
    if not total_p or not total_q:
        return 0.0 if total_p == total_q else math.log(2)
    keys = list(p.keys() | q.keys())
    pv = np.array([p.get(k, 0) for k in keys], dtype=np.float64) / total_p
    qv = np.array([q.get(k, 0) for k in keys], dtype=np.float64) / total_q
    m = (pv + qv) / 2
    return float(0.5 * _kl(pv, m) + 0.5 * _kl(qv, m))


def _kl(p: np.ndarray, m: np.ndarray) -> float:
    """Σ p log(p/m) over p > 0 (where p > 0, m ≥ p/2 > 0)."""
    nz = p > 0
    return float(np.sum(p[nz] * np.log(p[nz] / m[nz])))


def ngram_jsd(texts_a, texts_b, n: int) -> float:
    """JSD between the n-gram statistics of two lists of texts."""
    return js_divergence(ngram_counts(texts_a, n), ngram_counts(texts_b, n))


def ngram_jsds(texts, reference, orders=ORDERS, reference_counts: dict | None = None) -> dict[str, float]:
    """``{"jsd1": ..., "jsd4": ...}``: JSD of ``texts`` to ``reference`` for each n in ``orders``.

    ``reference_counts``: precomputed ``{n: ngram_counts(reference, n)}`` (then ``reference`` may be None).
    """
    ref = reference_counts or {n: ngram_counts(reference, n) for n in orders}
    return {f"jsd{n}": js_divergence(ngram_counts(texts, n), ref[n]) for n in orders}
