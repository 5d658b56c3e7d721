"""Neyshabur, Bhojanapalli, Chakrabarti 2017, *Stabilizing GAN Training with Multiple Random Projections*
(docs/references.md §N): one generator against K discriminators, each on its own fixed random projection of the
image and each as large as the single full-view discriminator (K = 1), as in rpgan's experiment files; FID and
the generator's gradient norm over training, over seeds.

Criteria, fixed in advance (docs/reproduce.md, "RP-GAN"): (a) samples **agree** iff the best K > 1 (lowest final
FID mean) has a final FID mean below K = 1's with non-overlapping 95 % intervals over seeds; (b) the mechanism
**agrees** iff the late-training generator gradient norm (each seed's mean over the last third of its
evaluations) under K = 1 is below that under the same best K > 1, with non-overlapping 95 % intervals; (c) the
frozen-generator probe against K views **agrees** iff, for every K > 1 of the profile, a fresh single
discriminator trained alone against each K = 1 run's last generator rejects a larger share of its samples than
fresh K views do, and passes it a smaller non-saturating gradient, both with non-overlapping 95 % intervals over
the 5 seeds. The quick profile cannot
afford the paper's K (12–48) at full per-view size for training: it runs a reduced version, does not judge (a)
and (b) (the rows say why), and judges the mechanism by (c); ``--full`` runs the paper's K and judges all three.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ganscope import rundir
from ganscope.io import json_safe, write_json
from ganscope.plots import plt, save
from ganscope.reproduce.common import (as_set, compare, config_of, evaluations, fid_axis, figure, image_overrides,
                                       in_workers, section, sweep, table)
from ganscope.reproduce.criteria import below_apart, fmt_interval, interval, late_mean

TITLE = "Stabilizing GAN Training with Multiple Random Projections"
CITATION = "Behnam Neyshabur, Srinadh Bhojanapalli, Ayan Chakrabarti. arXiv:1705.07831, 2017."

SEEDS = 5
PROBE_ITERATIONS = {"quick": 300, "full": 2000}  # each fresh discriminator's Adam steps against a frozen G
PROBE_EVERY = 10  # record every 10th iteration, and all of the last tenth (the read-out)
PROBE_READ = ("rejected", "grad_norm_minus_log_d", "grad_norm_original")
QUICK_REASON = ("the quick profile runs K = 4 (the paper's K are 12, 24, 48) for {steps} generator steps (the "
                "paper's 100,000): 5 seeds of K = 12 at full per-view size take about 290 ms a step on one CPU "
                "thread, beyond its ~4-minute budget; the single discriminator's deterioration the paper reports "
                "comes late in training. --full (a GPU) runs K = 1, 12, 24, 48")


def rp_overrides(ctx) -> list[str]:
    """The RP-GAN recipe: DCGAN nets, the non-saturating loss with Adam 2e-4 (β₁ 0.5), the profile's image size."""
    return ["net=dcgan", "method=nonsaturating", *image_overrides(ctx)]


def rp_base(ctx) -> str:
    """The shipped config under the runs: images (28 px) for --quick, rpgan64 (rpgan's 64×64 nets) for --full."""
    return ctx.size("images", "rpgan64")


def full_size_view_width(ctx) -> int:
    """The per-view width at which each view's discriminator alone has the parameters of the single one
    (``nets.rp.equal_size_width(..., k=1)``; rpgan: each view's D as large as the single D, docs/references.md §N3)."""
    from ganscope.data.images import load_images
    from ganscope.nets.rp import equal_size_width

    cfg = config_of(rp_base(ctx), rp_overrides(ctx))
    x = load_images(cfg.data.name, split="train", image_size=cfg.data.image_size or None).x
    return equal_size_width(cfg.model.d_width, x.shape[1], x.shape[-1], k=1)


