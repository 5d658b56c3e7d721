"""`ganscope dirac --all`: every Dirac-GAN method × scheme, the eigenvalue paths, the convergence maps
and a summary table next to what Mescheder et al. 2018 state, in one directory."""
from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from ganscope import plots
from ganscope.analysis import dirac, dirac_plots
from ganscope.io import write_json, write_text

# The methods of the paper's Dirac-GAN figures (docs/references.md §M8), for the overview grid.
PAPER_METHODS = [
    ("minimax", "none", {}),
    ("nonsaturating", "none", {}),
    ("wgan", "clip", {}),
    ("wgan", "wgan-gp", {}),
    ("minimax", "consensus", {}),
    ("minimax", "noise", {}),
    ("minimax", "r1", {}),
    ("minimax", "r1", {"gamma": 1.0}),  # critical damping γ = 2|f'(0)|
]


def paper_expectation(game: dirac.DiracGAN) -> tuple[bool, str]:
    """Whether the paper says the method converges locally for small h, and where it says so."""
    if game.reg in ("r1", "r2"):
        return True, "converges for small h (Lemma 3.3)"
    if game.reg == "consensus":
        return True, "converges for small h (consensus, suppl.)"
    if game.reg == "noise":
        if game.f.d2f(0.0) < 0:
            return True, "converges for small h (Lemma 3.2)"
        return False, "no damping: Lemma 3.2 needs f''(0) < 0"
    if game.reg == "clip":
        return False, "not convergent (Lemma 3.1)"
    if game.reg == "wgan-gp":
        return False, "not convergent (WGAN-GP, suppl.)"
    return False, "not convergent (Lemmas 2.3–2.5)"


def _fmt_eigs(pairs):
    if pairs is None:
        return "undefined"
    return ", ".join(f"{re:+.4g}{im:+.4g}i" for re, im in pairs)


def _row(result, expect):
    converges, why = expect
    measured = result["local_verdict"] == "converges"
    return {
        "loss": result["loss"],
        "reg": result["reg"],
        "params": " ".join(f"{k}={v:g}" for k, v in result["params"].items()),
        "scheme": result["scheme"],
        "eigenvalues": _fmt_eigs(result["eigenvalues"]),
        "spectral_radius": "undefined" if result["spectral_radius"] is None else f"{result['spectral_radius']:.6f}",
        "max_step": "undefined" if result["max_step"] is None else f"{float(result['max_step']):.4g}",
        "local_verdict": result["local_verdict"],
        "trajectory_verdict": result["trajectory_verdict"],
        "final_radius": "nan" if result["radius"][-1] is None else f"{result['radius'][-1]:.3g}",
        "paper": why,
        "agrees": "yes" if measured == converges else "NO",
    }


def _markdown_table(rows):
    keys = list(rows[0])
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join(str(r[k]) for k in keys) + " |" for r in rows]
    return "\n".join(lines)


def write_report(out, h=0.1, steps=1000, start=(1.0, 1.0), n_g=1, n_d=1, order=dirac.ORDER_DEFAULT) -> Path:
    """Run the whole lab and write figures, summary.{csv,md}, results.json and README.md under ``out``
    (AltGD in the order ``order``; losses and regularisers under their canonical names)."""
    out = Path(out)
    figs = out / "figures"
    results, rows = [], []
    for loss in dirac.LOSSES:
        for reg in dirac.REGULARISERS:
            game = dirac.DiracGAN(loss, reg)
            for scheme in dirac.SCHEMES:
                ng, nd = (n_g, n_d) if scheme == "altgd" else (1, 1)
                res = dirac.analyse(game, scheme, h, ng, nd, steps, start, order)
                results.append(res)
                rows.append(_row(res, paper_expectation(game)))
                traj = game.trajectory(start, h, steps, scheme, ng, nd, order)
                label = dirac.scheme_label(scheme, ng, nd, order)
                plots.save(dirac_plots.phase_portrait(game, traj, label, h, res["trajectory_verdict"]),
                           figs / "phase" / f"{loss}_{reg}_{scheme}.png")
    for scheme in dirac.SCHEMES:
        plots.save(_overview(scheme, h, steps, start, n_g, n_d, order), figs / f"overview_{scheme}.png")
    for loss in ("minimax", "wgan"):
        plots.save(dirac_plots.eigenvalue_paths(loss), figs / f"eigenvalue_paths_{loss}.png")
    maps = []
    for reg in ("r1", "noise", "consensus"):
        for scheme in dirac.SCHEMES:
            name = f"convergence_map_{reg}_{scheme}.png"
            plots.save(dirac_plots.convergence_map(dirac.DiracGAN("minimax", reg), scheme, n_g, n_d), figs / name)
            maps.append(name)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    write_text(out / "summary.csv", buf.getvalue())
    write_text(out / "summary.md", _markdown_table(rows) + "\n")
    write_json(out / "results.json", results)
    write_text(out / "README.md", _readme(rows, maps, h, steps, start, n_g, n_d, order))
    return out / "README.md"


