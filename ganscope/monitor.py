"""The monitor: ganscope's diagnostics for a user's own training loop, and the doctor for a user's checkpoint.

``Monitor(out, generator, critic, real, latent, ...)`` watches a loop it does not own::

    mon = Monitor("runs/mine", G, D, real=sample_real, latent=64, loss="nonsaturating", every=500,
                  metrics=("diagnostics", "fid", "probe", "spectrum"), reference="fashion-mnist:test")
    for step in range(steps):
        ...                      # the user's own updates
        mon.step(step)           # a modulo and a comparison, except every `every` steps
    mon.close()                  # summary.json, plots/, report.json + index.html (`ganscope report DIR`)

At an evaluation (after update ``step`` when ``(step + 1) % every == 0``, logged at step + 1 = updates done) it
measures, on a fixed batch drawn once at construction: the convergence diagnostics of
``ganscope.metrics.dynamics`` (E‖∇ₓD‖² on real and generated data, the mean logits, the losses on that batch,
and each player's parameter speed ‖θ_now − θ_prev‖ / n, θ_prev the snapshot at the previous evaluation n steps
earlier), FID/KID/PRDC for images (``metrics.images``), W1 and mode statistics for 2-D points
(``metrics.toy2d``), and at chosen steps the Jacobian's leading eigenvalues (``analysis.diagnostics``) and the
frozen-generator probe (``analysis.probe``). Each evaluation's cost goes to stderr and ``OUT/monitor.log``.

Guarantees (tests/test_monitor.py): the user's models, optimizers, gradients and RNG streams are never changed.
Every evaluation runs with the global RNGs (torch CPU and CUDA, numpy, Python) saved and restored; buffers
(BatchNorm statistics) are restored after each forward pass on the user's modules; sample metrics, the probe
and the spectrum work on deep copies; no ``.grad`` is written (input gradients by ``torch.autograd.grad``).

Each diagnostic gets one plain-language reading (:func:`readings`), whose rule is stated in docs/monitor.md.
The doctor (:func:`doctor`, ``ganscope doctor``) imports a user's factories, loads a checkpoint with
``weights_only=True`` and writes the same page for that one point.
"""
from __future__ import annotations

import copy
import importlib
import importlib.util
import math
import random
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ganscope import report as R
from ganscope import rundir
from ganscope.errors import UsageError
from ganscope.io import json_safe, read_jsonl, write_json
from ganscope.metrics import dynamics
from ganscope.objectives import OBJECTIVES, get_objective
from ganscope.penalties import get_penalty

METRICS = ("diagnostics", "fid", "modes", "probe", "spectrum")
DIAG_KEYS = ("grad_sq_real", "grad_sq_fake", "d_real", "d_fake", "d_gap", "d_loss", "g_loss", "speed_g", "speed_d")
QUALITY_KEYS = ("fid", "kid", "precision", "recall", "density", "coverage", "w1", "modes_covered", "hq_fraction",
                "mode_kl")
SNAPSHOTS = 6  # sample snapshots on the page
# ---- the readings' thresholds (docs/monitor.md, "Readings") ----
GROW, DECAY = 10.0, 0.1  # late/early ratio of a series: "grows without bound" / "decays towards 0"
GAP_HIGH, GAP_LOW = 4.0, 0.5  # mean logit gap d_real − d_fake: confident separation / near D* = ½
FID_RISE, FID_FALL = 1.5, 0.5  # FID: rose to 1.5× its best / fell to half its first value
PROBE_ACC, PROBE_FALL = 0.95, 0.1  # probe: accuracy of the fresh critic / fall of the saturating gradient
EIG_RTOL = 1e-6  # |Re λ| below this × max(1, max |λ|) counts as 0


# ---- random streams ---------------------------------------------------------------------------------------------
def _cuda_devices() -> list[int]:
    return list(range(torch.cuda.device_count())) if torch.cuda.is_initialized() else []


@contextmanager
def isolated_rng(seed: int | None = None):
    """Run a block with every global RNG (torch CPU and initialised CUDA devices, numpy, Python ``random``)
    saved and restored afterwards; with ``seed`` the CPU torch, numpy and Python generators are seeded inside
    (torch.manual_seed is avoided: it would also queue a seed for CUDA devices not yet initialised)."""
    py, nps = random.getstate(), np.random.get_state()
    with torch.random.fork_rng(devices=_cuda_devices()):
        try:
            if seed is not None:
                torch.random.default_generator.manual_seed(seed)
                np.random.seed(seed % 2**32)
                random.seed(seed)
            yield
        finally:
            random.setstate(py)
            np.random.set_state(nps)


# ---- inputs -------------------------------------------------------------------------------------------------------
def _device(module: nn.Module) -> torch.device:
    return next((p.device for p in module.parameters()), torch.device("cpu"))


def _first_tensor(batch, what: str) -> torch.Tensor:
    if isinstance(batch, (tuple, list)) and batch:
        batch = batch[0]
    if not torch.is_tensor(batch):
        raise UsageError(f"{what}: must give tensors (or (tensor, ...) batches), got {type(batch).__name__}")
    return batch.detach()


def _gather(draw, n: int, what: str) -> torch.Tensor:
    """``draw()`` repeated until n samples are gathered (a callable may return any batch size)."""
    parts, have = [], 0
    for _ in range(10_000):
        x = _first_tensor(draw(), what)
        if x.ndim == 0 or len(x) == 0:
            raise UsageError(f"{what}: returned an empty or 0-d tensor (shape {tuple(x.shape)})")
        parts.append(x.cpu())
        have += len(x)
        if have >= n:
            return torch.cat(parts)[:n]
    raise UsageError(f"{what}: gave only {have} samples in 10,000 calls")


def draw_real(real, n: int, seed: int) -> torch.Tensor:
    """n real samples (fewer when a tensor holds fewer), on the CPU: a seeded random subset of a tensor, the first
    batches of a fresh iterator of a DataLoader, or calls of a callable ``real(n)``, under :func:`isolated_rng`."""
    with isolated_rng(seed):
        if torch.is_tensor(real):
            if real.ndim == 0 or len(real) < 2:
                raise UsageError(f"real: a tensor of at least 2 samples, got shape {tuple(real.shape)}")
            idx = torch.randperm(len(real), generator=torch.Generator().manual_seed(seed))[:n]
            return real.detach()[idx.to(real.device)].cpu()
        if isinstance(real, torch.utils.data.DataLoader):
            if getattr(real, "persistent_workers", False):
                raise UsageError("real: a DataLoader with persistent_workers=True would have its iterator reset; "
                                 "pass another DataLoader of the same data set, or a callable")
            it = iter(real)
            try:
                return _gather(lambda: next(it), n, "real")
            except StopIteration:
                raise UsageError(f"real: the DataLoader holds fewer than {n} samples; lower batch") from None
        if callable(real):
            return _gather(lambda: real(n), n, "real")
    raise UsageError(f"real: expected a callable n -> tensor, a tensor or a DataLoader, got {type(real).__name__}")


