"""Gulrajani et al. 2017, *Improved Training of Wasserstein GANs* (docs/references.md §G): critic value surfaces and the
clipping pathology on the toy sets (Figure 1), WGAN-GP against DCGAN, LSGAN and weight-clipped WGAN across the
paper's architectures (§5.2, Figure 2; Figure 3 on the baseline), and the character-level language model against
the standard GAN (§5.5). The criteria are fixed in docs/reproduce.md."""
from __future__ import annotations

import json
import math

from ganscope.plots import plt, save
from ganscope.reproduce.common import (as_set, command, compare, config_of, evaluations, fid_against, figure,
                                       image_overrides, section, serial, sweeps, table, train)

TITLE = "Improved Training of Wasserstein GANs"
CITATION = "Ishaan Gulrajani, Faruk Ahmed, Martin Arjovsky, Vincent Dumoulin, Aaron Courville. NeurIPS 2017."


@serial
def _critic_surfaces(ctx):
    from ganscope.experiments.wgan_toy import run_critic_surfaces

    r = run_critic_surfaces(ctx.out / "toy", quick=ctx.quick)
    rows = [[x["data"], x["method"], x["w1_critic"], x["w1_exact"]] for x in r["results"]]
    clip = [x for x in r["results"] if x["method"] == "clip"]
    gp = [x for x in r["results"] if x["method"] == "gp"]
    ratio_clip = max(x["w1_critic"] / x["w1_exact"] for x in clip)
    ratio_gp = min(x["w1_critic"] / x["w1_exact"] for x in gp)
    return section("critic_surfaces", "Critic value surfaces on the toy sets (Figure 1a)",
                   "Critics trained to optimality against a fixed generator (real data + noise): weight clipping "
                   "learns overly simple functions, the gradient penalty captures the data's shape.",
                   f"ganscope toy2d critic-surface {'' if ctx.quick else '--full '}--out DIR/toy",
                   figures=[figure(ctx, r["png"], "Value surfaces: clipping (top) vs gradient penalty (bottom)")],
                   tables=[table("Critic's estimate of W1 against the exact W1", ["data", "method", "critic", "exact"],
                                 rows)],
                   comparisons=[compare("clipped critic", "underuses its capacity (Fig. 1a)",
                                        f"estimates at most {ratio_clip:.1%} of the exact W1", ratio_clip < 0.1),
                                compare("gradient-penalty critic", "captures the distributions",
                                        f"estimates at least {ratio_gp:.0%} of the exact W1", ratio_gp > 0.5)])


@serial
def _clipping_pathology(ctx):
    from ganscope.experiments.wgan_toy import run_clipping_pathology

    r = run_clipping_pathology(ctx.out / "toy", quick=ctx.quick)
    rows = [[x["label"], x["top_over_bottom"], x["fraction_at_bound"]] for x in r["runs"]]
    small = [x for x in r["runs"] if x["clip"] and x["clip"] <= 0.01]
    big = [x for x in r["runs"] if x["clip"] and x["clip"] >= 0.1]
    gp = [x for x in r["runs"] if not x["clip"]]
    return section("clipping_pathology", "Gradient norms through a deep critic (Figure 1b)",
                   "A 12-layer critic on the Swiss roll: the gradient norm at each layer, relative to the input "
                   "layer, under weight clipping c ∈ {0.1, 0.01, 0.001} and under the gradient penalty; and the "
                   "weights' histogram.",
                   f"ganscope toy2d clipping-pathology {'' if ctx.quick else '--full '}--out DIR/toy",
                   figures=[figure(ctx, r["png"], "Gradient norm per layer; weights under clipping vs GP")],
                   tables=[table("Last layer / first layer gradient norm (vanishing: > 100; exploding: < 1/100)",
                                 ["run", "ratio", "weights at ±c"], rows)],
                   comparisons=[
                       compare("small clipping c", "gradients vanish through the layers",
                               ", ".join(f"{x['label']}: ratio {x['top_over_bottom']:.1e}" for x in small),
                               all(x["top_over_bottom"] > 1e2 for x in small)),
                       compare("large clipping c", "gradients explode", ", ".join(
                           f"{x['label']}: ratio {x['top_over_bottom']:.1e}" for x in big),
                               all(x["top_over_bottom"] < 1e-2 for x in big)),
                       compare("gradient penalty", "neither", ", ".join(
                           f"{x['label']}: ratio {x['top_over_bottom']:.2f}" for x in gp),
                               all(1e-1 < x["top_over_bottom"] < 1e1 for x in gp))])