def rp_spec(ctx, ks, seeds, steps, view_width: int = 0) -> dict:
    """K × seeds on the shipped config ``rp_base``, a checkpoint kept at every evaluation (for the gradient
    norms); the largest K first."""
    cfg = config_of(rp_base(ctx), [*rp_overrides(ctx), f"train.steps={steps}"])
    every = cfg.train.eval_every
    return {"base": rp_base(ctx),
            "set": {**as_set(rp_overrides(ctx)), "train.steps": steps, "train.plots": False,
                    "rp.view_width": view_width, "checkpoint.keep": list(range(every, steps + 1, every))},
            "grid": {"rp.k": sorted(ks, reverse=True)},  # the largest K, the longest runs, first on the workers
            "seeds": {"count": seeds, "start": 0}}


def _rp_vs_single(ctx):
    from ganscope.analysis.gen_gradient import run_gradient_norms

    ks, steps = ctx.size([1, 4], [1, 12, 24, 48]), ctx.size(500, 20000)
    width = full_size_view_width(ctx)
    spec = rp_spec(ctx, ks, SEEDS, steps, width)
    rows, runs = sweep(ctx, spec, "rp")
    rows = sorted(rows, key=lambda r: r["rp.k"])
    ordered = sorted(runs.values(), key=lambda r: r[0]["rp.k"])
    ones = sorted((d for o, d in ordered if o["rp.k"] == 1), key=lambda d: rundir.load_config(d).seed)
    # the probe's calls (the longest first) and each run's gradient norms share one pool
    probe = probe_calls(ctx, ones, ks, width)
    done = [*probe_lines(probe), *(f"gradient norms: {Path(d).name} done" for _, d in ordered)]
    results = in_workers(ctx, [*probe, *((run_gradient_norms, str(d)) for _, d in ordered)], done)
    probes = per_k(probe, results[:len(probe)])
    fid, grad = {}, {}
    for (overrides, run_dir), norms in zip(ordered, results[len(probe):]):
        fid.setdefault(overrides["rp.k"], []).append(evaluations(run_dir, "fid"))
        grad.setdefault(overrides["rp.k"], []).append(norms)
    fid_path = save(_over_seeds(fid, "fid"), ctx.out / "rp" / "fid.png")
    grad_path = save(_over_seeds(grad, "grad_norm_g"), ctx.out / "rp" / "grad_norm_g.png")
    final = {k: [c[-1]["fid"] for c in v if c] for k, v in fid.items()}
    late = {k: [late_mean([r["grad_norm_g"] for r in c]) for c in v if c] for k, v in grad.items()}
    verdicts = rp_verdicts(final, late)
    ok = {"samples": None, "mechanism": None} if ctx.quick else verdicts["ok"]
    note = QUICK_REASON.format(steps=steps) if ctx.quick else ""
    best = verdicts["best"]
    probe_path = save(_probe_figure(probes), ctx.out / "rp" / "views_probe.png")
    write_json(ctx.out / "rp" / "views_probe.json", json_safe({"iterations": PROBE_ITERATIONS[ctx.mode],
                                                                "per_k": probes}))
    read = {k: [probe_read(c) for c in v] for k, v in probes.items()}
    probe_ok, probe_note = probe_verdict(read)
    mechanism = [] if ctx.quick else [
        compare("RP-GAN vs single discriminator: the generator's gradient",
                "a single discriminator's gradient to the generator vanishes; the projections keep it (abstract, §3)",
                f"late gradient norm: K = 1 {fmt_interval(late.get(1, []), 3)}, K = {best} "
                f"{fmt_interval(late.get(best, []), 3)}", ok["mechanism"], verdicts["notes"]["mechanism"])]
    geometry = ctx.size("7×7, stride 3 at 28 px grey: 8×8 views, 12.25× fewer dims",
                        "8×8, stride 2 at 64 px RGB: 32×32 views, 12×")
    return section("rp_vs_single", "K random-projection discriminators against one full-view discriminator",
                   "DCGAN generator; K discriminators each see a fixed unit-norm Gaussian filter ("
                   f"{geometry}) of the image, evaluated as "
                   "one grouped network; the generator minimises the mean of the "
                   f"K non-saturating losses (Adam 2e-4, β₁ 0.5). Each view's discriminator is as large as the "
                   f"single full-view one (K = 1), as in rpgan's experiment files: per-view width {width} "
                   f"(rp.view_width). Fashion-MNIST, {steps} generator steps, {SEEDS} seeds per K (base seed "
                   f"{ctx.seed}), FID by ganscope's extractor ({ctx.size('EMA generator', 'no EMA, as rpgan')}). "
                   "The generator's gradient norm "
                   "‖∇θ (1/K) Σ_k E softplus(−D_k(W_k G(z)))‖ is read at every evaluation's kept checkpoint (training "
                   "G and Ds, 256 fixed latents). Criteria, fixed before the runs: (a) samples agree iff the best "
                   "K > 1 (lowest final FID mean) has a final FID mean below K = 1's with non-overlapping 95 % "
                   "intervals over seeds; (b) the mechanism agrees iff the generator's gradient norm late in "
                   "training (each seed's mean over the last third of its evaluations) under K = 1 is below that "
                   "under the same K > 1, with non-overlapping 95 % intervals; (c) the frozen-generator probe: for "
                   f"each seed the K = 1 run's last generator is frozen and fresh discriminators (the single one, "
                   f"and K views for each K > 1) are trained alone against it for {PROBE_ITERATIONS[ctx.mode]} "
                   "Adam steps (the recipe's discriminator optimiser, batch 64); (c) agrees iff for every K > 1 the "
                   "single discriminator rejects a larger share of generated samples (logit ≤ 0, mean over the "
                   "views) and passes a smaller non-saturating gradient norm to the generator than the K views, "
                   "each read as the mean over the last tenth of the iterations, with non-overlapping 95 % "
                   "intervals over the seeds." + (f" (a) and (b) are not judged here: {note}; the mechanism is "
                                                  "judged by (c)." if note else ""),
                   f"ganscope reproduce neyshabur2017 --{ctx.mode} --out DIR (a sweep over rp.k × seeds in DIR/rp)",
                   config=spec,
                   figures=[figure(ctx, fid_path, over_seeds_caption("FID", final)),
                            figure(ctx, grad_path, over_seeds_caption("The generator's gradient norm", late)),
                            figure(ctx, probe_path, "The frozen-generator probe: fresh discriminators trained alone "
                                   "against each K = 1 run's last generator; mean over seeds, band: 95 % interval")],
                   tables=[table("Per K over seeds (mean ± 95 % CI)", ["K", "runs", "final FID",
                                                                       "late generator gradient norm"],
                                 [[r["rp.k"], r["done"], fmt_interval(final.get(r["rp.k"], [])),
                                   fmt_interval(late.get(r["rp.k"], []), 3)] for r in rows]),
                           table("The frozen-generator probe per K, the mean over the last tenth of the iterations "
                                 "(mean ± 95 % CI over seeds)",
                                 ["K", "seeds", "generated samples rejected", "non-saturating ‖∇θ‖",
                                  "original-cost ‖∇θ‖"],
                                 [[k, len(v), *(fmt_interval([r[m] for r in v], 3) for m in PROBE_READ)]
                                  for k, v in sorted(read.items())])],
                   comparisons=[
                       compare("RP-GAN vs single discriminator: samples", "multiple projections reach better "
                               "samples than one discriminator (§5)",
                               f"final FID: K = 1 {fmt_interval(final.get(1, []))}, best K > 1 (K = {best}) "
                               f"{fmt_interval(final.get(best, []))}", ok["samples"],
                               note or verdicts["notes"]["samples"]),
                       *mechanism,
                       compare("RP-GAN vs single discriminator: the frozen-generator probe",
                               "a single discriminator quickly rejects nearly all samples, so the generator gets no "
                               "useful gradient; projected discriminators cannot reject perfectly and keep "
                               "providing one (abstract)", probe_summary(read), probe_ok, probe_note)])


