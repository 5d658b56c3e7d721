"""Gulrajani et al. 2017 ("Improved Training of Wasserstein GANs"), Figure 1, on the 2-D toy sets.

Protocol (docs/references.md §G4–G5; the official ``gan_toy.py`` with ``FIXED_GENERATOR = True``):

* **Fixed "generator".** Each step draws a real batch x (``ganscope.data.toy2d``) and sets the fake batch to
  x̃ = x + ε, ε ~ N(0, I₂), the *same* batch plus unit-variance noise, as ``gan_toy.py`` does. Only the critic
  trains, towards the optimal critic of that fixed pair ("critics trained to optimality", §2.5).
* **Critic.** A ReLU MLP (``ganscope.nets.mlp.MLP``, no normalisation) with ``gan_toy.py``'s initialisation
  (tflib ``Linear``): hidden weights He-uniform, std √(2/fan_in); output weights Glorot-uniform,
  std √(2/(fan_in + fan_out)); biases zero. Its loss is the WGAN critic loss
  L = E D(x̃) − E D(x) (``get_objective("wgan").d_loss``), plus either
  - ``gp``: λ·E(‖∇D(x̂)‖₂ − 1)², x̂ = εx + (1−ε)x̃ (``penalties.wgan_gp``), Adam(1e-4, β = (0.5, 0.9)) as in
    ``gan_toy.py``; λ defaults to the toy script's **0.1** ("smaller lambda makes things faster for toy
    tasks"), not the paper's 10 (pass ``lam=10`` for the paper's value); or
  - ``clip``: every critic parameter (weights and biases) clamped into [−c, c] after each step
    (``penalties.clip_weights_``), and once at initialisation so the constraint holds from step 0;
    RMSProp(5e-5) as in the WGAN paper and ``gan_toy.py`` (PyTorch's RMSprop defaults otherwise).
* **Figure 1a** (``critic_surface``): D on a 128 × 128 grid over [−3, 3]², ``values[i, j] = D(x_j, y_i)``
  (rows follow y, ready for ``contour(x, y, values)``), real samples orange, generator samples green.
  The paper trained ~10,000 critic iterations of a 3 × 512 critic (maintainer, issue #9); our CPU defaults
  are 3 × 128 for 2,000 steps (500 in the quick runner), enough for the qualitative difference (clipping:
  a nearly linear, low-contrast surface; GP: a surface that follows the data) in about a minute on 2 cores.
* **W₁ estimate.** On fresh samples, Ŵ = mean D(x) − mean D(x̃) (the critic's dual value; a lower bound on
  K·W₁ for a K-Lipschitz critic). We also report L̂ = max ‖∇D‖ over the grid, Ŵ / L̂ (≈ a lower bound on W₁
  itself), and the exact W₁ between 1,000 + 1,000 of those samples by optimal transport (``metrics.toy2d.w1``).
* **Figure 1b** (``clipping_pathology``): a 12-hidden-layer ReLU critic on the Swiss roll for each clipping
  bound c ∈ {0.1, 0.01, 0.001} and for GP. The paper trains generator and critic; **we train the critic
  against the fixed generator above** (simpler, and what the pathology is about). Then, on a fresh batch,
  g_k = ‖∂L/∂h_k‖ (Frobenius norm over batch × units, L the WGAN critic loss without penalty, h_k the
  activations of hidden layer k = 1..12 from ``MLP.forward_with_activations``), computed in float64 so
  that the 10⁻²⁰-scale norms of the clipped critics do not underflow. Weights (not biases) feed the
  histograms; for clipping we report the fraction with |w| ≥ 0.99 c ("within 1 % of ±c").

Everything runs on the CPU and is deterministic given ``seed``: ``torch.manual_seed(seed)`` before each
critic is built and ``torch.Generator().manual_seed(seed)`` for its data, noise and interpolation draws.
"""
from __future__ import annotations

import copy
import math
import time
from pathlib import Path

import numpy as np
import torch

from ganscope.data.toy2d import get_dataset
from ganscope.errors import UsageError
from ganscope.nets.mlp import MLP
from ganscope.objectives import get_objective
from ganscope.penalties import clip_weights_, grad_sq_norm, wgan_gp

