"""Arjovsky & Bottou 2017, *Towards Principled Methods for Training GANs* §2 (docs/references.md §A), in fixed settings.

* ``jsd_saturation``: the JSD of a distribution and its shifted copy saturates at log 2 once the supports are
  disjoint (Thm 2.3), while W1 = |d| keeps growing.
* ``perfect_discrimination``: a fresh MLP discriminator reaches held-out accuracy exactly 1 on disjoint or
  non-aligned low-dimensional supports (Thms 2.1, 2.2), in the fixed ``SETTINGS``.
* ``theorem_2_5``: the −log D generator cost's gradient equals ∇[KL(P_g‖P_r) − 2·JSD(P_g‖P_r)] (Thm 2.5), for
  P_r = N(0, 1), g_θ(z) = z + θ.

The divergences come from ``ganscope.analysis.distributions``. Command line: ``ganscope theory jsd-saturation``,
``ganscope theory perfect-d``, ``ganscope theory theorem-2-5`` (``ganscope.cli.theory``).
"""
from __future__ import annotations

import math
import statistics

import numpy as np
import torch
from scipy import integrate
from scipy.special import expit

from ganscope.analysis.distributions import LOG2, QUAD, Normal, Point, Uniform, jsd, kl
from ganscope.errors import UsageError, check_int
from ganscope.nets.mlp import MLP
from ganscope.objectives import get_objective


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
    return {"seed": seed, "first_perfect": first, "accuracy": acc,
            "final_d_loss": float(loss.detach()) if len(acc) > 1 else None}


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
    check_int(max_steps, "--max-steps", 1)
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
    lhs = sum(integrate.quad(integrand, a, b, **QUAD)[0] for a, b in ((-40, -5), (-5, 0), (0, 5), (5, 40)))
    f = lambda t: kl(Normal((t,), (1.0,)), p_r) - 2 * jsd(Normal((t,), (1.0,)), p_r)  # noqa: E731
    central = lambda s: (f(theta0 + s) - f(theta0 - s)) / (2 * s)  # noqa: E731
    rhs = (4 * central(h / 2) - central(h)) / 3
    kl_grad = theta0  # d/dθ θ²/2, closed form, for reference
    return {"theta0": theta0, "lhs": lhs, "rhs": rhs, "abs_diff": abs(lhs - rhs), "kl_grad_closed_form": kl_grad,
            "jsd_grad": (kl_grad - rhs) / 2}


# ---- figures ------------------------------------------------------------------------------------------------------
def plot_jsd_saturation(rows: list[dict]):
    """JSD against the shift d for the three families, with log 2 and (right axis) W1 = d."""
    from ganscope.plots import plt

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
    from ganscope.plots import plt

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
