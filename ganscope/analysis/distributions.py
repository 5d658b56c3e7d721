"""Known distributions and their divergences: densities, the optimal discriminator, the JSD and the KL.

Sources: Goodfellow et al. 2014 as presented by Barnett 2018 (docs/references.md §B) and Arjovsky & Bottou 2017
(docs/references.md §A). Natural logarithms throughout (JSD in nats, log 2 ≈ 0.6931 is its maximum).

* For a fixed generator the optimal discriminator (a probability, high on real) is
  ``D*(x) = p_r(x) / (p_r(x) + p_g(x))``, i.e. the logit ``log p_r(x) − log p_g(x)``; measure-theoretically it is
  the Radon–Nikodym derivative dP_r / d(P_r + P_g), which exists even without densities.
* ``V(D, G) = E_r log D(x) + E_g log(1 − D(x))`` and ``V(D*, G) = −log 4 + 2·JSD(P_r‖P_g)`` with
  ``JSD(P‖Q) = ½KL(P‖M) + ½KL(Q‖M)``, ``M = (P + Q)/2``; ``0 ≤ JSD ≤ log 2``.
* If P_r and P_g are mutually singular (disjoint supports, point masses at different places, lines in the
  plane that do not align, a density against a lower-dimensional support) then JSD = log 2 and V(D*, G) = 0
  **however far apart** the distributions are (Arjovsky & Bottou Thm 2.3): the supremum is approached by
  D → 1 on supp P_r and D → 0 on supp P_g, and a perfect discriminator exists (Thms 2.1, 2.2).

Distributions (``parse_density`` syntax; 1-D or 2-D; numbers may be negative or use exponents):

==============================  ==============================================================================
``normal:MEAN,STD``             1-D Gaussian N(MEAN, STD²)
``normal:MX,MY,STD``            2-D isotropic Gaussian N((MX, MY), STD²·I)
``normal:MX,MY,SX,SY``          2-D diagonal Gaussian N((MX, MY), diag(SX², SY²))
``uniform:A,B``                 1-D uniform on [A, B], A < B
``mixture:[W*]normal:…+…``      mixture of Gaussians of one dimension, e.g.
                                ``mixture:0.3*normal:-2,0.5+0.7*normal:2,0.5`` (weights optional, equal if
                                all are left out, normalised to sum 1; quote the string in a shell)
``point:X`` / ``point:X,Y``     point mass (Dirac) at X or at (X, Y): no density
``segment:X1,Y1,X2,Y2``         uniform on the 2-D line segment between two distinct points: no 2-D density
==============================  ==============================================================================

Numerics: 1-D integrals by ``scipy.integrate.quad`` split at the supports' break points; 2-D integrals by the
trapezoid rule on a grid of step ≤ min σ / 8 over ±14σ (spectrally accurate for these smooth integrands).
Collinear segments are reduced to 1-D uniforms on their common line (densities w.r.t. arc length).
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np
from scipy import integrate
from scipy.special import expit, log_expit

from ganscope.errors import UsageError

LOG2 = math.log(2.0)
LOG4 = math.log(4.0)
FORMS = ("normal:MEAN,STD | normal:MX,MY,STD | normal:MX,MY,SX,SY | uniform:A,B | point:X | point:X,Y | "
         "segment:X1,Y1,X2,Y2 | mixture:[W*]normal:...+[W*]normal:...")
QUAD = {"epsabs": 1e-14, "epsrel": 1e-12, "limit": 400}  # scipy.integrate.quad options
_SPAN = 14.0  # a Gaussian's mass beyond 14σ is < 1e-44: the integration range of 1-D densities
_GRID_STEP, _GRID_MAX = 8.0, 2001  # 2-D trapezoid over ±14σ: step σ_min/8, ≤ 2001 nodes per axis


# ---- distributions ----------------------------------------------------------------------------------------
class Density:
    """A 1-D or 2-D distribution: ``sample(n, rng) -> (n, dim)``; ``logpdf(x)`` where a density exists."""

    dim: int
    absolutely_continuous: bool = True

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError

    def logpdf(self, x: np.ndarray) -> np.ndarray:
        """log density at x of shape (n, dim); −inf off the support."""
        raise TypeError(f"{self.spec}: no density w.r.t. Lebesgue measure in {self.dim}-D")

    def pdf(self, x) -> np.ndarray:
        return np.exp(self.logpdf(np.asarray(x, float).reshape(-1, self.dim)))

    def box(self) -> np.ndarray:
        """(dim, 2) lower/upper corners of a box holding all of the mass (up to < 1e-30)."""
        raise NotImplementedError

    def breakpoints(self) -> list[float]:
        """1-D only: points where the density or its shape changes (quad splits its range there)."""
        return []

    def __str__(self) -> str:
        return self.spec


def _fmt(values) -> str:
    return ",".join(f"{float(v):g}" for v in values)


@dataclass(frozen=True)
class Normal(Density):
    """Gaussian with diagonal covariance: mean and std tuples of length 1 or 2."""

    mean: tuple
    std: tuple

    @property
    def dim(self):
        return len(self.mean)

    @property
    def spec(self):
        std = self.std[:1] if len(set(self.std)) == 1 else self.std
        return f"normal:{_fmt(self.mean + std)}"

    def sample(self, n, rng):
        return rng.normal(self.mean, self.std, size=(n, self.dim))

    def logpdf(self, x):
        z = (np.asarray(x, float) - self.mean) / np.asarray(self.std)
        return np.sum(-0.5 * z**2 - np.log(self.std) - 0.5 * math.log(2 * math.pi), axis=-1)

    def box(self):
        m, s = np.asarray(self.mean), np.asarray(self.std)
        return np.stack([m - _SPAN * s, m + _SPAN * s], axis=1)

    def breakpoints(self):
        m, s = self.mean[0], self.std[0]
        return [m + k * s for k in (-8, -4, -2, -1, 0, 1, 2, 4, 8)]


@dataclass(frozen=True)
class Uniform(Density):
    """Uniform on the interval [low, high] (1-D)."""

    low: float
    high: float
    dim = 1

    @property
    def spec(self):
        return f"uniform:{_fmt((self.low, self.high))}"

    def sample(self, n, rng):
        return rng.uniform(self.low, self.high, size=(n, 1))

    def logpdf(self, x):
        x = np.asarray(x, float)[..., 0]
        inside = (x >= self.low) & (x <= self.high)
        return np.where(inside, -math.log(self.high - self.low), -np.inf)

    def box(self):
        return np.array([[self.low, self.high]])

    def breakpoints(self):
        return [self.low, self.high]


@dataclass(frozen=True)
class Mixture(Density):
    """Σ_k w_k N(μ_k, diag σ_k²), weights summing to 1, components of one dimension."""

    weights: tuple
    components: tuple

    @property
    def dim(self):
        return self.components[0].dim

    @property
    def spec(self):
        return "mixture:" + "+".join(f"{w:g}*{c.spec}" for w, c in zip(self.weights, self.components))

    def sample(self, n, rng):
        k = rng.choice(len(self.weights), size=n, p=np.asarray(self.weights))
        draws = [c.sample(n, rng) for c in self.components]
        return np.stack(draws)[k, np.arange(n)]

    def logpdf(self, x):
        logs = [math.log(w) + c.logpdf(x) for w, c in zip(self.weights, self.components)]
        return np.logaddexp.reduce(np.stack(logs), axis=0)

    def box(self):
        boxes = np.stack([c.box() for c in self.components])
        return np.stack([boxes[:, :, 0].min(0), boxes[:, :, 1].max(0)], axis=1)

    def breakpoints(self):
        return sorted(p for c in self.components for p in c.breakpoints())


@dataclass(frozen=True)
class Point(Density):
    """Point mass (Dirac) at ``loc`` (length 1 or 2): no density."""

    loc: tuple
    absolutely_continuous = False

    @property
    def dim(self):
        return len(self.loc)

    @property
    def spec(self):
        return f"point:{_fmt(self.loc)}"

    def sample(self, n, rng):
        return np.tile(np.asarray(self.loc, float), (n, 1))

    def box(self):
        return np.stack([np.asarray(self.loc, float)] * 2, axis=1)


@dataclass(frozen=True)
class Segment(Density):
    """Uniform on the 2-D segment from ``start`` to ``end`` (distinct points): a 1-D support in the plane."""

    start: tuple
    end: tuple
    absolutely_continuous = False
    dim = 2

    @property
    def spec(self):
        return f"segment:{_fmt(self.start + self.end)}"

    def sample(self, n, rng):
        a, b = np.asarray(self.start, float), np.asarray(self.end, float)
        return a + rng.uniform(0.0, 1.0, size=(n, 1)) * (b - a)

    def box(self):
        pts = np.array([self.start, self.end], float)
        return np.stack([pts.min(0), pts.max(0)], axis=1)


# ---- parsing -----------------------------------------------------------------------------------------------
def _numbers(body: str, flag: str, text: str) -> tuple:
    try:
        values = tuple(float(v) for v in body.split(","))
    except ValueError:
        raise _bad(flag, text, f"{body!r} is not a comma-separated list of numbers") from None
    if not all(math.isfinite(v) for v in values):
        raise _bad(flag, text, "numbers must be finite")
    return values


def _bad(flag: str, text: str, why: str) -> UsageError:
    return UsageError(f"{flag}: cannot read {text!r}: {why}; allowed forms: {FORMS}")


def _positive(values, flag, text, what="standard deviations"):
    if any(v <= 0 for v in values):
        raise _bad(flag, text, f"{what} must be > 0")
    return values


def _parse_normal(v, flag, text):
    if len(v) not in (2, 3, 4):
        raise _bad(flag, text, f"normal takes 2 (1-D), 3 or 4 (2-D) numbers, got {len(v)}")
    mean, std = (v[:1], v[1:]) if len(v) == 2 else (v[:2], v[2:] * (5 - len(v)))
    return Normal(mean, _positive(std, flag, text))


def _parse_uniform(v, flag, text):
    if len(v) != 2 or not v[0] < v[1]:
        raise _bad(flag, text, "uniform takes two numbers A < B")
    return Uniform(*v)


def _parse_point(v, flag, text):
    if len(v) not in (1, 2):
        raise _bad(flag, text, "point takes 1 (1-D) or 2 (2-D) numbers")
    return Point(v)


def _parse_segment(v, flag, text):
    if len(v) != 4 or v[:2] == v[2:]:
        raise _bad(flag, text, "segment takes four numbers X1,Y1,X2,Y2 with distinct end points")
    return Segment(v[:2], v[2:])


def _parse_mixture(body, flag, text):
    parts = re.split(r"\+(?=(?:[^+*:]*\*)?normal:)", body)
    weights, comps = [], []
    for part in parts:
        w, star, comp = part.rpartition("*")
        if not comp.startswith("normal:"):
            raise _bad(flag, text, f"mixture components must be normal:..., got {part!r}")
        weights.append(_positive(_numbers(w, flag, text), flag, text, "weights")[0] if star else None)
        comps.append(_parse_normal(_numbers(comp[len("normal:"):], flag, text), flag, text))
    if len({c.dim for c in comps}) != 1:
        raise _bad(flag, text, "mixture components must all be 1-D or all 2-D")
    if any(w is None for w in weights) and any(w is not None for w in weights):
        raise _bad(flag, text, "give a weight to every component or to none")
    weights = [1.0] * len(comps) if weights[0] is None else weights
    return Mixture(tuple(w / sum(weights) for w in weights), tuple(comps))


_PARSERS = {"normal": _parse_normal, "uniform": _parse_uniform, "point": _parse_point, "segment": _parse_segment}


def parse_density(text: str, flag: str = "--real") -> Density:
    """A ``Density`` from its string form (table in the module docstring); UsageError naming ``flag``."""
    kind, colon, body = str(text).strip().partition(":")
    if not colon or kind not in (*_PARSERS, "mixture"):
        raise _bad(flag, text, f"unknown kind {kind!r}" if colon else "expected KIND:NUMBERS")
    if kind == "mixture":
        return _parse_mixture(body, flag, text)
    return _PARSERS[kind](_numbers(body, flag, text), flag, text)


def as_density(d, flag: str = "--real") -> Density:
    return d if isinstance(d, Density) else parse_density(d, flag)


# ---- which integral: reduce a pair to its common dominating measure ---------------------------------------------
def _segment_line(s: Segment):
    a, b = np.asarray(s.start, float), np.asarray(s.end, float)
    return a, (b - a) / np.linalg.norm(b - a)


def _collinear(s: Segment, t: Segment) -> bool:
    a, u = _segment_line(s)
    scale = max(1.0, *np.abs(s.box()).ravel(), *np.abs(t.box()).ravel())
    cross = [u[0] * w[1] - u[1] * w[0] for w in (np.subtract(t.start, a), np.subtract(t.end, a))]
    return max(abs(c) for c in cross) <= 1e-12 * scale


def _on_line(s: Segment, t: Segment):
    """Both segments as 1-D uniforms of the arc-length coordinate on the line of ``s`` (they are collinear)."""
    a, u = _segment_line(s)
    ends = [sorted(float(np.dot(np.subtract(p, a), u)) for p in (x.start, x.end)) for x in (s, t)]
    return Uniform(*ends[0]), Uniform(*ends[1])


def _bounded_disjoint(p: Density, q: Density) -> bool:
    """1-D densities whose supports are intervals meeting in at most a point (a Lebesgue null set)."""
    if not (isinstance(p, Uniform) and isinstance(q, Uniform)):
        return False
    return min(p.high, q.high) <= max(p.low, q.low)


def relation(p: Density, q: Density):
    """``("equal-atoms", None)``, ``("singular", None)`` (mutually singular), ``("ac1", (p, q))`` or
    ``("ac2", (p, q))`` (both with densities w.r.t. Lebesgue measure in 1-D / 2-D, possibly after reducing
    collinear segments to their common line)."""
    if p.dim != q.dim:
        raise UsageError(f"--fake: a {q.dim}-D distribution cannot be compared with the {p.dim}-D --real")
    if isinstance(p, Point) or isinstance(q, Point):
        same = isinstance(p, Point) and isinstance(q, Point) and p.loc == q.loc
        return ("equal-atoms", None) if same else ("singular", None)
    if isinstance(p, Segment) and isinstance(q, Segment):
        if not _collinear(p, q):
            return "singular", None  # two non-aligned lines meet in at most one point (Lemma, §2)
        p, q = _on_line(p, q)
    elif isinstance(p, Segment) or isinstance(q, Segment):
        return "singular", None  # a 1-D support is a null set of a 2-D density
    if p.dim == 1 and _bounded_disjoint(p, q):
        return "singular", None
    return ("ac1" if p.dim == 1 else "ac2"), (p, q)


# ---- integration --------------------------------------------------------------------------------------------------
def _xlogy_safe(w: np.ndarray, log_term: np.ndarray) -> np.ndarray:
    """w · log_term with 0 · (±inf) = 0 (the integrand off a density's support)."""
    return np.where(w > 0, w * np.where(w > 0, log_term, 0.0), 0.0)


def _integrate_1d(fn, p: Density, q: Density) -> float:
    """∫ fn(x) dx over the union of both supports, by quad on pieces split at the break points."""
    lo = min(p.box()[0, 0], q.box()[0, 0])
    hi = max(p.box()[0, 1], q.box()[0, 1])
    cuts = sorted({lo, hi, *(c for c in p.breakpoints() + q.breakpoints() if lo < c < hi)})
    scalar = lambda x: float(fn(np.array([[x]]))[0])  # noqa: E731
    return float(sum(integrate.quad(scalar, a, b, **QUAD)[0] for a, b in zip(cuts[:-1], cuts[1:])))


def _grid_2d(p: Density, q: Density):
    """Trapezoid nodes and weights on a box holding both distributions (±14σ), step ≤ σ_min/8."""
    stds = [s for d in (p, q) for c in getattr(d, "components", (d,)) for s in c.std]
    box = np.stack([np.minimum(p.box()[:, 0], q.box()[:, 0]), np.maximum(p.box()[:, 1], q.box()[:, 1])], 1)
    axes, weights = [], []
    for lo, hi in box:
        n = int(min(_GRID_MAX, math.ceil((hi - lo) / (min(stds) / _GRID_STEP)) + 1))
        x = np.linspace(lo, hi, n)
        w = np.full(n, x[1] - x[0])
        w[[0, -1]] *= 0.5
        axes.append(x)
        weights.append(w)
    return axes, weights


def _integrate_2d(fn, p: Density, q: Density) -> float:
    """∫∫ fn(x, y) dx dy by the trapezoid rule (row by row, to bound memory)."""
    (xs, ys), (wx, wy) = _grid_2d(p, q)
    total = 0.0
    for y, w in zip(ys, wy):
        pts = np.column_stack([xs, np.full_like(xs, y)])
        total += float(w) * float(np.dot(wx, fn(pts)))
    return total


def _integrate(kind, fn, p, q) -> float:
    return (_integrate_1d if kind == "ac1" else _integrate_2d)(fn, p, q)


def _jsd_integrand(p: Density, q: Density):
    """½ p log(p/m) + ½ q log(q/m), m = (p + q)/2."""
    def fn(x):
        lp, lq = p.logpdf(x), q.logpdf(x)
        lm = np.logaddexp(lp, lq) - LOG2
        return 0.5 * (_xlogy_safe(np.exp(lp), lp - lm) + _xlogy_safe(np.exp(lq), lq - lm))
    return fn


def _kl_integrand(p: Density, q: Density):
    def fn(x):
        lp, lq = p.logpdf(x), q.logpdf(x)
        return _xlogy_safe(np.exp(lp), lp - lq)
    return fn


def jsd(p_r, p_g) -> float:
    """JSD(P_r‖P_g) = ½KL(P_r‖M) + ½KL(P_g‖M) in nats, M = (P_r + P_g)/2 (Barnett 2018; docs/references.md §B).

    Exactly log 2 for mutually singular pairs (Arjovsky & Bottou Thm 2.3), exactly 0 for two equal point
    masses; otherwise by numerical integration (1-D quad, 2-D trapezoid grid)."""
    p, q = as_density(p_r, "--real"), as_density(p_g, "--fake")
    kind, pair = relation(p, q)
    if kind in ("singular", "equal-atoms"):
        return LOG2 if kind == "singular" else 0.0
    if pair[0] == pair[1]:
        return 0.0
    return min(max(_integrate(kind, _jsd_integrand(*pair), *pair), 0.0), LOG2)


def _within(p: Density, q: Density) -> bool:
    """supp p ⊆ supp q for two 1-D or 2-D densities (only uniforms have bounded supports)."""
    if not isinstance(q, Uniform):
        return True
    return isinstance(p, Uniform) and q.low <= p.low and p.high <= q.high


def kl(p, q) -> float:
    """KL(P‖Q) = ∫ p log(p/q) in nats by numerical integration; +inf when P has mass where Q has none
    (in particular for mutually singular pairs, Thm 2.3)."""
    p, q = as_density(p, "--real"), as_density(q, "--fake")
    kind, pair = relation(p, q)
    if kind in ("singular", "equal-atoms"):
        return math.inf if kind == "singular" else 0.0
    if not _within(*pair):
        return math.inf
    return _integrate(kind, _kl_integrand(*pair), *pair)


def optimal_logit(p_r, p_g):
    """x ↦ log p_r(x) − log p_g(x), the logit of D* (nan where neither has mass; ±inf off one support)."""
    p, q = as_density(p_r, "--real"), as_density(p_g, "--fake")
    if not (p.absolutely_continuous and q.absolutely_continuous) or p.dim != q.dim:
        raise UsageError(f"--real/--fake: D* = p_r/(p_r + p_g) needs two densities of one dimension; "
                         f"{p.spec} vs {q.spec} has none (D* = dP_r/d(P_r + P_g) is 1 on supp P_r, 0 on supp P_g)")

    def logit(x):
        x = np.asarray(x, float).reshape(-1, p.dim)
        lp, lq = p.logpdf(x), q.logpdf(x)
        with np.errstate(invalid="ignore"):
            return np.where(np.isneginf(lp) & np.isneginf(lq), np.nan, lp - lq)
    return logit


def optimal_discriminator(p_r, p_g):
    """D*(x) = p_r(x) / (p_r(x) + p_g(x)) = σ(log p_r − log p_g) (Goodfellow et al. 2014; Barnett 2018, §4).

    Returns a function of x of shape (n, dim) (or (n,) in 1-D); nan where both densities vanish."""
    logit = optimal_logit(p_r, p_g)
    return lambda x: expit(logit(x))


def value_at_optimum(p_r, p_g) -> float:
    """V(D*, G) = E_r log D*(x) + E_g log(1 − D*(x)) by numerical integration of the densities times
    log σ(±logit*) (a different path from ``jsd``; the identity V(D*, G) = −log 4 + 2·JSD checks both).

    0 for mutually singular pairs (the supremum, D → 1 on supp P_r, D → 0 on supp P_g), −log 4 for equal atoms."""
    p, q = as_density(p_r, "--real"), as_density(p_g, "--fake")
    kind, pair = relation(p, q)
    if kind in ("singular", "equal-atoms"):
        return 0.0 if kind == "singular" else -LOG4
    logit = optimal_logit(*pair)

    def fn(x):
        t = logit(x)
        return (_xlogy_safe(pair[0].pdf(x), log_expit(t)) + _xlogy_safe(pair[1].pdf(x), log_expit(-t)))
    return _integrate(kind, fn, *pair)
