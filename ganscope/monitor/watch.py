"""The Monitor itself: its inputs (real samples, latents, the penalty), the global-RNG bracket, the evaluations;
``close()`` hands over to ``ganscope.monitor.page``. Package doc: ``ganscope.monitor``; docs/monitor.md."""
from __future__ import annotations

import copy
import math
import random
import sys
import time
from contextlib import contextmanager

import numpy as np
import torch
from torch import nn

from ganscope import rundir
from ganscope.errors import UsageError
from ganscope.metrics import dynamics
from ganscope.monitor.page import write_outputs
from ganscope.monitor.readings import probe_summary
from ganscope.objectives import OBJECTIVES, get_objective
from ganscope.penalties import get_penalty

METRICS = ("diagnostics", "fid", "modes", "probe", "spectrum")
DIAG_KEYS = ("grad_sq_real", "grad_sq_fake", "d_real", "d_fake", "d_gap", "d_loss", "g_loss", "speed_g", "speed_d")
QUALITY_KEYS = ("fid", "kid", "precision", "recall", "density", "coverage", "w1", "modes_covered", "hq_fraction",
                "mode_kl")
SNAPSHOTS = 6  # sample snapshots on the page


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
            with _generators_kept(real):
                it = iter(real)
                try:
                    return _gather(lambda: next(it), n, "real")
                except StopIteration:
                    raise UsageError(f"real: the DataLoader holds fewer than {n} samples; lower batch") from None
        if callable(real):
            return _gather(lambda: real(n), n, "real")
    raise UsageError(f"real: expected a callable n -> tensor, a tensor or a DataLoader, got {type(real).__name__}")


@contextmanager
def _generators_kept(loader):
    """Restore the states of the torch.Generators a DataLoader draws from (its own ``generator`` and its
    samplers'), which a fresh iterator advances; the global RNG is :func:`isolated_rng`'s."""
    owners = [loader, loader.sampler, getattr(loader, "batch_sampler", None),
              getattr(getattr(loader, "batch_sampler", None), "sampler", None)]
    gens = {id(g): g for o in owners if o is not None
            for g in [getattr(o, "generator", None)] if isinstance(g, torch.Generator)}
    states = [(g, g.get_state()) for g in gens.values()]
    try:
        yield
    finally:
        for g, state in states:
            g.set_state(state)


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

