"""The training loop: logging, evaluation (the task's metrics and the convergence diagnostics of
``ganscope.metrics.dynamics``), checkpoints, exact resume, divergence guard.

The run directory's layout and the reading of stored runs belong to ``ganscope.rundir``. A checkpoint holds
everything an exact resume needs (weights, EMA, optimizer states, step counters, every RNG state, the random
streams that are the data stream's position); it is written atomically and loads with
``torch.load(..., weights_only=True)``. Building a ``Run`` sets no process-global state: the entry points that
train (``start``, ``resume``, and in-process callers) call :func:`prepare` first (threads, global seeds, the
device check and ``train.deterministic``). A checkpoint written on one device resumes on another
(:meth:`Run.load`; docs/scale.md, "Devices").

Under ``torchrun`` (``ganscope.distributed``, docs/scale.md "Many processes") every rank builds the same ``Run``
with its own random streams (``rng.rank_seed``); the players average their gradients over the ranks; rank 0
alone evaluates and writes the run directory, and its checkpoints hold every rank's random state.
"""
from __future__ import annotations

import json
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch
import yaml

from ganscope import device as devices
from ganscope import distributed, equilibrium, rundir
from ganscope import loggers as loggers_mod
from ganscope.config import Config, load_yaml, resolve, to_dict
from ganscope.errors import UsageError
from ganscope.game import Game, GameRules, NonFiniteLoss, Player, make_optimizer
from ganscope.io import atomic_path, read_jsonl, write_json, write_text
from ganscope.io import json_safe as _json_safe
from ganscope.metrics import dynamics
from ganscope.metrics.toy2d import mode_collapse
from ganscope.rng import rank_seed
from ganscope.tasks import make_task
from ganscope.tasks.kinds import task_class

EXIT_DIVERGED = 3


