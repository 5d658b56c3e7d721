"""Pane 2: a real 2-D GAN trained by the engine's ``Game`` in a server thread, one training per session.

A session holds one training: a validated config (``config.resolve``: a method preset of ``presets.py`` plus
the page's settings), the ``Toy2DTask`` nets and streams, the players and the ``Game``. Its thread steps the game
while playing and, at most ``fps`` times a second and in at most FRAME_SHARE of its time (and after every change
while paused), makes a *frame*:
real and generated samples (the fixed held-out set and evaluation latents), the critic's logit D(x) on a grid,
the generator's gradient arrows −∂L_G/∂x at its samples (the direction each sample is pushed), and the
metrics: W1 and mode coverage (``metrics.toy2d.evaluate``) and the convergence diagnostics
(``metrics.dynamics.evaluate``: E‖∇ₓD‖² on real and fake, mean logits, each player's parameter speed).

Settings that keep the nets (learning rates, penalty weight, σ, scheme, n_d) are applied to the running game
(a new ``Game`` on the same players); the data set, the drawn points, the preset and the seed reset it.
``Trainings`` caps how many sessions exist at once; a session whose stream is gone (no poll for
``IDLE_S``) stops its own thread, so a closed tab never leaves a training running.
"""
from __future__ import annotations

import logging
import math
import secrets
import threading
import time

import numpy as np
import torch

from ganscope.config import resolve
from ganscope.data.toy2d import DATASETS, Toy2D
from ganscope.errors import UsageError
from ganscope.game import Game, GameRules, NonFiniteLoss, Player, make_optimizer
from ganscope.metrics import dynamics
from ganscope.metrics.toy2d import evaluate
from ganscope.presets import PRESETS

DATA_SETS = tuple(name for name in DATASETS if name != "point") + ("drawn",)
POINTS_MIN, POINTS_MAX = 3, 2000  # a drawn data set
VIEW = 3.0  # the canvas shows [-VIEW, VIEW]²; drawn points must lie in it
DRAWN_STD = 0.02  # a drawn data set is its points plus N(0, DRAWN_STD²) jitter
SAMPLES = 256  # real and generated samples per frame (the metrics' sample too)
ARROWS = 64  # gradient arrows on the first ARROWS generated samples
GRID = 32  # the critic's surface on GRID² points
FPS = 10.0  # frames per second while playing
FRAME_SHARE = 0.25  # frames take at most this share of a playing thread's time (fewer frames on a busy machine)
METRICS_EVERY = 2  # W1, modes and diagnostics on every 2nd frame while playing (they cost ~35 ms on 1 core)
IDLE_S = 10.0  # a session not polled for this long (its stream gone) stops
MAX_TRAININGS = 4  # sessions at once (two tabs of side-by-side runs)
log = logging.getLogger("ganscope.lab")
LIVE_KEYS = ("lr_g", "lr_d", "weight", "sigma", "scheme", "n_d")
RESET_KEYS = ("data", "points", "preset", "seed")
KEYS = RESET_KEYS + LIVE_KEYS


# ---- settings -----------------------------------------------------------------------------------------------
def _number(settings: dict, key: str, low: float, high: float, *, integer=False, low_open=False):
    value = settings.get(key)
    if value is None:
        return None
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    ok = ok and (low < value if low_open else low <= value) and value <= high
    if not ok or (integer and float(value) != int(value)):
        kind = "an integer" if integer else "a finite number"
        raise UsageError(f"{key}: must be {kind} in {'(' if low_open else '['}{low:g}, {high:g}], got {value!r}")
    return int(value) if integer else float(value)


def check_points(points) -> list[list[float]]:
    """A drawn data set: a list of POINTS_MIN..POINTS_MAX pairs [x, y] of finite numbers in [-VIEW, VIEW]."""
    if not isinstance(points, list):
        raise UsageError(f"points: expected a list of [x, y] pairs, got {type(points).__name__}")
    if not POINTS_MIN <= len(points) <= POINTS_MAX:
        raise UsageError(f"points: a drawn data set needs {POINTS_MIN} to {POINTS_MAX} points, got {len(points)}")
    for i, p in enumerate(points):
        ok = isinstance(p, list) and len(p) == 2 and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and abs(v) <= VIEW for v in p)
        if not ok:
            raise UsageError(f"points: item {i} must be [x, y] with finite numbers in [-{VIEW:g}, {VIEW:g}], "
                             f"got {str(p)[:40]}")
    return [[float(x), float(y)] for x, y in points]


