"""Barnett 2018, *Convergence Problems with Generative Adversarial Networks* (docs/references.md §B): the optimal
discriminator and V(D*, G) = −log 4 + 2·JSD, the saturating JSD, mode collapse, and gradient play in the
game-theoretic view (the Dirac-GAN)."""
from __future__ import annotations

import math

import numpy as np

from ganscope.analysis import dirac, theory
from ganscope.analysis.distributions import parse_density
from ganscope.plots import save
from ganscope.reproduce.common import command, compare, figure, section, table, train

TITLE = "Convergence Problems with Generative Adversarial Networks (GANs)"
CITATION = "Samuel A. Barnett. Dissertation, University of Oxford, 2018 (arXiv:1806.11382)."


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


# Per-method settings on top of the shipped config mode_collapse (R1's γ for this data scale; WGAN-GP's own Adam).
METHODS = {"nonsaturating": [], "r1": ["penalty.weight=0.1"],
           "wgan-gp": ["optim.g.lr=1e-4", "optim.d.lr=1e-4", "optim.g.betas=[0.5,0.9]", "optim.d.betas=[0.5,0.9]"]}


def _mode_collapse(ctx):
    steps, seeds = ctx.size(1000, 3000), ctx.size(2, 4)
    methods = ["nonsaturating", "r1"] if ctx.quick else list(METHODS)  # WGAN-GP's 5 critic steps: full only
    rows, finals = [], {}
    for method in methods:
        overrides = [f"method={method}", *METHODS[method], f"train.steps={steps}", f"checkpoint.every={steps}",
                     f"ensemble={seeds}"]
        _, summary = train(ctx, "mode_collapse", overrides, sub=f"mode_collapse/{method}")
        members = summary.get("members", [summary["final"]])
        finals[method] = members
        modes = [m["modes_covered"] for m in members]
        rows.append([method, len(members), float(np.mean(modes)), f"{min(modes)}–{max(modes)}",
                     float(np.mean([m["mode_kl"] for m in members])),
                     float(np.mean([m["hq_fraction"] for m in members])),
                     float(np.mean([m["modes_dropped"] for m in members])),
                     sum(bool(m["mode_collapse"]) for m in members)])
    base = np.mean([m["modes_covered"] for m in finals["nonsaturating"]])
    best = max(np.mean([m["modes_covered"] for m in finals[k]]) for k in finals if k != "nonsaturating")
    figs = [figure(ctx, ctx.out / "mode_collapse" / m / "plots" / "samples_member0.png", f"{m}: samples through training")
            for m in methods]
    return section("mode_collapse", "Mode collapse on 25 Gaussians",
                   f"The same MLP GAN on the 25-Gaussian grid, {methods_text(methods)}, {seeds} seeds per method "
                   "as one ensemble. A mode counts when it holds at least a tenth of its fair share of samples "
                   "within 3σ of its centre; mode_kl is KL(mode histogram ‖ uniform).",
                   " && ".join(command("mode_collapse", [f"method={m}", *METHODS[m], f"train.steps={steps}"],
                                       f"mode_collapse/{m}") for m in methods),
                   figures=figs,
                   tables=[table("Final modes over seeds", ["method", "seeds", "modes (mean)", "modes (range)",
                                 "mode KL", "HQ fraction", "modes dropped", "runs flagged collapsed"], rows)],
                   comparisons=[compare("unregularised GAN vs regularised on a mixture",
                                        "the unregularised GAN collapses onto a subset of modes (Barnett §5)",
                                        f"{base:.1f}/25 modes unregularised, best regularised {best:.1f}/25",
                                        None if ctx.quick else _collapsed(finals["nonsaturating"]) and not any(
                                            _collapsed(finals[k]) for k in finals if k != "nonsaturating"),
                                        "--quick runs are too short for the regularised GAN to cover the grid; "
                                        "use --full" if ctx.quick else "")])


METHOD_NAMES = {"nonsaturating": "unregularised (non-saturating)", "r1": "R1", "wgan-gp": "WGAN-GP"}


def methods_text(methods) -> str:
    """'unregularised (non-saturating) against R1 and WGAN-GP': the methods actually in the table, in its order."""
    names = [METHOD_NAMES.get(m, m) for m in methods]
    base, others = names[0], names[1:]
    if not others:
        return base
    return f"{base} against " + (others[0] if len(others) == 1 else ", ".join(others[:-1]) + " and " + others[-1])


def _collapsed(members) -> bool:
    """Most seeds flagged as collapsed (more than a quarter of the modes missing at the end)."""
    return sum(bool(m["mode_collapse"]) for m in members) > len(members) / 2


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