class Run:
    """A configured training run in ``out``: the task, both players, the game, and the step counter.

    ``spectrum``: the hook ``train.spectrum_at`` needs, ``spectrum(run, member) -> {"max_real_part",
    "spectral_radius", ...}`` (``ganscope.analysis.diagnostics.run_spectrum``: the engine does not import
    analysis, so the entry points above it pass it in).

    ``ranks``: this process's place in a data-parallel job (``ganscope.distributed.Ranks``; default: the single
    process). Rank r reseeds the task's streams for r; only rank 0 evaluates, logs and writes ``out``."""

    def __init__(self, cfg: Config, out, spectrum=None, ranks: distributed.Ranks = distributed.SINGLE):
        if cfg.train.spectrum_at and spectrum is None:
            raise UsageError("train.spectrum_at: needs the eigenvalue hook; train through `ganscope train`, or pass "
                             "spectrum=ganscope.analysis.diagnostics.run_spectrum to train.Run/start/resume")
        self.cfg, self.out, self.spectrum, self.ranks = cfg, Path(out), spectrum, ranks
        with torch.random.fork_rng(devices=[]):  # the tasks seed the nets' initialisation; the caller's RNG stays
            self.task = make_task(cfg)
        self.task.streams.for_rank(ranks.rank)  # each rank its own data and latents (rank 0: the seed's)
        members, rules = self.task.member_values, GameRules.from_config(cfg)
        reduce = ranks.average if ranks.parallel else None
        gen = Player(self.task.gen, make_optimizer(self.task.gen.parameters(), cfg.optim.g),
                     _scale(members.lr_g, cfg.optim.g.lr), reduce)
        disc = Player(self.task.disc, make_optimizer(self.task.disc.parameters(), cfg.optim.d, rules.critic_ratio),
                      _scale(members.lr_d, cfg.optim.d.lr), reduce)
        self.game = Game(rules, gen, disc, self.task, members)
        self.step = 0
        self.elapsed = 0.0  # training wall-clock seconds over all sessions (for metrics against time)
        self.snapshots: dict[int, np.ndarray] = {}
        self._evaluated = None  # (step, metrics) of the last evaluation
        self.diagnostics = Diagnostics(self.task, gen.net, disc.net) if cfg.train.diagnostics and ranks.main else None

    # ---- checkpoints ---------------------------------------------------------------------------------
    @property
    def checkpoint_path(self) -> Path:
        return rundir.last_checkpoint(self.out)

    def state_dict(self, ranks_rng: list[dict] | None = None) -> dict:
        """All an exact resume needs; ``ranks_rng``: every rank's random state (``rng_state``) of a data-parallel
        job, stored under ``ranks`` (``rng`` is this process's)."""
        g, d = self.game.gen, self.game.disc
        return {
            "format": rundir.FORMAT,
            "step": self.step,
            "elapsed": float(self.elapsed),
            "generator": g.net.state_dict(),
            "discriminator": d.net.state_dict(),
            "opt_g": g.opt.state_dict(),
            "opt_d": d.opt.state_dict(),
            "game": self.game.state_dict(),
            "rng": self.rng_state(),
            **({"ranks": ranks_rng} if ranks_rng is not None else {}),
            "snapshots": {str(k): torch.from_numpy(v) for k, v in self.snapshots.items()},
            **({"diagnostics": self.diagnostics.state_dict()} if self.diagnostics is not None else {}),
        }

    def rng_state(self) -> dict:
        """This process's random state: the global RNGs (torch, numpy, python) and the task's streams."""
        np_state = np.random.get_state()
        return {"torch": torch.get_rng_state(),
                "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *np_state[2:]],
                "python": _python_state_to_lists(random.getstate()),
                "streams": self.task.streams.state(), "streams_device": self.device.type}

    def load_rng_state(self, rng: dict, step: int):
        torch.set_rng_state(rng["torch"])
        np.random.set_state((rng["numpy"][0], rng["numpy"][1].numpy().astype(np.uint32), *rng["numpy"][2:]))
        random.setstate(_python_state_from_lists(rng["python"]))
        self._load_streams(rng, step)

    def save(self, path=None):
        """Write the checkpoint (rank 0; every rank of a data-parallel job calls this: it gathers their random
        states and checks that their parameters are still the same)."""
        ranks_rng = self.ranks.gather(self.rng_state()) if self.ranks.parallel else None
        self._check_same_parameters()
        if not self.ranks.main:
            return
        with atomic_path(path or self.checkpoint_path) as tmp:
            torch.save(self.state_dict(ranks_rng), tmp)

    def _check_same_parameters(self):
        nets = [self.game.gen.net, self.game.disc.net] + ([self.game.ema] if self.game.ema is not None else [])
        if not self.ranks.same_on_all_ranks([p for net in nets for p in net.parameters()]):
            raise RuntimeError(f"data-parallel ranks hold different parameters at generator step {self.step}")

    def kept_path(self, step: int) -> Path:
        return rundir.step_checkpoint(self.out, step)

    def load(self, path):
        """Continue from the checkpoint ``path`` (UsageError, one line, if it is damaged or not this run's)."""
        state = rundir.read_checkpoint(path, resume=True)
        stored = len(state.get("ranks") or [None])
        if stored != self.ranks.world:
            how = "a single process" if stored == 1 else f"torchrun --nproc_per_node {stored}"
            raise UsageError(f"--resume: {path} was written by {stored} data-parallel process(es), this job has "
                             f"{self.ranks.world}; resume it with {how}")
        try:
            g, d = self.game.gen, self.game.disc
            g.net.load_state_dict(state["generator"])
            d.net.load_state_dict(state["discriminator"])
            g.opt.load_state_dict(state["opt_g"])
            d.opt.load_state_dict(state["opt_d"])
            self.game.load_state_dict(state["game"])
            self.load_rng_state(state["ranks"][self.ranks.rank] if self.ranks.parallel else state["rng"], int(state["step"]))
            self.snapshots = {int(k): v.numpy() for k, v in state["snapshots"].items()}
            self.step = int(state["step"])
            self.elapsed = float(state.get("elapsed", 0.0))
            if self.diagnostics is not None:
                self.diagnostics.load_state_dict(state.get("diagnostics"), self.step)
        except Exception as err:  # any unreadable or foreign file is bad input, not a crash
            reason = str(err).splitlines()[0][:200] if str(err) else type(err).__name__
            raise UsageError(f"checkpoint: cannot resume from {path}: {reason}") from None

    @property
    def device(self) -> torch.device:
        """Where the run's nets and random streams live (``cfg.device`` resolved by the task)."""
        return self.task.streams.device

    def _load_streams(self, rng: dict, step: int):
        """The random streams of a checkpoint; one written on another device type restarts them
        (``Streams.restart``: a generator's state does not transfer between device types), with a note."""
        saved = rng.get("streams_device", "cpu")
        if saved == self.device.type:
            self.task.streams.load_state(rng["streams"])
            return
        self.task.streams.restart(step)
        print(f"note: the checkpoint's random streams were saved on {saved}; resuming on {self.device.type} "
              f"restarts them at generator step {step} (the run goes on, not bit-identical to an uninterrupted "
              "one)", file=sys.stderr)

    # ---- the loop --------------------------------------------------------------------------------------
    def snapshot_steps(self) -> set[int]:
        steps, every = self.cfg.train.steps, self.cfg.train.plot_every
        if every:
            return set(range(0, steps + 1, every)) | {steps}
        return {int(round(steps * k / 5)) for k in range(6)}

    def evaluate(self) -> list[dict]:
        """The task's metrics of the (EMA) generator, computed once per step (the last step's serve finish)."""
        if self._evaluated is None or self._evaluated[0] != self.step:
            gen = self.game.ema if self.game.ema is not None else self.game.gen.net
            self._evaluated = (self.step, self.task.evaluate(gen))
        return [dict(m) for m in self._evaluated[1]]

    def leading_eigenvalues(self) -> dict:
        """``spectrum_max_real_part`` and ``spectrum_radius`` of each member at this step (the ``spectrum`` hook)."""
        results = [self.spectrum(self, i) for i in range(self.task.size)]
        return {"spectrum_max_real_part": [r["max_real_part"] for r in results],
                "spectrum_radius": [r["spectral_radius"] for r in results]}

    def train(self, progress=True) -> dict:
        """Train to ``train.steps``; the summary (rank 0; ``{}`` on the other ranks of a data-parallel job)."""
        cfg, main = self.cfg, self.ranks.main
        self._check_same_parameters()  # the ranks start from the same weights (and have all read the checkpoint)
        log = (MetricLog(self.out, self.step, squeeze=cfg.ensemble == 1, loggers=cfg.logger, config=to_dict(cfg))
               if main else None)
        if main:
            rundir.record_device(self.out, devices.describe(self.device), self.step)  # device.json: this session
        snap_at = self.snapshot_steps()
        if self.step == 0:
            self._snapshot(snap_at, log)
            if 0 in cfg.checkpoint.keep:
                self.save(self.kept_path(0))
        bar = _progress(cfg.train.steps, self.step, progress and main)
        clock = time.perf_counter()
        try:
            while self.step < cfg.train.steps:
                stats = self.game.step(self.step)
                self.step += 1
                self.elapsed, clock = self.elapsed + time.perf_counter() - clock, time.perf_counter()
                bar.update(1)
                if self.step % cfg.train.log_every == 0:
                    stats = self._global_mean(stats)
                    if main:
                        log.write(self.step, stats)
                if self._reporting():
                    self.game.check_finite()  # the guard reads back (every rank) before anything uses the weights
                if main and self._report(log, bar):
                    clock = time.perf_counter()  # evaluation time is not training time
                self._snapshot(snap_at, log)
                if self.step % cfg.checkpoint.every == 0 or self.step == cfg.train.steps:
                    self.game.check_finite()  # a checkpoint is never written after a non-finite loss
                    if main:
                        log.flush()
                    self.save()
                if self.step in cfg.checkpoint.keep:
                    self.game.check_finite()
                    self.save(self.kept_path(self.step))
        except BaseException:
            if log is not None:
                log.close()
            raise
        finally:
            bar.close()
        try:
            return self.finish(log)
        finally:
            if log is not None:
                log.close()

    def _global_mean(self, stats: dict) -> dict:
        """The logged losses: each rank's batch means averaged over the ranks, i.e. the global batch's means."""
        return dict(zip(stats, self.ranks.average([v.detach() for v in stats.values()])))

    def _evaluation_due(self) -> bool:
        return self.step % self.cfg.train.eval_every == 0 or self.step == self.cfg.train.steps

    def _reporting(self) -> bool:
        """Whether an evaluation or the eigenvalues are due at this step."""
        return self._evaluation_due() or self.step in self.cfg.train.spectrum_at

    def _report(self, log, bar) -> bool:
        """The evaluation and eigenvalues due at this step, logged (rank 0); whether any was due."""
        cfg, due = self.cfg, False
        if self._evaluation_due():
            metrics = self.evaluate()
            diag = self.diagnostics.measure(self.step) if self.diagnostics is not None else {}
            diag.update(self._equilibrium_distance(metrics, diag))
            log.write(self.step, {**_stack(metrics), **diag, "wall_s": self.elapsed}, group="eval",
                      tags={"wall_s": "train/wall_s", **{k: f"diag/{k}" for k in diag}})
            if cfg.train.histograms:
                log.histograms(self.step, {"gen": self.game.gen.net, "disc": self.game.disc.net})
            key = self.task.progress_key
            bar.set_postfix_str(f"{key}={np.mean([m[key] for m in metrics]):.4f}")
            due = True
        if self.step in cfg.train.spectrum_at:
            values = self.leading_eigenvalues()
            log.write(self.step, values, group="diag")
            due = True
        return due

    def _equilibrium_distance(self, metrics: list[dict], diag: dict) -> dict:
        """A run started at a perturbed equilibrium (``game.start``): each member's distance to it,
        ``eq_distance`` r = sqrt(w1_finite² + E‖∇ₓD‖²), and ``eq_ratio`` r / r(0); {} for other runs."""
        r0 = getattr(self.task, "r0", None)
        if r0 is None:
            return {}
        grad_sq = np.atleast_1d(np.asarray(diag["grad_sq_real"], dtype=float))
        r = [equilibrium.distance(m["w1_finite"], float(g)) for m, g in zip(metrics, grad_sq)]
        return {"eq_distance": r, "eq_ratio": [a / b for a, b in zip(r, r0)]}

    def _snapshot(self, snap_at, log=None):
        if self.ranks.main and self.step in snap_at:
            self.snapshots[self.step] = np.asarray(self.task.samples(self.game.gen.net, self.task.snapshot_samples))
            if log is not None and task_class(self.cfg.data.name).gives_images:  # eval/samples: the grid
                from ganscope.imageio import grid_array

                log.image("eval/samples", grid_array(self.snapshots[self.step]), self.step)

    def finish(self, log=None) -> dict:
        """summary.json and the plots (rank 0; ``{}`` on the other ranks); ``log``: also the hyper-parameters
        with the final metrics."""
        if not self.ranks.main:
            return {}
        final = self.evaluate()
        self._add_collapse(final)
        summary = {"steps": self.step, "method": self.cfg.method, "data": self.cfg.data.name,
                   "final": final[0] if len(final) == 1 else _mean_metrics(final)}
        if getattr(self.task, "metrics_info", None):
            summary["metrics_info"] = self.task.metrics_info
        if self.ranks.parallel:
            summary["world_size"] = self.ranks.world  # data-parallel processes: the global batch is this × data.batch_size
        if self.cfg.ensemble > 1:
            summary["members"] = final
            summary["seeds"] = self.task.seeds
        write_json(rundir.summary_path(self.out), _json_safe(summary))
        if log is not None:
            log.final(to_dict(self.cfg), summary["final"])
        if self.cfg.train.plots:
            self._plot()
        return summary

    def _plot(self):
        for member in range(min(self.cfg.ensemble, 4)):
            suffix = "" if self.cfg.ensemble == 1 else f"_member{member}"
            self.task.plot_samples(self.snapshots, rundir.plots_dir(self.out) / f"samples{suffix}.png", member)
        from ganscope import plots

        plots.save(plots.metric_curves(rundir.metrics_path(self.out)), rundir.plots_dir(self.out) / "metrics.png")

    def _add_collapse(self, final: list[dict]):
        """For the mixtures: the mode-collapse flag and the modes dropped, from the logged evaluations."""
        centres = self.task.centres
        if centres is None:
            return
        rows = read_jsonl(rundir.metrics_path(self.out))
        history = [np.atleast_1d(r["modes_covered"]) for r in rows if "modes_covered" in r]
        for i, metrics in enumerate(final):
            counts = [int(h[i]) for h in history] + [metrics["modes_covered"]]
            metrics.update(mode_collapse(counts, len(centres)))