def check_settings(settings) -> dict:
    """The page's settings, checked: ``data`` (DATA_SETS; ``drawn`` needs ``points``), ``preset`` (presets.py),
    ``seed``, and optional ``lr_g``, ``lr_d``, ``weight`` (the penalty's γ/λ, or consensus γ), ``sigma``
    (instance noise), ``scheme``, ``n_d``; absent ones take the preset's value."""
    if not isinstance(settings, dict):
        raise UsageError("settings: expected a JSON object")
    unknown = sorted(set(settings) - set(KEYS))
    if unknown:
        raise UsageError(f"{unknown[0]}: unknown setting; allowed: {', '.join(KEYS)}")
    s = {"data": settings.get("data", "8gaussians"), "preset": settings.get("preset", "r1")}
    if s["data"] not in DATA_SETS:
        raise UsageError(f"data: unknown data set {s['data']!r}; allowed: {', '.join(DATA_SETS)}")
    if s["preset"] not in PRESETS:
        raise UsageError(f"preset: unknown method {s['preset']!r}; allowed: {', '.join(PRESETS)}")
    s["points"] = check_points(settings.get("points")) if s["data"] == "drawn" else None
    if s["data"] != "drawn" and settings.get("points") is not None:
        raise UsageError("points: only the drawn data set takes points")
    s["seed"] = _number(settings, "seed", 0, 10**6, integer=True) or 0
    s["lr_g"] = _number(settings, "lr_g", 0, 1, low_open=True)
    s["lr_d"] = _number(settings, "lr_d", 0, 1, low_open=True)
    s["weight"] = _number(settings, "weight", 0, 1000)
    s["sigma"] = _number(settings, "sigma", 0, 10)
    s["n_d"] = _number(settings, "n_d", 1, 20, integer=True)
    s["scheme"] = settings.get("scheme")
    if s["scheme"] not in (None, "altgd", "simgd"):
        raise UsageError(f"scheme: unknown scheme {s['scheme']!r}; allowed: altgd, simgd")
    return s


def config_of(s: dict):
    """The engine's Config for checked settings (``config.resolve``: preset < these values), or UsageError."""
    preset = PRESETS[s["preset"]]
    values = {"method": s["preset"], "seed": s["seed"],
              "data": {"name": "8gaussians" if s["data"] == "drawn" else s["data"], "batch_size": 256,
                       "eval_samples": SAMPLES},
              "train": {"diagnostics": False, "plots": False}}
    optim = {who: {"lr": s[f"lr_{who}"]} for who in ("g", "d") if s[f"lr_{who}"] is not None}
    if optim:
        values["optim"] = optim
    game = {k: s[k] for k in ("scheme", "n_d") if s[k] is not None}
    if s["weight"] is not None:
        if preset.get("penalty", {}).get("name", "none") != "none":
            values["penalty"] = {"weight": s["weight"]}
        elif preset.get("game", {}).get("consensus", 0) > 0:
            game["consensus"] = s["weight"]
        else:
            raise UsageError(f"weight: method {s['preset']!r} has no penalty or consensus weight")
    if game:
        values["game"] = game
    if s["sigma"] is not None:
        values["noise"] = {"sigma": s["sigma"]}
    return resolve(values)


def preset_defaults() -> dict:
    """What each preset sets that the page shows: learning rates, weight (or None), σ, scheme, n_d."""
    out = {}
    for name, p in PRESETS.items():
        cfg = resolve({"method": name})
        weight = cfg.penalty.weight if cfg.penalty.name != "none" else (cfg.game.consensus or None)
        out[name] = {"lr_g": cfg.optim.g.lr, "lr_d": cfg.optim.d.lr, "weight": weight, "sigma": cfg.noise.sigma,
                     "scheme": cfg.game.scheme, "n_d": cfg.game.n_d, "loss": cfg.loss, "optim": cfg.optim.g.name,
                     "penalty": cfg.penalty.name}
    return out