# ---- §5.2 / Figure 2: the architecture grid ---------------------------------------------------------

GRID_METHODS = ("wgan-gp", "nonsaturating", "lsgan", "wgan-clip")  # WGAN-GP first: the claim's subject
METHOD_LABELS = {"wgan-gp": "WGAN-GP", "nonsaturating": "DCGAN", "lsgan": "LSGAN", "wgan-clip": "WGAN-clip"}
ARCHITECTURES = {  # model.variant: (net, label), Gulrajani et al. 2017 §5.2 / Figure 2
    "baseline": ("dcgan", "DCGAN baseline (BN in G and D)"),
    "g-nobn-const": ("dcgan", "G: no BN, constant filters"),
    "g-mlp": ("dcgan", "G: 4-layer ReLU MLP"),
    "no-norm": ("dcgan", "no normalisation in G or D"),
    "tanh": ("dcgan", "tanh nonlinearities"),
    "deep": ("resnet", "deep ResNet G and D"),
}
QUICK_ARCHITECTURES = ("baseline", "g-mlp")
SUCCESS_FRACTION = 0.5  # success: final FID < SUCCESS_FRACTION × FID of the untrained generator (fixed in advance)
QUICK_REASON = ("250 generator steps are 0.1 % of the paper's 200k with the paper's slow optimisers: too short to "
                "tell an architecture a method cannot train from one it has not trained yet; --full decides")


def grid_success(fid, untrained_fid) -> bool:
    """The success rule: a finite final FID below ``SUCCESS_FRACTION`` × the untrained generator's FID."""
    return fid is not None and math.isfinite(fid) and fid < SUCCESS_FRACTION * untrained_fid


def grid_verdict(success: dict) -> bool:
    """{(architecture, method): succeeded} -> the §5.2 claim: WGAN-GP succeeds on every architecture and each
    other method of GRID_METHODS fails on at least one (a missing cell counts as a failure)."""
    archs = sorted({a for a, _ in success})
    gp_everywhere = all(success.get((a, "wgan-gp"), False) for a in archs)
    others_fail = all(any(not success.get((a, m), False) for a in archs) for m in GRID_METHODS[1:])
    return gp_everywhere and others_fail


def grid_summary(success: dict) -> str:
    """"WGAN-GP 2/2, DCGAN 1/2, ..." : architectures trained per method."""
    archs = sorted({a for a, _ in success})
    return ", ".join(f"{METHOD_LABELS[m]} {sum(success.get((a, m), False) for a in archs)}/{len(archs)}"
                     for m in GRID_METHODS)


def equal_wallclock_fid(rows: list[dict], seconds: float, untrained_fid: float) -> float:
    """A run's FID at training wall-clock ``seconds``: its last evaluation at or before it; its curve starts at
    the untrained generator's FID at 0 s."""
    before = [r["fid"] for r in rows if r["wall_s"] <= seconds]
    return before[-1] if before else untrained_fid


def untrained_fid(ctx, overrides) -> float:
    """FID of the generator of ``images`` + overrides before any step, evaluated as the trained runs are."""
    import torch

    from ganscope.tasks import make_task

    cfg = config_of("images", [f"seed={ctx.seed}", *overrides])
    with torch.random.fork_rng(devices=[]):
        task = make_task(cfg)
        return float(task.evaluate(task.gen)[0]["fid"])


def grid_specs(ctx, archs, steps) -> list[dict]:
    """One sweep spec per net: its variants among ``archs`` × GRID_METHODS, each method's preset untouched."""
    # no EMA (the paper's code keeps none; β = 0.99 lagged ~100 of the quick run's 250 steps); eval_every 50 quick
    size = {**as_set(image_overrides(ctx)), "game.ema": 0.0, **ctx.size({"train.eval_every": 50}, {})}
    nets = dict.fromkeys(ARCHITECTURES[a][0] for a in archs)
    return [{"base": "images", "set": {"net": net, "train.steps": steps, **size},
             "grid": {"model.variant": [a for a in archs if ARCHITECTURES[a][0] == net],
                      "method": list(GRID_METHODS)}} for net in nets]