def views_probe(ctx, k1_runs, ks, width) -> dict:
    """{K: [probe curves per seed]}: for seed i, the K = 1 run ``k1_runs[i]``'s last generator frozen, a fresh
    discriminator for each K (the single one for K = 1, K views at per-view ``width`` otherwise) trained alone
    against it (``analysis.probe.probe_generator``, the run's discriminator optimiser and batch), probe seed i
    for every K. One (seed, K) per worker process, the largest K first."""
    calls = probe_calls(ctx, k1_runs, ks, width)
    return per_k(calls, in_workers(ctx, calls, probe_lines(calls)))


def probe_calls(ctx, k1_runs, ks, width) -> list:
    """``views_probe``'s calls ``(_probe_one, run, seed i, K, view width, iterations)``, the largest K first."""
    return [(_probe_one, str(d), i, k, width if k > 1 else 0, PROBE_ITERATIONS[ctx.mode])
            for k in sorted(ks, reverse=True) for i, d in enumerate(k1_runs)]


def probe_lines(calls) -> list[str]:
    """The log line of each probe call as it finishes."""
    return [f"views probe: K = {k}, seed {i} done" for _, _, i, k, *_ in calls]


def per_k(calls, curves) -> dict:
    """The curves of ``probe_calls`` as {K: [curves of seed 0, 1, ...]}."""
    out = {}
    for (_, _, i, k, *_), c in sorted(zip(calls, curves), key=lambda pair: (pair[0][3], pair[0][2])):
        out.setdefault(k, []).append(c)
    return out


