"""Where a run's numbers go besides ``metrics.jsonl``: TensorBoard and, optionally, Weights & Biases.

``metrics.jsonl`` is always written (other code reads its keys: they never change); the config's ``logger``
list adds the sinks here. Every sink takes the same calls, with tags grouped by what they measure:

* ``train/KEY``: the game's per-step statistics (losses, penalty) and ``train/wall_s``;
* ``eval/KEY``: the task's metrics at each evaluation (W1, FID, ...) and ``eval/samples`` (image runs: a grid of
  the generator's samples from fixed latents at each snapshot step);
* ``diag/KEY``: the convergence diagnostics and the leading eigenvalues (docs/diagnostics.md);
* ``hist/gen/NAME``, ``hist/disc/NAME``: parameter histograms at each evaluation (``train.histograms``);
* at the end, the config as hyper-parameters with the final metrics as ``final/KEY``.

Per-member values of an ensemble get ``/memberI`` after the tag. W&B runs offline with ``WANDB_MODE=offline``;
its files go to the run directory (``wandb/``), and the run's id is derived from the run directory so that a
resumed run continues the same W&B run.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from ganscope.errors import UsageError

LOGGERS = ("jsonl", "tensorboard", "wandb")
GROUPS = ("train", "eval", "diag")


def check_loggers(names) -> list[str]:
    """The ``logger`` list, checked: names from ``LOGGERS``, each once, ``jsonl`` always first."""
    if isinstance(names, str) or not isinstance(names, (list, tuple)):
        raise UsageError(f"logger: expected a list of {', '.join(LOGGERS)}, got {names!r}")
    bad = [n for n in names if n not in LOGGERS]
    if bad:
        raise UsageError(f"logger: unknown logger {bad[0]!r}; allowed: {', '.join(LOGGERS)}")
    return ["jsonl", *dict.fromkeys(n for n in names if n != "jsonl")]


def flat_scalars(tag: str, value) -> dict[str, float]:
    """``{tag: v}`` for a number, ``{tag/member0: v0, ...}`` for a per-member list."""
    if np.ndim(value) == 0:
        return {tag: float(value)}
    return {f"{tag}/member{i}": float(x) for i, x in enumerate(np.ravel(value))}


def flat_config(d: dict, prefix: str = "") -> dict:
    """A nested config as ``{"optim.d.lr": 1e-4, ...}`` of numbers, strings and booleans (lists as strings)."""
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flat_config(v, key + "."))
        else:
            out[key] = v if isinstance(v, (bool, int, float, str)) else str(v)
    return out


class TensorBoardSink:
    """TensorBoard event files in ``tb_dir``; on resume, events past ``step`` are purged."""

    def __init__(self, tb_dir: Path, step: int):
        from torch.utils.tensorboard import SummaryWriter

        self.tb = SummaryWriter(str(tb_dir), purge_step=step or None)

    def scalars(self, values: dict[str, float], step: int):
        for tag, v in values.items():
            self.tb.add_scalar(tag, v, step)

    def image(self, tag: str, hwc: np.ndarray, step: int):
        self.tb.add_image(tag, hwc, step, dataformats="HWC")

    def histogram(self, tag: str, values: np.ndarray, step: int):
        self.tb.add_histogram(tag, values, step)

    def final(self, hparams: dict, metrics: dict[str, float]):
        self.tb.add_hparams(hparams, metrics, run_name="hparams")

    def flush(self):
        self.tb.flush()

    def close(self):
        self.tb.close()


class WandbSink:
    """A W&B run (``pip install ganscope[wandb]``) in ``out/wandb``, id from the run directory."""

    def __init__(self, out: Path, config: dict):
        try:
            import wandb
        except ImportError:
            raise UsageError("logger: wandb needs the wandb package: pip install 'ganscope[wandb]'") from None
        self.wandb = wandb
        out = Path(out).resolve()
        run_id = "ganscope-" + hashlib.sha256(str(out).encode()).hexdigest()[:12]
        self.run = wandb.init(dir=str(out), project="ganscope", name=out.name, id=run_id, resume="allow",
                              config=config)

    def scalars(self, values: dict[str, float], step: int):
        self.run.log(values, step=step)

    def image(self, tag: str, hwc: np.ndarray, step: int):
        self.run.log({tag: self.wandb.Image(hwc)}, step=step)

    def histogram(self, tag: str, values: np.ndarray, step: int):
        self.run.log({tag: self.wandb.Histogram(values)}, step=step)

    def final(self, hparams: dict, metrics: dict[str, float]):
        self.run.summary.update(metrics)

    def flush(self):
        pass

    def close(self):
        self.run.finish()


def open_sinks(names, out: Path, tb_dir: Path, step: int, config: dict) -> list:
    """The sinks of the ``logger`` list (``jsonl`` is the caller's own file)."""
    sinks = []
    for name in check_loggers(names):
        if name == "tensorboard":
            sinks.append(TensorBoardSink(tb_dir, step))
        elif name == "wandb":
            sinks.append(WandbSink(out, config))
    return sinks
