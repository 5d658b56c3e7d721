"""The optimal discriminator, the Jensen–Shannon divergence and perfect discrimination, on known distributions.

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

Command line (``register`` adds the group): ``ganscope theory optimal-d --real SPEC --fake SPEC [--steps N]
[--seed S] [--held-out N] [--json] [--plot FILE.png]``, ``ganscope theory jsd-saturation [--distances D,...]``,
``ganscope theory perfect-d [--setting NAME|all] [--seeds K] [--max-steps N]``, ``ganscope theory theorem-2-5
[--theta0 X ...]``; each with ``--json`` (one object, null for nan/inf) and all but the last with ``--plot``.

Numerics: 1-D integrals by ``scipy.integrate.quad`` split at the supports' break points; 2-D integrals by the
trapezoid rule on a grid of step ≤ min σ / 8 over ±14σ (spectrally accurate for these smooth integrands).
Collinear segments are reduced to 1-D uniforms on their common line (densities w.r.t. arc length).
"""
from __future__ import annotations

import json
import math
import re
import statistics
from dataclasses import dataclass

import numpy as np
import torch
from scipy import integrate
from scipy.special import expit, log_expit

from ganscope.errors import UsageError
from ganscope.io import json_safe as to_jsonable
from ganscope.nets.mlp import MLP
from ganscope.objectives import get_objective

LOG2 = math.log(2.0)
LOG4 = math.log(4.0)
FORMS = ("normal:MEAN,STD | normal:MX,MY,STD | normal:MX,MY,SX,SY | uniform:A,B | point:X | point:X,Y | "
         "segment:X1,Y1,X2,Y2 | mixture:[W*]normal:...+[W*]normal:...")
_QUAD = {"epsabs": 1e-14, "epsrel": 1e-12, "limit": 400}
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
    return float(sum(integrate.quad(scalar, a, b, **_QUAD)[0] for a, b in zip(cuts[:-1], cuts[1:])))


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
    """JSD(P_r‖P_g) = ½KL(P_r‖M) + ½KL(P_g‖M) in nats, M = (P_r + P_g)/2 (Barnett 2018; docs/references.md §B2).

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


# ---- a trained discriminator: the sample-based estimate of V(D*, G) ---------------------------------------------
TRAIN = {"batch": 512, "lr": 3e-3, "depth": 2, "width": 64, "activation": "tanh", "held_out": 100_000}


def _torch(x: np.ndarray) -> torch.Tensor:
    return torch.as_tensor(x, dtype=torch.float32)


def _standardiser(p: Density, q: Density, rng: np.random.Generator):
    """Centre and per-axis scale of a pooled pilot sample (scale 1 on an axis without spread)."""
    pilot = np.concatenate([p.sample(4096, rng), q.sample(4096, rng)])
    scale = pilot.std(0)
    return pilot.mean(0), np.where(scale > 1e-12, scale, 1.0)


class _Standardised(torch.nn.Module):
    """D(x) = MLP((x − centre) / scale): a logit, high on real."""

    def __init__(self, net: MLP, centre, scale):
        super().__init__()
        self.net = net
        self.register_buffer("centre", _torch(centre))
        self.register_buffer("scale", _torch(scale))

    def forward(self, x):
        return self.net((x - self.centre) / self.scale).squeeze(-1)


def train_discriminator(p_r, p_g, steps: int = 2000, seed: int = 0, **kw) -> torch.nn.Module:
    """An MLP discriminator trained from fresh samples with the minimax D loss
    −E_r log σ(D(x)) − E_g log(1 − σ(D(x))) (Adam, cosine-decayed learning rate; options in ``TRAIN``).

    Deterministic given ``seed`` (D's initialisation and every sample are drawn from it)."""
    opts = {**TRAIN, **kw}
    p, q = as_density(p_r, "--real"), as_density(p_g, "--fake")
    rng = np.random.default_rng([seed, 0])
    torch.manual_seed(seed)
    d = _Standardised(MLP(p.dim, 1, opts["depth"], opts["width"], opts["activation"]), *_standardiser(p, q, rng))
    opt = torch.optim.Adam(d.parameters(), lr=opts["lr"])
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(steps, 1))
    loss_fn = get_objective("minimax").d_loss
    for _ in range(steps):
        real, fake = _torch(p.sample(opts["batch"], rng)), _torch(q.sample(opts["batch"], rng))
        loss = loss_fn(d(real), d(fake))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    return d.eval()


