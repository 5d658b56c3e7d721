"""Typed, validated run configuration: YAML file + method preset + command-line overrides (``key.sub=value``).

Resolution order, later wins: the defaults below < the method preset (``method``) < the YAML file < the
overrides. Anything wrong (unknown key, a key given twice in a YAML file, wrong type, a non-finite float, a
non-integer int, out-of-range value, unknown data source, missing file) raises ``UsageError`` with one line
naming the field and what is allowed. An integer written in float notation (``train.steps=1e3``) is an integer.
"""
from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ganscope.device import check as check_device
from ganscope.errors import UsageError
from ganscope.loggers import check_loggers
from ganscope.tasks.kinds import task_class
from ganscope.vocabulary import LOSS_ALIASES, METHOD_ALIASES, canonical


def opt(default, *, low=None, high=None, choices=None, low_open=False, doc=""):
    """A config field with its default, allowed range or choices, and a one-line doc."""
    meta = {"low": low, "high": high, "choices": choices, "low_open": low_open, "doc": doc}
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class DataConfig:
    name: str = opt("8gaussians", doc="2-D: 8gaussians, 25gaussians, ...; images: digits, fashion-mnist, mnist5k, "
                                      "folder:PATH; text: fortunes, text:PATH")
    batch_size: int = opt(256, low=1)
    eval_samples: int = opt(1000, low=10, doc="generated and held-out real samples for the metrics")
    image_size: int = opt(0, low=0, doc="images: resize to S×S (0: native size)")
    dequantize: bool = opt(False, doc="images: add U(0, 1/128) to each real batch (GAN_stability)")
    skip_bad: bool = opt(False, doc="images: skip unreadable files in a folder (counted) instead of failing")
    finite: int = opt(0, low=0, doc="2-D: train on a fixed sample of N points and N fixed latents per member, each "
                                    "batch the whole sample (a deterministic finite game); 0: fresh draws")
    seq_len: int = opt(32, low=1, doc="text: characters per sample (lines cut or padded)")
    vocab: int = opt(96, low=2, doc="text: the most frequent characters kept; the rest map to the unknown symbol")


@dataclass
class ModelConfig:
    latent_dim: int = opt(2, low=1)
    g_depth: int = opt(3, low=0)
    g_width: int = opt(128, low=1)
    d_depth: int = opt(3, low=0)
    d_width: int = opt(128, low=1)
    activation: str = opt("relu", choices=["relu", "leaky_relu", "tanh", "softplus"])
    variant: str = opt("standard", choices=["standard", "baseline", "g-nobn-const", "g-mlp", "no-norm", "tanh", "deep"],
                       doc="images: Gulrajani et al. 2017 §5.2's architectures (docs/images_nets.md); dcgan: all "
                           "but deep; resnet: standard, deep")
    memory_format: str = opt("auto", choices=["auto", "channels_last", "nchw"],
                             doc="images: layout of the conv nets and their batches; auto = channels_last (faster "
                                 "on CPU, docs/performance.md)")


@dataclass
class OptimConfig:
    name: str = opt("adam", choices=["adam", "rmsprop", "sgd"])
    lr: float = opt(1e-4, low=0, low_open=True)
    betas: list = opt([0.5, 0.9], doc="Adam (β₁, β₂)")
    alpha: float = opt(0.99, low=0, high=1, doc="RMSProp smoothing")
    eps: float = opt(1e-8, low=0, low_open=True)
    momentum: float = opt(0.0, low=0, high=1, doc="SGD momentum")


@dataclass
class PenaltyConfig:
    name: str = opt("none", choices=["none", "r1", "r2", "wgan-gp", "gp0"])
    weight: float = opt(10.0, low=0, doc="γ for r1/r2/gp0, λ for wgan-gp")
    every: int = opt(1, low=1, doc="lazy application: every k D steps with gain k")
    phase: str = opt("joint", choices=["joint", "separate"],
                     doc="joint: added to the critic's loss in its step; separate: its own critic optimizer step "
                         "after the main one (stylegan2-ada's Dreg), the critic's lr·c and β^c, c = k/(k+1)")


