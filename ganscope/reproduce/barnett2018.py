"""Barnett 2018, *Convergence Problems with Generative Adversarial Networks* (docs/references.md §B): the optimal
discriminator and V(D*, G) = −log 4 + 2·JSD, the saturating JSD, mode collapse, and gradient play in the
game-theoretic view (the Dirac-GAN)."""
from __future__ import annotations

import math

import numpy as np

from ganscope.analysis import dirac, theory
from ganscope.analysis.distributions import parse_density
from ganscope.plots import save
from ganscope.reproduce.common import command, compare, config_of, figure, section, serial, table, train_all
from ganscope.reproduce.criteria import below_apart, fmt_interval, interval

TITLE = "Convergence Problems with Generative Adversarial Networks (GANs)"
CITATION = "Samuel A. Barnett. Dissertation, University of Oxford, 2018 (arXiv:1806.11382)."


@serial
def _optimal_discriminator(ctx):
    steps = ctx.size(1000, 4000)
    pairs = [("normal:0,1", "normal:2,1"), ("normal:0,1", "normal:0,1"), ("uniform:0,1", "uniform:3,4")]
    results = [theory.optimal_d_report(parse_density(a), parse_density(b), steps=steps,
                                       held_out=ctx.size(20000, 100000)) for a, b in pairs]
    path = save(theory.plot_optimal_d(results[0]), ctx.out / "optimal_d.png")
    rows = [[r["real"], r["fake"], r["jsd"], r["value_at_optimum"], r["identity_gap"], r["value_trained"],
             r["jsd_trained"]] for r in results]
    same, disjoint = results[1], results[2]
    gap = max(abs(r["identity_gap"]) for r in results)
    return section("optimal_d", "The optimal discriminator and V(D*, G) = −log 4 + 2·JSD",
                   "Closed-form D* = p_r/(p_r + p_g) by numerical integration, against a discriminator trained "
                   "from samples.",
                   f"ganscope theory optimal-d --real normal:0,1 --fake normal:2,1 --steps {steps}",
                   figures=[figure(ctx, path, "D* against the trained D, N(0,1) vs N(2,1)")],
                   tables=[table("Closed form and trained", ["P_r", "P_g", "JSD", "V(D*,G)", "identity gap",
                                                             "V trained", "JSD trained"], rows)],
                   comparisons=[
                       compare("V(D*, G) = −log 4 + 2 JSD", "identity (Barnett §3; Goodfellow et al. 2014)",
                               f"max gap {gap:.1e}", gap < 1e-6),
                       compare("P_g = P_r", "V = −log 4 = −1.386294, D* = 1/2",
                               f"V = {same['value_at_optimum']:.6f}", abs(same["value_at_optimum"] + math.log(4)) < 1e-6),
                       compare("disjoint supports", "JSD = log 2, V(D*, G) = 0",
                               f"JSD = {disjoint['jsd']:.6f}, V = {disjoint['value_at_optimum']:.2e}",
                               abs(disjoint["jsd"] - math.log(2)) < 1e-6),
                       compare("trained D approaches D*", "V(D, G) ≤ V(D*, G), close after training",
                               f"gap {results[0]['gap_value']:+.4f} (N(0,1) vs N(2,1))",
                               abs(results[0]["gap_value"]) < 0.02)])


# The mode-collapse comparison (Barnett §5; Mescheder §5). Protocol fixed before any verdict was seen:
# the recipe (nets, optimiser, EMA, steps) was chosen from R1's sample quality alone (docs/reproduce.md, "Mode
# collapse"), then the three methods ran once from the same nets and the same optimiser; each keeps only its
# defining settings (loss, penalty, critic steps). The shared optimiser is the recipe's (the config file's optim,
# which overrides the presets'): in --quick Adam(1e-3, β = (0.5, 0.9)), Gulrajani's betas and ten times his 1e-4,
# for all three alike, because the quick budget is 1,500 generator steps. WGAN-GP's λ = 0.1 (Gulrajani's toy
# script's value) was chosen, as R1's γ, from its own samples on held-out seeds 100–105 over λ ∈ {10, 1, 0.1}
# (docs/reproduce.md, "Amendment"); n_d = 5 is the preset's.
METHODS = {"nonsaturating": [], "r1": ["penalty.weight=0.1"], "wgan-gp": ["penalty.weight=0.1"]}
# --quick: the 8-Gaussian ring and the toy2d recipe at width 64, batch 128 (≤ 90 s on one core); --full: the
# 25-Gaussian grid and the mode_collapse recipe (3×128, batch 256).
QUICK = ("toy2d", ["data.name=8gaussians", "model.g_width=64", "model.d_width=64", "data.batch_size=128",
                   "data.eval_samples=1000", "train.eval_every=500"], 1500)