def drawn_dataset(points: list[list[float]]) -> Toy2D:
    """The user's points as a data set: a uniformly chosen point plus N(0, DRAWN_STD²) jitter."""
    at = torch.tensor(points, dtype=torch.float32)

    def sample(n: int, generator: torch.Generator) -> torch.Tensor:
        idx = torch.randint(len(at), (n,), generator=generator)
        return at[idx] + DRAWN_STD * torch.randn(n, 2, generator=generator)

    return Toy2D("drawn", sample, None, None, f"{len(points)} drawn points + N(0, {DRAWN_STD}²)")


# ---- one training ---------------------------------------------------------------------------------------------
class Training:
    """The engine's objects of one 2-D training and the frame maker. Not thread-safe: the session's thread owns it."""

    def __init__(self, settings: dict, cfg):
        from ganscope.tasks.toy2d import Toy2DTask

        self.settings, self.cfg = settings, cfg
        with torch.random.fork_rng(devices=[]):
            self.task = Toy2DTask(cfg)
        if settings["points"] is not None:
            self.task.dataset = drawn_dataset(settings["points"])
        self.gen = Player(self.task.gen, make_optimizer(self.task.gen.parameters(), cfg.optim.g))
        self.disc = Player(self.task.disc, make_optimizer(self.task.disc.parameters(), cfg.optim.d))
        self.game = Game(GameRules.from_config(cfg), self.gen, self.disc, self.task)
        self.step = 0
        self.speed = {who: dynamics.ParameterSpeed(p.net) for who, p in (("g", self.gen), ("d", self.disc))}
        self.since = 0
        axis = torch.linspace(-VIEW, VIEW, GRID)
        yy, xx = torch.meshgrid(axis, axis, indexing="ij")  # row i: y = axis[i]; column j: x = axis[j]
        self.grid = torch.stack([xx.flatten(), yy.flatten()], 1)[None]

    def apply_live(self, settings: dict, cfg):
        """New rules and learning rates on the same nets and optimizer states."""
        self.settings, self.cfg = settings, cfg
        for player, optim in ((self.gen, cfg.optim.g), (self.disc, cfg.optim.d)):
            for group in player.opt.param_groups:
                group["lr"] = optim.lr
        self.game = Game(GameRules.from_config(cfg), self.gen, self.disc, self.task)

    def train_step(self):
        self.game.step(self.step)
        self.step += 1

    def frame(self, with_metrics: bool = True) -> dict:
        """The snapshot the page draws (numbers rounded to 4 decimals to keep frames small); ``metrics`` is
        None when ``with_metrics`` is false or nothing changed since the last measurement."""
        task, disc = self.task, self.disc.net
        real, z = task.diagnostic_batch()
        with torch.no_grad():
            fake = self.gen.net(z)
            surface = disc(self.grid)[0]
        return {"step": self.step, "real": _round(real[0]), "fake": _round(fake[0]),
                "surface": {"lim": VIEW, "n": GRID, "values": _round(surface)},
                "arrows": _round(self._arrows(fake[0, :ARROWS])),
                "metrics": self.metrics(real, z, fake) if with_metrics else None,
                "n_modes": None if task.centres is None else len(task.centres)}

    def metrics(self, real, z, fake) -> dict:
        """W1 and modes (``metrics.toy2d.evaluate``) of the samples, the diagnostics of ``metrics.dynamics`` on
        the fixed batch, and each player's speed over the steps since the previous measurement."""
        out = evaluate(self.task.dataset, fake[0].numpy(), real[0].numpy())
        diag = dynamics.evaluate(self.gen.net, self.disc.net, real, z, event_dims=self.task.event_dims)
        for who, tracker in self.speed.items():
            diag[f"speed_{who}"] = tracker.read(steps=self.step - self.since)["speed"].tolist()
        self.since = self.step
        out.update({k: (v[0] if isinstance(v, list) else v) for k, v in diag.items()})
        return _finite(out)

    def _arrows(self, x: torch.Tensor) -> torch.Tensor:
        """Rows [x, y, −∂L_G/∂x, −∂L_G/∂y] at generated samples x (B, 2): where the critic pushes each sample,
        B × the gradient of the batch-mean generator loss (the per-sample gradient)."""
        with dynamics.untouched(self.disc.net), torch.enable_grad():
            xg = x.detach()[None].requires_grad_(True)
            loss = self.game.objective.g_loss(self.disc.net(xg)).sum()
            (grad,) = torch.autograd.grad(loss, xg)
        return torch.cat([x, -len(x) * grad[0]], 1)