@torch.no_grad()
def value_of(d: torch.nn.Module, p_r, p_g, n: int = TRAIN["held_out"], seed: int = 0) -> float:
    """V(D, G) = −d_loss = E_r log σ(D(x)) + E_g log(1 − σ(D(x))) on n fresh samples of each (held out:
    a stream the training never draws from)."""
    p, q = as_density(p_r, "--real"), as_density(p_g, "--fake")
    rng = np.random.default_rng([seed, 1])
    real, fake = _torch(p.sample(n, rng)), _torch(q.sample(n, rng))
    return -float(get_objective("minimax").d_loss(d(real).double(), d(fake).double()))


# ---- the report: closed form against trained ----------------------------------------------------------------------
def _grid(p: Density, q: Density, n: int):
    """Axes of a plotting grid covering 99% of both distributions with a margin."""
    pilot = np.concatenate([p.sample(4000, np.random.default_rng(7)), q.sample(4000, np.random.default_rng(8))])
    lo, hi = np.quantile(pilot, 0.005, axis=0), np.quantile(pilot, 0.995, axis=0)
    pad = np.maximum(0.15 * (hi - lo), 0.5)
    return [np.linspace(a, b, n) for a, b in zip(lo - pad, hi + pad)]


@torch.no_grad()
def _curves(d: torch.nn.Module, p: Density, q: Density, kind: str) -> dict:
    """D*, the trained D (σ(logit)) and both densities on a grid (1-D: 201 points; 2-D: 61 × 61, [y][x])."""
    axes = _grid(p, q, 201 if p.dim == 1 else 61)
    pts = axes[0][:, None] if p.dim == 1 else np.stack(np.meshgrid(*axes), -1).reshape(-1, 2)
    shape = (len(axes[0]),) if p.dim == 1 else (len(axes[1]), len(axes[0]))
    dens = kind in ("ac1", "ac2") and p.absolutely_continuous and q.absolutely_continuous
    out = {"x": axes[0], "y": axes[1] if p.dim == 2 else None,
           "d_trained": torch.sigmoid(d(_torch(pts)).double()).numpy().reshape(shape),
           "d_star": optimal_discriminator(p, q)(pts).reshape(shape) if dens else None,
           "p_real": p.pdf(pts).reshape(shape) if p.absolutely_continuous else None,
           "p_fake": q.pdf(pts).reshape(shape) if q.absolutely_continuous else None}
    return out


def optimal_d_report(real, fake, steps: int = 2000, seed: int = 0, held_out: int = TRAIN["held_out"],
                     **train_kw) -> dict:
    """Closed form against trained, for one pair of distributions.

    ``jsd`` (nats) and ``value_at_optimum`` = V(D*, G) by numerical integration, ``identity_gap`` =
    V(D*, G) − (−log 4 + 2·JSD); ``value_trained`` = −d_loss of a trained MLP on held-out samples (≤ V(D*, G) up
    to sampling error), ``jsd_trained`` = (value_trained + log 4)/2, ``gap_value`` / ``gap_jsd`` = trained −
    closed form; ``curve``: D*, trained D and densities on a grid (None where undefined). The sampling error
    of ``value_trained`` is about 1/sqrt(held_out) (≈ 0.003 for N(0,1) vs N(2,1) at the default 100,000)."""
    p, q = as_density(real, "--real"), as_density(fake, "--fake")
    _check_int(steps, "--steps", 1)
    _check_int(seed, "--seed", 0)
    _check_int(held_out, "--held-out", 1)
    kind, _ = relation(p, q)
    j, v = jsd(p, q), value_at_optimum(p, q)
    d = train_discriminator(p, q, steps, seed, **train_kw)
    v_hat = value_of(d, p, q, held_out, seed)
    notes = []
    if kind == "singular":
        notes.append("mutually singular supports: JSD = log 2 and V(D*, G) = 0 however far apart (Arjovsky & "
                     "Bottou Thm 2.3); D* = 1 on supp P_r, 0 on supp P_g, no density ratio")
    return {"real": p.spec, "fake": q.spec, "dim": p.dim, "relation": kind, "jsd": j, "log2": LOG2,
            "value_at_optimum": v, "identity_gap": v - (-LOG4 + 2 * j), "value_trained": v_hat,
            "jsd_trained": (v_hat + LOG4) / 2, "gap_value": v_hat - v, "gap_jsd": (v_hat + LOG4) / 2 - j,
            "steps": steps, "seed": seed, "held_out": held_out, "notes": notes,
            "curve": _curves(d, p, q, kind)}