OVERVIEW_COLUMNS = 4
OVERVIEW_TITLE_PT = 10  # the figure is about as wide as a report page (1040 px), so its points read as points


def _overview(scheme, h, steps, start, n_g, n_d, order):
    """The paper's methods' phase portraits in a grid of at most OVERVIEW_COLUMNS columns: one short title per
    panel (method and verdict) and the shared scheme and step size once, above the grid."""
    cols = min(OVERVIEW_COLUMNS, len(PAPER_METHODS))
    rows = -(-len(PAPER_METHODS) // cols)
    fig, axes = plots.plt.subplots(rows, cols, figsize=(2.7 * cols, 2.9 * rows + 0.4), squeeze=False,
                                   sharex=True, sharey=True)
    ng, nd = (n_g, n_d) if scheme == "altgd" else (1, 1)
    label = dirac.scheme_label(scheme, ng, nd, order)
    for ax, (loss, reg, params) in zip(axes.ravel(), PAPER_METHODS):
        game = dirac.DiracGAN(loss, reg, **params)
        traj = game.trajectory(start, h, steps, scheme, ng, nd, order)
        verdict = dirac.trajectory_verdict(np.hypot(traj[:, 0], traj[:, 1]))
        dirac_plots.phase_portrait(game, traj, label, h, verdict, ax=ax, lim=2.0)
        ax.set_title(f"{dirac_plots.method_label(game)}\n{verdict}", fontsize=OVERVIEW_TITLE_PT)
        ax.tick_params(labelsize=8)
        ax.label_outer()
    for ax in axes.ravel()[len(PAPER_METHODS):]:
        ax.set_visible(False)
    fig.suptitle(f"{label}, h = {h:g}, {steps} steps from (θ, ψ) = ({start[0]:g}, {start[1]:g})",
                 fontsize=OVERVIEW_TITLE_PT + 1)
    fig.tight_layout()
    return fig


_ORDER_TEXT = {"g-first": "the generator's sub-steps first, as the official notebook",
               "d-first": "the discriminator's sub-steps first, as the training engine"}


def _readme(rows, maps, h, steps, start, n_g, n_d, order):
    disagree = [r for r in rows if r["agrees"] != "yes"]
    cmd = f"ganscope dirac --all --h {h:g} --steps {steps} --start {start[0]:g} {start[1]:g}"
    if (n_g, n_d) != (1, 1):
        cmd += f" --n-g {n_g} --n-d {n_d}"
    if order != dirac.ORDER_DEFAULT:
        cmd += f" --order {order}"
    lines = [
        "# Dirac-GAN lab (Mescheder, Geiger & Nowozin 2018, §2–3)",
        "",
        f"Regenerate with `{cmd} --out DIR`. Step h = {h:g}, {steps} steps from (θ, ψ) = {tuple(start)}; "
        f"AltGD uses n_g = {n_g}, n_d = {n_d}, {order} ({_ORDER_TEXT[order]}). Default parameters: R1/R2 γ = 0.3, consensus γ = 1, "
        "instance noise σ = 0.7, clipping c = 0.5, WGAN-GP γ = 0.7 with g₀ = 1 (as in the paper's notebook).",
        "",
        "Local verdict: spectral radius ρ of the update operator's Jacobian at (0, 0) (< 1 converges, = 1 "
        "no-convergence, > 1 diverges). Trajectory verdict: read off the iterates. `max_step`: the largest h "
        "for local convergence of that scheme. The *paper* column is what Mescheder et al. state for the "
        "method; *agrees* compares it with the measured local verdict.",
        "",
        f"**{len(rows) - len(disagree)} of {len(rows)} rows agree with the paper.**"
        + ("" if not disagree else " Disagreements: " + "; ".join(
            f"{r['loss']}+{r['reg']} {r['scheme']}" for r in disagree)),
        "",
        "## The paper's methods",
        "",
        "![SimGD](figures/overview_simgd.png)",
        "",
        "![AltGD](figures/overview_altgd.png)",
        "",
        "## Eigenvalue paths",
        "",
        "![minimax](figures/eigenvalue_paths_minimax.png)",
        "",
        "![wgan](figures/eigenvalue_paths_wgan.png)",
        "",
        "## Convergence maps (minimax GAN)",
        "",
        *[f"![{m}](figures/{m})\n" for m in maps],
        "## Summary",
        "",
        _markdown_table(rows),
        "",
        "Every method × scheme phase portrait is in `figures/phase/`; the full numbers are in `results.json`.",
        "",
    ]
    return "\n".join(lines)