def _grid_runs(ctx, archs, steps):
    """{(architecture, method): run directory} of the grid's sweeps, and the specs."""
    runs, specs = {}, grid_specs(ctx, archs, steps)
    for _, done in sweeps(ctx, [(spec, f"architectures/{spec['set']['net']}") for spec in specs]):  # one pool
        runs.update({(o["model.variant"], o["method"]): d for o, d in done.values()})
    return runs, specs


def _final_fid(run_dir):
    return json.loads((run_dir / "summary.json").read_text())["final"]["fid"]


def _architectures(ctx):
    archs = ctx.size(QUICK_ARCHITECTURES, tuple(ARCHITECTURES))
    steps = ctx.size(250, 20000)
    runs, specs = _grid_runs(ctx, archs, steps)
    size = [*image_overrides(ctx), "game.ema=0"]
    start = {a: untrained_fid(ctx, [f"net={ARCHITECTURES[a][0]}", f"model.variant={a}", *size]) for a in archs}
    fids = {k: _final_fid(d) for k, d in runs.items()}
    success = {(a, m): grid_success(fids.get((a, m)), start[a]) for a in archs for m in GRID_METHODS}
    rows = [[ARCHITECTURES[a][1], start[a], SUCCESS_FRACTION * start[a],
             *(_cell(fids.get((a, m)), success[(a, m)]) for m in GRID_METHODS)] for a in archs]
    grid_png = save(_samples_grid(runs, archs, steps), ctx.out / "architectures" / "samples.png")
    baseline = {m: evaluations(runs[("baseline", m)], "fid") for m in GRID_METHODS if ("baseline", m) in runs}
    curves_png = save(fid_against({METHOD_LABELS[m]: r for m, r in baseline.items()}, ("step", "wall_s")),
                      ctx.out / "architectures" / "fid_baseline.png")
    claim = compare("WGAN-GP trains every architecture; DCGAN, LSGAN and clipping each fail on some",
                    "only WGAN-GP trained all 7 architectures with one set of hyper-parameters (§5.2, Fig. 2)",
                    f"architectures trained (FID < {SUCCESS_FRACTION:g} × untrained): {grid_summary(success)}",
                    None if ctx.quick else grid_verdict(success), QUICK_REASON if ctx.quick else "")
    names = ", ".join(archs)
    return section("architectures", "Architecture robustness: 4 methods × the paper's architectures (§5.2, Fig. 2; "
                   "Fig. 3 on the baseline)",
                   "Each method with its paper's optimiser and critic steps (WGAN-GP Adam(1e-4, 0.5, 0.9), λ = 10, "
                   "5 critic steps; WGAN-clip RMSProp 5e-5, c = 0.01, 5 critic steps; DCGAN non-saturating "
                   "Adam(2e-4, 0.5, 0.999); LSGAN RMSProp 1e-4), the same generator steps, on the architectures "
                   f"{names} (`model.variant`; the critic's BatchNorm is layer norm under WGAN-GP's penalty). "
                   "Fashion-MNIST 28 px, FID of the generator (no EMA, as in the paper's code) by ganscope's "
                   "fmnist-cnn extractor on the test "
                   f"split, one seed ({ctx.seed}) per cell. **Success rule, fixed before the runs:** final FID "
                   f"below {SUCCESS_FRACTION:g} × the FID of the same architecture's untrained generator (same "
                   "seed, latents and sample count). **Claim criterion:** agrees iff WGAN-GP succeeds on every "
                   "architecture and each other method fails on at least one."
                   + (" Quick profile: a preview on two architectures; the verdict needs --full." if ctx.quick
                      else ""),
                   f"ganscope reproduce gulrajani2017 --{ctx.mode} --out DIR (sweeps over variants × methods in "
                   "DIR/architectures; one run: " + command("images", ["net=dcgan", "model.variant=g-mlp",
                                                                       "method=wgan-gp", f"train.steps={steps}"],
                                                            "wgan-gp") + ")",
                   config=specs[0] if len(specs) == 1 else {"sweeps": specs},
                   figures=[figure(ctx, grid_png, f"Final samples (step {steps}): one row per architecture, one "
                                                  "column per method"),
                            figure(ctx, curves_png, "Baseline architecture: FID against generator steps and "
                                                    "training wall-clock (Figure 3)")],
                   tables=[table(f"Final FID after {steps} generator steps (✓: below the threshold)",
                                 ["architecture", "untrained FID", "threshold",
                                  *(METHOD_LABELS[m] for m in GRID_METHODS)], rows)],
                   comparisons=[claim, *_figure3_rows(baseline, start["baseline"])])


