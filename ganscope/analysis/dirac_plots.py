"""The Dirac-GAN lab's figures: phase portraits, eigenvalue paths and convergence maps (Mescheder et al. 2018).

Each function draws on a new figure (or the given axes); ``ganscope.plots.save`` writes it.
"""
from __future__ import annotations

import numpy as np

from ganscope.analysis import dirac
from ganscope.plots import plt

PARAM_SYMBOL = {"gamma": "γ", "sigma": "σ", "clip": "c", "target": "g₀"}


def method_label(game: dirac.DiracGAN) -> str:
    params = ", ".join(f"{PARAM_SYMBOL[k]}={v:g}" for k, v in game.params.items())
    given = ", ".join(f"{k} given as {v}" for k, v in game.aliases.items())
    return f"{game.loss} + {game.reg}" + (f" ({params})" if params else "") + (f" [{given}]" if given else "")


def phase_portrait(game, traj, scheme, h, verdict=None, ax=None, lim=None):
    """Vector field of the Dirac-GAN with one trajectory (Mescheder et al. 2018, Figures 1–3 style)."""
    own = ax is None
    if own:
        fig, ax = plt.subplots(figsize=(4.2, 4.2))
    finite = traj[np.all(np.isfinite(traj), axis=-1)]
    lim = lim or float(np.clip(1.25 * np.abs(finite).max(), 1.5, 6.0))
    grid = np.linspace(-lim, lim, 21)
    theta, psi = np.meshgrid(grid, grid)
    v1, v2 = game.field(theta, psi)
    speed = np.hypot(v1, v2)
    unit = np.where(speed > 0, speed, 1.0)  # arrows show direction; shade shows speed
    ax.quiver(theta, psi, v1 / unit, v2 / unit, np.log1p(speed), cmap="Greys", alpha=0.6, angles="xy",
              pivot="mid", scale=30, width=0.004)
    if game.reg == "clip":
        ax.axhspan(game.clip, lim, color="0.6", alpha=0.5, lw=0)
        ax.axhspan(-lim, -game.clip, color="0.6", alpha=0.5, lw=0)
    ax.plot(finite[:, 0], finite[:, 1], color="tab:blue", lw=1.2)
    ax.plot(*finite[0], "o", color="tab:green", ms=5, label="start")
    ax.plot(*finite[-1], "s", color="tab:red", ms=5, label="end")
    ax.plot(0, 0, "*", color="k", ms=9, label="equilibrium")
    ax.set(xlim=(-lim, lim), ylim=(-lim, lim), xlabel="θ (generator)", ylabel="ψ (discriminator)", aspect="equal")
    title = f"{method_label(game)}\n{scheme} h={h:g}" + (f": {verdict}" if verdict else "")
    ax.set_title(title, fontsize=8)
    return ax.figure if own else ax


def eigenvalue_paths(loss: str):
    """Continuous-time eigenvalues at (0, 0) as γ (R1/R2, consensus) or σ (instance noise) varies,
    with the critical value marked where the pair meets on the real axis (docs/references.md §M3)."""
    a, b = dirac.DiracGAN(loss).f.df(0.0), dirac.DiracGAN(loss).f.d2f(0.0)
    panels = [
        ("r1", "gamma", 3 * abs(a), 2 * abs(a)),  # γ_crit = 2|f'(0)|
        ("noise", "sigma", 1.5 * np.sqrt(abs(a / b)) if b else 2.0, np.sqrt(abs(a / b)) if b else None),
        ("consensus", "gamma", 3.0, None),
    ]
    fig, axes = plt.subplots(1, 3, figsize=(13, 4))
    for ax, (reg, param, top, critical) in zip(axes, panels):
        values = np.linspace(0, top, 301)
        lam = dirac.DiracGAN(loss, reg, **{param: values}).eigenvalues()
        for k in range(2):
            sc = ax.scatter(lam[:, k].real, lam[:, k].imag, c=values, cmap="viridis", s=6)
        if critical is not None:
            crit = dirac.DiracGAN(loss, reg, **{param: critical}).eigenvalues()
            ax.plot(crit.real, crit.imag, "rx", ms=10, mew=2, label=f"critical {PARAM_SYMBOL[param]}={critical:.3g}")
            ax.legend(fontsize=8, loc="lower left")
        ax.axvline(0, color="0.5", lw=0.8)
        ax.axhline(0, color="0.5", lw=0.8)
        ax.set(xlabel="Re λ", ylabel="Im λ", title=f"{loss} + {reg}: eigenvalues vs {PARAM_SYMBOL[param]}")
        fig.colorbar(sc, ax=ax, label=PARAM_SYMBOL[param])
    fig.tight_layout()
    return fig


def convergence_map(game, scheme="simgd", n_g=1, n_d=1, h_max=None, v_max=None, points=400):
    """ρ(F_h') over an (h, γ) grid (σ for noise) with the contour ρ = 1 and the analytic SimGD bound."""
    param = dirac.sweep_param(game)
    a = game.f.df(0.0)
    v_max = v_max or (3 * abs(a) if param == "gamma" else 3.0)
    values = np.linspace(v_max / points, v_max, points)
    bound = dirac.max_step_simgd(game.with_params(**{param: values}).eigenvalues())
    h_max = h_max or float(1.5 * np.nanmax(bound[np.isfinite(bound)]))
    hs = np.linspace(h_max / points, h_max, points)
    rho = dirac.radius_map(game, hs, values, scheme, n_g, n_d)
    fig, ax = plt.subplots(figsize=(6, 4.5))
    im = ax.pcolormesh(hs, values, np.minimum(rho, 1.5), cmap="RdYlGn_r", vmin=0, vmax=1.5, shading="auto")
    fig.colorbar(im, ax=ax, label="spectral radius ρ (clipped at 1.5)")
    ax.contour(hs, values, rho, levels=[1.0], colors="k", linewidths=1.2)
    ax.plot(bound, values, "w--", lw=1.5, label="analytic SimGD bound h* = min −2Re λ/|λ|²")
    ax.set(xlim=(hs[0], hs[-1]), ylim=(values[0], values[-1]), xlabel="step size h",
           ylabel=PARAM_SYMBOL[param],
           title=f"{game.loss} + {game.reg}, {scheme}" + (f" (n_g={n_g}, n_d={n_d})" if scheme == "altgd" else "")
           + ": ρ < 1 converges (black: ρ = 1)")
    ax.legend(fontsize=8, loc="upper right")
    return fig