FULL = ("mode_collapse", ["train.eval_every=500"], 10000)
SEEDS = 6
COVER = 0.9  # criterion (a): R1's and WGAN-GP's mean modes covered ≥ 90 % of the modes
CRITERION = ("agrees iff (a) R1's and WGAN-GP's mean modes covered are each ≥ 90 % of the modes and (b) the "
             "unregularised GAN's 95 % CI of modes covered lies entirely below each regularised method's 95 % CI")


def collapse_verdict(modes: dict, n_modes: int) -> tuple[bool, str]:
    """The fixed criterion on ``modes`` {method: modes covered per seed}: (a) mean(R1), mean(WGAN-GP) ≥ 0.9·K and
    (b) the upper end of the unregularised GAN's Student-t 95 % CI below the lower end of each regularised
    method's (ganscope.reproduce.criteria). Returns (verdict, the numbers as text)."""
    regularised = ("r1", "wgan-gp")
    cover = all(interval(modes[m])[0] >= COVER * n_modes for m in regularised)
    below = all(below_apart(modes["nonsaturating"], modes[m]) for m in regularised)
    text = "; ".join(f"{METHOD_NAMES[m]} {fmt_interval(modes[m], 2)} of {n_modes}" for m in modes)
    return bool(cover and below), f"{text} modes (mean ± 95 % CI)"


def _mode_collapse(ctx):
    name, extra, steps = QUICK if ctx.quick else FULL
    seeds = list(range(ctx.seed, ctx.seed + SEEDS))
    methods = list(METHODS)
    rows, modes, samples, n_modes, dataset = [], {}, {}, 0, ""
    overrides = {m: [f"method={m}", *METHODS[m], *extra, f"train.steps={steps}", f"checkpoint.every={steps}",
                     f"ensemble={SEEDS}"] for m in methods}
    longest_first = sorted(methods, key=lambda m: m != "wgan-gp")  # its 5 critic steps: most of the section's time
    trained = dict(zip(longest_first, train_all(ctx, [(name, overrides[m], f"mode_collapse/{m}")
                                                      for m in longest_first])))
    for method in methods:
        out, summary = trained[method]
        members = summary["members"] if "members" in summary else [summary["final"]]
        n_modes, dataset = int(members[0]["n_modes"]), summary["data"]
        modes[method] = [int(m["modes_covered"]) for m in members]
        samples[method] = _final_samples(ctx, name, overrides[method], out)
        rows.append([METHOD_NAMES[method], ", ".join(map(str, modes[method])), fmt_interval(modes[method], 2),
                     float(np.mean([m["hq_fraction"] for m in members])),
                     float(np.mean([m["mode_kl"] for m in members])),
                     sum(bool(m["mode_collapse"]) for m in members)])
    ok, measured = collapse_verdict(modes, n_modes)
    path = save(_samples_figure(samples, seeds, dataset), ctx.out / "mode_collapse" / "samples.png")
    seed_text = f"seeds {seeds[0]}–{seeds[-1]}"
    return section("mode_collapse", f"Mode collapse on {dataset}: {methods_text(methods)}",
                   f"The same MLP GAN on {dataset} ({n_modes} modes), {methods_text(methods)}, {SEEDS} seeds per "
                   f"method as one ensemble ({seed_text}), {steps} generator steps, the config {name} "
                   f"({', '.join(extra)}), one optimiser for all three: {_optimiser_text(name, extra)}; "
                   f"R1 γ = {_weight('r1')}, WGAN-GP λ = {_weight('wgan-gp')} with 5 critic steps. A mode counts "
                   "when it holds at least a tenth of its fair share of the EMA generator's samples within 3σ of its "
                   f"centre; mode_kl is KL(mode histogram ‖ uniform). Criterion (fixed in advance): {CRITERION}.",
                   " && ".join(command(name, [f"method={m}", *METHODS[m], *extra, f"train.steps={steps}",
                                              f"ensemble={SEEDS}"], f"mode_collapse/{m}") for m in methods),
                   figures=[figure(ctx, path, f"Final samples of the EMA generator, {methods_text(methods)}: one "
                                              f"row per method, one column per seed ({seed_text}), step {steps}")],
                   tables=[table(f"Final modes covered (of {n_modes}) per seed, {seed_text}",
                                 ["method", "modes per seed", "mean ± 95 % CI", "HQ fraction", "mode KL",
                                  "runs flagged collapsed"], rows)],
                   comparisons=[compare("unregularised GAN vs R1 and WGAN-GP on a mixture",
                                        "the unregularised GAN collapses onto a subset of modes where regularised "
                                        "training covers them (Barnett §5; Mescheder §5)", measured, ok)])