@dataclass
class NoiseConfig:
    sigma: float = opt(0.0, low=0, doc="instance noise σ on both inputs of D")
    schedule: str = opt("constant", choices=["constant", "linear", "exp"])
    end: float = opt(0.0, low=0, doc="σ at the end of the annealing")
    steps: int = opt(0, low=0, doc="annealing horizon in steps (0: the whole run)")
    draws: int = opt(1, low=1, doc="independent noise draws per sample and step (a Monte-Carlo estimate of the "
                                   "expected field; the batch is repeated this many times before the noise)")


@dataclass
class GameConfig:
    scheme: str = opt("altgd", choices=["altgd", "simgd"])
    order: str = opt("d-first", choices=["d-first", "g-first"],
                     doc="altgd: d-first (n_d critic steps, then n_g generator steps) or g-first (generator first)")
    n_d: int = opt(1, low=1, doc="critic steps per generator step")
    n_g: int = opt(1, low=1)
    wgan_warmup: bool = opt(False, doc="100 critic steps for the first 25 G steps and every 500th (WGAN)")
    clip: float = opt(0.0, low=0, doc="weight clipping c after each critic step (0: off)")
    consensus: float = opt(0.0, low=0, doc="consensus optimisation γ (0: off)")
    ema: float = opt(0.0, low=0, high=1, doc="EMA β of the generator's weights and buffers (0: off)")
    start: str = opt("random", choices=["random", "equilibrium"],
                     doc="equilibrium (finite 2-D games): G fitted onto the data, whose points then become the "
                         "game's data, D = 0, G perturbed by game.perturb; logs eq_distance and eq_ratio "
                         "(ganscope.equilibrium)")
    perturb: float = opt(0.1, low=0, doc="equilibrium start: each generator tensor p gets perturb·rms(p)·N(0, I)")


@dataclass
class OptimPair:
    g: OptimConfig = field(default_factory=OptimConfig)
    d: OptimConfig = field(default_factory=OptimConfig)


@dataclass
class TrainConfig:
    steps: int = opt(2000, low=0, doc="generator steps")
    log_every: int = opt(10, low=1)
    eval_every: int = opt(250, low=1)
    plot_every: int = opt(0, low=0, doc="sample snapshots for the training plot (0: 6 evenly spaced)")
    threads: int = opt(0, low=0, doc="torch CPU threads (0: auto, 1 for a single 2-D run (net mlp, ensemble 1), where "
                                     "a second thread gains nothing and stalls beside other jobs; as is otherwise)")
    plots: bool = opt(True, doc="write the sample and metric figures at the end (off for large sweeps)")
    diagnostics: bool = opt(True, doc="log the convergence diagnostics at every evaluation (docs/diagnostics.md)")
    spectrum_at: list = opt([], doc="2-D runs: generator steps at which to log each member's leading Jacobian "
                                    "eigenvalues (k = 4)")
    deterministic: bool = opt(False, doc="CUDA: PyTorch's deterministic algorithms and the cuBLAS workspace "
                                         "setting (docs/scale.md); a CPU run is deterministic already")
    precision: str = opt("fp32", choices=["fp32", "bf16", "fp16"],
                         doc="forward passes under autocast (bf16, fp16 with a loss scale); penalties' inner "
                             "gradients in fp32 (ganscope.precision)")
    compile: bool = opt(False, doc="torch.compile the plain forward passes (penalties and consensus stay eager)")
    ensemble_step: str = opt("eager", choices=["eager", "compiled"],
                             doc="2-D runs (net mlp, single or ensemble): compiled = each player's losses and "
                                 "gradients by one torch.compile'd torch.func function (penalties included; a "
                                 "compile of seconds first; docs/engine.md); use train.compile for other nets")
    histograms: bool = opt(False, doc="log histograms of G's and D's parameters at every evaluation (hist/...)")


@dataclass
class CheckpointConfig:
    every: int = opt(500, low=1, doc="generator steps between checkpoints")
    keep: list = opt([], doc="generator steps whose checkpoint is also kept as checkpoints/step_NNNNNN.pt")