def _check_int(value, flag: str, least: int):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < least:
        raise UsageError(f"{flag}: must be an integer >= {least}, got {value!r}")


# ---- JSD saturation ---------------------------------------------------------------------------------------------
SATURATION_DISTANCES = (0.0, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 5.0, 10.0, 100.0)


def jsd_saturation(distances=SATURATION_DISTANCES, width: float = 1.0, std: float = 0.25) -> list[dict]:
    """JSD between a distribution and its copy shifted by d, for each d (Arjovsky & Bottou Thm 2.3; §3.3).

    Per row: ``uniform`` = JSD(U[0, w], U[d, d + w]) = min(|d|/w, 1)·log 2 (disjoint, hence log 2, once |d| ≥ w);
    ``point`` = JSD(δ_0, δ_d) = log 2 for every d ≠ 0; ``normal`` = JSD(N(0, s²), N(d, s²)) < log 2 (full
    supports; it tends to log 2 numerically); ``w1`` = |d|, the Wasserstein-1 distance of every pair (a shift),
    which keeps growing where the JSD is flat."""
    rows = []
    for d in distances:
        d = float(d)
        rows.append({"distance": d,
                     "uniform": jsd(Uniform(0.0, width), Uniform(d, d + width)),
                     "uniform_disjoint": abs(d) >= width,
                     "point": jsd(Point((0.0,)), Point((d,))),
                     "normal": jsd(Normal((0.0,), (std,)), Normal((d,), (std,))),
                     "w1": abs(d), "log2": LOG2})
    return rows


# ---- perfect discrimination (Arjovsky & Bottou §2, Thms 2.1/2.2) ----------------------------------------------------
GEOMETRY_SEED = 1701_04862  # fixes the random manifolds of every setting (the paper's arXiv number)
PERFECT = {"batch": 64, "held_out": 500, "lr": 1e-3, "betas": (0.5, 0.999), "depth": 3, "width": 128}


def _segment_sampler(a, b):
    a, b = torch.tensor(a, dtype=torch.float32), torch.tensor(b, dtype=torch.float32)
    return lambda n, gen: a + torch.rand(n, 1, generator=gen) * (b - a)


def _random_map(latent: int, dim: int, gen: torch.Generator, width: int = 32):
    """A fixed random tanh MLP R^latent → R^dim, standardised per coordinate on a pilot sample; z ~ N(0, I)."""
    w1 = torch.randn(latent, width, generator=gen) / latent**0.5
    b1 = torch.randn(width, generator=gen) * 0.5
    w2 = torch.randn(width, dim, generator=gen) / width**0.5
    raw = lambda z: torch.tanh(z @ w1 + b1) @ w2  # noqa: E731
    pilot = raw(torch.randn(20_000, latent, generator=gen))
    mu, sd = pilot.mean(0), pilot.std(0)
    return lambda n, g: (raw(torch.randn(n, latent, generator=g)) - mu) / sd


def _subspace(latent: int, dim: int, gen: torch.Generator, mean: torch.Tensor):
    """x = mean + A z, A a random dim × latent matrix with orthonormal columns, z ~ N(0, I)."""
    basis = torch.linalg.qr(torch.randn(dim, latent, generator=gen))[0]
    return lambda n, g: mean + torch.randn(n, latent, generator=g) @ basis.T


def _lines(gen):
    return _segment_sampler((-1.0, 0.0), (1.0, 0.0)), _segment_sampler((-0.866, 0.1), (0.866, 1.1)), 2


def _crossing_lines(gen):
    return _segment_sampler((-1.0, 0.0), (1.0, 0.0)), _segment_sampler((-0.566, -0.5), (1.166, 0.5)), 2


def _low_dim_generator(gen):
    fake = _random_map(2, 8, gen)
    return (lambda n, g: torch.randn(n, 8, generator=g)), fake, 8