def _weight(method: str) -> str:
    """The penalty weight METHODS gives ``method``, as written there ("0.1")."""
    return next(o.split("=", 1)[1] for o in METHODS[method] if o.startswith("penalty.weight="))


def _optimiser_text(name, extra) -> str:
    """'Adam(0.001, β = (0.5, 0.9)), EMA 0.99 of G': the recipe's shared optimiser, read from the config."""
    cfg = config_of(name, ["method=nonsaturating", *extra])
    o = cfg.optim.g
    return f"{o.name.capitalize()}({o.lr:g}, β = ({o.betas[0]:g}, {o.betas[1]:g})), EMA {cfg.game.ema:g} of G"


def _final_samples(ctx, name, overrides, out, n=500):
    """The final EMA (else training) generator's samples (E, n, 2) of the finished run in ``out``."""
    import torch

    from ganscope import rundir
    from ganscope import train as trainer

    run = trainer.Run(config_of(name, [f"seed={ctx.seed}", *overrides, "train.diagnostics=false"]), out)
    run.load(rundir.last_checkpoint(out))
    with torch.no_grad():
        return np.asarray(run.task.samples(run.game.ema if run.game.ema is not None else run.game.gen.net, n))


def _samples_figure(samples: dict, seeds: list, dataset: str):
    """One row per method, one column per seed: the final samples, on the same axes."""
    from ganscope.plots import plt

    n_seeds = len(seeds)
    fig, axes = plt.subplots(len(samples), n_seeds, figsize=(1.7 * n_seeds, 1.8 * len(samples)), squeeze=False)
    lim = 1.1 * max(float(np.nanmax(np.abs(v[np.isfinite(v)]))) if np.isfinite(v).any() else 1.0
                    for v in samples.values())
    lim = min(max(lim, 1.6), 3.0)  # both mixtures lie within ±1.42; a diverged run does not squash the rest
    for row, (method, pts) in zip(axes, samples.items()):
        for i, ax in enumerate(row):
            if i < len(pts):
                ax.scatter(pts[i, :, 0], pts[i, :, 1], s=1, alpha=0.5)
            ax.set(xlim=(-lim, lim), ylim=(-lim, lim), xticks=[], yticks=[], aspect="equal")
            if i == 0:
                ax.set_ylabel(METHOD_NAMES[method], fontsize=9)
            if row is axes[0]:
                ax.set_title(f"seed {seeds[i]}", fontsize=9)
    fig.suptitle(dataset, fontsize=10)
    fig.tight_layout()
    return fig


METHOD_NAMES = {"nonsaturating": "unregularised (non-saturating)", "r1": "R1", "wgan-gp": "WGAN-GP"}


def methods_text(methods) -> str:
    """'unregularised (non-saturating) against R1 and WGAN-GP': the methods actually in the table, in its order."""
    names = [METHOD_NAMES.get(m, m) for m in methods]
    base, others = names[0], names[1:]
    if not others:
        return base
    return f"{base} against " + (others[0] if len(others) == 1 else ", ".join(others[:-1]) + " and " + others[-1])


@serial
def _gradient_play(ctx):
    rows, comps = [], []
    for scheme in ("simgd", "altgd"):
        r = dirac.analyse(dirac.DiracGAN("minimax", "none"), scheme, h=0.1, steps=1000)
        rows.append([scheme, r["spectral_radius"], r["local_verdict"], r["trajectory_verdict"], r["radius"][-1]])
    comps.append(compare("simultaneous gradient play (Dirac-GAN)", "no convergence to the Nash equilibrium",
                         f"{rows[0][2]}, radius {rows[0][4]:.3g} after 1000 steps", rows[0][2] != "converges"))
    comps.append(compare("alternating gradient play", "no convergence (circles)",
                         f"{rows[1][2]}, radius {rows[1][4]:.3g}", rows[1][2] != "converges"))
    return section("gradient_play", "The game-theoretic view: gradient play need not reach the equilibrium",
                   "The Dirac-GAN's unique Nash equilibrium (θ, ψ) = (0, 0): gradient play rotates around it.",
                   "ganscope dirac --loss minimax --reg none --scheme simgd --json",
                   tables=[table("Standard GAN, h = 0.1, start (1, 1)", ["scheme", "spectral radius",
                                                                         "local verdict", "trajectory", "final radius"],
                                 rows)],
                   comparisons=comps)


SECTIONS = [_optimal_discriminator, _mode_collapse, _gradient_play]