SURFACE_DATA = ("8gaussians", "25gaussians", "swissroll")
METHODS = ("clip", "gp")
GRID_POINTS, GRID_RANGE = 128, 3.0  # gan_toy.py: N_POINTS = 128, RANGE = 3
TOY_LAM = 0.1  # gan_toy.py LAMBDA
CLIP = 0.01  # WGAN's c
LR = {"gp": 1e-4, "clip": 5e-5}  # Adam(1e-4, 0.5, 0.9) / RMSProp(5e-5), gan_toy.py
BATCH = 256
SURFACE_STEPS, QUICK_SURFACE_STEPS, SURFACE_WIDTH = 2000, 500, 128
PATHOLOGY_CLIPS = (0.1, 0.01, 0.001)
PATHOLOGY_STEPS, QUICK_PATHOLOGY_STEPS, PATHOLOGY_WIDTH, PATHOLOGY_DEPTH = 1000, 200, 128, 12
EVAL_SAMPLES, OT_SAMPLES, PLOT_SAMPLES = 4096, 1000, 256
AT_BOUND = 0.99  # |w| >= 0.99 c counts as "at ±c"

_WGAN = get_objective("wgan")


# ---- validation --------------------------------------------------------------------------------------
def _check_int(name: str, value, least: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise UsageError(f"{name}: must be an integer >= {least}, got {value!r}")
    return value


def _check_positive(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (math.isfinite(value) and value > 0):
        raise UsageError(f"{name}: must be a finite number > 0, got {value!r}")
    return float(value)


def _check_method(method: str) -> str:
    if method not in METHODS:
        raise UsageError(f"method: unknown method {method!r}; allowed: {', '.join(METHODS)}")
    return method


# ---- critic and its training -------------------------------------------------------------------------
def toy_init_(net: MLP) -> MLP:
    """``gan_toy.py``'s init: hidden W ~ U(±√3·√(2/fan_in)) (He), output W ~ U(±√3·√(2/(fan_in+fan_out)))
    (Glorot), biases 0. Draws from the global RNG."""
    with torch.no_grad():
        for k, layer in enumerate(net.layers):
            fan_out, fan_in = layer.weight.shape
            last = k == len(net.layers) - 1
            std = math.sqrt(2.0 / (fan_in + fan_out)) if last else math.sqrt(2.0 / fan_in)
            layer.weight.uniform_(-math.sqrt(3) * std, math.sqrt(3) * std)
            layer.bias.zero_()
    return net


def make_critic(depth: int, width: int, seed: int) -> MLP:
    """A ReLU ``MLP(2, 1, depth, width)`` with ``toy_init_``, built right after ``torch.manual_seed(seed)``."""
    torch.manual_seed(seed)
    return toy_init_(MLP(2, 1, depth=depth, width=width, activation="relu"))


def critic_fn(net: MLP):
    """D(x) of shape (B,) from the (B, 1) network output."""
    return lambda x: net(x).squeeze(-1)


def fixed_generator(real: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """``gan_toy.py``'s FIXED_GENERATOR: x̃ = x + ε, ε ~ N(0, I), the real batch itself plus unit noise."""
    return real + torch.randn(real.shape, generator=generator, dtype=real.dtype)


def _batch(data: str, n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    real = get_dataset(data).sample(n, generator)
    return real, fixed_generator(real, generator)


def make_optimizer(method: str, params, lr: float | None = None) -> torch.optim.Optimizer:
    """GP: Adam(lr = 1e-4, β = (0.5, 0.9)); clipping: RMSprop(lr = 5e-5) (``gan_toy.py``, WGAN paper)."""
    lr = LR[_check_method(method)] if lr is None else _check_positive("lr", lr)
    if method == "gp":
        return torch.optim.Adam(params, lr=lr, betas=(0.5, 0.9))
    return torch.optim.RMSprop(params, lr=lr)


def critic_loss(net: MLP, real, fake, method: str, lam: float, generator) -> torch.Tensor:
    """E D(x̃) − E D(x), plus λ·E(‖∇D(x̂)‖ − 1)² for ``gp``."""
    d = critic_fn(net)
    loss = _WGAN.d_loss(d(real), d(fake))
    if method == "gp":
        loss = loss + wgan_gp(d, real, fake, lam, generator=generator)
    return loss


def train_critic(data: str, method: str, steps: int, lam: float = TOY_LAM, clip: float = CLIP, depth: int = 3,
                 width: int = SURFACE_WIDTH, batch: int = BATCH, lr: float | None = None, seed: int = 0):
    """Train one critic against the fixed generator; returns ``(net, losses, generator)``.

    ``generator`` is the data stream's ``torch.Generator``, left where training stopped (fresh samples follow).
    """
    _check_method(method)
    get_dataset(data)
    for name, value, least in (("steps", steps, 1), ("batch", batch, 1), ("seed", seed, 0)):
        _check_int(name, value, least)
    lam, clip = _check_positive("lam", lam), _check_positive("clip", clip)
    net = make_critic(depth, width, seed)
    opt = make_optimizer(method, net.parameters(), lr)
    gen = torch.Generator().manual_seed(seed)
    if method == "clip":
        clip_weights_(net, clip)
    losses = []
    for _ in range(steps):
        real, fake = _batch(data, batch, gen)
        loss = critic_loss(net, real, fake, method, lam, gen)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if method == "clip":
            clip_weights_(net, clip)
        losses.append(loss.item())
    return net, losses, gen


def _final(losses: list[float]) -> float:
    """Mean critic loss over the last min(100, steps) steps."""
    tail = losses[-100:]
    return float(sum(tail) / len(tail))


# ---- Figure 1a: critic value surfaces ----------------------------------------------------------------
def value_grid(net: MLP, n: int = GRID_POINTS, r: float = GRID_RANGE):
    """x, y = linspace(−r, r, n); values[i, j] = D(x_j, y_i); also L̂ = max ‖∇D‖ over the grid."""
    x = torch.linspace(-r, r, n)
    yy, xx = torch.meshgrid(x, x, indexing="ij")
    pts = torch.stack([xx.flatten(), yy.flatten()], 1)
    with torch.no_grad():
        values = critic_fn(net)(pts).reshape(n, n)
    lip = grad_sq_norm(critic_fn(net), pts).detach().max().sqrt().item()
    return x.numpy(), x.numpy().copy(), values.numpy(), lip


def w1_estimate(net: MLP, real: torch.Tensor, fake: torch.Tensor) -> float:
    """Ŵ = mean D(x) − mean D(x̃): the critic's estimate of (K times) W₁ on these samples."""
    d = critic_fn(net)
    with torch.no_grad():
        return (d(real).mean() - d(fake).mean()).item()


def critic_surface(data: str = "8gaussians", method: str = "gp", steps: int = SURFACE_STEPS,
                   lam: float = TOY_LAM, clip: float = CLIP, depth: int = 3, width: int = SURFACE_WIDTH,
                   batch: int = BATCH, lr: float | None = None, seed: int = 0) -> dict:
    """Train a critic against data + N(0, I) and tabulate it (Gulrajani et al. 2017, Figure 1a).

    Returns data, method, params, x, y (128,), values (128, 128) with values[i, j] = D(x_j, y_i), losses,
    final_loss (mean of the last ≤100 steps), w1_critic = mean D(x) − mean D(x̃) on 4,096 fresh pairs,
    lipschitz (max ‖∇D‖ on the grid), w1_normalised = w1_critic / lipschitz, w1_exact (OT on 1,000 + 1,000
    of those samples), real/fake (256 samples each, for plotting), seconds.
    """
    from ganscope.metrics.toy2d import w1

    t0 = time.perf_counter()
    net, losses, gen = train_critic(data, method, steps, lam, clip, depth, width, batch, lr, seed)
    real, fake = _batch(data, EVAL_SAMPLES, gen)
    x, y, values, lip = value_grid(net)
    est = w1_estimate(net, real, fake)
    params = {"steps": steps, "depth": depth, "width": width, "batch": batch, "seed": seed,
              "lr": LR[method] if lr is None else lr}
    params.update({"lam": lam} if method == "gp" else {"clip": clip})
    return {
        "data": data, "method": method, "params": params, "x": x, "y": y, "values": values,
        "losses": losses, "final_loss": _final(losses), "w1_critic": est, "lipschitz": lip,
        "w1_normalised": est / lip if lip > 0 else float("nan"),
        "w1_exact": w1(real[:OT_SAMPLES], fake[:OT_SAMPLES]),
        "real": real[:PLOT_SAMPLES].numpy(), "fake": fake[:PLOT_SAMPLES].numpy(),
        "seconds": time.perf_counter() - t0,
    }


def _method_title(r: dict) -> str:
    p = r["params"]
    return f"weight clipping (c={p['clip']:g})" if r["method"] == "clip" else f"gradient penalty (λ={p['lam']:g})"


def plot_critic_surfaces(results: list[dict]):
    """Filled contours of D with real (orange) and generator (green) samples; rows: methods, columns: data
    sets, in the order they first appear (the paper's Figure 1a: clipping on top, GP below)."""
    from ganscope.plots import plt

    rows = list(dict.fromkeys(r["method"] for r in results))
    cols = list(dict.fromkeys(r["data"] for r in results))
    fig, axes = plt.subplots(len(rows), len(cols), figsize=(3.4 * len(cols), 3.4 * len(rows)), squeeze=False)
    for ax in axes.ravel():
        ax.set_axis_off()
    for r in results:
        ax = axes[rows.index(r["method"]), cols.index(r["data"])]
        ax.set_axis_on()
        ax.contourf(r["x"], r["y"], r["values"], levels=20, cmap="viridis", alpha=0.85)
        ax.contour(r["x"], r["y"], r["values"], levels=10, colors="k", linewidths=0.4, alpha=0.6)
        ax.scatter(*r["real"].T, c="orange", marker="+", s=12, lw=0.8, label="real")
        ax.scatter(*r["fake"].T, c="green", marker="+", s=12, lw=0.8, label="generator")
        ax.set(xlim=(-GRID_RANGE, GRID_RANGE), ylim=(-GRID_RANGE, GRID_RANGE), aspect="equal")
        ax.set_xticks([]), ax.set_yticks([])
        ax.set_title(f"{r['data']}: {_method_title(r)}\nŴ={r['w1_critic']:.3g}, max‖∇D‖={r['lipschitz']:.3g}",
                     fontsize=8)
    axes[0, 0].legend(fontsize=7, loc="lower left")
    fig.suptitle("Critic value surfaces against data + N(0, I) (Gulrajani et al. 2017, Fig. 1a)", fontsize=10)
    fig.tight_layout()
    return fig


# ---- Figure 1b: the clipping pathology ---------------------------------------------------------------
def layer_grad_norms(net: MLP, real: torch.Tensor, fake: torch.Tensor) -> list[float]:
    """[‖∂L/∂h_1‖, …, ‖∂L/∂h_depth‖], L = mean D(x̃) − mean D(x), Frobenius norms, computed in float64."""
    net64 = copy.deepcopy(net).double()
    n = len(real)
    out, hs = net64.forward_with_activations(torch.cat([real, fake]).double())
    out = out.squeeze(-1)
    grads = torch.autograd.grad(_WGAN.d_loss(out[:n], out[n:]), hs)
    return [g.norm().item() for g in grads]


def weights_of(net: MLP) -> np.ndarray:
    """All weight-matrix entries (no biases), flattened, as float64."""
    return torch.cat([l.weight.detach().flatten() for l in net.layers]).double().numpy()


def _summary(label, method, clip, net, norms, losses, seconds) -> dict:
    w = weights_of(net)
    top, bottom = norms[-1], norms[0]
    span = (clip if clip else np.abs(w).max()) * (1 + 1e-6)  # float32(c) may sit just above the float64 c
    edges = np.linspace(-span, span, 41)
    return {
        "label": label, "method": method, "clip": clip, "grad_norms": norms,
        "log10_grad_norms": [math.log10(g) if g > 0 else float("-inf") for g in norms],
        "top_over_bottom": top / bottom if bottom > 0 else float("inf"),
        "fraction_at_bound": float(np.mean(np.abs(w) >= AT_BOUND * clip)) if clip else None,
        "weight_std": float(w.std()), "weight_absmax": float(np.abs(w).max()),
        "hist_counts": np.histogram(w, edges)[0].tolist(), "hist_edges": edges.tolist(),
        "final_loss": _final(losses), "seconds": seconds, "weights": w,
    }


def clipping_pathology(clips=PATHOLOGY_CLIPS, steps: int = PATHOLOGY_STEPS, depth: int = PATHOLOGY_DEPTH,
                       width: int = PATHOLOGY_WIDTH, seed: int = 0, data: str = "swissroll",
                       lam: float = TOY_LAM, batch: int = BATCH) -> dict:
    """Deep critics under clipping (each c) and GP (Gulrajani et al. 2017, Figure 1b).

    Returns {"params": ..., "runs": [one dict per c, then GP]}; each run has grad_norms (layers 1..depth),
    log10_grad_norms, top_over_bottom = g_depth / g_1 (> 1: vanishing towards the input; < 1: exploding),
    fraction_at_bound (|w| ≥ 0.99 c; None for GP), weight_std, weight_absmax, a 40-bin histogram
    (hist_counts, hist_edges), final_loss, seconds, and the raw weights (numpy, not for JSON).
    """
    clips = tuple(_check_positive("clips", c) for c in clips)
    runs = []
    for method, c in [("clip", c) for c in clips] + [("gp", None)]:
        t0 = time.perf_counter()
        net, losses, gen = train_critic(data, method, steps, lam, c or CLIP, depth, width, batch, None, seed)
        real, fake = _batch(data, batch, gen)
        label = f"clipping c={c:g}" if c else f"gradient penalty λ={lam:g}"
        runs.append(_summary(label, method, c, net, layer_grad_norms(net, real, fake), losses,
                             time.perf_counter() - t0))
    params = {"data": data, "steps": steps, "depth": depth, "width": width, "batch": batch, "seed": seed,
              "lam": lam, "clips": list(clips), "lr": dict(LR)}
    return {"params": params, "runs": runs}


def plot_clipping_pathology(result: dict):
    """Left: log10 ‖∂L/∂h_k‖ against layer k, read from the top layer down (the paper's axis runs 13 → 1);
    right: one weight histogram per run (clipping piles up at ±c, GP spreads)."""
    from matplotlib.ticker import MaxNLocator, NullFormatter

    from ganscope.plots import plt

    runs = result["runs"]
    fig = plt.figure(figsize=(11, 1.5 + 1.3 * len(runs)))
    grid = fig.add_gridspec(len(runs), 2, width_ratios=(1.4, 1))
    ax = fig.add_subplot(grid[:, 0])
    for r in runs:
        layers = np.arange(1, len(r["grad_norms"]) + 1)
        logs = [v if math.isfinite(v) else np.nan for v in r["log10_grad_norms"]]
        ax.plot(layers, logs, "o-", ms=3, label=r["label"])
    ax.invert_xaxis()
    ax.set(xlabel="critic layer k (backpropagation runs right to left)", ylabel="log10 ‖∂L/∂h_k‖",
           title=f"{result['params']['depth']}-layer ReLU critic on {result['params']['data']}")
    ax.legend(fontsize=8)
    for i, r in enumerate(runs):
        hax = fig.add_subplot(grid[i, 1])
        edges = np.asarray(r["hist_edges"])
        hax.stairs(r["hist_counts"], edges, fill=True, color=f"C{i}")
        hax.set_yscale("log")
        hax.set_title(r["label"] + (f": {100 * r['fraction_at_bound']:.1f}% at ±c" if r["clip"] else ""),
                      fontsize=8)
        hax.tick_params(labelsize=7)
        hax.xaxis.set_major_locator(MaxNLocator(5))
        hax.yaxis.set_minor_formatter(NullFormatter())
    fig.suptitle("Weight clipping vs gradient penalty (Gulrajani et al. 2017, Fig. 1b)", fontsize=10)
    fig.tight_layout()
    return fig


# ---- runners ------------------------------------------------------------------------------------------
def _surface_numbers(r: dict) -> dict:
    keys = ("data", "method", "params", "final_loss", "w1_critic", "lipschitz", "w1_normalised", "w1_exact",
            "seconds")
    return {k: r[k] for k in keys} | {"value_min": float(r["values"].min()), "value_max": float(r["values"].max())}


def run_critic_surfaces(out, quick: bool = True, seed: int = 0, data=SURFACE_DATA, methods=METHODS,
                        steps: int | None = None) -> dict:
    """Figure 1a for every (method, data set): writes critic_surfaces.png and critic_surfaces.json to ``out``.

    ``steps``: None gives 500 (quick) or 2,000 critic steps. Returns {"results": [...], "png", "json"}.
    """
    from ganscope import plots
    from ganscope.io import json_safe, write_json

    steps = (QUICK_SURFACE_STEPS if quick else SURFACE_STEPS) if steps is None else steps
    for name in data:
        get_dataset(name)
    results = [critic_surface(d, _check_method(m), steps=steps, seed=seed) for m in methods for d in data]
    out = Path(out)
    png = plots.save(plot_critic_surfaces(results), out / "critic_surfaces.png")
    js = write_json(out / "critic_surfaces.json", json_safe({"quick": quick, "grid": [GRID_POINTS, GRID_RANGE],
                                                             "results": [_surface_numbers(r) for r in results]}))
    return {"results": results, "png": png, "json": js}


def run_clipping_pathology(out, quick: bool = True, seed: int = 0, steps: int | None = None) -> dict:
    """Figure 1b: writes clipping_pathology.png and clipping_pathology.json (no raw weights) to ``out``.

    ``steps``: None gives 200 (quick) or 1,000 critic steps. Returns the result plus "png" and "json".
    """
    from ganscope import plots
    from ganscope.io import json_safe, write_json

    steps = (QUICK_PATHOLOGY_STEPS if quick else PATHOLOGY_STEPS) if steps is None else steps
    result = clipping_pathology(steps=steps, seed=seed)
    out = Path(out)
    png = plots.save(plot_clipping_pathology(result), out / "clipping_pathology.png")
    numbers = {"quick": quick, "params": result["params"],
               "runs": [{k: v for k, v in r.items() if k != "weights"} for r in result["runs"]]}
    js = write_json(out / "clipping_pathology.json", json_safe(numbers))
    return result | {"png": png, "json": js}