def _manifolds(gen):
    return _random_map(2, 8, gen), _random_map(2, 8, gen), 8


def _images(gen):
    mean = torch.rand(64, generator=gen) - 0.5  # a common "mean image", 8 × 8 pixels
    return _subspace(4, 64, gen, mean), _subspace(4, 64, gen, mean), 64


def _overlap(gen):
    shift = torch.tensor([0.5, 0.0])
    return (lambda n, g: torch.randn(n, 2, generator=g)), (lambda n, g: torch.randn(n, 2, generator=g) + shift), 2


SETTINGS = {
    "lines": (_lines, "2-D: real uniform on the segment [-1,1]×{0}; fake uniform on that segment rotated by 30° "
                      "and lifted to y ∈ [0.1, 1.1]: disjoint compact supports (Thm 2.1)"),
    "crossing-lines": (_crossing_lines, "2-D: real on [-1,1]×{0}; fake on that segment rotated by 30° about "
                                        "(0.3, 0): the lines cross in one point, a null set (Thm 2.2)"),
    "low-dim-generator": (_low_dim_generator, "8-D: fake = a fixed random tanh MLP of a 2-D latent (standardised "
                                              "per coordinate), real = N(0, I_8), full-dimensional (Lemma: "
                                              "dim Z < dim X puts P_g on a null set)"),
    "manifolds": (_manifolds, "8-D: real and fake both fixed random tanh MLPs of 2-D latents (different "
                              "weights): two 2-D manifolds that do not align (Thm 2.2)"),
    "images": (_images, "64-D (8×8 'images'): real and fake on two random 4-D affine subspaces through one "
                        "random mean image; they meet only at the mean (Thm 2.2)"),
    "overlap": (_overlap, "control, 2-D: N(0, I) vs N((0.5, 0), I), overlapping densities: the Bayes accuracy "
                          "is about 0.6, so accuracy 1 is not expected"),
}


def _accuracy(d, real, fake) -> float:
    """Fraction of the held-out batch classified right: real iff logit > 0 (ties are errors)."""
    return float(torch.cat([d(real) > 0, d(fake) < 0]).float().mean())


def _first_perfect(setting: str, seed: int, max_steps: int, stop: bool, opts: dict) -> dict:
    """Train a fresh D on fresh batches; accuracy on a fixed held-out batch after every update."""
    real_of, fake_of, dim = SETTINGS[setting][0](torch.Generator().manual_seed(GEOMETRY_SEED))
    gen = torch.Generator().manual_seed(seed)
    held = torch.Generator().manual_seed(seed + 10_000_019)
    real_ho, fake_ho = real_of(opts["held_out"], held), fake_of(opts["held_out"], held)
    torch.manual_seed(seed)
    net = MLP(dim, 1, opts["depth"], opts["width"])
    d = lambda x: net(x).squeeze(-1)  # noqa: E731
    opt = torch.optim.Adam(net.parameters(), lr=opts["lr"], betas=opts["betas"])
    loss_fn = get_objective("minimax").d_loss
    with torch.no_grad():
        acc = [_accuracy(d, real_ho, fake_ho)]
    first = 0 if acc[0] == 1.0 else None
    for it in range(1, max_steps + 1):
        if first is not None and stop:
            break
        loss = loss_fn(d(real_of(opts["batch"], gen)), d(fake_of(opts["batch"], gen)))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        with torch.no_grad():
            acc.append(_accuracy(d, real_ho, fake_ho))
        first = it if first is None and acc[-1] == 1.0 else first
    return {"seed": seed, "first_perfect": first, "accuracy": acc, "final_d_loss": float(loss.detach()) if len(acc) > 1 else None}


