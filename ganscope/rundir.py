"""The run directory: the one owner of its layout, of reading its checkpoints and of opening a stored run.

Layout (``ganscope.train`` writes it; everything else reads it through this module)::

    config.yaml                   the resolved config (its ``device`` as given: auto, cpu, cuda, ...)
    device.json                   where each session of the run trained: {"sessions": [{"step", "device",
                                  "torch", "cuda", "cudnn", "gpu", "cpu_threads"}, ...]} (``record_device``)
    metrics.jsonl                 one JSON object per logged step
    summary.json                  written last: the run is done (``is_done``)
    checkpoints/last.pt           the newest checkpoint: all an exact resume needs
    checkpoints/step_NNNNNN.pt    the steps kept by ``checkpoint.keep``
    plots/  samples/  tb/         figures, sample grids, TensorBoard events

A checkpoint loads with ``torch.load(..., weights_only=True)`` (it never executes code) onto the CPU
(``map_location="cpu"``), wherever it was written: the caller moves what it loads to its own device, so a run
trained on cuda is resumed or read on the CPU and back. ``open_run`` rebuilds
a stored run's nets from its config alone and loads their weights: no optimizer, no data stream, no task and
no process-global state (seeds, threads) is touched, so readers of stored runs have nothing to undo.
It imports config, data, nets and the task declarations of tasks/kinds.py only (never train, the tasks themselves, metrics, analysis, cli or reproduce): every layer
above may open runs without an import cycle.
"""
from __future__ import annotations

import json
import re
import shutil
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from ganscope.config import Config, load_yaml, resolve
from ganscope.errors import UsageError
from ganscope.tasks.kinds import task_class

FORMAT = "ganscope-checkpoint-1"
_STEP_FILE = re.compile(r"^step_(\d+)\.pt$")


# ---- paths ------------------------------------------------------------------------------------------------
def config_path(run_dir) -> Path:
    return Path(run_dir) / "config.yaml"


def metrics_path(run_dir) -> Path:
    return Path(run_dir) / "metrics.jsonl"


def summary_path(run_dir) -> Path:
    return Path(run_dir) / "summary.json"


def checkpoint_dir(run_dir) -> Path:
    return Path(run_dir) / "checkpoints"


def last_checkpoint(run_dir) -> Path:
    return checkpoint_dir(run_dir) / "last.pt"


def step_checkpoint(run_dir, step: int) -> Path:
    return checkpoint_dir(run_dir) / f"step_{step:06d}.pt"


def device_path(run_dir) -> Path:
    return Path(run_dir) / "device.json"


def plots_dir(run_dir) -> Path:
    return Path(run_dir) / "plots"


def tb_dir(run_dir) -> Path:
    return Path(run_dir) / "tb"


# ---- what a directory holds -------------------------------------------------------------------------------
def is_run(run_dir) -> bool:
    """A run directory: it holds a config.yaml."""
    return config_path(run_dir).is_file()


def is_done(run_dir) -> bool:
    """A finished run: its summary.json (written last) exists."""
    return summary_path(run_dir).is_file()


def holds_run(run_dir) -> bool:
    """Something a new run would overwrite: a config.yaml or a checkpoints/last.pt."""
    return config_path(run_dir).exists() or last_checkpoint(run_dir).exists()


def step_of(path) -> int | None:
    """N of ``step_NNNNNN.pt``; None for any other file name (last.pt)."""
    match = _STEP_FILE.match(Path(path).name)
    return int(match.group(1)) if match else None


def kept_checkpoints(run_dir) -> list[Path]:
    """The kept ``checkpoints/step_NNNNNN.pt``, by step."""
    folder = checkpoint_dir(run_dir)
    found = [p for p in folder.glob("step_*.pt") if step_of(p) is not None] if folder.is_dir() else []
    return sorted(found, key=step_of)


def kept_steps(run_dir) -> list[int]:
    return [step_of(p) for p in kept_checkpoints(run_dir)]


def stored_checkpoints(run_dir, flag: str = "RUN_DIR") -> list[Path]:
    """Every kept step checkpoint by step, or ``[checkpoints/last.pt]`` when no step was kept."""
    kept = kept_checkpoints(run_dir)
    if kept:
        return kept
    if last_checkpoint(run_dir).is_file():
        return [last_checkpoint(run_dir)]
    raise UsageError(f"{flag}: no checkpoints in {checkpoint_dir(run_dir)} (neither step_*.pt nor last.pt)")


