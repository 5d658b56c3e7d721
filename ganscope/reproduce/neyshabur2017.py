"""Neyshabur, Bhojanapalli, Chakrabarti 2017, *Stabilizing GAN Training with Multiple Random Projections*
(docs/references.md §N): one generator against K discriminators, each on its own fixed random projection of the image,
against a single full-view discriminator (K = 1), FID over training over seeds."""
from __future__ import annotations

import numpy as np

from ganscope.plots import plt, save
from ganscope.reproduce.common import (as_set, compare, evaluations, fid_axis, figure, image_overrides, section,
                                       sweep, table)

TITLE = "Stabilizing GAN Training with Multiple Random Projections"
CITATION = "Behnam Neyshabur, Srinadh Bhojanapalli, Ayan Chakrabarti. arXiv:1705.07831, 2017."


def rp_spec(ctx, ks, seeds, steps) -> dict:
    return {"base": "images",
            "set": {"net": "dcgan", "method": "nonsaturating", "train.steps": steps, "train.plots": False,
                    **as_set(image_overrides(ctx))},
            "grid": {"rp.k": list(ks)}, "seeds": {"count": seeds, "start": 0}}


def _rp_vs_single(ctx):
    ks, seeds, steps = [1, 4, 12, 24], ctx.size(1, 3), ctx.size(800, 20000)
    rows, runs = sweep(ctx, rp_spec(ctx, ks, seeds, steps), "rp")
    curves = {}
    for overrides, run_dir in runs.values():
        curves.setdefault(overrides["rp.k"], []).append(evaluations(run_dir, "fid"))
    path = save(_fid_over_seeds(curves), ctx.out / "rp" / "fid.png")
    final = {r["rp.k"]: r.get("fid_mean") for r in rows}
    best_rp = min((v for k, v in final.items() if k > 1 and v is not None), default=float("nan"))
    return section("rp_vs_single", "K random-projection discriminators against one full-view discriminator",
                   "DCGAN generator; K discriminators each see a fixed unit-norm Gaussian filter (4×4, stride 2 at "
                   "28 px) of the image, evaluated as one grouped network; the generator minimises the mean of "
                   "the K non-saturating losses. K = 1 is the single full-view discriminator of about the same "
                   "total size as K = 12. Fashion-MNIST, FID by ganscope's extractor.",
                   f"ganscope reproduce neyshabur2017 --{ctx.mode} --out DIR (a sweep over rp.k × seeds in DIR/rp)",
                   config=rp_spec(ctx, ks, seeds, steps),
                   figures=[figure(ctx, path, fid_caption({k: len([c for c in v if c]) for k, v in curves.items()}))],
                   tables=[table("Final FID over seeds", ["K", "runs", "FID mean", "FID 95% CI"],
                                 [[r["rp.k"], r["done"], r.get("fid_mean"), r.get("fid_ci95")] for r in rows])],
                   comparisons=[compare("RP-GAN vs single discriminator", "multiple projections train more stably "
                                        "and reach better samples (§5)",
                                        f"final FID: K=1 {final.get(1, float('nan')):.1f}, best K>1 {best_rp:.1f}",
                                        None if ctx.quick else best_rp < final.get(1, float("inf")),
                                        "quick runs are too short to judge" if ctx.quick else "")])


def fid_caption(seeds_per_k: dict) -> str:
    """The FID figure's caption for the seeds actually drawn ({K: finished runs}): a median and a min–max band
    only where a K has more than one run."""
    counts = sorted(set(seeds_per_k.values()))
    if not counts or counts[-1] <= 1:
        return "FID over training, one seed per K (no spread shown)"
    if len(counts) == 1:
        return f"FID over training: median over {counts[0]} seeds per K (band: min–max)"
    return (f"FID over training: median over the seeds of each K ({counts[0]}–{counts[-1]} seeds; "
            "band: min–max where a K has more than one)")


def _fid_over_seeds(curves: dict):
    fig, ax = plt.subplots(figsize=(5.5, 3.4))
    for k in sorted(curves):
        runs = [c for c in curves[k] if c]
        n = min(len(c) for c in runs)
        steps = [r["step"] for r in runs[0][:n]]
        fid = np.array([[r["fid"] for r in c[:n]] for c in runs])
        ax.plot(steps, np.median(fid, 0), "o-", ms=3, label=f"K = {k}" + (" (full view)" if k == 1 else ""))
        if len(runs) > 1:
            ax.fill_between(steps, fid.min(0), fid.max(0), alpha=0.2)
    fid_axis(ax, "generator step")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


SECTIONS = [_rp_vs_single]