class Diagnostics:
    """The convergence diagnostics of ``ganscope.metrics.dynamics`` at each evaluation (docs/diagnostics.md, "In
    the engine"): E‖∇ₓD‖² and the mean logit on the task's fixed ``diagnostic_batch()`` (real, z) for the
    training generator and the critic, and each player's speed ‖θ_now − θ_then‖/n over the n generator steps
    since the previous evaluation; per member for ensembles. A task with one member whose critic is K critics
    (RP-GAN) logs the mean over its K discriminators. Nothing here touches the training RNGs, weights or
    gradients."""

    def __init__(self, task, gen, disc):
        self.task, self.gen, self.disc = task, gen, disc
        self.speed = self._trackers()
        self.since = 0  # the generator step of the previous evaluation (the speeds' reference)

    def _trackers(self) -> dict:
        members = self.task.size if self.task.size > 1 else None
        return {who: dynamics.ParameterSpeed(net, members=members) for who, net in (("g", self.gen), ("d", self.disc))}

    def measure(self, step: int) -> dict:
        """The diagnostics at generator step ``step`` (floats, or lists of E floats); starts the next interval."""
        real, z = self.task.diagnostic_batch()
        out = dynamics.evaluate(self.gen, self.disc, real, z, event_dims=self.task.event_dims)
        for who, tracker in self.speed.items():
            out[f"speed_{who}"] = tracker.read(steps=step - self.since)["speed"].tolist()
        self.since = step
        return {k: _mean_over_critics(v, self.task.size) for k, v in out.items()}

    def state_dict(self) -> dict:
        return {"since": self.since, **{who: t.state_dict() for who, t in self.speed.items()}}

    def load_state_dict(self, state: dict | None, step: int):
        """Continue the interval of ``state``; without one (a checkpoint from before the diagnostics) the next
        speeds are measured from the weights at ``step``."""
        if state is None:
            self.speed, self.since = self._trackers(), step
            return
        for who, tracker in self.speed.items():
            tracker.load_state_dict(state[who])
        self.since = int(state["since"])


