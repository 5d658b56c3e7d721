"""Mescheder, Geiger, Nowozin 2018, *Which Training Methods for GANs do actually Converge?* (docs/references.md §M):
the Dirac-GAN lab, the convergence matrix of methods × 2-D problems × update schemes, and an R1 image GAN."""
from __future__ import annotations

import csv
import functools

import numpy as np

from ganscope.plots import plt, save
from ganscope.reproduce.common import compare, evaluations, figure, section, serial, sweep, sweeps, table

TITLE = "Which Training Methods for GANs do actually Converge?"
CITATION = "Lars Mescheder, Andreas Geiger, Sebastian Nowozin. ICML 2018."

# Dirac-GAN rows quoted in the comparison table: (loss, reg, scheme).
KEY_ROWS = [("minimax", "none", "simgd"), ("minimax", "none", "altgd"), ("wgan", "clip", "altgd"),
            ("wgan", "wgan-gp", "altgd"), ("minimax", "noise", "simgd"), ("minimax", "r1", "simgd"),
            ("minimax", "r2", "altgd"), ("minimax", "consensus", "simgd")]


@serial
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


# The convergence matrix on protocol v2b of docs/reproduce.md ("Protocol v2b"), fixed before it was run: method
# label -> overrides on the shipped config convergence2d (finite game, GD h = 0.1, weight 1), every run started
# at a perturbed exact equilibrium (game.start: equilibrium).
MATRIX_METHODS = {
    "unregularised": ["method=minimax"],
    "non-saturating": ["method=nonsaturating"],
    "WGAN, 1 critic step": ["method=wgan-clip", "game.n_d=1"],
    "WGAN, 5 critic steps": ["method=wgan-clip", "game.n_d=5"],
    "WGAN-GP, 1 critic step": ["method=wgan-gp", "game.n_d=1"],
    "WGAN-GP, 5 critic steps": ["method=wgan-gp", "game.n_d=5"],
    "instance noise": ["method=noise", f"noise.draws={16}"],  # σ = NOISE_SCALE·s, set per problem
    "R1": ["method=r1"],
    "R2": ["method=r2"],
    "consensus": ["method=consensus", "game.consensus=1.0"],
}
PAPER_CONVERGES = {"instance noise", "R1", "R2", "consensus"}  # §5; docs/references.md §M6
NOISE_SCALE = 0.3  # instance noise σ = 0.3·s: below the data's scale s
PERTURB = 0.1  # the perturbation of the equilibrium: ε·rms(p) on every generator tensor p
EQ_RATIO = 0.1  # converged: r(t)/r(0) below 0.1 at each of the last HOLD evaluations
HOLD = 3
CONVERGES, FAILS = 0.8, 0.4  # row verdicts: k/n ≥ 0.8 (≤ 0.4) with the Wilson 95 % interval above (below) ½


@functools.lru_cache(maxsize=None)
def problem_scale(problem: str, n: int = 100_000) -> float:
    """s = E‖x − E x‖ of a 2-D problem (a large fixed sample): the W1 of a generator collapsed onto the mean."""
    import torch

    from ganscope.data.toy2d import get_dataset

    x = get_dataset(problem).sample(n, torch.Generator().manual_seed(12345)).double()
    return float((x - x.mean(0)).norm(dim=1).mean())


CONVERGENCE_RULE = [{"metric": "eq_ratio", "below": EQ_RATIO, "hold": HOLD}]  # the perturbation shrank tenfold


def matrix_spec(label: str, problem: str, schemes, seeds: int, steps: int, eval_every: int) -> dict:
    """The sweep spec of one matrix row on one problem: schemes × seeds on the shipped config convergence2d,
    started at a perturbed equilibrium."""
    overrides = dict(o.split("=", 1) for o in MATRIX_METHODS[label])
    overrides = {k: int(v) if v.isdigit() else float(v) if k == "game.consensus" else v for k, v in overrides.items()}
    if overrides["method"] == "noise":
        overrides["noise.sigma"] = round(NOISE_SCALE * problem_scale(problem), 4)
    if overrides.get("game.n_d", 1) > 1:
        schemes = [s for s in schemes if s != "simgd"]  # simultaneous updates take one step of each player
    return {"base": "convergence2d",
            "set": {**overrides, "data.name": problem, "game.start": "equilibrium", "game.perturb": PERTURB,
                    "train.steps": steps, "train.eval_every": eval_every, "checkpoint.every": steps,
                    "train.plots": False},
            "grid": {"game.scheme": list(schemes)}, "seeds": {"count": seeds, "start": 0},
            "success": CONVERGENCE_RULE}