def draw_latent(latent, n: int, seed: int) -> torch.Tensor:
    """n latents: ``torch.randn(n, latent)`` from a generator seeded ``seed`` for an int, else calls of
    ``latent(n)`` under :func:`isolated_rng`."""
    if isinstance(latent, bool) or (not isinstance(latent, int) and not callable(latent)) or (
            isinstance(latent, int) and latent < 1):
        raise UsageError(f"latent: expected a callable n -> latents or an int latent_dim >= 1, got {latent!r}")
    if isinstance(latent, int):
        return torch.randn(n, latent, generator=torch.Generator().manual_seed(seed))
    with isolated_rng(seed):
        return _gather(lambda: latent(n), n, "latent")


def parse_penalty(penalty) -> tuple[str, float | None]:
    """None → ("none", None); "r1" → ("r1", its default); ("r1", 10.0) → ("r1", 10.0)."""
    if penalty is None:
        return "none", None
    name, weight = (penalty, None) if isinstance(penalty, str) else tuple(penalty) if isinstance(
        penalty, (tuple, list)) and len(penalty) == 2 else (None, None)
    if not isinstance(name, str):
        raise UsageError(f"penalty: expected None, a name or (name, weight), got {penalty!r}")
    spec = get_penalty(name)
    weight = spec.default if weight is None else weight
    if spec.fn is not None and (weight is None or isinstance(weight, bool) or not isinstance(weight, (int, float))
                                or not math.isfinite(weight) or weight < 0):
        raise UsageError(f"penalty: {name!r} needs a finite weight >= 0, e.g. ({name!r}, 10.0), got {weight!r}")
    return name, (None if spec.fn is None else float(weight))


def _steps(value, what: str):
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        value = (value,)
    try:
        steps = {int(s) for s in value}
    except (TypeError, ValueError):
        raise UsageError(f"{what}: expected step numbers (updates done), got {value!r}") from None
    if any(s < 1 for s in steps):
        raise UsageError(f"{what}: step numbers count updates done and must be >= 1, got {sorted(steps)}")
    return steps