class MetricLog:
    """metrics.jsonl (one JSON object per line; its keys are the values' own) and the sinks of the config's
    ``logger`` list (``ganscope.loggers``: TensorBoard, W&B) with grouped tags; on resume, lines past ``step``
    are dropped."""

    def __init__(self, out: Path, step: int, squeeze: bool = False, loggers=("jsonl", "tensorboard"),
                 config: dict | None = None):
        self.path, self.squeeze = rundir.metrics_path(out), squeeze
        if self.path.exists():
            kept = [ln for ln in self.path.read_text().splitlines() if ln and json.loads(ln)["step"] <= step]
            write_text(self.path, "".join(ln + "\n" for ln in kept))
        self.fh = open(self.path, "a", encoding="utf-8")
        self.sinks = loggers_mod.open_sinks(loggers, Path(out), rundir.tb_dir(out), step, config or {})

    def write(self, step: int, values: dict, group: str = "train", tags: dict | None = None):
        """One row of ``values``; the sinks' tag of key k is ``tags[k]``, else ``group/k`` (train, eval, diag)."""
        row, tags, scalars = {"step": step}, tags or {}, {}
        for k, v in values.items():
            v = v.tolist() if torch.is_tensor(v) else v
            if self.squeeze and isinstance(v, list) and len(v) == 1:
                v = v[0]
            row[k] = v
            scalars.update(loggers_mod.flat_scalars(tags.get(k, f"{group}/{k}"), v))
        for sink in self.sinks:
            sink.scalars(scalars, step)
        self.fh.write(json.dumps(_json_safe(row)) + "\n")

    def image(self, tag: str, hwc: np.ndarray, step: int):
        for sink in self.sinks:
            sink.image(tag, hwc, step)

    def histograms(self, step: int, modules: dict):
        """``hist/WHO/NAME`` of every parameter of each module in ``modules`` (``{"gen": G, "disc": D}``)."""
        for who, module in modules.items():
            for name, p in module.named_parameters():
                for sink in self.sinks:
                    sink.histogram(f"hist/{who}/{name}", p.detach().float().cpu().numpy(), step)

    def final(self, config: dict, final: dict):
        """The config as hyper-parameters with the final metrics (``final/KEY``, numbers only)."""
        metrics = {f"final/{k}": float(v) for k, v in final.items()
                   if isinstance(v, (int, float, np.number)) and not isinstance(v, bool) and np.isfinite(v)}
        for sink in self.sinks:
            sink.final(loggers_mod.flat_config(config), metrics)

    def flush(self):
        self.fh.flush()
        for sink in self.sinks:
            sink.flush()

    def close(self):
        self.fh.close()
        for sink in self.sinks:
            sink.close()