def _round(t: torch.Tensor) -> list:
    return np.round(t.detach().double().numpy(), 4).tolist()


def _finite(d: dict) -> dict:
    return {k: (float(v) if v is not None and math.isfinite(v) else None) for k, v in d.items()}


# ---- a session: one training in its own thread ----------------------------------------------------------------
class Session:
    """One training in a daemon thread, driven by ``control``; frames are read with ``latest``."""

    def __init__(self, settings: dict, fps: float = FPS, idle_s: float = IDLE_S, on_exit=None):
        self.id = secrets.token_hex(8)
        self.settings, self.cfg = settings, config_of(settings)
        self.fps, self.idle_s, self.on_exit = fps, idle_s, on_exit
        self.cond = threading.Condition()
        self.playing, self.steps_asked, self.stopped = False, 0, False
        self.pending = ("reset", self.settings, self.cfg)
        self.frame, self.frame_no, self.error = None, 0, None
        self.training: Training | None = None  # owned by the thread
        self.seen = time.monotonic()
        self.streamed = False  # a stream has been opened (one per session: the page that created it)
        self.rate = 0.0  # engine steps per second over the last frame interval while playing
        self.thread = threading.Thread(target=self._run, name=f"ganscope-lab-{self.id}", daemon=True)

    def start(self):
        self.thread.start()
        return self

    # ---- called from the server's requests ----
    def touch(self):
        self.seen = time.monotonic()

    def latest(self):
        """(frame number, frame) of the newest frame; the poll that keeps the session alive."""
        self.touch()
        with self.cond:
            return self.frame_no, self.frame

    def control(self, action: str, settings=None) -> str:
        """play, pause, step, reset or set (new settings); returns "live" or "reset" for set, else the action."""
        if action not in ("play", "pause", "step", "reset", "set"):
            raise UsageError(f"action: unknown action {action!r}; allowed: play, pause, step, reset, set")
        kind = action
        if action == "set":
            new = check_settings({**self._given(), **(settings or {})})
            cfg = config_of(new)
            kind = "reset" if any(new[k] != self.settings[k] for k in RESET_KEYS) else "live"
        with self.cond:
            if action == "play":
                self.playing = True
            elif action == "pause":
                self.playing = False
                self._ask("frame")  # a frame that shows the pause
            elif action == "step":
                self.playing, self.steps_asked = False, self.steps_asked + 1
            elif action == "reset":
                self._ask("reset")
            else:
                self.settings, self.cfg = new, cfg
                self._ask(kind)
            self.cond.notify_all()
        return kind

    def _ask(self, kind: str):
        """Queue work for the thread (under ``cond``): "reset", "live" (the current settings) or "frame" (just
        publish one). A queued reset is never downgraded, and anything queued publishes a frame anyway."""
        if self.pending is not None and (kind == "frame" or self.pending[0] == "reset"):
            kind = self.pending[0] if kind == "frame" else "reset"
        self.pending = (kind, self.settings, self.cfg)

    def _given(self) -> dict:
        return {k: v for k, v in self.settings.items() if v is not None}

    def stop(self, wait: float = 5.0):
        with self.cond:
            self.stopped = True
            self.cond.notify_all()
        if self.thread.is_alive() and threading.current_thread() is not self.thread:
            self.thread.join(wait)

    @property
    def alive(self) -> bool:
        return self.thread.is_alive()

    # ---- the thread ----
    def _run(self):
        torch.set_num_threads(1)
        run, next_frame, counted, clock, frames = None, 0.0, 0, time.monotonic(), 0
        try:
            while True:
                with self.cond:
                    if self.stopped or time.monotonic() - self.seen > self.idle_s:
                        return
                    pending, self.pending = self.pending, None
                    stepping = self.playing or self.steps_asked > 0
                    if not self.playing and self.steps_asked:
                        self.steps_asked -= 1
                    if pending is None and not stepping:
                        self.cond.wait(0.1)
                        continue
                changed = pending is not None
                if pending is not None and pending[0] != "frame":
                    kind, settings, cfg = pending
                    if kind == "reset" or run is None:
                        run, counted, clock = Training(settings, cfg), 0, time.monotonic()
                        self.training = run
                    else:
                        run.apply_live(settings, cfg)
                if stepping:
                    try:
                        run.train_step()
                        counted += 1
                    except NonFiniteLoss as err:
                        self._fail(f"training stopped: {err}")
                        changed = True
                now = time.monotonic()
                if changed or now >= next_frame or not self.playing:
                    if self.playing and counted:  # paused: the page keeps showing the last playing rate
                        self.rate = counted / max(now - clock, 1e-9)
                    counted, clock, frames = 0, now, frames + 1
                    # metrics on every METRICS_EVERY-th frame while playing (a control's frame comes sooner
                    # without them), on every frame while paused
                    playing = self.playing  # the state the frame is made in (a pause meanwhile gets its own frame)
                    self._publish(run.frame(not playing or frames % METRICS_EVERY == 0), run.settings, playing)
                    cost = time.monotonic() - now
                    next_frame = now + max(1.0 / self.fps, cost / FRAME_SHARE)
        except Exception as err:  # anything unforeseen ends this training, with a message for its page
            log.error("ganscope lab: training %s stopped: %s: %s", self.id, type(err).__name__, err)
            self.error = f"training stopped: {type(err).__name__}: {str(err).splitlines()[0][:200] if str(err) else ''}"
        finally:
            if self.on_exit is not None:
                self.on_exit(self)

    def _fail(self, message):
        with self.cond:
            self.error, self.playing = message, False

    def _publish(self, frame: dict, settings: dict, playing: bool):
        """The new frame, with the settings and the play state it was made under (not ones a control has asked
        for since: those come with the next frame)."""
        frame.update(playing=playing, steps_per_s=round(self.rate, 1), error=self.error,
                     settings={k: v for k, v in settings.items() if k != "points"}, id=self.id)
        with self.cond:
            self.frame, self.frame_no = frame, self.frame_no + 1
            self.error = None