def perfect_discrimination(setting: str = "lines", seeds=3, max_steps: int = 2000, stop_at_perfect: bool = True,
                           **kw) -> dict:
    """For each seed, a fresh MLP discriminator (``PERFECT``: 3×128 ReLU, Adam 1e-3, β = (0.5, 0.999), batch 64
    per class) is trained from scratch on fresh batches of a fixed pair of distributions (``SETTINGS``); after
    each update its accuracy on a fixed held-out batch (500 + 500) is recorded. ``first_perfect`` is the first
    iteration at which that accuracy is exactly 1.0 (0 = before any update; None = not within ``max_steps``).

    Arjovsky & Bottou (Thms 2.1/2.2): with disjoint or non-aligned low-dimensional supports a perfect
    discriminator exists, and training finds one quickly (their Figure 1: "sometimes less than 50 iterations").
    ``median_first_perfect`` counts a seed that never got there as +inf (None if the median is)."""
    if setting not in SETTINGS:
        raise UsageError(f"--setting: unknown setting {setting!r}; allowed: {', '.join(SETTINGS)}")
    seeds = list(range(seeds)) if isinstance(seeds, (int, np.integer)) and not isinstance(seeds, bool) else seeds
    if not seeds:
        raise UsageError("--seeds: need at least one seed")
    _check_int(max_steps, "--max-steps", 1)
    opts = {**PERFECT, **kw}
    runs = [_first_perfect(setting, int(s), max_steps, stop_at_perfect, opts) for s in seeds]
    firsts = [r["first_perfect"] for r in runs]
    med = statistics.median([math.inf if f is None else f for f in firsts])
    return {"setting": setting, "description": SETTINGS[setting][1], "max_steps": max_steps, "seeds": list(seeds),
            "first_perfect": firsts, "median_first_perfect": None if math.isinf(med) else med,
            "reached": sum(f is not None for f in firsts), "runs": runs,
            "options": {k: list(v) if isinstance(v, tuple) else v for k, v in opts.items()}}


# ---- Theorem 2.5: the −log D generator cost -------------------------------------------------------------------------
def theorem_2_5(theta0: float, h: float = 1e-3) -> dict:
    """Arjovsky & Bottou Thm 2.5 for P_r = N(0, 1), g_θ(z) = z + θ, z ~ N(0, 1), D* frozen at θ0:

        E_z[−∂_θ log D*(g_θ(z))]|θ0 = ∂_θ[KL(P_gθ‖P_r) − 2·JSD(P_gθ‖P_r)]|θ0.

    LHS: −log D*(x) = softplus(ℓ(x)), ℓ = log p_gθ0 − log p_r = θ0·x − θ0²/2, so ∂_θ[−log D*(z + θ)] =
    σ(ℓ(z + θ))·θ0; integrated against N(0, 1) by quad. RHS: KL and JSD by quad, the derivative by a
    Richardson-extrapolated central difference (step h, error O(h⁴))."""
    theta0 = float(theta0)
    if not math.isfinite(theta0):
        raise UsageError(f"--theta0: must be a finite number, got {theta0!r}")
    p_r = Normal((0.0,), (1.0,))
    ell = lambda x: theta0 * x - theta0**2 / 2  # noqa: E731
    integrand = lambda z: math.exp(-z * z / 2) / math.sqrt(2 * math.pi) * expit(ell(z + theta0)) * theta0  # noqa: E731
    lhs = sum(integrate.quad(integrand, a, b, **_QUAD)[0] for a, b in ((-40, -5), (-5, 0), (0, 5), (5, 40)))
    f = lambda t: kl(Normal((t,), (1.0,)), p_r) - 2 * jsd(Normal((t,), (1.0,)), p_r)  # noqa: E731
    central = lambda s: (f(theta0 + s) - f(theta0 - s)) / (2 * s)  # noqa: E731
    rhs = (4 * central(h / 2) - central(h)) / 3
    kl_grad = theta0  # d/dθ θ²/2, closed form, for reference
    return {"theta0": theta0, "lhs": lhs, "rhs": rhs, "abs_diff": abs(lhs - rhs), "kl_grad_closed_form": kl_grad,
            "jsd_grad": (kl_grad - rhs) / 2}


# ---- figures ------------------------------------------------------------------------------------------------------
def _pyplot():
    import ganscope.plots  # noqa: F401  (selects the headless Agg backend)
    import matplotlib.pyplot as plt

    return plt


def _draw_support_1d(ax, density: Density, color: str, label: str, top: float):
    if isinstance(density, Point):
        ax.annotate("", (density.loc[0], top), (density.loc[0], 0), arrowprops={"arrowstyle": "->", "color": color,
                                                                               "lw": 2})
        ax.plot([], [], color=color, lw=2, label=f"{label} = δ at {density.loc[0]:g} (no density)")