# ---- entry points ----------------------------------------------------------------------------------------
def start(config_path, overrides, out, spectrum=None) -> int:
    """``ganscope train CONFIG [key=value ...] --out DIR``. Bad input or a run too large for memory gives a
    UsageError and leaves no partial run directory behind. ``spectrum``: the hook of ``train.spectrum_at``
    (see :class:`Run`). Under torchrun every rank trains its share of the batch and rank 0 writes ``out``."""
    cfg = resolve(load_yaml(config_path), overrides)
    out = rundir.check_out(out)
    with distributed.session(_device(cfg)) as ranks:
        if rundir.holds_run(out):
            raise UsageError(f"--out: {out} already holds a run; resume it with --resume {out} or choose another "
                             "directory")
        prepare(cfg, ranks.rank)
        run = _build(cfg, out, spectrum, ranks)  # loads the data: a missing or bad data set fails before any write
        ranks.barrier()  # every rank has looked at ``out`` before rank 0 writes into it
        if not ranks.main:
            return _execute(run)
        with rundir.removed_on_failure(out):
            out.mkdir(parents=True, exist_ok=True)
            write_text(rundir.config_path(out), yaml.safe_dump(to_dict(cfg), sort_keys=False))
            return _execute(run)


def resume(out, spectrum=None, device: str | None = None) -> int:
    """``ganscope train --resume DIR [device=D]``: continue from checkpoints/last.pt, bit-identical to an
    uninterrupted run on the same device. Without last.pt only a run stopped before its first checkpoint starts
    over (``rundir.resume_point``). ``device`` replaces the config's for this session (config.yaml is kept)."""
    out = Path(out)
    cfg = rundir.load_config(out, "--resume")
    if device is not None:
        cfg.device = devices.check(device)
    with distributed.session(_device(cfg)) as ranks:
        point = rundir.resume_point(out, cfg)
        prepare(cfg, ranks.rank)
        run = _build(cfg, out, spectrum, ranks)
        if point is not None:
            run.load(point)  # each rank its own random streams from the checkpoint
        return _execute(run)