def row_verdict(label: str, k: int, n: int) -> bool | None:
    """Agreement of a row with the paper (fixed in advance): converges when k/n ≥ 0.8 and the Wilson interval's
    lower end > ½; does not reliably converge when k/n ≤ 0.4 and its upper end < ½. None without seeds."""
    from ganscope.sweep import wilson_ci

    if n == 0:
        return None
    low, high = wilson_ci(k, n)
    if label in PAPER_CONVERGES:
        return k / n >= CONVERGES and low > 0.5
    return k / n <= FAILS and high < 0.5


def premise(problem: str, seed: int) -> dict:
    """``spectrum.premise`` of the matrix's game on ``problem`` at seed ``seed``'s exact equilibrium, on
    minimax's field (R1, R2, non-saturating, WGAN and consensus give the same ranks at D ≡ 0): how many of the
    moves of G's points the critic feels (docs/reproduce.md, "Protocol v3")."""
    from ganscope.analysis.spectrum import equilibrium_field, equilibrium_game, premise as game_premise

    game = equilibrium_game("convergence2d", ["method=minimax", f"data.name={problem}", f"seed={seed}"])
    return game_premise(equilibrium_field(game))


def _premise_text(premises: dict, seed: int) -> str:
    parts = "; ".join(f"{p}: {q['generator_rank']} and {q['coupling_rank']}, {q['invisible']} invisible"
                      for p, q in premises.items())
    return (f" The game's premise at seed {seed}'s exact equilibrium (spectrum.premise; docs/reproduce.md, "
            "\"Protocol v3\"): the directions in which G can move its points, and those the critic at D ≡ 0 "
            f"feels ({parts}). The invisible ones are neutral for every method, so no linearisation can converge "
            "along them; with the spectrum at the equilibrium (ganscope spectrum --equilibrium) this is why no "
            "method is expected to converge within this budget.")


def _convergence_matrix(ctx):
    from ganscope.sweep import wilson_ci

    problems = [ctx.problem] if ctx.problem else ctx.size(["circle"], ["gaussian", "line", "circle", "four-lines"])
    schemes, seeds = ["simgd", "altgd"], ctx.size(8, 16)
    steps, eval_every = ctx.size(2000, 10000), ctx.size(200, 500)
    cells, finals = {}, {label: [] for label in MATRIX_METHODS}
    keys = [(i, label, problem) for i, label in enumerate(MATRIX_METHODS) for problem in problems]
    done = sweeps(ctx, [(matrix_spec(label, problem, schemes, seeds, steps, eval_every),
                         f"matrix/row{i:02d}_{problem}") for i, label, problem in keys])
    for (_, label, problem), (rows, runs) in zip(keys, done):  # one sweep per row and problem, on one pool
        for row in rows:
            n = row["done"] + row["failed"]
            cells[(label, problem, row["game.scheme"])] = (round(row["success"] * n) if n else 0, n)
        finals[label] += [evaluations(run_dir, "eq_ratio") for _, run_dir in runs.values()]
    path = save(_heatmap(cells, problems, schemes, seeds), ctx.out / "matrix" / "convergence_matrix.png")
    curves = save(_distance_curves(finals), ctx.out / "matrix" / "distance_to_equilibrium.png")
    comps, summary = [], []
    for label in MATRIX_METHODS:
        mine = [c for key, c in cells.items() if key[0] == label]
        k, n = sum(c[0] for c in mine), sum(c[1] for c in mine)
        low, high = wilson_ci(k, n)
        paper = label in PAPER_CONVERGES
        comps.append(compare(label, "converges" if paper else "does not reliably converge",
                             f"{k}/{n} seeds converged ({k / max(n, 1):.0%}, 95 % CI {low:.0%}–{high:.0%})",
                             row_verdict(label, k, n)))
        summary.append([label, *[_cell_text(cells.get((label, p, s))) for p in problems for s in schemes],
                        *_median_distance([rows[-1] for rows in finals[label] if rows])])
    scales = {p: round(problem_scale(p), 4) for p in problems}
    premises = {p: premise(p, ctx.seed) for p in problems}
    none = ("" if any(c[0] for c in cells.values()) else " No seed of any method converged: the rows that agree "
            "with \"does not reliably converge\" do so for want of any convergence, not because the methods were "
            "told apart; read the distances in the table and the figure.")
    return section("convergence_matrix", "The convergence matrix on 2-D problems (§5)",
                   "Protocol v2b of docs/reproduce.md, fixed before it was run: local convergence from a perturbed "
                   "equilibrium. The finite game (64 fixed data points and latents per seed, full batches), plain "
                   "gradient descent with h = 0.1 for both players, 2×64 ReLU MLPs, weight 1 for R1, R2, consensus "
                   f"and WGAN-GP, clipping c = 0.01, instance noise σ = {NOISE_SCALE:g}·s averaged over 16 draws "
                   f"(s = E‖x − E x‖: {scales}), {steps} generator steps. Each seed starts at an exact equilibrium "
                   "(G fitted onto the problem's points, which then become the game's data; the critic's output "
                   f"layer zero, D ≡ 0), G perturbed by {PERTURB:g}·rms(p)·N(0, I) on each tensor p. Distance to "
                   "the equilibrium r = sqrt(W1(G(Z), X)² + E‖∇ₓD‖² on X); a seed converged when r/r(0) is "
                   f"below {EQ_RATIO:g} at each of the last {HOLD} evaluations. A row agrees with the paper when "
                   f"its pooled fraction is ≥ {CONVERGES:.0%} with the Wilson 95 % interval above ½ (converges), "
                   f"or ≤ {FAILS:.0%} with the interval below ½ (does not). {seeds} seeds per cell train as one "
                   "batched ensemble." + none + _premise_text(premises, ctx.seed),
                   f"ganscope reproduce mescheder2018 --{ctx.mode} --out DIR (one sweep per row and problem "
                   "under DIR/matrix/)",
                   config={"base": "convergence2d", "methods": MATRIX_METHODS, "problems": problems,
                           "schemes": schemes, "seeds": seeds, "steps": steps, "scales": scales,
                           "start": {"game.start": "equilibrium", "game.perturb": PERTURB},
                           "criterion": CONVERGENCE_RULE, "premise": premises},
                   figures=[figure(ctx, path, "Fraction of seeds converged (counts in the cells)"),
                            figure(ctx, curves, "The distance to the equilibrium over training: r/r(0), W1 between "
                                   "G's points and the data, and E‖∇ₓD‖² on the data (medians over every seed and "
                                   f"cell of a row; dashed: the criterion r/r(0) = {EQ_RATIO:g})")],
                   tables=[table("Seeds converged, and the final distance to the equilibrium (medians over the "
                                 "row's seeds)",
                                 ["method", *[f"{p} / {s}" for p in problems for s in schemes],
                                  "r/r(0)", "W1 to the data", "E‖∇ₓD‖² on the data"], summary)],
                   comparisons=comps)


