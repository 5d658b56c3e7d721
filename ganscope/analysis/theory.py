"""The optimal-discriminator lab: D* = p_r/(p_r + p_g) and V(D*, G) = −log 4 + 2·JSD against a trained D.

Sources: Goodfellow et al. 2014 as presented by Barnett 2018 (docs/references.md §B). ``optimal_d_report`` puts the closed
forms of ``ganscope.analysis.distributions`` (the JSD, V(D*, G), D* on a grid) beside an MLP discriminator
trained from samples of the same two distributions (``train_discriminator``, ``value_of``); ``plot_optimal_d``
draws both. Distributions are ``Density`` objects or their strings (``parse_density``; table in
``ganscope.analysis.distributions``). Command line: ``ganscope theory optimal-d --real SPEC --fake SPEC [--steps N]
[--seed S] [--held-out N] [--json] [--plot FILE.png]`` (``ganscope.cli.theory``).

Deprecated alias, removed in 0.3: this module used to hold the distributions and divergences (now
``ganscope.analysis.distributions``) and Arjovsky & Bottou's fixed settings (now
``ganscope.experiments.arjovsky2017``); their names (``jsd``, ``kl``, ``parse_density``, ``jsd_saturation``,
``perfect_discrimination``, ``theorem_2_5``, ...) still resolve here, imported on first use.
"""
from __future__ import annotations

import importlib

import numpy as np
import torch

from ganscope.analysis import distributions as dist
from ganscope.errors import check_int
from ganscope.nets.mlp import MLP
from ganscope.objectives import get_objective

# ---- a trained discriminator: the sample-based estimate of V(D*, G) ---------------------------------------------
TRAIN = {"batch": 512, "lr": 3e-3, "depth": 2, "width": 64, "activation": "tanh", "held_out": 100_000}


def _torch(x: np.ndarray) -> torch.Tensor:
    return torch.as_tensor(x, dtype=torch.float32)


def _standardiser(p: dist.Density, q: dist.Density, rng: np.random.Generator):
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
    p, q = dist.as_density(p_r, "--real"), dist.as_density(p_g, "--fake")
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
    p, q = dist.as_density(p_r, "--real"), dist.as_density(p_g, "--fake")
    rng = np.random.default_rng([seed, 1])
    real, fake = _torch(p.sample(n, rng)), _torch(q.sample(n, rng))
    return -float(get_objective("minimax").d_loss(d(real).double(), d(fake).double()))


# ---- the report: closed form against trained ----------------------------------------------------------------------
def _grid(p: dist.Density, q: dist.Density, n: int):
    """Axes of a plotting grid covering 99% of both distributions with a margin."""
    pilot = np.concatenate([p.sample(4000, np.random.default_rng(7)), q.sample(4000, np.random.default_rng(8))])
    lo, hi = np.quantile(pilot, 0.005, axis=0), np.quantile(pilot, 0.995, axis=0)
    pad = np.maximum(0.15 * (hi - lo), 0.5)
    return [np.linspace(a, b, n) for a, b in zip(lo - pad, hi + pad)]