def prepare(cfg: Config, rank: int = 0):
    """The process-global state a training run starts from: torch's CPU threads (``train.threads``; 0: 1 for
    a single 2-D run, as is otherwise), the device (UsageError, one line, when this machine lacks ``cfg.device``),
    ``train.deterministic`` on CUDA (``device.set_deterministic``) and the global RNGs seeded with ``cfg.seed``
    (``rng.rank_seed(cfg.seed, rank)`` on data-parallel rank ``rank``). Called by the entry points that train,
    never by ``Run``."""
    threads = cfg.train.threads or (1 if cfg.net == "mlp" and cfg.ensemble == 1 else 0)
    if threads:
        torch.set_num_threads(threads)
    devices.set_deterministic(devices.resolve(cfg.device), cfg.train.deterministic)
    seed_everything(rank_seed(cfg.seed, rank))


def _device(cfg: Config) -> str:
    """The run's device as far as the process group's backend is concerned: CUDA (NCCL) or else the CPU (gloo).
    ``device: auto`` means CUDA where it is available, as the device setting resolves it."""
    return "cuda" if devices.resolve(cfg.device).type == "cuda" else "cpu"


def _build(cfg: Config, out, spectrum=None, ranks: distributed.Ranks = distributed.SINGLE) -> Run:
    try:
        return Run(cfg, out, spectrum, ranks)
    except Exception as err:
        if rundir.is_out_of_memory(err):
            raise rundir.out_of_memory(cfg, "building the run") from None
        raise