def _check_int(value, what: str, least: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < least:
        raise UsageError(f"{what}: must be an integer >= {least}, got {value!r}")
    return int(value)


# ---- the monitor ----------------------------------------------------------------------------------------------------
class Monitor:
    """Diagnostics of a user's own loop written to a run directory ``out`` (module doc; docs/monitor.md).

    ``real``: a callable n -> tensor of real samples, a tensor or a DataLoader; ``latent``: a callable
    n -> latents or an int latent_dim (standard normal). ``loss``: the objective the user trains with (logits
    high on real); ``penalty``: None, a name or (name, weight), used by the spectrum's field. ``every``: the
    evaluation interval in updates. ``metrics``: any subset of ``METRICS``. ``reference``: FID's reference (a
    data source such as "fashion-mnist:test", a folder or a tensor; default the monitor's own real samples) or,
    for 2-D points, the name of a ganscope mixture ("8gaussians", "25gaussians") whose modes are counted.
    ``spectrum_at``/``probe_at``: steps (updates done) for the expensive instruments (default: the last point,
    at ``close()``). ``start``: updates done before the monitor was made (a resumed loop)."""

    def __init__(self, out, generator: nn.Module, critic: nn.Module, real, latent, *, loss: str = "nonsaturating",
                 penalty=None, every: int = 500, metrics=("diagnostics",), reference=None, batch: int = 256,
                 samples: int = 1000, spectrum_at=None, probe_at=None, spectrum_k: int = 4, spectrum_batch: int = 64,
                 lr: float | None = None, probe_iterations: int = 200, seed: int = 0, start: int = 0,
                 plots: bool = True, verbose: bool = True):
        for name, m in (("generator", generator), ("critic", critic)):
            if not isinstance(m, nn.Module):
                raise UsageError(f"{name}: must be an nn.Module, got {type(m).__name__}")
        if loss not in OBJECTIVES:
            raise UsageError(f"loss: unknown loss {loss!r}; allowed: {', '.join(OBJECTIVES)}")
        metrics = (metrics,) if isinstance(metrics, str) else tuple(metrics)
        bad = [m for m in metrics if m not in METRICS]
        if bad:
            raise UsageError(f"metrics: unknown metric {bad[0]!r}; allowed: {', '.join(METRICS)}")
        self.out = rundir.check_out(out, "out")
        if rundir.holds_run(self.out):
            raise UsageError(f"out: {self.out} holds a ganscope training run (config.yaml or checkpoints/last.pt); "
                             "give the monitor a directory of its own")
        self.gen, self.critic, self.loss, self.metrics = generator, critic, loss, metrics
        self.penalty = parse_penalty(penalty)
        self.every = _check_int(every, "every", 1)
        self.batch = _check_int(batch, "batch", 2)
        self.samples = _check_int(samples, "samples", 10)
        self.seed, self.start, self.verbose = int(seed), _check_int(start, "start", 0), bool(verbose)
        self.plots = bool(plots)
        self.spectrum_at, self.probe_at = _steps(spectrum_at, "spectrum_at"), _steps(probe_at, "probe_at")
        self.spectrum_k = _check_int(spectrum_k, "spectrum_k", 1)
        self.spectrum_batch = _check_int(spectrum_batch, "spectrum_batch", 2)
        self.probe_iterations = _check_int(probe_iterations, "probe_iterations", 1)
        self.lr = lr
        self.reference = reference
        self._extra = (self.spectrum_at or set()) | (self.probe_at or set())
        n_pool = max(self.batch, self.spectrum_batch, self.samples if self._quality() else 0)
        self.real = draw_real(real, n_pool, self.seed)
        self.z = draw_latent(latent, max(self.batch, self.samples), self.seed + 1)
        self.latent = latent
        self.kind = _kind_of(self.real)
        self._ref_features = None
        self._check_inputs()
        if "fid" in self.metrics:
            self._reference_features()
        self.out.mkdir(parents=True, exist_ok=True)
        if self.start == 0:  # a new watch: the previous one's files go (metrics.jsonl: MetricLog keeps rows <= start)
            for name in ("monitor.log", "spectrum.json", "probe.json"):
                (self.out / name).unlink(missing_ok=True)
        from ganscope.train import MetricLog

        self.log = MetricLog(self.out, self.start)
        self.speed = {"g": dynamics.ParameterSpeed(generator), "d": dynamics.ParameterSpeed(critic)}
        self._since = self._last = self._evaluated = self.start
        self.snapshots, self.spectra, self.probes = {}, {}, {}
        self.costs: list[float] = []
        self._train_s, self._clock, self._closed, self._summary = 0.0, time.perf_counter(), False, None

    # ---- checks at construction ----------------------------------------------------------------------------------
    def _quality(self) -> bool:
        return "fid" in self.metrics or "modes" in self.metrics

    def _check_inputs(self):
        """One small forward pass (modules' buffers and RNG restored) to check shapes before the loop starts."""
        n = min(8, len(self.real), len(self.z))
        dev = _device(self.gen)
        with isolated_rng(), dynamics.untouched(self.gen, self.critic), torch.no_grad():
            fake = self.gen(self.z[:n].to(dev))
            if not torch.is_tensor(fake) or tuple(fake.shape[1:]) != tuple(self.real.shape[1:]):
                shape = tuple(fake.shape) if torch.is_tensor(fake) else type(fake).__name__
                raise UsageError(f"generator: returns samples of shape {shape}, the real samples have shape "
                                 f"{tuple(self.real.shape)} (one sample: {tuple(self.real.shape[1:])})")
            out = self.critic(self.real[:n].to(_device(self.critic)))
        if dynamics.member_axes(out.shape, (n,)):
            raise UsageError(f"critic: returns logits of shape {tuple(out.shape)} for {n} samples; the monitor "
                             "watches one game: return one logit per sample, shape (B,)")
        if "fid" in self.metrics and self.kind != "images":
            raise UsageError(f"metrics: 'fid' needs images (N, C, H, W); these samples have shape "
                             f"{tuple(self.real.shape)}; for 2-D points use 'modes'")
        if "modes" in self.metrics and self.kind != "points2d":
            raise UsageError(f"metrics: 'modes' needs 2-D points (N, 2), got shape {tuple(self.real.shape)}")
        if self.kind == "points2d" and self.reference is not None:
            from ganscope.data.toy2d import get_dataset

            if get_dataset(self.reference).centres is None:
                raise UsageError(f"reference: {self.reference!r} has no modes; use 8gaussians or 25gaussians")
        if "probe" in self.metrics:
            if self.z.ndim != 2:
                raise UsageError(f"latent: the probe needs latents of shape (n, d), got {tuple(self.z.shape)}")
            if not any(hasattr(m, "reset_parameters") for m in self.critic.modules()):
                raise UsageError("critic: the probe re-initialises a copy of the critic through its layers' "
                                 "reset_parameters(), and none has one")

    # ---- the loop ----------------------------------------------------------------------------------------------
    def step(self, step: int) -> None:
        """Declare update ``step`` (0-based) done; evaluate when (step + 1) % every == 0 or at a chosen step."""
        done = step + 1
        self._last = done
        if done % self.every == 0 or done in self._extra:
            self._evaluate(done)

    def _evaluate(self, done: int, final: bool = False, regular: bool = True):
        now = time.perf_counter()
        self._train_s += now - self._clock
        row, tags, costs = {}, {}, {}
        with isolated_rng():
            if regular:
                self._timed(costs, "diagnostics", self._diagnostics, done, row, tags)
                if self._quality():
                    self._timed(costs, "fid" if self.kind == "images" else "modes", self._quality_metrics, done,
                                row, tags)
            if "spectrum" in self.metrics and _chosen(self.spectrum_at, done, final):
                self._timed(costs, "spectrum", self._spectrum, done, row, tags)
            if "probe" in self.metrics and _chosen(self.probe_at, done, final):
                self._timed(costs, "probe", self._probe, done, row, tags)
        total = time.perf_counter() - now
        row["monitor_s"], row["wall_s"] = total, self._train_s
        self.log.write(done, row, tags={**tags, "monitor_s": "monitor/cost_s", "wall_s": "monitor/wall_s"})
        self.log.flush()
        self.costs.append(total)
        self._evaluated = done
        line = f"monitor: step {done}: " + ", ".join(f"{k} {v:.3g} s" for k, v in costs.items()) + \
            f" (evaluation {total:.3g} s)"
        with open(self.out / "monitor.log", "a", encoding="utf-8") as fh:
            fh.write(line + "\n")
        if self.verbose:
            print(line, file=sys.stderr, flush=True)
        self._clock = time.perf_counter()

    @staticmethod
    def _timed(costs, name, fn, *args):
        t = time.perf_counter()
        fn(*args)
        costs[name] = costs.get(name, 0.0) + time.perf_counter() - t

    def _diagnostics(self, done, row, tags):
        dev_g, dev_d = _device(self.gen), _device(self.critic)
        real, z = self.real[: self.batch].to(dev_d), self.z[: self.batch].to(dev_g)
        values = dynamics.evaluate(self.gen, self.critic, real, z)
        values.update(_losses(self.gen, self.critic, get_objective(self.loss), real, z))
        for who, tracker in self.speed.items():
            values[f"speed_{who}"] = float(tracker.read(steps=done - self._since)["speed"])
        self._since = done
        row.update(values)
        tags.update({k: f"diag/{k}" for k in values})

    def _fakes(self, n: int) -> torch.Tensor:
        """n samples of a deep copy of G in eval mode (BatchNorm running statistics), on the CPU."""
        gen = copy.deepcopy(self.gen).eval()
        with torch.no_grad():
            return torch.cat([gen(z.to(_device(gen))).float().cpu() for z in self.z[:n].split(500)])

    def _quality_metrics(self, done, row, tags):
        fake = self._fakes(self.samples)
        self.snapshots[done] = fake[:64].numpy() if self.kind == "images" else fake[:1000].numpy()
        values = self._fid(fake) if self.kind == "images" else self._modes(fake)
        row.update(values)
        tags.update({k: f"eval/{k}" for k in values})

    def _reference_features(self) -> torch.Tensor:
        """The FID reference's features, computed once (at construction, so that a bad reference fails early)."""
        from ganscope.metrics.extractors import load_extractor
        from ganscope.metrics.images import source_features

        if self._ref_features is None:
            ref = self.reference
            with isolated_rng(self.seed):  # building the extractor initialises a net: the global RNG is restored
                ext = load_extractor()
                if ref is None or torch.is_tensor(ref):
                    images = self.real[: self.samples] if ref is None else ref.detach().cpu().float()
                    self._ref_features = ext.features(images)
                else:
                    self._ref_features = source_features(ref, ext, self.samples, self.seed, int(self.real.shape[-1]))
        return self._ref_features

    def _fid(self, fake) -> dict:
        from ganscope.metrics.extractors import load_extractor
        from ganscope.metrics.images import metrics_from_features

        out = metrics_from_features(load_extractor().features(fake), self._reference_features(), seed=self.seed,
                                    kid_subsets=10)
        return {k: out[k] for k in ("fid", "kid", "precision", "recall", "density", "coverage")}

    def _modes(self, fake) -> dict:
        from ganscope.metrics.toy2d import mode_stats, w1

        real = self.real[: self.samples]
        out = {"w1": w1(fake[: len(real)], real)}
        if self.reference is not None:
            from ganscope.data.toy2d import get_dataset

            data = get_dataset(self.reference)
            out.update(mode_stats(fake, data.centres, data.std))
        return out

    def _spectrum(self, done, row, tags):
        from ganscope.analysis.diagnostics import leading_eigenvalues

        name, weight = self.penalty
        n = self.spectrum_batch
        gen, critic = copy.deepcopy(self.gen).cpu(), copy.deepcopy(self.critic).cpu()
        result = leading_eigenvalues(gen, critic, self.loss, self.real[:n], self.z[:n].double(), k=self.spectrum_k,
                                     penalty=name, weight=weight, h=self.lr or 0.01, seed=self.seed)
        self.spectra[done] = result
        row["spectrum_max_real_part"] = result["max_real_part"]
        tags["spectrum_max_real_part"] = "diag/spectrum_max_real_part"

    def _probe(self, done, row, tags):
        from ganscope.analysis.probe import probe_generator

        gen = copy.deepcopy(self.gen).cpu().eval()
        disc = fresh_copy(self.critic, self.seed)
        pool = self.real

        def sample_real(m, g):
            return pool[torch.randint(len(pool), (m,), generator=g)]

        curves = probe_generator(gen, disc, sample_real, int(self.z.shape[1]), iterations=self.probe_iterations,
                                 batch_size=min(self.batch, 64, len(pool)), seed=self.seed)
        self.probes[done] = {k: v.tolist() for k, v in curves.items()}
        summary = probe_summary(self.probes[done])
        row.update({f"probe_{k}": v for k, v in summary.items()})
        tags.update({f"probe_{k}": f"diag/probe_{k}" for k in summary})

    # ---- the end ----------------------------------------------------------------------------------------------------
    def close(self) -> dict:
        """A last evaluation (if the last update was not evaluated, and the default-time spectrum and probe), then
        summary.json, plots/, report.json and its page (index.html, REPORT.md). Returns the summary."""
        if self._closed:
            return self._summary
        last = self._last
        pending = any(m in self.metrics and at is None and last not in store for m, at, store in
                      (("spectrum", self.spectrum_at, self.spectra), ("probe", self.probe_at, self.probes)))
        if last > self._evaluated or (pending and last > self.start):
            self._evaluate(last, final=True, regular=last > self._evaluated)
        self.log.close()
        self._closed = True
        self._summary = write_outputs(self)
        return self._summary

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _chosen(at, done, final) -> bool:
    return final if at is None else done in at


def _kind_of(x: torch.Tensor) -> str:
    if x.ndim == 4:
        return "images"
    if x.ndim == 2 and x.shape[1] == 2:
        return "points2d"
    return "other"


def _losses(gen, critic, objective, real, z) -> dict:
    """The objective's D and G losses (no penalty) on the fixed batch, buffers and RNG restored."""
    with dynamics.untouched(gen, critic, real, z), torch.no_grad():
        d_real, d_fake = critic(real), critic(gen(z))
        return {"d_loss": float(objective.d_loss(d_real, d_fake)), "g_loss": float(objective.g_loss(d_fake))}


def fresh_copy(module: nn.Module, seed: int) -> nn.Module:
    """A deep copy of ``module`` on the CPU with every layer's ``reset_parameters()`` drawn from a seeded stream (a
    new initialisation of the same architecture), trainable, no gradients; the global RNG is left as it was."""
    fresh = copy.deepcopy(module).cpu().train()
    with isolated_rng(seed):
        for m in fresh.modules():
            if hasattr(m, "reset_parameters"):
                m.reset_parameters()
    for p in fresh.parameters():
        p.grad = None
    return fresh.requires_grad_(True)


def probe_summary(curves: dict) -> dict:
    """accuracy (last tenth's mean), the saturating cost's gradient norm at the start and the end (first and last
    tenth's means) and their ratio ``grad_fall`` (end / start)."""
    def part(key, last):
        v = np.asarray(curves[key], dtype=float)
        m = max(1, len(v) // 10)
        return float(np.mean(v[-m:] if last else v[:m]))

    g0, g1 = part("grad_norm_original", False), part("grad_norm_original", True)
    return {"accuracy": part("accuracy", True), "grad_start": g0, "grad_end": g1,
            "grad_fall": g1 / g0 if g0 > 0 else math.nan}


# ---- readings -------------------------------------------------------------------------------------------------------
def _series(rows, key):
    pts = [(r["step"], r[key]) for r in rows if key in r]
    return [s for s, _ in pts], [math.nan if v is None else float(v) for _, v in pts]


def trend(values) -> float:
    """late / early: the mean of the last third of the values over the mean of the first third (⌈n/3⌉ each)."""
    m = math.ceil(len(values) / 3)
    early, late = float(np.mean(values[:m])), float(np.mean(values[-m:]))
    return late / early if early > 0 else (math.inf if late > 0 else 1.0)


def _reading(key, verdict, text, value=None) -> dict:
    return {"diagnostic": key, "verdict": verdict, "value": value, "text": text}


def _checked(key, values, least=3):
    if any(not math.isfinite(v) for v in values):
        return _reading(key, "bad", "non-finite values: the training diverged")
    if len(values) < least:
        return _reading(key, "unknown", f"too few evaluations ({len(values)} < {least}) for a reading")
    return None


def read_grad(key, values) -> dict:
    """E‖∇ₓD‖² on real (R1) or generated (R2) data, by its trend (late / early, ``trend``)."""
    on, reg = ("real", "R1") if key.endswith("real") else ("generated", "R2")
    pre = _checked(key, values)
    if pre:
        return pre
    r = trend(values)
    if r >= GROW:
        return _reading(key, "bad", f"the critic's gradient on {on} data grows without bound (×{r:.3g} from the "
                        "first to the last third): the pair is not approaching an equilibrium; zero-centred "
                        f"penalties ({reg}, Mescheder et al. 2018) exist for this", r)
    if r <= DECAY:
        return _reading(key, "good", f"the critic's gradient on {on} data decays towards 0 (×{r:.3g}), as at an "
                        "equilibrium whose critic is flat on the data; a critic that stopped learning is flat too, "
                        "so read it with the speeds and a sample metric", r)
    return _reading(key, "neutral", f"the critic's gradient on {on} data stays at about one level (×{r:.3g}): "
                    "neither flattening towards an equilibrium nor blowing up", r)


def read_gap(values, loss: str) -> dict:
    """d_gap = E D(x) − E D(G(z)): its late level (logit losses) or its trend (wgan: a W1 estimate)."""
    pre = _checked("d_gap", values, least=1)
    if pre:
        return pre
    m = math.ceil(len(values) / 3)
    gap = float(np.mean(values[-m:]))
    if loss == "wgan":
        early = float(np.mean(values[:m]))
        rel = (gap - early) / max(abs(early), 1e-12)
        if len(values) < 3:
            return _reading("d_gap", "unknown", f"too few evaluations ({len(values)} < 3) for a reading")
        if rel <= -0.5:
            return _reading("d_gap", "good", f"the critic's gap, an estimate of W1 for a near-optimal 1-Lipschitz "
                            f"critic, fell by {-rel:.0%}: the distributions approach each other", gap)
        if rel >= 1.0:
            return _reading("d_gap", "warning", f"the critic's gap (a W1 estimate) grew by {rel:.0%}: the "
                            "distributions move apart, or the critic is not kept Lipschitz (penalty, clipping)", gap)
        return _reading("d_gap", "neutral", f"the critic's gap (a W1 estimate) is about flat ({rel:+.0%})", gap)
    if gap > GAP_HIGH:
        return _reading("d_gap", "warning", f"the critic separates real from generated samples confidently (mean "
                        f"logit gap {gap:.3g} > {GAP_HIGH:g}): the generator is far behind; under the saturating "
                        "(minimax) loss its gradient vanishes (Arjovsky & Bottou 2017)", gap)
    if abs(gap) < GAP_LOW:
        return _reading("d_gap", "good", f"the critic barely tells real from generated samples (mean logit gap "
                        f"{gap:.3g}, |gap| < {GAP_LOW:g}), as near an equilibrium where D* = ½", gap)
    return _reading("d_gap", "neutral", f"the critic tells real from generated samples apart moderately (mean "
                    f"logit gap {gap:.3g})", gap)


def read_speed(key, values) -> dict:
    """A player's parameter speed, by its trend."""
    who = "generator" if key.endswith("g") else "critic"
    pre = _checked(key, values)
    if pre:
        return pre
    r = trend(values)
    if r >= GROW:
        return _reading(key, "bad", f"the {who}'s parameters speed up (×{r:.3g}): the iterates run away "
                        "(divergence)", r)
    if r <= DECAY:
        return _reading(key, "good", f"the {who}'s parameters slow down (×{r:.3g}): the iterates settle", r)
    return _reading(key, "neutral", f"the {who}'s parameters move at a steady speed (×{r:.3g}): with mini-batch "
                    "noise and a constant step the iterates wander around an equilibrium at a floor, or circle it; "
                    "a smaller step tells the two apart", r)


def read_fid(values) -> dict:
    """FID: its largest rise above its best so far, and its last value against its first."""
    pre = _checked("fid", values, least=2)
    if pre:
        return pre
    best, rise = math.inf, 1.0
    for v in values:
        if 0 < best < math.inf:
            rise = max(rise, v / best)
        best = min(best, v)
    fall = values[-1] / values[0] if values[0] > 0 else 1.0
    if rise >= FID_RISE:
        return _reading("fid", "bad", f"FID rose to ×{rise:.3g} of its best: the samples got worse after "
                        "improving (mode collapse or divergence)", rise)
    if fall <= FID_FALL:
        return _reading("fid", "good", f"FID fell to ×{fall:.3g} of its first value: the samples improve", fall)
    return _reading("fid", "neutral", f"FID is about flat (last / first ×{fall:.3g})", fall)


def read_modes(values, n_modes: int) -> dict:
    """Modes covered: ``metrics.toy2d.mode_collapse`` on the history."""
    from ganscope.metrics.toy2d import mode_collapse

    pre = _checked("modes_covered", values, least=1)
    if pre:
        return pre
    c = mode_collapse([int(v) for v in values], n_modes)
    final = int(values[-1])
    if c["mode_collapse"] and c["peak_modes"] >= 0.75 * n_modes:
        return _reading("modes_covered", "bad", f"the generator covers {final} of {n_modes} modes (fewer than "
                        f"three quarters) after covering {c['peak_modes']}: mode collapse", final)
    if c["mode_collapse"]:
        return _reading("modes_covered", "warning", f"the generator covers only {final} of {n_modes} modes and never "
                        "covered three quarters: it has not found the mixture's modes yet, or collapsed early", final)
    if c["modes_dropped"]:
        return _reading("modes_covered", "warning", f"the generator dropped {c['modes_dropped']} of the "
                        f"{c['peak_modes']} modes it had covered (now {final} of {n_modes})", final)
    return _reading("modes_covered", "good", f"the generator covers {final} of {n_modes} modes", final)


def read_spectrum(result: dict) -> dict:
    """The Jacobian's leading eigenvalues: sign of the largest real part (|Re λ| ≤ EIG_RTOL·max(1, max|λ|) is 0)."""
    lam = np.array([complex(a, b) for a, b in result["eigenvalues"]])
    tol = EIG_RTOL * max(1.0, float(np.abs(lam).max(initial=0.0)))
    re = float(result["max_real_part"])
    im = float(np.abs(lam.imag[np.abs(lam.real - re) <= tol]).max(initial=0.0))
    if re > tol:
        return _reading("spectrum", "bad", f"an eigenvalue of the game's Jacobian has Re λ = {re:.3g} > 0: the "
                        "training point repels the dynamics (locally unstable)", re)
    if re >= -tol and im > tol:
        return _reading("spectrum", "warning", f"the leading eigenvalues sit on the imaginary axis (Re λ ≈ 0, |Im λ| "
                        f"= {im:.3g}): the dynamics rotate around the point instead of approaching it, as the "
                        "unregularised Dirac-GAN; a zero-centred penalty or consensus moves them left", re)
    if re >= -tol:
        return _reading("spectrum", "neutral", f"the largest real part is 0 (Re λ = {re:.3g}): a flat direction, "
                        "no local verdict from the linearisation", re)
    return _reading("spectrum", "good", f"every leading eigenvalue has Re λ < 0 (largest {re:.3g}): locally "
                    "convergent in continuous time (Mescheder et al. 2018 §2.1)", re)


def read_probe(summary: dict) -> dict:
    """The frozen-generator probe: the fresh critic's accuracy and the fall of the saturating cost's gradient."""
    acc, fall = summary["accuracy"], summary["grad_fall"]
    if acc >= PROBE_ACC and fall <= PROBE_FALL:
        return _reading("probe", "warning", f"a fresh critic trained against the frozen generator reaches accuracy "
                        f"{acc:.3g} and the saturating cost's gradient falls ×{fall:.3g}: the minimax loss would "
                        "starve the generator here (Arjovsky & Bottou 2017, Thm 2.4); the non-saturating loss or "
                        "instance noise avoid it", fall)
    return _reading("probe", "good", f"against a fresh critic (accuracy {acc:.3g}) the saturating cost's gradient "
                    f"does not vanish (×{fall:.3g})", fall)


def readings(rows, loss: str = "nonsaturating", n_modes: int | None = None, spectra=None, probes=None) -> list:
    """One reading per diagnostic present in ``rows`` (metrics.jsonl rows): {"diagnostic", "verdict" (good,
    neutral, warning, bad, unknown), "value", "text"}; the spectrum and the probe at their last step."""
    out = []
    for key in ("grad_sq_real", "grad_sq_fake"):
        if any(key in r for r in rows):
            out.append(read_grad(key, _series(rows, key)[1]))
    if any("d_gap" in r for r in rows):
        out.append(read_gap(_series(rows, "d_gap")[1], loss))
    for key in ("speed_g", "speed_d"):
        if any(key in r for r in rows):
            out.append(read_speed(key, _series(rows, key)[1]))
    if any("fid" in r for r in rows):
        out.append(read_fid(_series(rows, "fid")[1]))
    if n_modes and any("modes_covered" in r for r in rows):
        out.append(read_modes(_series(rows, "modes_covered")[1], n_modes))
    if spectra:
        out.append(read_spectrum(spectra[max(spectra)]))
    if probes:
        out.append(read_probe(probe_summary(probes[max(probes)])))
    return out


# ---- outputs: summary, plots, page ----------------------------------------------------------------------------------
def write_outputs(mon) -> dict:
    """summary.json, plots/*.png, spectrum.json/probe.json, report.json and its page for a closed monitor."""
    out = Path(mon.out)
    rows = read_jsonl(rundir.metrics_path(out)) if rundir.metrics_path(out).is_file() else []
    n_modes = None
    if mon.kind == "points2d" and mon.reference is not None:
        from ganscope.data.toy2d import get_dataset

        n_modes = len(get_dataset(mon.reference).centres)
    reads = readings(rows, mon.loss, n_modes, mon.spectra, mon.probes)
    final = {}
    for r in rows:
        final.update({k: v for k, v in r.items() if k not in ("monitor_s", "wall_s")})
    summary = {"steps": mon._last, "evaluations": len(mon.costs), "final": final, "readings": reads,
               "monitor_s": float(sum(mon.costs)), "train_s": mon._train_s, "settings": settings(mon)}
    write_json(rundir.summary_path(out), json_safe(summary))
    if mon.spectra:
        write_json(out / "spectrum.json", json_safe({str(k): v for k, v in mon.spectra.items()}))
    if mon.probes:
        write_json(out / "probe.json", json_safe({str(k): v for k, v in mon.probes.items()}))
    figs = _figures(mon, rows, reads) if mon.plots else {}
    R.write(out, page(out, summary, figs))
    R.render(out)
    return summary


def _figures(mon, rows, reads) -> dict:
    """plots/diagnostics.png, quality.png, samples.png, spectrum.png, probe.png (those that have data)."""
    from ganscope import plots

    figs, pdir = {}, rundir.plots_dir(mon.out)
    if rows:
        diag = [k for k in DIAG_KEYS if any(k in r for r in rows)]
        if diag:
            figs["diagnostics"] = plots.save(curves(rows, diag, reads), pdir / "diagnostics.png")
        quality = [k for k in QUALITY_KEYS if any(k in r for r in rows)]
        if quality:
            figs["quality"] = plots.save(curves(rows, quality, reads), pdir / "quality.png")
    if mon.snapshots:
        figs["samples"] = plots.save(samples_figure(mon), pdir / "samples.png")
    if mon.spectra:
        figs["spectrum"] = plots.save(spectrum_figure(mon.spectra), pdir / "spectrum.png")
    if mon.probes:
        figs["probe"] = plots.save(probe_figure(mon.probes), pdir / "probe.png")
    return figs


def settings(mon) -> dict:
    ref = mon.reference
    return {"loss": mon.loss, "penalty": list(mon.penalty), "every": mon.every, "metrics": list(mon.metrics),
            "reference": ref if ref is None or isinstance(ref, str) else f"tensor {tuple(ref.shape)}",
            "batch": mon.batch, "samples": mon.samples, "seed": mon.seed, "start": mon.start, "kind": mon.kind,
            "spectrum_at": sorted(mon.spectrum_at) if mon.spectrum_at else "last",
            "probe_at": sorted(mon.probe_at) if mon.probe_at else "last", "spectrum_k": mon.spectrum_k,
            "spectrum_batch": mon.spectrum_batch, "probe_iterations": mon.probe_iterations}


VERDICT_COLOURS = {"good": "tab:green", "neutral": "0.35", "warning": "tab:orange", "bad": "tab:red",
                   "unknown": "0.5"}


def curves(rows, keys, reads=()):
    """One panel per key against the step; a panel whose key has a reading takes its verdict's colour."""
    from ganscope import plots

    verdict = {r["diagnostic"]: r["verdict"] for r in reads}
    ncols = min(len(keys), 3)
    nrows = -(-len(keys) // ncols)
    fig, axes = plots.plt.subplots(nrows, ncols, figsize=(3.6 * ncols, 2.6 * nrows), squeeze=False)
    for ax in axes.flat[len(keys):]:
        ax.set_visible(False)
    for ax, key in zip(axes.flat, keys):
        steps, values = _series(rows, key)
        colour = VERDICT_COLOURS.get(verdict.get(key), "tab:blue")
        ax.plot(steps, values, "o-", ms=3, lw=1, color=colour)
        if plots.spans_decades(values):
            ax.set_yscale("log")
        ax.set_title(key + (f" ({verdict[key]})" if key in verdict else ""), fontsize=9, color=colour)
        ax.set_xlabel("step", fontsize=8)
        ax.tick_params(labelsize=8)
    fig.tight_layout()
    return fig


def _pick(steps, n=SNAPSHOTS):
    steps = sorted(steps)
    return steps if len(steps) <= n else [steps[round(i * (len(steps) - 1) / (n - 1))] for i in range(n)]


def samples_figure(mon):
    from ganscope import plots

    snaps = {s: mon.snapshots[s] for s in _pick(mon.snapshots)}
    if mon.kind == "images":
        return plots.image_snapshots(snaps, "generated samples (eval mode, fixed latents)")
    return plots.samples_through_training(mon.real[:1000].numpy(), snaps, "generated (orange) over real (grey)")


def spectrum_figure(spectra):
    from ganscope import plots

    steps = _pick(spectra, 4)
    fig, axes = plots.plt.subplots(1, len(steps), figsize=(3.6 * len(steps), 3.2), squeeze=False)
    for ax, s in zip(axes[0], steps):
        lam = np.array([complex(a, b) for a, b in spectra[s]["eigenvalues"]])
        ax.axhline(0, color="0.6", lw=0.6)
        ax.axvline(0, color="0.6", lw=0.6)
        ax.scatter(lam.real, lam.imag, s=16)
        ax.set(xlabel="Re λ", ylabel="Im λ", title=f"step {s}: max Re λ = {spectra[s]['max_real_part']:.3g}")
        ax.title.set_fontsize(9)
    fig.tight_layout()
    return fig


def probe_figure(probes):
    from ganscope import plots
    from ganscope.analysis.probe import METRICS as PM, TITLES

    fig, axes = plots.plt.subplots(1, len(PM), figsize=(3.4 * len(PM), 2.8), squeeze=False)
    for ax, key in zip(axes[0], PM):
        for s in _pick(probes, 4):
            ax.plot(probes[s][key], lw=1, label=f"step {s}")
        if key != "accuracy" and plots.spans_decades(np.concatenate([probes[s][key] for s in probes])):
            ax.set_yscale("log")
        ax.set_title(TITLES[key], fontsize=8)
        ax.set_xlabel("fresh critic iteration", fontsize=8)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def page(out, summary, figs) -> dict:
    """The report.json of a monitor run (ganscope.report's schema)."""
    out = Path(out)
    fig = lambda key, caption: [R.figure(out, figs[key], caption)] if key in figs else []  # noqa: E731
    reads = summary["readings"]
    rows = [[r["diagnostic"], r["value"], r["verdict"], r["text"]] for r in reads]
    sections = [R.section("readings", "Readings", text=READINGS_TEXT,
                          tables=[R.table("one reading per diagnostic (rules: docs/monitor.md)",
                                          ["diagnostic", "value", "verdict", "reading"], rows)] if rows else [])]
    sections.append(R.section("diagnostics", "Convergence diagnostics", text=DIAG_TEXT,
                              figures=fig("diagnostics", "the diagnostics at each evaluation; the title's colour is "
                                                         "the reading's verdict")))
    if "quality" in figs or "samples" in figs:
        sections.append(R.section("samples", "Sample quality", text=QUALITY_TEXT,
                                  figures=fig("quality", "sample metrics at each evaluation")
                                  + fig("samples", "samples at evaluations")))
    if "spectrum" in figs:
        sections.append(R.section("spectrum", "Jacobian spectrum", text=SPECTRUM_TEXT,
                                  figures=fig("spectrum", "leading eigenvalues of the game's Jacobian")))
    if "probe" in figs:
        sections.append(R.section("probe", "Frozen-generator probe", text=PROBE_TEXT,
                                  figures=fig("probe", "a fresh critic trained against the frozen generator")))
    sections.append(R.section("settings", "Settings", text=f"{summary['evaluations']} evaluations over "
                              f"{summary['steps']} steps; the monitor took {summary['monitor_s']:.3g} s, the "
                              f"loop {summary['train_s']:.3g} s between evaluations.", config=summary["settings"]))
    return {"paper": "monitor", "title": f"ganscope monitor: {out.name}",
            "citation": "diagnostics of a training loop watched by ganscope.Monitor (docs/monitor.md)",
            "mode": "monitor", "command": f"ganscope report {out}", "wall_s": float(summary["train_s"]
                                                                                   + summary["monitor_s"]),
            "created": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "sections": sections}


READINGS_TEXT = ("Each diagnostic gets one reading by a fixed rule stated in docs/monitor.md (trends compare the "
                 "mean of the last third of the evaluations with the first third). good: as at an equilibrium; "
                 "neutral: no sign either way; warning: a known failure is near; bad: a known failure is there.")
DIAG_TEXT = ("Mescheder et al. 2018 judge convergence by the iterates approaching an equilibrium, where the critic "
             "is flat on the data (`grad_sq_real` = E‖∇ₓD(x)‖² → 0, `grad_sq_fake` on generated samples), its "
             "logits are 0 (`d_real`, `d_fake`, `d_gap`) and nothing moves (`speed_g`, `speed_d`: ‖θ_now − "
             "θ_prev‖ / n over the n steps since the previous evaluation). `d_loss`, `g_loss`: the objective on the "
             "fixed batch, without penalty.")
QUALITY_TEXT = ("Images: FID, KID and precision/recall/density/coverage in the features of ganscope's shipped "
                "Fashion-MNIST classifier (docs/images_metrics.md; comparable only with that extractor). 2-D "
                "points: exact W1 to the real samples and, against a ganscope mixture, modes covered.")
SPECTRUM_TEXT = ("The k eigenvalues of largest real part of the Jacobian of the gradient field v = (−∇θ L_G, "
                 "−∇ψ L_D) on a fixed batch (Mescheder et al. 2018 §2.1): locally convergent in continuous time iff "
                 "every Re λ < 0.")
PROBE_TEXT = ("Arjovsky & Bottou 2017 §2: the generator frozen, a fresh critic (the same architecture, new "
              "initialisation) trained alone; as it nears optimality the saturating cost's generator gradient "
              "vanishes (Thm 2.4) and the −log D cost's becomes unstable (Thm 2.6).")


# ---- the doctor -------------------------------------------------------------------------------------------------------
def load_factory(spec: str, what: str):
    """The callable named by ``MODULE:NAME`` or ``path/file.py:NAME`` (UsageError naming ``what``)."""
    if not isinstance(spec, str) or spec.count(":") < 1 or not spec.rsplit(":", 1)[1]:
        raise UsageError(f"{what}: expected MODULE:FACTORY or FILE.py:FACTORY, got {spec!r}")
    target, name = spec.rsplit(":", 1)
    try:
        if target.endswith(".py"):
            path = Path(target)
            if not path.is_file():
                raise UsageError(f"{what}: no such file {target}")
            mod_name = f"_ganscope_user_{abs(hash(str(path.resolve())))}"
            loader = importlib.util.spec_from_file_location(mod_name, path)
            module = importlib.util.module_from_spec(loader)
            sys.modules[mod_name] = module
            loader.loader.exec_module(module)
        else:
            module = importlib.import_module(target)
    except UsageError:
        raise
    except Exception as err:  # noqa: BLE001 - any failure in the user's module is bad input
        raise UsageError(f"{what}: cannot import {target}: {type(err).__name__}: {_first_line(err)}") from None
    factory = getattr(module, name, None)
    if not callable(factory):
        raise UsageError(f"{what}: {target} has no callable {name!r}")
    return factory


def _first_line(err) -> str:
    text = str(err).strip()
    return text.splitlines()[0][:200] if text else type(err).__name__


def build_net(spec: str, what: str) -> nn.Module:
    factory = load_factory(spec, what)
    try:
        with isolated_rng(0):
            net = factory()
    except Exception as err:  # noqa: BLE001
        raise UsageError(f"{what}: {spec}() failed: {type(err).__name__}: {_first_line(err)}") from None
    if not isinstance(net, nn.Module):
        raise UsageError(f"{what}: {spec}() returned {type(net).__name__}, not an nn.Module")
    return net


def load_weights(net: nn.Module, state, key: str, path, what: str) -> None:
    if key not in state:
        keys = ", ".join(sorted(map(str, state))[:12])
        raise UsageError(f"--keys: {path} has no key {key!r} for the {what}; its keys: {keys}")
    try:
        net.load_state_dict(state[key])
    except Exception as err:  # noqa: BLE001 - shape mismatch, missing or unexpected parameters
        raise UsageError(f"--checkpoint: the {what} does not fit {path}[{key!r}]: {_first_line(err)}") from None


def doctor(generator: str, critic: str, checkpoint, data: str, out, *, keys=("generator", "critic"),
           loss: str = "nonsaturating", penalty=None, latent: int | None = None, metrics=None, batch: int = 256,
           samples: int = 1000, probe_iterations: int = 200, seed: int = 0, verbose: bool = True) -> dict:
    """The monitor's page for one training point: build the user's nets from their factories (``MODULE:NAME`` or
    ``FILE.py:NAME``, called without arguments), load ``checkpoint`` (``torch.load(..., weights_only=True)``, a
    dict holding the state dicts under ``keys``), draw ``data`` (a ganscope data source: an image data set or
    folder, or a 2-D data set name) and write diagnostics, sample metrics, the spectrum and the probe to ``out``.
    ``latent``: the latent size (default: the generator's ``latent_dim`` attribute, else its first layer's
    in_features). Returns the summary."""
    gen, critic_net = build_net(generator, "--generator"), build_net(critic, "--critic")
    path = Path(checkpoint)
    if not path.is_file():
        raise UsageError(f"--checkpoint: no such file {checkpoint}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001
        raise UsageError(f"--checkpoint: {checkpoint} does not load with weights_only=True: "
                         f"{_first_line(err)}") from None
    if not isinstance(state, dict):
        raise UsageError(f"--checkpoint: {checkpoint} holds a {type(state).__name__}, expected a dict of state dicts")
    load_weights(gen, state, keys[0], path, "generator")
    load_weights(critic_net, state, keys[1], path, "critic")
    latent = latent or _latent_size(gen)
    real, reference, kind = _doctor_data(data, samples, seed)
    if metrics is None:
        metrics = ("diagnostics", "fid" if kind == "images" else "modes", "spectrum", "probe")
        metrics = tuple(m for m in metrics if not (m == "modes" and reference is None and kind != "points2d"))
    step = int(state.get("step", 0)) if isinstance(state.get("step", 0), (int, float)) else 0
    with rundir.removed_on_failure(out):
        try:
            mon = Monitor(out, gen, critic_net, real, latent, loss=loss, penalty=penalty, every=10**9,
                          metrics=metrics, reference=reference, batch=batch, samples=samples,
                          probe_iterations=probe_iterations, seed=seed, start=step, verbose=verbose)
            mon.speed, mon._last = {}, step + 1  # one point: no interval, no speeds
            mon._evaluate(step + 1, final=True)
        except RuntimeError as err:  # a latent size or an input shape the nets do not accept
            raise UsageError(f"--data: the nets fail on {data} with latents of size {latent}: "
                             f"{_first_line(err)}") from None
        return mon.close()


def _latent_size(gen: nn.Module) -> int:
    size = getattr(gen, "latent_dim", None)
    if isinstance(size, int) and size > 0:
        return size
    first = next((m for m in gen.modules() if isinstance(m, (nn.Linear, nn.ConvTranspose2d, nn.Conv2d))), None)
    if isinstance(first, nn.Linear):
        return first.in_features
    raise UsageError("--latent: the generator has no latent_dim attribute and does not start with a Linear layer; "
                     "pass --latent N")


def _doctor_data(data: str, n: int, seed: int):
    """(real samples, reference, kind) of a data source: an image data set or folder, or a 2-D data set."""
    from ganscope.data.images import is_image_data
    from ganscope.data.toy2d import DATASETS

    name = data.split(":", 1)[0] if isinstance(data, str) else data
    if isinstance(data, str) and name in DATASETS:
        real = DATASETS[name].sample(n, torch.Generator().manual_seed(seed))
        return real, (name if DATASETS[name].centres is not None else None), "points2d"
    if isinstance(data, str) and (is_image_data(data) or data.startswith("folder:") or Path(data).is_dir()):
        from ganscope.metrics.images import images_from_source

        return images_from_source(data if is_image_data(data) or data.startswith("folder:") else f"folder:{data}",
                                  n, seed), data, "images"
    raise UsageError(f"--data: {data!r} is neither an image data set (digits, fashion-mnist, mnist5k; :train or "
                     f":test; folder:PATH) nor a 2-D data set ({', '.join(DATASETS)})")


# ---- PyTorch Lightning ------------------------------------------------------------------------------------------------
def lightning_callback(out, real, latent, *, generator: str = "generator", critic: str = "critic", **kwargs):
    """A ``lightning.pytorch.Callback`` running a :class:`Monitor` on a GAN LightningModule (manual optimisation):
    the nets are the module's attributes ``generator`` and ``critic``; ``mon.step`` after every training batch
    (step = ``trainer.global_step`` counts optimizer steps: with two optimizers per batch it advances by 2, so
    the callback counts batches itself), ``close()`` when training ends. ``kwargs`` go to the Monitor."""
    try:
        from lightning.pytorch import Callback
    except ImportError:
        try:
            from pytorch_lightning import Callback
        except ImportError:
            raise UsageError("lightning_callback: needs lightning (pip install ganscope[lightning])") from None

    class MonitorCallback(Callback):
        def __init__(self):
            self.monitor, self.batches = None, 0

        def on_train_start(self, trainer, pl_module):
            nets = []
            for name in (generator, critic):
                net = getattr(pl_module, name, None)
                if not isinstance(net, nn.Module):
                    raise UsageError(f"lightning_callback: the LightningModule has no nn.Module attribute {name!r}")
                nets.append(net)
            self.monitor = Monitor(out, nets[0], nets[1], real, latent, **kwargs)

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            self.monitor.step(self.batches)
            self.batches += 1

        def on_train_end(self, trainer, pl_module):
            self.monitor.close()

    return MonitorCallback()