def _cell(fid, ok) -> str:
    return "not run" if fid is None else f"{fid:.1f} {'✓' if ok else '✗'}"


def _figure3_rows(curves, untrained) -> list[dict]:
    """Figure 3's two claims on the baseline architecture, each with its criterion (docs/reproduce.md)."""
    if not all(m in curves and curves[m] for m in ("wgan-gp", "wgan-clip", "nonsaturating")):
        return [compare("Figure 3 on the baseline", "—", "runs missing", None, "a run of the baseline failed")]
    gp, clip, dcgan = curves["wgan-gp"][-1], curves["wgan-clip"][-1], curves["nonsaturating"][-1]
    gp_then = equal_wallclock_fid(curves["wgan-gp"], dcgan["wall_s"], untrained)
    return [compare("WGAN-GP vs weight clipping", "WGAN-GP converges faster and better than clipping (Fig. 3)",
                    f"final FID {gp['fid']:.1f} vs {clip['fid']:.1f} (same generator steps)",
                    gp["fid"] < clip["fid"]),
            compare("DCGAN vs WGAN-GP in wall-clock", "DCGAN converges faster in wall-clock (Fig. 3 right)",
                    f"at {dcgan['wall_s']:.0f} training seconds: DCGAN FID {dcgan['fid']:.1f}, WGAN-GP "
                    f"{gp_then:.1f}", dcgan["fid"] < gp_then,
                    "the paper's other half, WGAN-GP more stable at convergence, needs long runs (the grid in --full)")]


def _samples_grid(runs, archs, steps):
    """Final sample grids, architectures in rows, methods in columns."""
    fig, axes = plt.subplots(len(archs), len(GRID_METHODS), figsize=(2.4 * len(GRID_METHODS), 2.5 * len(archs)),
                             squeeze=False)
    for i, a in enumerate(archs):
        for j, m in enumerate(GRID_METHODS):
            ax = axes[i][j]
            png = runs[(a, m)] / "samples" / f"step_{steps:06d}.png" if (a, m) in runs else None
            if png is not None and png.exists():
                ax.imshow(plt.imread(png), cmap="gray")
            ax.set_xticks([]), ax.set_yticks([])
            if i == 0:
                ax.set_title(METHOD_LABELS[m], fontsize=11)
            if j == 0:
                ax.set_ylabel(ARCHITECTURES[a][1], fontsize=8)
    fig.tight_layout()
    return fig


# ---- §5.5: the language GAN ---------------------------------------------------------------------------

CHARLM_METHODS = {  # the standard GAN: same nets and optimiser, non-saturating loss, no penalty, 1 critic step
    "wgan-gp": {"method": "wgan-gp"},
    "standard GAN": {"method": "nonsaturating", "penalty.name": "none", "game.n_d": 1},
}
# the recipe for both (chosen on WGAN-GP runs alone for progress per CPU second; docs/reproduce.md)
CHARLM_QUICK = {"optim.g.lr": 3e-3, "optim.d.lr": 3e-3, "game.n_d": 5, "model.g_depth": 2, "model.d_depth": 2,
                "train.eval_every": 25}
CHARLM_FULL = {"model.g_width": 512, "model.d_width": 512, "train.eval_every": 1000}  # the paper's nets and recipe
CHARLM_FALL = 0.10  # WGAN-GP's jsd4 must fall by at least 10 % from its first evaluation (fixed in advance)