def _probe_one(run_dir: str, i: int, views: int, view_width: int, iterations: int) -> dict:
    """The probe curves of probe seed ``i`` against the frozen last generator of ``run_dir`` (``views_probe``)."""
    from ganscope.analysis.probe import init_seed, probe_generator, probe_parts

    run = rundir.open_run(run_dir)
    cfg = run.cfg
    gen, sample_real, fresh = probe_parts(run, 0, views=views, view_width=view_width)
    return probe_generator(gen, fresh(init_seed(i)), sample_real, cfg.model.latent_dim, iterations=iterations,
                           batch_size=cfg.data.batch_size, seed=i, lr=cfg.optim.d.lr, betas=cfg.optim.d.betas,
                           record_every=PROBE_EVERY)


def probe_read(curves: dict) -> dict:
    """One seed's read-out: each of ``PROBE_READ`` as the mean over the last tenth of the probe's iterations."""
    last = curves["iteration"] >= curves["iteration"][-1] + 1 - max(1, (curves["iteration"][-1] + 1) // 10)
    return {m: float(np.mean(curves[m][last])) for m in PROBE_READ}


def probe_verdict(read: dict) -> tuple:
    """Criterion (c) on {K: [read-outs per seed]}: (True/False, note), or (None, note) without K = 1 or K > 1."""
    if 1 not in read or not [k for k in read if k > 1]:
        return None, "K = 1 or every K > 1 has no probe"
    single = {m: [r[m] for r in read[1]] for m in PROBE_READ}
    parts = []
    for k in sorted(k for k in read if k > 1):
        views = {m: [r[m] for r in read[k]] for m in PROBE_READ}
        rejects = below_apart(views["rejected"], single["rejected"])
        vanishes = below_apart(single["grad_norm_minus_log_d"], views["grad_norm_minus_log_d"])
        parts.append((rejects and vanishes,
                      f"K = {k}: the single discriminator rejects {'more' if rejects else 'not more'} (intervals "
                      f"{'apart' if rejects else 'not apart'}), its gradient is "
                      f"{'smaller, intervals apart' if vanishes else 'not smaller with intervals apart'}"))
    return all(ok for ok, _ in parts), "; ".join(note for _, note in parts)


def probe_summary(read: dict) -> str:
    """The probe's numbers per K for the comparison row."""
    return "; ".join(f"K = {k}: rejected {fmt_interval([r['rejected'] for r in v], 3)}, non-saturating ‖∇θ‖ "
                     f"{fmt_interval([r['grad_norm_minus_log_d'] for r in v], 3)}" for k, v in sorted(read.items()))


def _probe_figure(probes: dict):
    """Rejected share, non-saturating and original-cost gradient norms over the probe's iterations, per K."""
    from ganscope.reproduce.criteria import interval as ci

    fig, axes = plt.subplots(1, 3, figsize=(10.5, 3.2))
    titles = {"rejected": "generated samples rejected", "grad_norm_minus_log_d": "‖∇θ‖, non-saturating cost",
              "grad_norm_original": "‖∇θ‖, original cost"}
    for ax, m in zip(axes, PROBE_READ):
        for k in sorted(probes):
            x = probes[k][0]["iteration"]
            mean, half = np.array([ci(col) for col in np.stack([c[m] for c in probes[k]]).T]).T
            half = np.nan_to_num(half)
            low, high = (np.clip(mean - half, 0, 1), np.clip(mean + half, 0, 1)) if m == "rejected" else \
                (np.maximum(mean - half, mean / 100), mean + half)  # a share stays in [0, 1], a log axis positive
            ax.plot(x, mean, lw=1.2, label=f"K = {k}" + (" (full view)" if k == 1 else ""))
            ax.fill_between(x, low, high, alpha=0.2)
        ax.set(title=titles[m], xlabel="fresh discriminator's iteration", yscale="linear" if m == "rejected" else "log")
        ax.title.set_fontsize(9)
        ax.grid(True, alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def rp_verdicts(final: dict, late: dict) -> dict:
    """Criteria (a) and (b) on {K: final FIDs over seeds} and {K: late gradient norms over seeds}: the best
    K > 1 by final FID mean, ``ok`` {"samples", "mechanism"} (None where K = 1 or no K > 1 finished) and notes."""
    means = {k: interval(v)[0] for k, v in final.items() if k > 1 and v}
    means = {k: m for k, m in means.items() if math.isfinite(m)}
    if 1 not in final or not final[1] or not means:
        none = "K = 1 or every K > 1 has no finished run"
        return {"best": None, "ok": {"samples": None, "mechanism": None},
                "notes": {"samples": none, "mechanism": none}}
    best = min(means, key=means.get)
    samples = below_apart(final[best], final[1])
    mechanism = below_apart(late.get(1, []), late.get(best, []))
    return {"best": best, "ok": {"samples": samples, "mechanism": mechanism},
            "notes": {"samples": f"K = {best} " + ("below K = 1, intervals apart" if samples else
                                                   "not below K = 1 with intervals apart"),
                      "mechanism": "K = 1's gradient " + ("below, intervals apart" if mechanism else
                                                          f"not below K = {best}'s with intervals apart")}}


def over_seeds_caption(what: str, per_k: dict) -> str:
    """The caption of a curve over seeds for what was drawn ({K: values over seeds}): a mean with its 95 %
    interval where a K has at least two seeds."""
    counts = sorted({len(v) for v in per_k.values()})
    if not counts or counts[-1] <= 1:
        return f"{what} over training, one seed per K (no interval shown)"
    n = f"{counts[0]}" if len(counts) == 1 else f"{counts[0]}–{counts[-1]}"
    return f"{what} over training: mean over {n} seeds per K (band: 95 % confidence interval)"


def _over_seeds(curves: dict, key: str):
    """Mean over seeds per K with a Student-t 95 % band; FID on a linear axis, gradient norms on a log axis."""
    from ganscope.reproduce.criteria import interval as ci

    fig, ax = plt.subplots(figsize=(5.5, 3.4))
    for k in sorted(curves):
        runs = [c for c in curves[k] if c]
        if not runs:
            continue
        n = min(len(c) for c in runs)
        steps = [r["step"] for r in runs[0][:n]]
        values = np.array([[r[key] for r in c[:n]] for c in runs])
        mean, half = np.array([ci(values[:, j]) for j in range(n)]).T
        ax.plot(steps, mean, "o-", ms=3, label=f"K = {k}" + (" (full view)" if k == 1 else ""))
        if len(runs) > 1:
            low = mean - half if key == "fid" else np.maximum(mean - half, mean / 100)  # a log axis stays positive
            ax.fill_between(steps, low, mean + half, alpha=0.2)
    if key == "fid":
        fid_axis(ax, "generator step")
    else:
        ax.set(xlabel="generator step", ylabel="‖∇θ L_G‖", yscale="log")
        ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


SECTIONS = [_rp_vs_single]
