"""Arjovsky & Bottou 2017, *Towards Principled Methods for Training GANs* (docs/references.md §A): perfect
discriminators, the saturating JSD, vanishing gradients of the original cost, the instability of −log D,
instance noise, and Theorem 2.5."""
from __future__ import annotations

import math

from ganscope.experiments import arjovsky2017 as experiment
from ganscope.plots import save
from ganscope.reproduce.common import command, compare, figure, section, serial, table, train

TITLE = "Towards Principled Methods for Training Generative Adversarial Networks"
CITATION = "Martin Arjovsky, Léon Bottou. ICLR 2017."


@serial
def _perfect_discrimination(ctx):
    seeds, max_steps = ctx.size(2, 10), ctx.size(1500, 2000)
    results = [experiment.perfect_discrimination(s, seeds, max_steps) for s in ("lines", "low-dim-generator", "images")]
    path = save(experiment.plot_perfect_discrimination(results), ctx.out / "perfect_d.png")
    rows = [[r["setting"], r["median_first_perfect"], r["reached"], len(r["seeds"]), str(r["first_perfect"])]
            for r in results]
    comps = [compare(f"{r['setting']}: a fresh D reaches accuracy 1", "yes, within few iterations (Thms 2.1/2.2)",
                     f"{r['reached']}/{len(r['seeds'])} seeds, median first iteration {r['median_first_perfect']}",
                     r["reached"] == len(r["seeds"])) for r in results]
    return section("perfect_d", "Perfect discrimination on low-dimensional supports",
                   "Data and generator on supports that do not align: a fresh discriminator separates them "
                   "perfectly (held-out accuracy exactly 1) after few updates.",
                   f"ganscope theory perfect-d --setting all --seeds {seeds} --max-steps {max_steps}",
                   figures=[figure(ctx, path, "First iteration at which held-out accuracy reaches 1, per seed")],
                   tables=[table("First perfect iteration", ["setting", "median", "seeds reached", "seeds",
                                                             "per seed"], rows)],
                   comparisons=comps)


@serial
def _jsd_saturation(ctx):
    rows = experiment.jsd_saturation()
    path = save(experiment.plot_jsd_saturation(rows), ctx.out / "jsd_saturation.png")
    disjoint = [r for r in rows if r["uniform_disjoint"]]
    worst = max(abs(r["uniform"] - math.log(2)) for r in disjoint)
    return section("jsd_saturation", "The JSD saturates at log 2 for disjoint supports (Thm 2.3)",
                   "JSD between a distribution and its shifted copy: flat at log 2 once the supports are "
                   "disjoint, however far apart, while W1 keeps growing with the shift.",
                   "ganscope theory jsd-saturation",
                   figures=[figure(ctx, path, "JSD against the shift, with W1 for comparison")],
                   tables=[table("JSD (nats)", ["shift", "uniform", "point masses", "normal", "W1"],
                                 [[r["distance"], r["uniform"], r["point"], r["normal"], r["w1"]] for r in rows])],
                   comparisons=[compare("JSD of disjoint uniforms", "log 2 = 0.693147 for every shift",
                                        f"max |JSD − log 2| = {worst:.1e} over {len(disjoint)} shifts", worst < 1e-6)])


@serial
def _gradient_probe(ctx):
    from ganscope.analysis.probe import run_probe

    steps = ctx.size(600, 4000)
    keep = [0, 100, steps] if ctx.quick else [0, 100, 500, 1000, 4000]
    overrides = [f"train.steps={steps}", f"checkpoint.keep={keep}", f"checkpoint.every={steps}"]
    train(ctx, "probe2d", overrides, sub="probe2d")
    iters, seeds, lr = ctx.size(300, 4000), ctx.size(2, 5), ctx.size(1e-3, 1e-4)  # quick: a faster D
    result = run_probe(ctx.out / "probe2d", ctx.out / "probe2d" / "probe", steps=iters, sigma=0.1, seeds=seeds,
                       lr=lr)
    rows, falls, grows = [], [], []
    for step, settings in result["checkpoints"].items():
        s = settings["none"]["summary"]
        orig, logd = s["grad_norm_original"], s["grad_norm_minus_log_d"]
        rows.append([step, s["accuracy"]["end"], orig["log10_from_peak"], logd["log10_change"], logd["log10_jitter"]])
        falls.append(orig["log10_from_peak"])
        grows.append(logd["log10_change"])
    return section("gradient_probe", "Frozen generator, fresh discriminator (Figures 1–3)",
                   "Generator checkpoints of an unregularised non-saturating GAN on 8 Gaussians are frozen; a "
                   "fresh discriminator is trained against each and the norm of the generator's gradient is "
                   "recorded under the original cost and under −log D, with and without instance noise σ = 0.1.",
                   f"{command('probe2d', overrides, 'probe2d')} && ganscope probe DIR/probe2d --steps {iters} "
                   f"--sigma 0.1 --seeds {seeds} --lr {lr:g} --out DIR/probe2d/probe",
                   figures=[figure(ctx, ctx.out / "probe2d" / "probe" / "probe.png",
                                   "D's accuracy and the generator's gradient norms, median and quartiles over seeds")],
                   tables=[table("Without noise: per checkpoint", ["generator step", "final D accuracy",
                                 "log10 original-cost ‖∇‖ end/peak", "log10 −log D ‖∇‖ end/start",
                                 "−log D jitter (log10)"], rows)],
                   comparisons=[
                       compare("original cost: generator gradient as D improves", "vanishes (Thm 2.4, Fig. 2)",
                               f"falls {-max(falls):.1f} to {-min(falls):.1f} orders of magnitude from its peak",
                               max(falls) < -1),
                       compare("−log D cost: generator gradient as D improves", "grows, noisy updates (Thm 2.6, Fig. 3)",
                               f"changes by {min(grows):+.1f} to {max(grows):+.1f} orders of magnitude",
                               min(grows) > 0)])


@serial
def _theorem_2_5(ctx):
    rows = [experiment.theorem_2_5(t) for t in (0.5, 1.0, 2.0)]
    worst = max(r["abs_diff"] for r in rows)
    return section("theorem_2_5", "Theorem 2.5: the −log D gradient is ∇[KL(P_g‖P_r) − 2 JSD(P_g‖P_r)]",
                   "P_r = N(0, 1), generator z + θ with D* frozen at θ0: both sides by quadrature.",
                   "ganscope theory theorem-2-5 --theta0 0.5 1 2",
                   tables=[table("Both sides", ["θ0", "E[−∂θ log D*]", "∂θ[KL − 2 JSD]", "|difference|"],
                                 [[r["theta0"], r["lhs"], r["rhs"], r["abs_diff"]] for r in rows])],
                   comparisons=[compare("lhs = rhs", "equal (Thm 2.5)", f"max |lhs − rhs| = {worst:.1e}", worst < 1e-6)])


SECTIONS = [_perfect_discrimination, _jsd_saturation, _gradient_probe, _theorem_2_5]