def load_config(run_dir, flag: str = "RUN_DIR") -> Config:
    """The resolved config of a run directory; UsageError naming ``flag`` if it is not one."""
    if not is_run(run_dir):
        raise UsageError(f"{flag}: {run_dir} is not a run directory (no config.yaml)")
    return resolve(load_yaml(config_path(run_dir)))


def checkpoint_for(run_dir, step: int | None = None, flag: str = "RUN_DIR") -> Path:
    """checkpoints/last.pt, or checkpoints/step_NNNNNN.pt for ``step`` (UsageError naming --step if not kept)."""
    if step is None:
        if not last_checkpoint(run_dir).is_file():
            raise UsageError(f"{flag}: {run_dir} has no checkpoint yet (checkpoints/last.pt)")
        return last_checkpoint(run_dir)
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise UsageError(f"--step: must be an integer >= 0, got {step!r}")
    path = step_checkpoint(run_dir, step)
    if not path.is_file():
        kept = ", ".join(map(str, kept_steps(run_dir))) or "none (set checkpoint.keep when training)"
        raise UsageError(f"--step: {run_dir} kept no checkpoint for step {step}; kept steps: {kept}")
    return path


# ---- reading checkpoints ----------------------------------------------------------------------------------
def _load(path) -> dict:
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise ValueError("not a ganscope checkpoint")
    return state


def state_tensors(state, prefix: str = "") -> dict[str, torch.Tensor]:
    """Every tensor of a nested (checkpoint) state, flattened to ``{".dotted.key": tensor}`` in the state's order
    (list items by index): what two checkpoints are compared by, e.g. a resumed run against an uninterrupted one."""
    if torch.is_tensor(state):
        return {prefix: state}
    items = state.items() if isinstance(state, dict) else enumerate(state) if isinstance(state, (list, tuple)) else ()
    return {k: t for key, value in items for k, t in state_tensors(value, f"{prefix}.{key}").items()}


def newest_loadable(folder, exclude=None) -> tuple[Path, int] | None:
    """(path, step) of the newest checkpoint in ``folder`` that loads: last.pt, then the kept steps from the
    last; ``exclude`` is skipped. None when none does."""
    folder = Path(folder)
    kept = sorted((p for p in folder.glob("step_*.pt") if step_of(p) is not None), key=step_of, reverse=True)
    for path in [folder / "last.pt", *kept]:
        if path.is_file() and (exclude is None or path != Path(exclude)):
            try:
                return path, int(_load(path)["step"])
            except Exception:  # noqa: BLE001 - a damaged candidate is passed over
                continue
    return None


def damaged(path, resume: bool = False) -> UsageError:
    """The one-line error for a checkpoint that does not load, naming the newest one in its folder that does
    (and, to ``resume``, how to continue from it)."""
    path = Path(path)
    text = f"checkpoint: {path} is damaged or not a ganscope checkpoint; "
    good = newest_loadable(path.parent, exclude=path)
    if good is None:
        return UsageError(text + f"no other checkpoint in {path.parent} loads")
    text += f"the newest kept checkpoint that loads is {good[0]} (step {good[1]})"
    if resume and good[0].name != "last.pt":
        text += f"; to resume from it: cp {good[0]} {path.parent / 'last.pt'}"
    return UsageError(text)


def read_checkpoint(path, resume: bool = False) -> dict:
    """A ganscope checkpoint (a dict), loaded to the CPU without executing code (``weights_only=True``); any
    failure is a UsageError naming the newest kept checkpoint that loads (:func:`damaged`)."""
    try:
        return _load(path)
    except Exception:  # noqa: BLE001 - an unreadable, truncated or foreign file is bad input, not a crash
        raise damaged(path, resume) from None


def resume_point(run_dir, cfg: Config, flag: str = "--resume") -> Path | None:
    """checkpoints/last.pt to resume from; None when the run may start over from step 0 (it was stopped before
    its first checkpoint: no kept step after 0, no summary, no logged step at or past the first checkpoint).
    Otherwise last.pt was lost: UsageError naming the kept step checkpoints, so that nothing written is replaced."""
    last = last_checkpoint(run_dir)
    if last.exists():
        return last
    kept = [p for p in kept_checkpoints(run_dir) if step_of(p) > 0]
    first = min(cfg.checkpoint.every, cfg.train.steps)
    if not kept and not is_done(run_dir) and _last_logged_step(run_dir) < max(first, 1):
        return None
    text = f"{flag}: {run_dir} has no checkpoints/last.pt, but the run went past its first checkpoint; "
    if not kept:
        raise UsageError(text + "no kept step checkpoint to resume from: start a new run in another directory")
    newest = kept[-1]
    steps = ", ".join(str(step_of(p)) for p in kept)
    raise UsageError(text + f"kept steps: {steps}; to resume from step {step_of(newest)}: cp {newest} {last}")


