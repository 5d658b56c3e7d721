"""Mescheder, Geiger, Nowozin 2018, *Which Training Methods for GANs do actually Converge?* (docs/references.md §M):
the Dirac-GAN lab, the convergence matrix of methods × 2-D problems × update schemes, and an R1 image GAN."""
from __future__ import annotations

import csv

import numpy as np

from ganscope.plots import plt, save
from ganscope.reproduce.common import compare, figure, section, sweep, table

TITLE = "Which Training Methods for GANs do actually Converge?"
CITATION = "Lars Mescheder, Andreas Geiger, Sebastian Nowozin. ICML 2018."

# Dirac-GAN rows quoted in the comparison table: (loss, reg, scheme).
KEY_ROWS = [("minimax", "none", "simgd"), ("minimax", "none", "altgd"), ("wgan", "clip", "altgd"),
            ("wgan", "wgan-gp", "altgd"), ("minimax", "noise", "simgd"), ("minimax", "r1", "simgd"),
            ("minimax", "r2", "altgd"), ("minimax", "consensus", "simgd")]


def _dirac(ctx):
    from ganscope.analysis.dirac_report import write_report

    write_report(ctx.out / "dirac")
    with open(ctx.out / "dirac" / "summary.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    agree = sum(r["agrees"] == "yes" for r in rows)
    by_key = {(r["loss"], r["reg"], r["scheme"]): r for r in rows}
    comps = [compare(f"{loss} + {reg}, {scheme}", by_key[(loss, reg, scheme)]["paper"],
                     f"{by_key[(loss, reg, scheme)]['local_verdict']} (ρ = {by_key[(loss, reg, scheme)]['spectral_radius']})",
                     by_key[(loss, reg, scheme)]["agrees"] == "yes") for loss, reg, scheme in KEY_ROWS]
    comps.append(compare("all losses × regularisers × schemes", "as stated in §2–3 and the supplement",
                         f"{agree} of {len(rows)} rows agree", agree == len(rows)))
    figs = ctx.out / "dirac" / "figures"
    return section("dirac", "The Dirac-GAN (§2–3)",
                   "Closed-form Jacobians, eigenvalues of the SimGD/AltGD update operators at h = 0.1 and "
                   "1000-step trajectories for every loss × regulariser × scheme.",
                   "ganscope dirac --all --out DIR/dirac",
                   figures=[figure(ctx, figs / "overview_simgd.png", "Simultaneous updates (Figure 3)"),
                            figure(ctx, figs / "overview_altgd.png", "Alternating updates"),
                            figure(ctx, figs / "eigenvalue_paths_minimax.png", "Eigenvalue paths against γ and σ"),
                            figure(ctx, figs / "convergence_map_r1_simgd.png",
                                   "Spectral radius over (h, γ) for R1, with the analytic step bound")],
                   tables=[table("Every method (summary.csv)", ["loss", "reg", "scheme", "spectral radius",
                                                                "local verdict", "paper", "agrees"],
                                 [[r["loss"], r["reg"], r["scheme"], r["spectral_radius"], r["local_verdict"],
                                   r["paper"], r["agrees"]] for r in rows])],
                   comparisons=comps)


# The convergence matrix: method label -> overrides (on the shipped config convergence2d).
MATRIX_METHODS = {
    "unregularised": ["method=minimax"],
    "non-saturating": ["method=nonsaturating"],
    "WGAN, 1 critic step": ["method=wgan-clip", "game.n_d=1"],
    "WGAN, 5 critic steps": ["method=wgan-clip", "game.n_d=5"],
    "WGAN-GP, 1 critic step": ["method=wgan-gp", "game.n_d=1"],
    "WGAN-GP, 5 critic steps": ["method=wgan-gp", "game.n_d=5"],
    "instance noise": ["method=noise"],
    "R1": ["method=r1"],
    "R2": ["method=r2"],
    "consensus": ["method=consensus"],
}
PAPER_CONVERGES = {"instance noise", "R1", "R2", "consensus"}  # §5; docs/references.md §M6
CONVERGED_FACTOR = 2.0  # converged: W1 below this multiple of the real-vs-real floor


def matrix_spec(label: str, problem: str, schemes, seeds: int, steps: int, threshold: float) -> dict:
    """The sweep spec of one matrix row on one problem: schemes × seeds on the shipped config convergence2d."""
    overrides = dict(o.split("=", 1) for o in MATRIX_METHODS[label])
    overrides = {k: int(v) if v.isdigit() else v for k, v in overrides.items()}
    if overrides.get("game.n_d", 1) > 1:
        schemes = [s for s in schemes if s != "simgd"]  # simultaneous updates take one step of each player
    return {"base": "convergence2d",
            "set": {**overrides, "data.name": problem, "train.steps": steps, "train.plots": False},
            "grid": {"game.scheme": list(schemes)}, "seeds": {"count": seeds, "start": 0},
            "success": {"metric": "w1", "below": threshold, "hold": 3}}


def w1_floor(problem: str, n: int, repeats: int = 5) -> float:
    """Median W1 between two independent samples of n real points: what a perfect generator scores."""
    import torch

    from ganscope.data.toy2d import get_dataset
    from ganscope.metrics.toy2d import w1

    data = get_dataset(problem)
    draw = lambda seed: data.sample(n, torch.Generator().manual_seed(seed)).numpy()  # noqa: E731
    return float(np.median([w1(draw(2 * i), draw(2 * i + 1)) for i in range(repeats)]))


def _convergence_matrix(ctx):
    from ganscope.reproduce.common import config_of

    problems = [ctx.problem] if ctx.problem else ctx.size(["circle"], ["gaussian", "line", "circle", "four-lines"])
    schemes, seeds, steps = ["simgd", "altgd"], ctx.size(3, 10), ctx.size(1000, 10000)
    n_eval = config_of("convergence2d").data.eval_samples
    thresholds = {p: CONVERGED_FACTOR * w1_floor(p, n_eval) for p in problems}
    cells = {}
    for i, label in enumerate(MATRIX_METHODS):
        for problem in problems:
            spec = matrix_spec(label, problem, schemes, seeds, steps, thresholds[problem])
            rows, _ = sweep(ctx, spec, f"matrix/row{i:02d}_{problem}")
            for row in rows:
                cells[(label, problem, row["game.scheme"])] = (row.get("success"), row["done"] + row["failed"])
    path = save(_heatmap(cells, problems, schemes, seeds), ctx.out / "matrix" / "convergence_matrix.png")
    comps = []
    for label in MATRIX_METHODS:
        rates = [cells[k][0] for k in cells if k[0] == label and cells[k][0] is not None]
        rate = float(np.mean(rates)) if rates else float("nan")
        paper = label in PAPER_CONVERGES
        comps.append(compare(label, "converges" if paper else "does not reliably converge",
                             f"{rate:.0%} of seeds converged", None if not rates else (rate >= 0.5) == paper))
    return section("convergence_matrix", "The convergence matrix on 2-D problems (§5)",
                   f"Each cell: the fraction of {seeds} seeds whose W1 to held-out data stays below "
                   f"{CONVERGED_FACTOR:g}× the W1 between two real samples of the same size (the floor a perfect "
                   f"generator scores) at the end and at the last 3 evaluations, after {steps} generator steps "
                   "(RMSProp, one MLP for all methods). Seeds of one cell train as one batched ensemble.",
                   f"ganscope reproduce mescheder2018 --{ctx.mode} --out DIR (one sweep per row and problem "
                   "under DIR/matrix/)",
                   config={"base": "convergence2d", "methods": MATRIX_METHODS, "problems": problems,
                           "schemes": schemes, "seeds": seeds, "steps": steps, "w1_thresholds": thresholds},
                   figures=[figure(ctx, path, "Fraction of seeds converged (counts in the cells)")],
                   tables=[table("Seeds converged", ["method", *[f"{p} / {s}" for p in problems for s in schemes]],
                                 [[label, *[_cell_text(cells.get((label, p, s))) for p in problems for s in schemes]]
                                  for label in MATRIX_METHODS])],
                   comparisons=comps)


def _cell_text(cell) -> str:
    if cell is None:
        return "n/a"
    rate, n = cell
    return "n/a" if rate is None or rate != rate else f"{round(rate * n)}/{n}"


def _heatmap(cells, problems, schemes, seeds):
    cols = [(p, s) for p in problems for s in schemes]
    grid = np.full((len(MATRIX_METHODS), len(cols)), np.nan)
    for i, label in enumerate(MATRIX_METHODS):
        for j, (p, s) in enumerate(cols):
            cell = cells.get((label, p, s))
            if cell is not None and cell[0] is not None:
                grid[i, j] = cell[0]
    fig, ax = plt.subplots(figsize=(1.3 * len(cols) + 3, 0.45 * len(MATRIX_METHODS) + 1.5))
    im = ax.imshow(grid, cmap="RdYlGn", vmin=0, vmax=1, aspect="auto")
    for i, label in enumerate(MATRIX_METHODS):
        for j, (p, s) in enumerate(cols):
            ax.text(j, i, _cell_text(cells.get((label, p, s))), ha="center", va="center", fontsize=8)
    ax.set_xticks(range(len(cols)), [f"{p}\n{s}" for p, s in cols], fontsize=8)
    ax.set_yticks(range(len(MATRIX_METHODS)), list(MATRIX_METHODS), fontsize=8)
    fig.colorbar(im, ax=ax, label=f"fraction of {seeds} seeds converged")
    fig.tight_layout()
    return fig


def _r1_images(ctx):
    from ganscope.reproduce import r1_images as R

    seeds, steps = ctx.size(3, 5), ctx.size(600, 20000)
    spec = R.r1_spec(ctx, seeds, steps)
    _, runs = sweep(ctx, spec, "r1_images")
    by_label = R.curves(runs)
    stats = {label: [R.run_stats(rows) for _, _, rows in seeded] for label, seeded in by_label.items()}
    ok, how = R.verdict(stats)
    path = save(R.plot_curves(by_label), ctx.out / "r1_images" / "curves.png")
    samples = [figure(ctx, seeded[0][1] / "plots" / "samples.png", f"{label}, seed {seeded[0][0]}: samples "
                      "through training") for label, seeded in by_label.items()
               if seeded and (seeded[0][1] / "plots" / "samples.png").is_file()]
    where = "digits (8×8), widths 32, EMA 0.99" if ctx.quick else "Fashion-MNIST (28×28), widths 64, EMA 0.999"
    return section("r1_images", "R1 against the unregularised GAN on a ResNet (§5)",
                   f"GAN_stability's ResNet (no normalisation), non-saturating loss, RMSProp 1e-4 for both nets, "
                   f"batch 64, {steps} generator steps, {where}; R1 with γ = 20 (reg_param 10) against the same "
                   f"recipe with no penalty, {seeds} seeds each (base seed {ctx.seed}). FID by ganscope's "
                   "extractor on the EMA generator; E‖∇ₓD‖² on real data from the engine's diagnostics (training "
                   "G and D). Criterion, fixed before the runs: agrees iff (i) R1's final FID mean is below the "
                   "unregularised's with non-overlapping 95 % intervals over seeds, or (ii) some unregularised "
                   f"seed is unstable (its FID rises > {R.RISE - 1:.0%} above its best so far, or E‖∇ₓD‖² on real "
                   f"data grows > {R.GROWTH:g}× over the second half) while no R1 seed is; otherwise differs. "
                   f"Outcome: {how}.",
                   f"ganscope reproduce mescheder2018 --{ctx.mode} --out DIR (a sweep over penalty.name × seeds "
                   "in DIR/r1_images)",
                   config=spec,
                   figures=[figure(ctx, path, "FID (left) and E‖∇ₓD‖² on real data (right) against generator "
                                              f"steps, one line per seed ({seeds} per method)"), *samples],
                   tables=[table("Per seed", ["method", "seed", "final FID", "best FID", "largest FID rise",
                                              "E‖∇ₓD‖² growth, 2nd half", "unstable"],
                                 [[label, seed, s["final_fid"], s["best_fid"], s["fid_rise"], s["grad_growth"],
                                   "yes" if s["unstable"] else "no"]
                                  for label, seeded in by_label.items()
                                  for (seed, _, _), s in zip(seeded, stats[label])])],
                   comparisons=[compare("R1 vs unregularised on the ResNet", "R1 trains the ResNet GAN stably "
                                        "where unregularised training does not converge (§5)", R.measured(stats),
                                        ok, how)])


SECTIONS = [_dirac, _convergence_matrix, _r1_images]