@dataclass
class RPConfig:
    k: int = opt(1, low=1, doc="RP-GAN: K discriminators on random projections (1: one full-view discriminator)")
    view_width: int = opt(0, low=0, doc="RP-GAN: channels of each view discriminator's widest layer (0: the "
                                        "width at which 12 views together have the single discriminator's "
                                        "parameters)")


@dataclass
class MetricsConfig:
    extractor: str = opt("fmnist-cnn", doc="images: feature extractor for FID/KID/PRDC (a name or a file)")
    reference: str = opt("", doc="images: reference set for FID (default: the test split of data.name)")


@dataclass
class Config:
    method: str = opt("nonsaturating", doc="a preset from ganscope.presets")
    loss: str = opt("nonsaturating", choices=["minimax", "nonsaturating", "lsgan", "wgan", "hinge"])
    seed: int = opt(0, low=0)
    device: str = opt("auto", doc="auto (cuda if available, then mps, then cpu), cpu, cuda, cuda:N or mps")
    net: str = opt("mlp", choices=["mlp", "dcgan", "resnet", "wgangp-resnet", "charcnn"],
                   doc="mlp (2-D), dcgan / resnet / wgangp-resnet (images), charcnn (text)")
    ensemble: int = opt(1, low=1, doc="E independent runs as one batched model (seeds seed..seed+E-1)")
    members: dict = opt({}, doc="per-member values, e.g. {penalty.weight: [1, 10]} (length E)")
    logger: list = opt(["jsonl", "tensorboard"], doc="where metrics go: jsonl (always), tensorboard, wandb "
                                                     "(pip install 'ganscope[wandb]'); docs/engine.md")
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimPair = field(default_factory=OptimPair)
    penalty: PenaltyConfig = field(default_factory=PenaltyConfig)
    noise: NoiseConfig = field(default_factory=NoiseConfig)
    game: GameConfig = field(default_factory=GameConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    rp: RPConfig = field(default_factory=RPConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)


MEMBER_KEYS = ("penalty.weight", "optim.g.lr", "optim.d.lr", "noise.sigma")


# ---- building and validating ---------------------------------------------------------------------
def _hints(cls):
    return typing.get_type_hints(cls)


def _coerce(value, kind, path):
    """Check a YAML value against a field's type: ints are accepted for floats, integral numbers in float
    notation (``1e3``, ``1000.0``) for ints; floats must be finite; nothing else is converted."""
    if dataclasses.is_dataclass(kind):
        if not isinstance(value, dict):
            raise UsageError(f"{path}: expected a mapping of {', '.join(f.name for f in dataclasses.fields(kind))}, "
                             f"got {value!r}")
        return _build(kind, value, path + ".")
    if kind in (float, int) and isinstance(value, str):
        value = _yaml11_float(value)
    if kind in (float, int) and isinstance(value, float) and not math.isfinite(value):
        raise UsageError(f"{path}: must be finite, got {value!r}")
    if kind is int and isinstance(value, float):
        if not value.is_integer():
            raise UsageError(f"{path}: must be an integer, got {value!r}")
        value = int(value)
    ok = {
        bool: isinstance(value, bool),
        int: isinstance(value, int) and not isinstance(value, bool),
        float: isinstance(value, (int, float)) and not isinstance(value, bool),
        str: isinstance(value, str),
        list: isinstance(value, list),
        dict: isinstance(value, dict),
    }[kind]
    if not ok:
        raise UsageError(f"{path}: expected {kind.__name__}, got {value!r}")
    return float(value) if kind is float else value


def _yaml11_float(text: str):
    """YAML 1.1 reads 1e-4 (no dot) and nan (no leading dot) as strings; read them as the number meant."""
    try:
        return float(text)
    except ValueError:
        return text


def _check_range(value, meta, path):
    if meta.get("choices") and value not in meta["choices"]:
        raise UsageError(f"{path}: {value!r} is not allowed; allowed: {', '.join(meta['choices'])}")
    low, high = meta.get("low"), meta.get("high")
    if low is not None and (value < low or (meta.get("low_open") and value == low)):
        raise UsageError(f"{path}: must be {'>' if meta.get('low_open') else '>='} {low}, got {value!r}")
    if high is not None and value > high:
        raise UsageError(f"{path}: must be <= {high}, got {value!r}")


def _build(cls, values: dict, prefix=""):
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise UsageError(f"{prefix}{unknown[0]}: unknown key; allowed: {', '.join(fields)}")
    hints, kwargs = _hints(cls), {}
    for name, value in values.items():
        path = f"{prefix}{name}"
        kwargs[name] = _coerce(value, hints[name], path)
        if not dataclasses.is_dataclass(hints[name]):
            _check_range(kwargs[name], fields[name].metadata, path)
    return cls(**kwargs)


def merge(base: dict, update: dict) -> dict:
    """Recursive dict merge, ``update`` wins."""
    out = dict(base)
    for k, v in update.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def nest(dotted: str, value) -> dict:
    """``("a.b.c", v)`` -> ``{"a": {"b": {"c": v}}}``."""
    for part in reversed(dotted.split(".")):
        value = {part: value}
    return value


def flatten(d: dict, prefix="") -> dict:
    """Nested mappings -> one mapping of dotted keys (the inverse of merging :func:`nest` results)."""
    out = {}
    for k, v in d.items():
        out.update(flatten(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": v})
    return out


class _DuplicateKey(yaml.YAMLError):
    def __init__(self, key, line: int):
        super().__init__(f"key {key!r} given twice (again at line {line})")
        self.key, self.line = key, line


class _StrictLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing a mapping that names a key twice (PyYAML keeps the last one silently)."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # `<<: *base` may be overridden by the mapping's own keys
            key = self.construct_object(key_node, deep=True)
            try:
                if key in seen:
                    raise _DuplicateKey(key, key_node.start_mark.line + 1)
                seen.add(key)
            except TypeError:  # an unhashable key: SafeLoader's own error follows
                pass
        return super().construct_mapping(node, deep=deep)


def _safe_load(text: str):
    return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 (a SafeLoader subclass)


def parse_override(text: str) -> dict:
    """``a.b.c=value`` -> {"a": {"b": {"c": value}}}, the value parsed as a YAML scalar."""
    if "=" not in text:
        raise UsageError(f"override {text!r}: expected key=value (e.g. train.steps=500)")
    key, raw = text.split("=", 1)
    if not key or any(not part for part in key.split(".")):
        raise UsageError(f"override {text!r}: expected key=value (e.g. train.steps=500)")
    try:
        value = _safe_load(raw) if raw else ""
    except _DuplicateKey as err:
        raise UsageError(f"override {text!r}: key {err.key!r} given twice") from None
    except yaml.YAMLError:
        value = raw
    return nest(key, value)


def load_yaml(path, what: str = "config") -> dict:
    """A YAML mapping from ``path``; ``what`` names the input in the one-line errors."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"{what}: no such file {str(path)!r}")
    try:
        data = _safe_load(path.read_text()) or {}
    except _DuplicateKey as err:
        raise UsageError(f"{what}: {path}: key {err.key!r} given twice (again at line {err.line})") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise UsageError(f"{what}: {path} is not valid YAML{where}") from None
    if not isinstance(data, dict):
        raise UsageError(f"{what}: {path} must hold a mapping of keys, got {type(data).__name__}")
    return data


def resolve(file_values: dict, overrides=()) -> Config:
    """Defaults < preset(method) < file < overrides, validated into a Config."""
    from ganscope.presets import preset

    values = dict(file_values)
    for text in overrides:
        values = merge(values, parse_override(text))
    values = _canonical_names(values)
    method = values.get("method", Config.method)
    if not isinstance(method, str):
        raise UsageError(f"method: expected str, got {method!r}")
    cfg = _build(Config, merge(preset(method), values))
    _check_members(cfg)
    _check_consistency(cfg)
    return cfg


def _canonical_names(values: dict) -> dict:
    """The lab's names accepted as aliases (ganscope.vocabulary): ``loss: standard`` is ``minimax``,
    ``method: clip`` is ``wgan-clip``; the resolved config holds the canonical names."""
    out = dict(values)
    for key, aliases in (("loss", LOSS_ALIASES), ("method", METHOD_ALIASES)):
        if key in out:
            out[key] = canonical(out[key], aliases)[0]
    return out


def _check_members(cfg: Config):
    cfg.members = flatten(cfg.members)
    for key, vals in cfg.members.items():
        if key not in MEMBER_KEYS:
            raise UsageError(f"members.{key}: not a per-member key; allowed: {', '.join(MEMBER_KEYS)}")
        if not isinstance(vals, list) or len(vals) != cfg.ensemble:
            raise UsageError(f"members.{key}: expected a list of {cfg.ensemble} values (one per member), got {vals!r}")
        cfg.members[key] = [_coerce(v, float, f"members.{key}") for v in vals]
        for v in cfg.members[key]:
            _check_range(v, _field_meta(key), f"members.{key}")


def _field_meta(dotted: str):
    cls, meta = Config, {}
    for part in dotted.split("."):
        f = {f.name: f for f in dataclasses.fields(cls)}[part]
        meta, cls = f.metadata, _hints(cls)[part]
    return meta


def _check_task(cfg: Config):
    """The data source must be known, and the net, ensembles and RP-GAN supported by the task serving it."""
    task = task_class(cfg.data.name)
    if cfg.net not in task.nets:
        raise UsageError(f"net: {cfg.data.name!r} is {task.kind} data; allowed nets: {', '.join(task.nets)}")
    if cfg.ensemble > 1 and not task.supports_ensemble:
        raise UsageError(f"ensemble: {task.kind} runs do not run as ensembles; use 1 (or a sweep over seeds)")
    if cfg.data.finite and task.kind != "toy2d":
        raise UsageError(f"data.finite: a fixed finite sample is for 2-D data, not {task.kind}; use 0")
    if cfg.game.start == "equilibrium" and not (cfg.data.finite and cfg.train.diagnostics):
        raise UsageError("game.start: equilibrium needs a finite 2-D game (data.finite > 0) and "
                         "train.diagnostics true; use random")
    if cfg.rp.k > 1:
        if not task.supports_rp:
            raise UsageError(f"rp.k: random projections are not defined for {task.kind} data; use 1")
        if cfg.penalty.name != "none" or cfg.game.consensus > 0 or cfg.game.scheme != "altgd":
            raise UsageError("rp.k: RP-GAN trains K plain discriminators (penalty.name none, no consensus, altgd)")


def _check_consistency(cfg: Config):
    check_device(cfg.device)  # the spelling only: whether this machine has it is checked when a run starts
    _check_task(cfg)
    if cfg.game.scheme == "simgd" and (cfg.game.n_d, cfg.game.n_g) != (1, 1):
        raise UsageError("game.n_d: simultaneous updates take one step of each player (n_d = n_g = 1)")
    if cfg.game.scheme == "simgd" and cfg.game.order != "d-first":
        raise UsageError("game.order: simultaneous updates have no order; g-first needs game.scheme altgd")
    for who, optim in (("g", cfg.optim.g), ("d", cfg.optim.d)):
        b = optim.betas
        if len(b) == 2:
            b = optim.betas = [_coerce(x, float, f"optim.{who}.betas") for x in b]
        if len(b) != 2 or not all(0 <= x < 1 for x in b):
            raise UsageError(f"optim.{who}.betas: expected two numbers in [0, 1), got {b!r}")
    cfg.checkpoint.keep = [_coerce(k, int, "checkpoint.keep") for k in cfg.checkpoint.keep]
    if not all(0 <= k <= cfg.train.steps for k in cfg.checkpoint.keep):
        raise UsageError(f"checkpoint.keep: expected generator steps in [0, train.steps], got {cfg.checkpoint.keep!r}")
    _check_spectrum_at(cfg)
    _check_precision(cfg)
    _check_ensemble_step(cfg)
    cfg.logger = check_loggers(cfg.logger)
    if cfg.data.batch_size < 2 and (cfg.ensemble > 1 or cfg.rp.k > 1):  # (E, 1) logits read as a (B, 1) critic
        raise UsageError("data.batch_size: an ensemble or RP-GAN run needs a batch of at least 2 (the objectives "
                         "refuse logits (E, 1): objectives.check_logits)")
    if cfg.noise.draws > 1 and cfg.noise.sigma == 0 and "noise.sigma" not in cfg.members:
        raise UsageError("noise.draws: several noise draws need instance noise (noise.sigma > 0); use 1")
    if cfg.noise.schedule == "exp" and cfg.noise.sigma > 0 and cfg.noise.end <= 0:
        raise UsageError("noise.end: the exp schedule needs a final σ > 0")


def _check_precision(cfg: Config):
    """Refuse the combinations of precision, compilation and penalty phase that are not tested."""
    if cfg.train.precision == "fp16" and cfg.game.consensus > 0:
        raise UsageError("train.precision: fp16 with game.consensus is not supported (its loss scale is untested); "
                         "use bf16 or fp32")
    if cfg.train.precision == "fp16" and cfg.game.scheme == "simgd":
        raise UsageError("train.precision: fp16 needs game.scheme altgd (simultaneous steps under a loss scale are "
                         "untested); use bf16 or fp32")
    if cfg.penalty.phase == "separate" and cfg.game.scheme == "simgd":
        raise UsageError("penalty.phase: separate needs game.scheme altgd (a simultaneous step has one critic "
                         "update)")


def ensemble_step_unsupported(consensus: float, noisy: bool, precision: str, compiled: bool) -> str | None:
    """What of a 2-D game ``train.ensemble_step: compiled`` (``ganscope.func_step``) does not compute, in config
    words, or None: the one rule the config (before a run starts) and the game (when it is built) both apply."""
    for bad, what in ((consensus > 0, "game.consensus (use 0)"),
                      (noisy, "instance noise (noise.sigma > 0)"),
                      (precision != "fp32", f"train.precision {precision} (use fp32)"),
                      (compiled, "train.compile: true (this step compiles every pass already)")):
        if bad:
            return what
    return None


def _check_ensemble_step(cfg: Config):
    """``train.ensemble_step: compiled`` computes 2-D MLP games without instance noise or consensus, in fp32
    (``ganscope.func_step``; the game refuses the same, and torchrun, when it is built)."""
    if cfg.train.ensemble_step != "compiled":
        return
    noisy = cfg.noise.sigma > 0 or "noise.sigma" in cfg.members
    what = (f"net {cfg.net} (it is for 2-D runs, net mlp)" if cfg.net != "mlp" else
            ensemble_step_unsupported(cfg.game.consensus, noisy, cfg.train.precision, cfg.train.compile))
    if what:
        raise UsageError(f"train.ensemble_step: compiled does not support {what}; use eager")


def _check_spectrum_at(cfg: Config):
    """``train.spectrum_at``: generator steps in [1, train.steps] (any step, sorted, each once), 2-D runs only."""
    steps = sorted({_coerce(k, int, "train.spectrum_at") for k in cfg.train.spectrum_at})
    if not all(1 <= k <= cfg.train.steps for k in steps):
        raise UsageError(f"train.spectrum_at: expected generator steps in [1, train.steps = {cfg.train.steps}], "
                         f"got {cfg.train.spectrum_at!r}")
    task = task_class(cfg.data.name)
    if steps and not task.supports_spectrum:
        raise UsageError(f"train.spectrum_at: the leading eigenvalues are logged for 2-D runs only; {task.kind} "
                         "runs need [] (use `ganscope spectrum` on a kept 2-D checkpoint)")
    cfg.train.spectrum_at = steps


def to_dict(cfg) -> dict:
    return dataclasses.asdict(cfg)


def describe(cls=Config, prefix="") -> list[str]:
    """One line per key with its default and doc (for --help style listings)."""
    lines = []
    for f in dataclasses.fields(cls):
        kind = _hints(cls)[f.name]
        if dataclasses.is_dataclass(kind):
            lines += describe(kind, f"{prefix}{f.name}.")
            continue
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        lines.append(f"{prefix}{f.name} = {default!r}  {f.metadata.get('doc', '')}".rstrip())
    return lines