DISTANCES = ("eq_ratio", "w1_finite", "grad_sq_real")


def _median_distance(rows: list[dict]) -> list[str]:
    """Medians over a row's seeds of the last logged r/r(0), w1_finite and E‖∇ₓD‖² on the data."""
    return [f"{np.median([r[key] for r in rows]):.3g}" if rows else "n/a" for key in DISTANCES]


def _distance_curves(histories: dict):
    """Per method, the median over its seeds of r/r(0), w1_finite and grad_sq_real against the generator step."""
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.3))
    for label, runs in histories.items():
        runs = [r for r in runs if r]
        if not runs:
            continue
        n = min(len(r) for r in runs)
        steps = [row["step"] for row in runs[0][:n]]
        style = "-" if label in PAPER_CONVERGES else ":"
        for ax, key in zip(axes, DISTANCES):
            ax.plot(steps, np.median([[row[key] for row in r[:n]] for r in runs], 0), style, label=label)
    axes[0].axhline(EQ_RATIO, color="k", ls="--", lw=0.8)
    for ax, title in zip(axes, ("r / r(0)", "W1 to the data", "E‖∇ₓD‖² on the data")):
        ax.set(yscale="log", xlabel="generator step", title=title)
        ax.grid(True, alpha=0.3)
    fig.tight_layout(rect=(0, 0.11, 1, 1))
    fig.legend(*axes[0].get_legend_handles_labels(), loc="lower center", ncol=5, fontsize=8, frameon=False)
    return fig


def _cell_text(cell) -> str:
    return "n/a" if cell is None or not cell[1] else f"{cell[0]}/{cell[1]}"


def _heatmap(cells, problems, schemes, seeds):
    cols = [(p, s) for p in problems for s in schemes]
    grid = np.full((len(MATRIX_METHODS), len(cols)), np.nan)
    for i, label in enumerate(MATRIX_METHODS):
        for j, (p, s) in enumerate(cols):
            cell = cells.get((label, p, s))
            if cell is not None and cell[1]:
                grid[i, j] = cell[0] / cell[1]
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
    where = ("digits (8×8), widths 32, EMA 0.99" if ctx.quick else "Fashion-MNIST resized to 64×64, GAN_stability's "
             "widths (nf 64: 64 to 1024 channels), z 256, EMA 0.999 (the shipped config r1_resnet64)")
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