def _last_logged_step(run_dir) -> int:
    path = metrics_path(run_dir)
    if not path.is_file():
        return -1
    steps = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            steps.append(int(json.loads(line)["step"]))
        except (ValueError, KeyError, TypeError):  # a line cut by a kill
            continue
    return max(steps, default=-1)


# ---- a stored run -----------------------------------------------------------------------------------------
@dataclass
class StoredRun:
    """A run as stored at one checkpoint: its directory, config, checkpoint path and state dict, and the nets
    rebuilt from the config with the checkpoint's weights (``ema``: the EMA generator, or None)."""

    dir: Path
    cfg: Config
    path: Path
    state: dict
    gen: nn.Module
    disc: nn.Module
    ema: nn.Module | None

    @property
    def step(self) -> int:
        return int(self.state["step"])

    @property
    def sampler(self) -> nn.Module:
        """The generator samples come from: the EMA generator when the run keeps one."""
        return self.ema if self.ema is not None else self.gen


def build_nets(cfg: Config, state: dict | None = None) -> tuple[nn.Module, nn.Module]:
    """Fresh (generator, critic) of the shapes ``cfg`` trains, built without drawing from the global RNG; for
    images the channels and size come from the checkpoint's sample snapshots (else from the data set), for text
    the vocabulary from the corpus. The same constructors as the tasks (``ganscope.tasks``); a test pins them."""
    m, kind = cfg.model, task_class(cfg.data.name).kind
    with torch.random.fork_rng(devices=[]):
        if kind == "images":
            from ganscope.nets.rp import run_image_nets

            channels, size = _image_shape(cfg, state)
            return run_image_nets(cfg, size, channels)
        if kind == "text":
            from ganscope.data.text import load_text
            from ganscope.nets.charcnn import make_char_nets

            vocab = load_text(cfg.data.name, cfg.data.seq_len, cfg.data.vocab).vocab
            return make_char_nets(len(vocab), cfg.data.seq_len, m.latent_dim, m.g_width, m.d_width, m.g_depth,
                                  m.d_depth)
    from ganscope.nets.mlp import EnsembleMLP, Logit

    gen = EnsembleMLP(cfg.ensemble, m.latent_dim, 2, m.g_depth, m.g_width, m.activation, init=False)
    return gen, Logit(EnsembleMLP(cfg.ensemble, 2, 1, m.d_depth, m.d_width, m.activation, init=False))


def _image_shape(cfg: Config, state: dict | None) -> tuple[int, int]:
    """(channels, size) of the generator's images: a stored snapshot's shape, else the data set's."""
    snaps = (state or {}).get("snapshots") or {}
    if snaps:
        shape = next(iter(snaps.values())).shape
        return int(shape[-3]), int(shape[-1])
    from ganscope.data.images import load_images

    x = load_images(cfg.data.name, split="train", image_size=cfg.data.image_size or None,
                    skip_bad=cfg.data.skip_bad).x
    return int(x.shape[1]), int(x.shape[-1])


def open_run(run_dir, step: int | None = None, path=None, flag: str = "RUN_DIR", device=None) -> StoredRun:
    """The run in ``run_dir`` at checkpoints/last.pt, at the kept ``step``, or at the checkpoint file ``path``;
    its nets on ``device`` (a ``torch.device``; None: the CPU), whatever device the run trained on."""
    run_dir = Path(run_dir)
    cfg = load_config(run_dir, flag)
    path = Path(path) if path is not None else checkpoint_for(run_dir, step, flag)
    state = read_checkpoint(path)
    gen, disc = build_nets(cfg, state)
    ema = None
    try:
        gen.load_state_dict(state["generator"])
        disc.load_state_dict(state["discriminator"])
        if (state.get("game") or {}).get("ema") is not None:
            ema = build_nets(cfg, state)[0]
            ema.load_state_dict(state["game"]["ema"])
    except Exception as err:  # noqa: BLE001 - weights of another shape: this checkpoint is not this run's
        lines = [line.strip() for line in str(err).splitlines() if line.strip()]  # "Error(s) in ...", then the tensor
        reason = " ".join(lines[:2])[:300] if lines else type(err).__name__
        raise UsageError(f"checkpoint: {path} does not fit the config of {run_dir}: {reason}") from None
    for net in (gen, disc, ema):
        if net is not None:
            net.requires_grad_(False).to("cpu" if device is None else device)
    return StoredRun(run_dir, cfg, path, state, gen, disc, ema)