def charlm_spec(label: str, steps: int, seeds: int, recipe: dict) -> dict:
    """The sweep of one method of CHARLM_METHODS over ``seeds`` seeds with the shared ``recipe``."""
    return {"base": "charlm", "set": {"train.steps": steps, **recipe, **CHARLM_METHODS[label]},
            "seeds": {"count": seeds}}


def charlm_verdict(gp_first: list, gp_last: list, gan_last: list) -> bool:
    """The §5.5 criterion: ≥ 3 seeds each; WGAN-GP's mean final jsd4 below the standard GAN's with disjoint 95 %
    Student-t intervals, and WGAN-GP's mean jsd4 at least CHARLM_FALL below its mean at the first evaluation."""
    from ganscope.sweep.results import mean_ci

    if min(len(gp_last), len(gan_last)) < 3:
        return False
    (gp, gp_h), (gan, gan_h) = mean_ci(gp_last), mean_ci(gan_last)
    first, _ = mean_ci(gp_first)
    return gp + gp_h < gan - gan_h and gp <= (1 - CHARLM_FALL) * first


def _charlm(ctx):
    steps, seeds = ctx.size(300, 20000), ctx.size(4, 3)
    recipe = ctx.size(CHARLM_QUICK, CHARLM_FULL)
    specs = [charlm_spec(label, steps, seeds, recipe) for label in CHARLM_METHODS]
    results = sweeps(ctx, [(spec, f"charlm/{label.replace(' ', '-')}") for spec, label in zip(specs, CHARLM_METHODS)])
    curves = {}
    for label, (_, runs) in zip(CHARLM_METHODS, results):  # both methods' runs queued on one pool
        done = sorted(runs.values(), key=lambda r: _run_seed(r[1]))
        curves[label] = [(evaluations(d, "jsd4"), d) for _, d in done]
    gp, gan = (curves[k] for k in CHARLM_METHODS)
    firsts = {k: [r[0][0] for r in v] for k, v in zip(CHARLM_METHODS, (gp, gan))}
    lasts = {k: [r[0][-1] for r in v] for k, v in zip(CHARLM_METHODS, (gp, gan))}
    rows = [_jsd_row(label, "first", firsts[label]) for label in CHARLM_METHODS]
    rows += [_jsd_row(label, "last", lasts[label]) for label in CHARLM_METHODS]
    ok = charlm_verdict([r["jsd4"] for r in firsts["wgan-gp"]], [r["jsd4"] for r in lasts["wgan-gp"]],
                        [r["jsd4"] for r in lasts["standard GAN"]])
    path = save(_jsd_curves({k: [r[0] for r in v] for k, v in zip(CHARLM_METHODS, (gp, gan))}),
                ctx.out / "charlm" / "jsd.png")
    overrides = [f"{k}={v}" for k, v in {**recipe, "train.steps": steps}.items()]
    samples = _side_by_side(gp[0][1], gan[0][1]) if gp and gan else []
    m_gp, h_gp = _mean_ci([r["jsd4"] for r in lasts["wgan-gp"]])
    m_gan, h_gan = _mean_ci([r["jsd4"] for r in lasts["standard GAN"]])
    m_first, _ = _mean_ci([r["jsd4"] for r in firsts["wgan-gp"]])
    seed_list = f"seeds {ctx.seed}–{ctx.seed + seeds - 1}"
    return section("charlm", "Character-level language model: WGAN-GP against the standard GAN (§5.5)",
                   "The generator emits a softmax over characters at each of 32 positions; the critic reads the "
                   f"probability vectors. WGAN-GP as run: {charlm_settings(config_of('charlm', overrides))} (the "
                   "paper: λ = 10, 10 critic steps, Adam(1e-4, 0.5, 0.9), width 512, 200k generator steps). The "
                   "standard GAN: the same nets, data and optimiser, the non-saturating loss on the critic's logit "
                   f"of the softmax outputs, no penalty, one critic step. {seeds} seeds each ({seed_list}). "
                   "**Criterion, fixed before the runs:** agrees iff WGAN-GP's mean final 4-gram JSD is below the "
                   "standard GAN's with non-overlapping 95 % intervals and falls by at least "
                   f"{CHARLM_FALL:.0%} from its first evaluation.",
                   f"ganscope reproduce gulrajani2017 --{ctx.mode} --out DIR (one run: "
                   + command("charlm", overrides, "wgan-gp") + ")",
                   config={"sweeps": specs},
                   figures=[figure(ctx, path, "4-gram JSD to held-out text over training (seed mean; band: min–max)")],
                   tables=[table(f"n-gram JSD (nats), mean ± 95 % half-width over {seeds} seeds, at the first "
                                 f"evaluation (step {_step(firsts)}) and the last (step {_step(lasts)}) of "
                                 f"{steps} generator steps",
                                 ["method", "evaluation", "step", "jsd1", "jsd2", "jsd3", "jsd4"], rows),
                           table(f"Samples at step {steps}, seed {ctx.seed} (argmax per position; · is a pad)",
                                 ["WGAN-GP", "standard GAN"], samples)],
                   comparisons=[compare("WGAN-GP vs the standard GAN on 4-gram JSD",
                                        "WGAN-GP learns character statistics where a standard GAN on the same "
                                        "continuous generator does not (§5.5)",
                                        f"final jsd4 {m_gp:.3f} ± {h_gp:.3f} vs {m_gan:.3f} ± {h_gan:.3f}; WGAN-GP "
                                        f"{m_first:.3f} → {m_gp:.3f} ({1 - m_gp / m_first:.1%} fall; ≥ "
                                        f"{CHARLM_FALL:.0%} required), {seed_list}", ok)])


