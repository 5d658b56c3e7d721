"""Figures of training runs (matplotlib, PNG, headless); ``save`` writes any figure atomically.

Importing this module selects the headless Agg backend; ``plt`` is matplotlib.pyplot. The Dirac-GAN lab's figures
are in ``ganscope.analysis.dirac_plots``."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ganscope.io import atomic_path, read_jsonl  # noqa: E402


def save(fig, path) -> Path:
    """Write a figure to PNG atomically and close it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120, bbox_inches="tight", format="png")
    plt.close(fig)
    return path


# ---- training runs ------------------------------------------------------------------------------------
def samples_through_training(real: np.ndarray, snapshots: dict, title: str):
    """Generated samples (orange) over held-out data (grey) at several training steps."""
    steps = sorted(snapshots)
    fig, axes = plt.subplots(1, len(steps), figsize=(2.6 * len(steps), 2.8), squeeze=False)
    lim = float(np.percentile(np.abs(real), 99.5)) * 1.4 + 0.1
    for ax, step in zip(axes[0], steps):
        fake = snapshots[step]
        ax.scatter(real[:, 0], real[:, 1], s=2, c="0.6", alpha=0.5)
        ax.scatter(fake[:, 0], fake[:, 1], s=2, c="tab:orange", alpha=0.6)
        ax.set(xlim=(-lim, lim), ylim=(-lim, lim), aspect="equal", title=f"step {step}")
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


COLUMNS = 4  # panels per row of metrics.png
DECADES = 2.0  # a log axis only for a positive quantity spanning at least this many decades


def metric_curves(jsonl_path):
    """Every logged scalar (or per-member list) against the step, one panel each, in rows of ``COLUMNS``;
    the y axis by ``y_scale``."""
    rows = read_jsonl(jsonl_path)
    keys = sorted({k for r in rows for k in r if k not in ("step", "wall_s")}) or [""]
    ncols = min(len(keys), COLUMNS)
    nrows = -(-len(keys) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.4 * ncols, 2.6 * nrows), squeeze=False)
    for ax in axes.flat[len(keys):]:
        ax.set_visible(False)
    for ax, key in zip(axes.flat, keys):
        pts = [(r["step"], np.atleast_1d(np.asarray(r[key], dtype=float))) for r in rows
               if key in r and r[key] is not None]
        if not pts:
            continue
        steps = np.array([s for s, _ in pts])
        vals = np.stack([v for _, v in pts])
        ax.plot(steps, vals, lw=1, alpha=0.8 if vals.shape[1] == 1 else 0.4)
        if vals.shape[1] > 1:
            ax.plot(steps, np.nanmedian(vals, 1), "k", lw=1.5, label="median")
        ax.set_yscale(y_scale(key, vals))
        ax.set_title(key, fontsize=9)
        ax.set_xlabel("generator step", fontsize=8)
        ax.tick_params(labelsize=8)
    fig.tight_layout()
    return fig


def y_scale(key: str, values) -> str:
    """The rule of metrics.png: "linear" for losses (a key containing ``loss``: they may change sign, and their
    differences are what one reads) and for counts (every finite value an integer: modes covered, steps);
    "log" only for another quantity that ``spans_decades`` (gradient norms, speeds, FID spanning 10^2 or more)."""
    finite = np.asarray(values, dtype=float)
    finite = finite[np.isfinite(finite)]
    if "loss" in key or (finite.size and np.all(finite == np.round(finite))):
        return "linear"
    return "log" if spans_decades(finite) else "linear"


def spans_decades(values, decades: float = DECADES) -> bool:
    """True when the finite values are all positive and max/min ≥ 10^decades (then a log axis reads better)."""
    finite = np.asarray(values, dtype=float)
    finite = finite[np.isfinite(finite)]
    return bool(finite.size and finite.min() > 0 and np.log10(finite.max() / finite.min()) >= decades)


def image_snapshots(snapshots: dict, title: str):
    """Image grids of the generator's samples at the snapshot steps, side by side (fixed latents)."""
    from ganscope.imageio import grid_array

    steps = sorted(snapshots)
    fig, axes = plt.subplots(1, len(steps), figsize=(2.6 * len(steps), 2.9), squeeze=False)
    for ax, step in zip(axes[0], steps):
        grid = grid_array(np.asarray(snapshots[step]))
        ax.imshow(grid.squeeze(-1) if grid.shape[-1] == 1 else grid, cmap="gray", vmin=0, vmax=255)
        ax.set(title=f"step {step}", xticks=[], yticks=[])
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def text_snapshots(snapshots: dict, title: str, lines: int = 16):
    """Generated text at the snapshot steps, one monospace column per step (the first ``lines`` samples)."""
    steps = sorted(snapshots)
    fig, axes = plt.subplots(1, len(steps), figsize=(3.3 * len(steps), 0.14 * lines + 0.7), squeeze=False)
    for ax, step in zip(axes[0], steps):
        ax.text(0, 1, "\n".join(snapshots[step][:lines]), family="monospace", fontsize=7, va="top",
                transform=ax.transAxes, parse_math=False)
        ax.set_title(f"step {step}", loc="left", fontsize=9)
        ax.axis("off")
    fig.suptitle(title)
    fig.tight_layout()
    return fig