def _draw_support_2d(ax, density: Density, color: str, curve: dict, key: str):
    if isinstance(density, Point):
        ax.plot(*density.loc, "o", color=color, ms=7, mec="w")
    elif isinstance(density, Segment):
        ax.plot(*np.array([density.start, density.end]).T, color=color, lw=2.5)
    elif curve[key] is not None:
        dens = np.asarray(curve[key], float)
        ax.contour(curve["x"], curve["y"], dens, levels=dens.max() * np.array([0.05, 0.3, 0.7]), colors=color,
                   linewidths=1)


def _title(r: dict) -> str:
    return (f"P_r = {r['real']}, P_g = {r['fake']}\nJSD = {r['jsd']:.4f} nats (log 2 = {LOG2:.4f}), "
            f"V(D*,G) = {r['value_at_optimum']:.4f}, trained: V = {r['value_trained']:.4f}, "
            f"JSD ≈ {r['jsd_trained']:.4f}")


def plot_optimal_d(result: dict):
    """1-D: densities (top), D* and the trained D = σ(logit) (bottom) against x.
    2-D: heat maps of D* (when a density ratio exists) and of the trained D, supports overlaid."""
    plt = _pyplot()
    c = result["curve"]
    p, q = parse_density(result["real"]), parse_density(result["fake"], "--fake")
    if result["dim"] == 1:
        fig, (top, bot) = plt.subplots(2, 1, figsize=(7, 5.5), sharex=True, height_ratios=[1, 1.2])
        peak = max([np.nanmax(c[k]) for k in ("p_real", "p_fake") if c[k] is not None] or [1.0])
        for dens, key, color, label in ((p, "p_real", "tab:blue", "P_r"), (q, "p_fake", "tab:orange", "P_g")):
            if c[key] is not None:
                top.plot(c["x"], c[key], color=color, label=label)
            _draw_support_1d(top, dens, color, label, peak)
        top.set(ylabel="density", ylim=(0, peak * 1.1))
        top.legend(fontsize=8)
        if c["d_star"] is not None:
            bot.plot(c["x"], c["d_star"], "k", lw=2, label="D* = p_r/(p_r+p_g)")
        bot.plot(c["x"], c["d_trained"], "--", color="tab:red", lw=1.5,
                 label=f"trained D ({result['steps']} steps, seed {result['seed']})")
        bot.axhline(0.5, color="0.6", lw=0.8, ls=":")
        bot.set(xlabel="x", ylabel="D(x) = P(real | x)", ylim=(-0.03, 1.03))
        bot.legend(fontsize=8)
        top.set_title(_title(result), fontsize=8)
        fig.tight_layout()
        return fig
    panels = [("d_star", "D* = p_r/(p_r+p_g)"), ("d_trained", "trained D = σ(logit)")]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.6))
    for ax, (key, name) in zip(axes, panels):
        if c[key] is None:
            ax.text(0.5, 0.5, "no density ratio:\nD* = 1 on supp P_r, 0 on supp P_g", ha="center", va="center",
                    transform=ax.transAxes)
        else:
            im = ax.pcolormesh(c["x"], c["y"], c[key], cmap="RdBu_r", vmin=0, vmax=1, shading="auto")
            fig.colorbar(im, ax=ax, label="P(real | x)")
        _draw_support_2d(ax, p, "tab:blue", c, "p_real")
        _draw_support_2d(ax, q, "tab:orange", c, "p_fake")
        ax.set(title=name, xlabel="x₁", ylabel="x₂", xlim=(c["x"][0], c["x"][-1]), ylim=(c["y"][0], c["y"][-1]))
    fig.suptitle(_title(result) + "  (blue: P_r, orange: P_g)", fontsize=8)
    fig.tight_layout()
    return fig