def _run_seed(run_dir) -> int:
    import yaml

    return yaml.safe_load((run_dir / "config.yaml").read_text())["seed"]


def _mean_ci(values):
    from ganscope.sweep.results import mean_ci

    return mean_ci(values)


def _step(rows: dict) -> int:
    return next(r["step"] for v in rows.values() for r in v)


def _jsd_row(label, which, rows):
    cells = []
    for n in (1, 2, 3, 4):
        mean, half = _mean_ci([r[f"jsd{n}"] for r in rows])
        cells.append(f"{mean:.3f} ± {half:.3f}" if math.isfinite(half) else f"{mean:.3f}")
    return [label, which, rows[0]["step"] if rows else None, *cells]


def _side_by_side(gp_dir, gan_dir, n=8) -> list[list[str]]:
    return [list(pair) for pair in zip(_last_samples(gp_dir, n), _last_samples(gan_dir, n))]


def _last_samples(run_dir, n) -> list[str]:
    path = run_dir / "plots" / "samples.txt"
    if not path.exists():
        return []
    return [t for t in path.read_text().split("== generator step")[-1].splitlines()[1:] if t.strip()][:n]


def charlm_settings(cfg) -> str:
    """The language GAN's method, penalty, critic steps, optimisers and length as run (not as the paper's)."""
    g, d = cfg.optim.g, cfg.optim.d
    adam = (f"Adam({g.lr:g}, {g.betas[0]:g}, {g.betas[1]:g})" if (g.lr, list(g.betas)) == (d.lr, list(d.betas))
            else f"generator Adam({g.lr:g}, {g.betas[0]:g}, {g.betas[1]:g}), critic Adam({d.lr:g}, "
                 f"{d.betas[0]:g}, {d.betas[1]:g})")
    method = f"WGAN-GP, λ = {cfg.penalty.weight:g}" if cfg.method == "wgan-gp" else cfg.method
    return (f"{method}, {cfg.game.n_d} critic steps per generator step, {adam}, batch {cfg.data.batch_size}, "
            f"{cfg.train.steps} generator steps")


def _jsd_curves(curves: dict):
    """4-gram JSD against the generator step, one line per method: the seed mean, a min–max band."""
    import numpy as np

    fig, ax = plt.subplots(figsize=(5.5, 3.4))
    for label, runs in curves.items():
        n = min(len(r) for r in runs)
        steps = [r["step"] for r in runs[0][:n]]
        values = np.array([[r["jsd4"] for r in run[:n]] for run in runs])
        ax.plot(steps, values.mean(0), "o-", ms=3, label=label)
        ax.fill_between(steps, values.min(0), values.max(0), alpha=0.2)
    ax.set(xlabel="generator step", ylabel="4-gram JSD (nats)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


SECTIONS = [_critic_surfaces, _clipping_pathology, _architectures, _charlm]