def warm_up():
    """One step of a small training, so that torch's lazily imported parts are loaded before the first user's run
    (the first optimizer step imports torch._dynamo: seconds on a busy machine)."""
    s = check_settings({"preset": "r1"})
    run = Training(s, config_of(s))
    run.train_step()
    run.frame()


class Trainings:
    """The sessions of one server, at most ``cap`` at once (``full`` → the app answers 429)."""

    def __init__(self, cap: int = MAX_TRAININGS, fps: float = FPS, idle_s: float = IDLE_S):
        self.cap, self.fps, self.idle_s = cap, fps, idle_s
        self.sessions: dict[str, Session] = {}
        self.lock = threading.Lock()

    def create(self, settings) -> Session:
        checked = check_settings(settings)
        with self.lock:
            if len(self.sessions) >= self.cap:
                raise Full(f"trainings: {self.cap} trainings are running (the lab's cap); stop one, or close a tab")
            session = Session(checked, self.fps, self.idle_s, on_exit=self._remove)
            self.sessions[session.id] = session
        return session.start()

    def get(self, sid: str) -> Session:
        session = self.sessions.get(sid)
        if session is None:
            raise UnknownSession(f"id: no training {sid!r} (stopped, or never started)")
        return session

    def _remove(self, session: Session):
        with self.lock:
            self.sessions.pop(session.id, None)

    def stop_all(self):
        for session in list(self.sessions.values()):
            session.stop()


class Full(UsageError):
    """The cap on concurrent trainings is reached (HTTP 429)."""


class UnknownSession(UsageError):
    """No session with that id (HTTP 404)."""