@torch.no_grad()
def generate(gen: nn.Module, z: torch.Tensor, batch: int = 500) -> torch.Tensor:
    """``gen`` on the latents ``z`` in chunks of ``batch``, in eval mode (BatchNorm running statistics); the
    module's mode is restored afterwards."""
    was_training = gen.training
    gen.eval()
    try:
        return torch.cat([gen(chunk) for chunk in z.split(batch)])
    finally:
        gen.train(was_training)


def sample(run_dir, n: int, seed: int = 0, step: int | None = None, device=None) -> torch.Tensor:
    """n images on the CPU from a stored image run's generator (its EMA when the run keeps one), run on
    ``device`` (None: the CPU), from the latents ``torch.randn(n, latent_dim)`` of a CPU generator seeded
    ``seed`` (the same at every call and on every device)."""
    run = open_run(run_dir, step, flag="run", device=device)
    if not task_class(run.cfg.data.name).gives_images:
        raise UsageError(f"run: {run_dir} is a {run.cfg.data.name} run; only image runs give images")
    z = torch.randn(n, run.cfg.model.latent_dim, generator=torch.Generator().manual_seed(seed))
    return generate(run.sampler, z.to("cpu" if device is None else device)).cpu()


# ---- writing a new run directory --------------------------------------------------------------------------
def record_device(run_dir, info: dict, step: int) -> dict:
    """Append a session (``{"step": step, **info}``, ``info`` from ``ganscope.device.describe``) to
    ``device.json``, written atomically; a session starting at a step already recorded replaces it and those
    after it (a resume from an older checkpoint). Returns the whole record."""
    from ganscope.io import write_json

    path = device_path(run_dir)
    try:
        sessions = json.loads(path.read_text(encoding="utf-8"))["sessions"] if path.is_file() else []
    except (ValueError, KeyError, TypeError):  # a damaged record starts over
        sessions = []
    sessions = [s for s in sessions if isinstance(s, dict) and s.get("step", -1) < step]
    record = {"sessions": [*sessions, {"step": int(step), **info}]}
    write_json(path, record)
    return record


def check_out(path, flag: str = "--out") -> Path:
    """An output directory that can be written: an existing directory, or a new path under one (UsageError
    naming ``flag`` when it, or the nearest existing folder above it, is a file)."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UsageError(f"{flag}: {path} is a file, not a directory; give a new or an existing directory")
    above = next((p for p in path.absolute().parents if p.exists()), None)
    if not path.exists() and above is not None and not above.is_dir():
        raise UsageError(f"{flag}: {above} is a file, so {path} cannot be created; give a directory path")
    return path


@contextmanager
def removed_on_failure(out):
    """Run a block that creates a run in ``out``; if it raises a UsageError (bad input, out of memory) before
    the run's first checkpoint, remove what the block created (``out`` itself when it did not exist), so that
    no partial run directory is left behind. Whatever was there before is kept."""
    out = Path(out)
    top = out
    while not top.parent.exists() and top.parent != top:
        top = top.parent
    before = set(out.iterdir()) if out.is_dir() else None
    try:
        yield
    except UsageError:
        if not last_checkpoint(out).exists():
            if before is None:
                shutil.rmtree(top, ignore_errors=True)
            else:
                for entry in set(out.iterdir()) - before:
                    shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()
        raise


def is_out_of_memory(err: BaseException) -> bool:
    """torch's OutOfMemoryError, Python's MemoryError, or a CPU allocator's RuntimeError."""
    if isinstance(err, (MemoryError, getattr(torch, "OutOfMemoryError", MemoryError))):
        return True
    text = str(err).lower()
    return isinstance(err, RuntimeError) and any(s in text for s in ("can't allocate memory", "not enough memory",
                                                                      "out of memory"))


def out_of_memory(cfg: Config, where: str) -> UsageError:
    """The one-line error for a run that does not fit in memory: what to lower."""
    m = cfg.model
    return UsageError(f"data.batch_size: out of memory {where}; lower data.batch_size (now {cfg.data.batch_size}), "
                      f"data.eval_samples (now {cfg.data.eval_samples}) or the model widths (model.g_width "
                      f"{m.g_width}, model.d_width {m.d_width})")