@torch.no_grad()
def _curves(d: torch.nn.Module, p: dist.Density, q: dist.Density, kind: str) -> dict:
    """D*, the trained D (σ(logit)) and both densities on a grid (1-D: 201 points; 2-D: 61 × 61, [y][x])."""
    axes = _grid(p, q, 201 if p.dim == 1 else 61)
    pts = axes[0][:, None] if p.dim == 1 else np.stack(np.meshgrid(*axes), -1).reshape(-1, 2)
    shape = (len(axes[0]),) if p.dim == 1 else (len(axes[1]), len(axes[0]))
    dens = kind in ("ac1", "ac2") and p.absolutely_continuous and q.absolutely_continuous
    out = {"x": axes[0], "y": axes[1] if p.dim == 2 else None,
           "d_trained": torch.sigmoid(d(_torch(pts)).double()).numpy().reshape(shape),
           "d_star": dist.optimal_discriminator(p, q)(pts).reshape(shape) if dens else None,
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
    p, q = dist.as_density(real, "--real"), dist.as_density(fake, "--fake")
    check_int(steps, "--steps", 1)
    check_int(seed, "--seed", 0)
    check_int(held_out, "--held-out", 1)
    kind, _ = dist.relation(p, q)
    j, v = dist.jsd(p, q), dist.value_at_optimum(p, q)
    d = train_discriminator(p, q, steps, seed, **train_kw)
    v_hat = value_of(d, p, q, held_out, seed)
    notes = []
    if kind == "singular":
        notes.append("mutually singular supports: JSD = log 2 and V(D*, G) = 0 however far apart (Arjovsky & "
                     "Bottou Thm 2.3); D* = 1 on supp P_r, 0 on supp P_g, no density ratio")
    return {"real": p.spec, "fake": q.spec, "dim": p.dim, "relation": kind, "jsd": j, "log2": dist.LOG2,
            "value_at_optimum": v, "identity_gap": v - (-dist.LOG4 + 2 * j), "value_trained": v_hat,
            "jsd_trained": (v_hat + dist.LOG4) / 2, "gap_value": v_hat - v, "gap_jsd": (v_hat + dist.LOG4) / 2 - j,
            "steps": steps, "seed": seed, "held_out": held_out, "notes": notes,
            "curve": _curves(d, p, q, kind)}


# ---- figures ------------------------------------------------------------------------------------------------------
def _pyplot():
    import ganscope.plots  # noqa: F401  (selects the headless Agg backend)
    import matplotlib.pyplot as plt

    return plt


def _draw_support_1d(ax, density: dist.Density, color: str, label: str, top: float):
    if isinstance(density, dist.Point):
        ax.annotate("", (density.loc[0], top), (density.loc[0], 0), arrowprops={"arrowstyle": "->", "color": color,
                                                                               "lw": 2})
        ax.plot([], [], color=color, lw=2, label=f"{label} = δ at {density.loc[0]:g} (no density)")


def _draw_support_2d(ax, density: dist.Density, color: str, curve: dict, key: str):
    if isinstance(density, dist.Point):
        ax.plot(*density.loc, "o", color=color, ms=7, mec="w")
    elif isinstance(density, dist.Segment):
        ax.plot(*np.array([density.start, density.end]).T, color=color, lw=2.5)
    elif curve[key] is not None:
        dens = np.asarray(curve[key], float)
        ax.contour(curve["x"], curve["y"], dens, levels=dens.max() * np.array([0.05, 0.3, 0.7]), colors=color,
                   linewidths=1)


def _title(r: dict) -> str:
    return (f"P_r = {r['real']}, P_g = {r['fake']}\nJSD = {r['jsd']:.4f} nats (log 2 = {dist.LOG2:.4f}), "
            f"V(D*,G) = {r['value_at_optimum']:.4f}, trained: V = {r['value_trained']:.4f}, "
            f"JSD ≈ {r['jsd_trained']:.4f}")


def plot_optimal_d(result: dict):
    """1-D: densities (top), D* and the trained D = σ(logit) (bottom) against x.
    2-D: heat maps of D* (when a density ratio exists) and of the trained D, supports overlaid."""
    plt = _pyplot()
    c = result["curve"]
    p, q = dist.parse_density(result["real"]), dist.parse_density(result["fake"], "--fake")
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


# ---- deprecated aliases (removed in 0.3) ----------------------------------------------------------------------------
_DISTRIBUTIONS = ("LOG2", "LOG4", "FORMS", "QUAD", "Density", "Normal", "Uniform", "Mixture", "Point", "Segment",
                  "parse_density", "as_density", "relation", "jsd", "kl", "optimal_logit", "optimal_discriminator",
                  "value_at_optimum")
_ARJOVSKY = ("SATURATION_DISTANCES", "jsd_saturation", "GEOMETRY_SEED", "PERFECT", "SETTINGS",
             "perfect_discrimination", "theorem_2_5", "plot_jsd_saturation", "plot_perfect_discrimination")
MOVED = {**dict.fromkeys(_DISTRIBUTIONS, "ganscope.analysis.distributions"),
         **dict.fromkeys(_ARJOVSKY, "ganscope.experiments.arjovsky2017"), "register": "ganscope.cli.theory"}


def __getattr__(name):
    """PEP 562: a name that moved out of this module, imported from its new home on first use."""
    if name not in MOVED:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(MOVED[name]), name)


def __dir__():
    return sorted({*globals(), *MOVED})