def plot_jsd_saturation(rows: list[dict]):
    """JSD against the shift d for the three families, with log 2 and (right axis) W1 = d."""
    plt = _pyplot()
    d = [r["distance"] for r in rows]
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for key, style, label in (("uniform", "o-", "U[0,1] vs U[d,d+1]"), ("point", "s--", "δ_0 vs δ_d"),
                              ("normal", "^:", "N(0,σ²) vs N(d,σ²)")):
        ax.plot(d, [r[key] for r in rows], style, label=label)
    ax.axhline(LOG2, color="k", lw=0.8, label="log 2")
    ax.set(xscale="symlog", xlabel="shift d", ylabel="JSD (nats)", title="JSD saturates at log 2; W1 = d does not")
    twin = ax.twinx()
    twin.plot(d, [r["w1"] for r in rows], color="0.6", lw=1, label="W1 = d")
    twin.set(yscale="symlog", ylabel="W1")
    handles = ax.get_legend_handles_labels()[0] + twin.get_legend_handles_labels()[0]
    ax.legend(handles=handles, fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig


def plot_perfect_discrimination(results: list[dict]):
    """Held-out accuracy against D iterations, one panel per setting, one curve per seed."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(results), figsize=(4 * len(results), 3.4), squeeze=False)
    for ax, res in zip(axes[0], results):
        for run in res["runs"]:
            ax.plot(np.arange(len(run["accuracy"])), run["accuracy"], lw=1, label=f"seed {run['seed']}")
            if run["first_perfect"] is not None:
                ax.plot(run["first_perfect"], 1.0, "k|", ms=10)
        med = res["median_first_perfect"]
        ax.set(xscale="symlog", ylim=(0.4, 1.02), xlabel="D iteration", ylabel="held-out accuracy",
               title=f"{res['setting']}: median first 1.0 at {med if med is not None else 'never'}")
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


# ---- command line: `ganscope theory ...` ----------------------------------------------------------------------------
def register(subparsers) -> None:
    """Add the ``theory`` command group (optimal-d, jsd-saturation, perfect-d, theorem-2-5) to ``subparsers``."""
    p = subparsers.add_parser("theory", help="optimal discriminator, JSD and perfect discrimination "
                                             "(Arjovsky & Bottou 2017; Barnett 2018)",
                              description="Closed-form and trained checks of GAN theory on known distributions.")
    sub = p.add_subparsers(title="analyses", metavar="ANALYSIS", parser_class=type(p))
    p.set_defaults(run=lambda args: (p.print_help(), 2)[1])
    o = sub.add_parser("optimal-d", help="D* = p_r/(p_r+p_g), V(D*,G) = -log 4 + 2 JSD, against a trained D",
                       description=f"Distributions: {FORMS}")
    o.add_argument("--real", required=True, metavar="SPEC", help="e.g. normal:0,1")
    o.add_argument("--fake", required=True, metavar="SPEC", help="e.g. normal:2,1")
    o.add_argument("--steps", type=int, default=2000, help="discriminator training steps (default 2000)")
    o.add_argument("--seed", type=int, default=0, help="seed of D's initialisation and samples (default 0)")
    o.add_argument("--held-out", type=int, default=TRAIN["held_out"],
                   help=f"fresh samples of each distribution for value_trained (default {TRAIN['held_out']})")
    _output_flags(o)
    o.set_defaults(run=_run_optimal_d)
    s = sub.add_parser("jsd-saturation", help="JSD of shifted copies saturates at log 2 (Thm 2.3)")
    s.add_argument("--distances", metavar="D1,D2,...", help="shifts (default " + _fmt(SATURATION_DISTANCES) + ")")
    _output_flags(s)
    s.set_defaults(run=_run_jsd_saturation)
    d = sub.add_parser("perfect-d", help="a fresh D reaches held-out accuracy 1 (Thms 2.1/2.2)",
                       description="Settings: " + "; ".join(f"{k}: {v[1]}" for k, v in SETTINGS.items()))
    d.add_argument("--setting", default="lines", help=f"one of {', '.join(SETTINGS)}, or all (default lines)")
    d.add_argument("--seeds", type=int, default=3, help="number of seeds 0..K-1 (default 3)")
    d.add_argument("--max-steps", type=int, default=2000, help="discriminator iterations at most (default 2000)")
    _output_flags(d)
    d.set_defaults(run=_run_perfect_d)
    t = sub.add_parser("theorem-2-5", help="the -log D cost's gradient = ∇[KL - 2 JSD] (Thm 2.5)")
    t.add_argument("--theta0", type=float, nargs="+", default=[0.5, 1.0, 2.0], help="θ0 values (default 0.5 1 2)")
    t.add_argument("--json", action="store_true", help="print one JSON object")
    t.set_defaults(run=_run_theorem_2_5)


def _output_flags(p):
    p.add_argument("--json", action="store_true", help="print one JSON object (null where undefined)")
    p.add_argument("--plot", metavar="FILE.png", help="write a figure")


def _check_plot(path):
    if path is not None and not path.lower().endswith(".png"):
        raise UsageError(f"--plot: expected a .png file name, got {path!r}")


def _emit(args, result, summary, figure):
    if args.plot:
        from ganscope.plots import save

        save(figure(), args.plot)
    if args.json:
        print(json.dumps(to_jsonable(result), allow_nan=False))
    else:
        summary()
    return 0


def _run_optimal_d(args):
    _check_plot(args.plot)
    p, q = parse_density(args.real, "--real"), parse_density(args.fake, "--fake")
    r = optimal_d_report(p, q, args.steps, args.seed, args.held_out)

    def summary():
        print(f"P_r = {r['real']}, P_g = {r['fake']} ({r['dim']}-D, {r['relation']})")
        print(f"  JSD(P_r‖P_g)        {r['jsd']:.6f} nats   (log 2 = {LOG2:.6f})")
        print(f"  V(D*, G)            {r['value_at_optimum']:.6f}   (-log 4 + 2 JSD, gap {r['identity_gap']:.1e})")
        print(f"  trained D           V = {r['value_trained']:.6f}, JSD ≈ {r['jsd_trained']:.6f} "
              f"(gap {r['gap_jsd']:+.4f}; {r['steps']} steps, seed {r['seed']}, {r['held_out']} held-out pairs)")
        for note in r["notes"]:
            print(f"  note: {note}")
    return _emit(args, r, summary, lambda: plot_optimal_d(r))


def _parse_distances(text):
    if text is None:
        return SATURATION_DISTANCES
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise UsageError(f"--distances: expected comma-separated numbers, got {text!r}") from None
    if not all(math.isfinite(v) and v >= 0 for v in values):
        raise UsageError(f"--distances: shifts must be finite and >= 0, got {text!r}")
    return values


def _run_jsd_saturation(args):
    _check_plot(args.plot)
    rows = jsd_saturation(_parse_distances(args.distances))

    def summary():
        print(f"JSD (nats) of a distribution and its copy shifted by d; log 2 = {LOG2:.6f}")
        print(f"  {'d':>8}  {'U[0,1] vs U[d,d+1]':>19}  {'δ_0 vs δ_d':>11}  {'N(0,.25²) vs N(d,.25²)':>22}  {'W1':>8}")
        for r in rows:
            print(f"  {r['distance']:8g}  {r['uniform']:19.6f}  {r['point']:11.6f}  {r['normal']:22.6f}  {r['w1']:8g}")
    return _emit(args, {"rows": rows, "log2": LOG2}, summary, lambda: plot_jsd_saturation(rows))


def _run_perfect_d(args):
    _check_plot(args.plot)
    _check_int(args.seeds, "--seeds", 1)
    if args.setting != "all" and args.setting not in SETTINGS:
        raise UsageError(f"--setting: unknown setting {args.setting!r}; allowed: {', '.join(SETTINGS)}, all")
    names = list(SETTINGS) if args.setting == "all" else [args.setting]
    results = [perfect_discrimination(n, args.seeds, args.max_steps) for n in names]

    def summary():
        print(f"first D iteration with held-out accuracy exactly 1 (max {args.max_steps}; None = never)")
        for r in results:
            print(f"  {r['setting']:<18} median {r['median_first_perfect']}, per seed {r['first_perfect']}")
    out = results[0] if len(results) == 1 else {"settings": results}
    return _emit(args, out, summary, lambda: plot_perfect_discrimination(results))


def _run_theorem_2_5(args):
    rows = [theorem_2_5(t) for t in args.theta0]
    if args.json:
        print(json.dumps(to_jsonable({"rows": rows}), allow_nan=False))
        return 0
    print("Thm 2.5, P_r = N(0,1), g_θ(z) = z + θ: E[-∂θ log D*(g_θ(z))] vs ∂θ[KL(P_gθ‖P_r) - 2 JSD(P_gθ‖P_r)]")
    for r in rows:
        print(f"  θ0 = {r['theta0']:g}: lhs {r['lhs']:.10f}, rhs {r['rhs']:.10f}, |diff| {r['abs_diff']:.1e}")
    return 0
