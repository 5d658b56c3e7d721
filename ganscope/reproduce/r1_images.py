"""R1 against the unregularised GAN on GAN_stability's ResNet (Mescheder et al. 2018 §5, docs/references.md §M7):
the sweep, its curves, and the criterion fixed in advance (docs/reproduce.md, "R1 on images").

Both methods share everything but the penalty: the ResNet without normalisation, the non-saturating loss,
RMSProp 1e-4 for both nets, batch 64, the same steps and EMA; "unregularised" is ``method=r1`` with
``penalty.name=none``.

Criterion: **agrees** iff (i) R1's final FID mean is below the unregularised's with non-overlapping 95 %
intervals over seeds, OR (ii) the unregularised runs show instability while every R1 seed does not; a run is
unstable when its FID rises by more than 25 % above its best so far (``largest_rise`` > 1.25) or its
E‖∇ₓD‖² on real data (``grad_sq_real``) grows by more than 10× over the second half of training
(``growth_last_half`` > 10). Otherwise **differs**.
"""
from __future__ import annotations

import numpy as np

from ganscope.plots import plt
from ganscope.reproduce.common import as_set, evaluations, fid_axis
from ganscope.reproduce.criteria import below_apart, fmt_interval, growth_last_half, largest_rise

PENALTY = {"R1": "r1", "unregularised": "none"}  # label -> penalty.name on method=r1
RISE, GROWTH = 1.25, 10.0  # instability thresholds (fixed in advance)
QUICK = ["data.name=digits", "model.g_width=32", "model.d_width=32", "train.eval_every=100", "game.ema=0.99"]
FULL = ["train.eval_every=1000"]  # on r1_resnet64: GAN_stability's ResNet at 64×64 (docs/scale.md)


def r1_spec(ctx, seeds: int, steps: int) -> dict:
    """R1 and the unregularised GAN × seeds on the shipped config images (--quick) or r1_resnet64 (--full; on a
    GPU where there is one) (net resnet, method r1's optimiser)."""
    size = as_set(ctx.size(QUICK, FULL))
    return {"base": ctx.size("images", "r1_resnet64"),
            "set": {"method": "r1", "net": "resnet", "train.steps": steps, **size},
            "grid": {"penalty.name": list(PENALTY.values())}, "seeds": {"count": seeds, "start": 0}}


def curves(runs: dict) -> dict:
    """{label: [(seed, run directory, evaluation rows), ...] by seed} of the sweep's finished runs
    (``common.sweep``'s second value)."""
    from ganscope.rundir import load_config

    label = {v: k for k, v in PENALTY.items()}
    out = {k: [] for k in PENALTY}
    for overrides, run_dir in runs.values():
        out[label[overrides["penalty.name"]]].append((load_config(run_dir).seed, run_dir,
                                                      evaluations(run_dir, "fid")))
    return {k: sorted(v, key=lambda run: run[0]) for k, v in out.items()}


def run_stats(rows: list[dict]) -> dict:
    """One run's final and best FID, its largest FID rise, its grad_sq_real growth over the second half, and
    whether either crosses its threshold."""
    steps, fid = [r["step"] for r in rows], [r["fid"] for r in rows]
    rise = largest_rise(fid)
    growth = growth_last_half(steps, [r["grad_sq_real"] for r in rows])
    return {"final_fid": fid[-1], "best_fid": min(fid), "fid_rise": rise, "grad_growth": growth,
            "unstable": bool(rise > RISE or growth > GROWTH)}


def verdict(stats: dict) -> tuple[bool, str]:
    """(agrees, which clause) from {label: [run_stats per seed]} by the criterion of the module docstring."""
    r1, un = stats["R1"], stats["unregularised"]
    by_fid = below_apart([s["final_fid"] for s in r1], [s["final_fid"] for s in un])
    by_stability = any(s["unstable"] for s in un) and not any(s["unstable"] for s in r1)
    how = {(True, True): "by both (i) final FID and (ii) stability",
           (True, False): "by (i): R1's final FID is below with non-overlapping intervals",
           (False, True): "by (ii): unregularised runs are unstable, no R1 run is",
           (False, False): "neither (i) nor (ii) holds"}[(by_fid, by_stability)]
    return by_fid or by_stability, how


def measured(stats: dict) -> str:
    """The comparison's measured cell: final FID per method with intervals and the unstable seeds."""
    parts = [f"final FID R1 {fmt_interval([s['final_fid'] for s in stats['R1']])}, unregularised "
             f"{fmt_interval([s['final_fid'] for s in stats['unregularised']])}"]
    parts += [f"unstable seeds: R1 {sum(s['unstable'] for s in stats['R1'])}/{len(stats['R1'])}, unregularised "
              f"{sum(s['unstable'] for s in stats['unregularised'])}/{len(stats['unregularised'])}"]
    return "; ".join(parts)


def plot_curves(by_label: dict):
    """FID (linear) and grad_sq_real (log) against generator steps, one thin line per seed, a colour per method."""
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.4))
    for colour, (label, runs) in zip(("C0", "C3"), by_label.items()):
        for i, (_, _, rows) in enumerate(runs):
            steps = [r["step"] for r in rows]
            kw = {"color": colour, "alpha": 0.8, "lw": 1, "label": label if i == 0 else None}
            a.plot(steps, [r["fid"] for r in rows], "o-", ms=2, **kw)
            b.plot(steps, np.maximum([r["grad_sq_real"] for r in rows], 1e-12), "o-", ms=2, **kw)
    fid_axis(a, "generator step")
    b.set(xlabel="generator step", ylabel="E‖∇ₓD‖² on real data", yscale="log")
    b.grid(True, alpha=0.3)
    a.legend(fontsize=8)
    fig.tight_layout()
    return fig