# Re-export shims for one release: stored runs are opened by ganscope.rundir.
load_run = rundir.open_run
sample_run = rundir.sample


def _execute(run: Run) -> int:
    try:
        summary = run.train(progress=True)  # a bar on a terminal, plain lines in a log file
    except NonFiniteLoss as err:
        kept = f"last good checkpoint: {run.checkpoint_path}" if run.checkpoint_path.exists() else "no checkpoint yet"
        where = f" on rank {run.ranks.rank}" if run.ranks.parallel else ""
        print(f"error: training diverged{where}: {err}; {kept}", file=sys.stderr)
        return EXIT_DIVERGED
    except Exception as err:
        if rundir.is_out_of_memory(err):
            raise rundir.out_of_memory(run.cfg, f"at generator step {run.step}") from None
        raise
    if run.ranks.main:
        print(json.dumps({"out": str(run.out), **_json_safe(summary)}))
    return 0


# ---- helpers -----------------------------------------------------------------------------------------------
def seed_everything(seed: int):
    """Seed the global RNGs (torch, numpy, python): the run's own draws use per-member streams."""
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)  # numpy takes 32-bit seeds (a rank seed has 63 bits)
    random.seed(seed)


def _scale(values, base):
    return None if values is None else values / base


def _progress(total, initial, enabled):
    """A tqdm bar on a terminal, plain progress lines in a log file (``ganscope.progress``)."""
    from ganscope.progress import Progress

    return Progress(total, initial, unit="step", desc="train", enabled=enabled)


def _stack(metrics: list[dict]) -> dict:
    """Per-member metric dicts -> one dict of values (scalars for one member, lists for an ensemble)."""
    if len(metrics) == 1:
        return dict(metrics[0])
    return {k: [m[k] for m in metrics] for k in metrics[0]}


def _mean_over_critics(value, size: int):
    """A diagnostic of a one-member task whose critic is K critics (RP-GAN: a list of K values) -> their mean."""
    return float(np.mean(value)) if size == 1 and isinstance(value, list) else value


def _mean_metrics(metrics: list[dict]) -> dict:
    """Mean over members of each numeric metric; flags become the fraction of members where they hold."""
    return {k: float(np.mean([float(m[k]) for m in metrics])) for k in metrics[0]}


def _python_state_to_lists(state):
    version, internal, gauss = state
    return [version, list(internal), gauss]


def _python_state_from_lists(state):
    version, internal, gauss = state
    return (int(version), tuple(int(x) for x in internal), gauss)
