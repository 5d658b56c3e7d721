"""One step of the two-player game: the only place where update order lives.

Alternating (``altgd``), in the order ``game.order``: ``d-first`` (the default; WGAN-GP Algorithm 1 and
GAN_stability's trainer) takes n_d critic steps, each on a fresh real batch and fresh latents, then n_g
generator steps on fresh latents; ``g-first`` (the official Dirac-GAN notebook, ``ganscope dirac``'s
default) the n_g generator steps first. Simultaneous (``simgd``): both
players' gradients at the same point and the same batch, then both optimizers step. Options: WGAN's
critic warm-up (100 critic steps for the first 25 generator steps and every 500th, Arjovsky et al. 2017),
weight clipping after each critic step, instance noise on both inputs of D, a gradient penalty (lazy:
every k critic steps with gain k), consensus optimisation (both players add (γ/2)‖v‖², v the joint gradient
field, Mescheder et al. 2017), and an EMA of the generator's weights and buffers.

Losses are per member (shape (E,) for an ensemble or the K discriminators of RP-GAN, () otherwise). The
critic's gradient is taken of their sum, so every member receives exactly its own gradient; the
generator's objective is ``task.g_loss_total`` (the sum over independent members, the mean over RP-GAN's K).

The critic's work in a critic step is a sequence of :class:`Phase` s (stylegan2-ada's Dmain / Dreg): the main
loss on every critic step, the penalty on every k-th with gain k. By default the penalty's phase adds to the
main phase's loss (one optimizer step; R1/R2 then take the loss and the input gradient from one forward of the
penalised batch, the "fused" path); with ``penalty.phase: separate`` it takes its own optimizer step after the
main one, on the same batch, and the critic's optimizer runs with stylegan2-ada's correction c = k/(k+1)
(:func:`lazy_correction`). Forward passes run under the rules' precision (``ganscope.precision``); with
``compile`` the plain forward passes (no double backward through them) use ``torch.compile``'d nets while the
penalties and consensus differentiate the eager ones. Non-finite losses are recorded on the device and read
back every ``check_every`` generator steps (:meth:`Game.check_finite`): no host sync per step.

``Game`` reads no config: it takes :class:`GameRules` (built from a config in one place,
``GameRules.from_config``) and the task's :class:`MemberValues` (typed per-member values of an ensemble).
"""
from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

from ganscope import penalties as P
from ganscope.config import ensemble_step_unsupported
from ganscope.errors import UsageError
from ganscope.func_step import FuncStep
from ganscope.noise import SigmaSchedule, add_noise, instance_noise, repeat_draws
from ganscope.objectives import get_objective
from ganscope.precision import Precision


MIN_LOSS_SCALE = 2.0 ** -24  # fp16's smallest subnormal: below it no scale can rescue a gradient


class NonFiniteLoss(RuntimeError):
    """A loss became NaN or infinite; the message says which loss, in which range of generator steps (and
    which member)."""


@dataclass
class Player:
    """A network with its optimizer. ``lr_scale``: per-member multipliers of the step (ensembles), or None.
    ``reduce``: data-parallel training's mean of a list of gradients over the ranks
    (``ganscope.distributed.Ranks.average``), applied in :meth:`apply`; None in a single process."""

    net: nn.Module
    opt: torch.optim.Optimizer
    lr_scale: torch.Tensor | None = None
    reduce: Callable[[list], list] | None = None
    _all: list | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def params(self) -> list:
        """The net's parameters that require grad (its parameter list is read once: the engine never adds or
        replaces a parameter of a net it trains)."""
        if self._all is None:
            self._all = list(self.net.parameters())
        return [p for p in self._all if p.requires_grad]

    def apply(self, grads):
        """One optimizer step with the given gradients (of :attr:`params`, in order); per-member lr as a scaling
        of the step: θ ← θ₀ + s·(θ' − θ₀), θ' the optimizer's step from θ₀."""
        params = self.params
        before = [p.detach().clone() for p in params] if self.lr_scale is not None else None
        for p, g in zip(params, self.mean(grads)):
            p.grad = g
        self.opt.step()
        if before is not None:
            self._scale_step(params, before)

    @torch.no_grad()
    def _scale_step(self, params, before):
        step = torch._foreach_sub(params, before)
        torch._foreach_mul_(step, [self.lr_scale.view(-1, *[1] * (p.dim() - 1)) for p in params])
        torch._foreach_add_(step, before)
        torch._foreach_copy_(params, step)

    def mean(self, grads):
        """``grads`` averaged over the data-parallel ranks (``reduce``), or as they are in a single process."""
        return grads if self.reduce is None else self.reduce(grads)


@dataclass(frozen=True)
class MemberValues:
    """Per-member values of an ensemble, built by the task from the config's ``members``: each a float32 tensor
    of shape (E,) with member i's value, or None where every member uses the single value of the config.

    ``penalty_weight``: γ or λ of the penalty; ``noise_sigma``: the instance-noise σ, which the member's σ
    schedule scales by σ(step) / ``noise.sigma``; ``lr_g``, ``lr_d``: learning rates (see :attr:`Player.lr_scale`).
    """

    penalty_weight: torch.Tensor | None = None
    noise_sigma: torch.Tensor | None = None
    lr_g: torch.Tensor | None = None
    lr_d: torch.Tensor | None = None


@dataclass(frozen=True)
class GameRules:
    """The rules of the game, all that ``Game`` uses of a config (see the module doc for each option).

    ``noise``: the σ schedule of instance noise (its horizon ``noise.steps``, or the run's ``train.steps``).
    """

    loss: str = "nonsaturating"
    scheme: str = "altgd"
    order: str = "d-first"
    n_d: int = 1
    n_g: int = 1
    wgan_warmup: bool = False
    clip: float = 0.0
    consensus: float = 0.0
    ema: float = 0.0
    penalty: str = "none"
    penalty_weight: float = 10.0
    penalty_every: int = 1
    noise: SigmaSchedule = field(default_factory=lambda: SigmaSchedule(0.0))
    draws: int = 1
    penalty_phase: str = "joint"
    precision: str = "fp32"
    compile: bool = False
    compile_backend: str = "inductor"
    fuse: bool = True
    check_every: int = 1
    ensemble_step: str = "eager"

    @property
    def critic_ratio(self) -> float:
        """The correction c of the critic's optimizer: k/(k+1) when the penalty takes its own step, else 1."""
        separate = self.penalty != "none" and self.penalty_phase == "separate"
        return lazy_correction(self.penalty_every) if separate else 1.0

    @classmethod
    def from_config(cls, cfg) -> GameRules:
        """The rules of a validated ganscope Config: the one place where the game's options are read from it."""
        game, noise = cfg.game, cfg.noise
        return cls(loss=cfg.loss, scheme=game.scheme, order=game.order, n_d=game.n_d, n_g=game.n_g,
                   wgan_warmup=game.wgan_warmup,
                   clip=game.clip, consensus=game.consensus, ema=game.ema, penalty=cfg.penalty.name,
                   penalty_weight=cfg.penalty.weight, penalty_every=cfg.penalty.every,
                   noise=SigmaSchedule(noise.sigma, noise.schedule, noise.end,
                                       noise.steps or max(cfg.train.steps, 1)), draws=noise.draws,
                   penalty_phase=cfg.penalty.phase, precision=cfg.train.precision, compile=cfg.train.compile,
                   check_every=cfg.train.log_every, ensemble_step=cfg.train.ensemble_step)


@dataclass(frozen=True)
class Phase:
    """One part of the critic's work (stylegan2-ada's Dmain, Dreg): it runs on the critic steps where
    ``d_steps % every == 0``, its loss multiplied by ``gain``; ``own_step``: it takes its own optimizer step
    (after the main phase's, on the same batch) instead of adding to the main phase's loss."""

    name: str
    every: int = 1
    gain: int = 1
    own_step: bool = False

    def due(self, d_step: int) -> bool:
        return d_step % self.every == 0

    def gained(self, loss):
        """``gain × loss`` (the loss itself for gain 1: no multiply by one in the graph)."""
        return loss if self.gain == 1 else self.gain * loss


def critic_phases(rules: GameRules) -> tuple[Phase, ...]:
    """The main loss on every critic step; the penalty every k critic steps with gain k (lazy regularisation,
    Karras et al. 2020, StyleGAN2 §B; k = 1: the dense penalty)."""
    main = Phase("main")
    if rules.penalty == "none":
        return (main,)
    k = rules.penalty_every
    return main, Phase("penalty", k, k, rules.penalty_phase == "separate")


def lazy_correction(every: int) -> float:
    """c = k/(k+1) (stylegan2-ada, ``mb_ratio``): with a separate penalty step every k critic steps the critic
    takes k+1 optimizer steps per k batches; lr ← c·lr and β ← β^c keep the step size and the moments' time
    constants per batch those of the optimizer as configured."""
    return every / (every + 1)


def make_optimizer(params, cfg, ratio: float = 1.0, foreach: bool | None = True) -> torch.optim.Optimizer:
    """Adam, RMSProp or SGD from an OptimConfig. ``ratio`` c (:func:`lazy_correction`): lr ← c·lr and each
    decay β ← β^c (Adam's β₁, β₂; RMSProp's α; SGD's momentum).

    ``foreach=True`` by default (torch's own default, None, takes it on CUDA only): the same arithmetic per
    element, so on the CPU the same numbers bit for bit as the per-tensor loop (tests/test_game_golden.py), in
    a few calls per step instead of several per parameter."""
    lr = cfg.lr * ratio
    if cfg.name == "adam":
        return torch.optim.Adam(params, lr=lr, betas=tuple(b ** ratio for b in cfg.betas), eps=cfg.eps,
                                foreach=foreach)
    if cfg.name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, alpha=cfg.alpha ** ratio, eps=cfg.eps, foreach=foreach)
    return torch.optim.SGD(params, lr=lr, momentum=cfg.momentum ** ratio, foreach=foreach)


@torch.no_grad()
def ema_update(ema: nn.Module, net: nn.Module, beta: float):
    """θ_ema ← β θ_ema + (1 − β) θ for parameters and floating buffers; other buffers are copied."""
    EmaPairs(ema, net).update(beta)


class EmaPairs:
    """The tensors :func:`ema_update` averages (parameters, floating buffers) and copies (other buffers), paired
    once: each update is then one ``torch._foreach_lerp_`` (the same numbers as a ``lerp_`` per tensor)."""

    def __init__(self, ema: nn.Module, net: nn.Module):
        bufs = list(zip(ema.buffers(), net.buffers()))
        lerp = list(zip(ema.parameters(), net.parameters())) + [(e, b) for e, b in bufs if e.is_floating_point()]
        self.lerp = ([e for e, _ in lerp], [b for _, b in lerp])
        self.copy = [(e, b) for e, b in bufs if not e.is_floating_point()]

    @torch.no_grad()
    def update(self, beta: float):
        if self.lerp[0]:
            torch._foreach_lerp_(*self.lerp, 1 - beta)
        for e, b in self.copy:
            e.copy_(b)


def member_sigma(rules: GameRules, members: MemberValues, step: int):
    """σ of instance noise at generator step ``step``: the schedule's value, scaled per member by
    ``members.noise_sigma / noise.sigma`` (each member follows the same schedule shape from its own σ)."""
    sigma = rules.noise(step)
    scale = members.noise_sigma
    return sigma if scale is None else scale * (sigma / max(rules.noise.sigma, 1e-300))


def member_weight(rules: GameRules, members: MemberValues):
    """The penalty weight: per member (E,) when the ensemble gives one, else the rules' single value."""
    return rules.penalty_weight if members.penalty_weight is None else members.penalty_weight


class Game:
    """The game between ``gen`` and ``disc`` under ``rules`` (GameRules; a ganscope Config is read through
    ``GameRules.from_config``), with the ensemble's per-member ``members`` (MemberValues; None: no such values).

    ``task`` supplies the data and randomness: ``real()``, ``latent()``, ``streams`` (a ganscope.rng.Streams),
    ``event_dims`` and ``g_loss_total``.
    """

    def __init__(self, rules, gen: Player, disc: Player, task, members: MemberValues | None = None):
        rules = rules if isinstance(rules, GameRules) else GameRules.from_config(rules)
        members = MemberValues() if members is None else members
        self.rules, self.gen, self.disc, self.task = rules, gen, disc, task
        self.objective = get_objective(rules.loss)
        self.spec = P.get_penalty(rules.penalty)
        self.phases = critic_phases(rules)
        self.members = members
        self.weight = member_weight(rules, members)
        self.ema = copy.deepcopy(gen.net).requires_grad_(False) if rules.ema > 0 else None
        self._ema_pairs = EmaPairs(self.ema, gen.net) if self.ema is not None else None
        self.precision = Precision(rules.precision, _device_type(disc.net))
        self.plain_gen, self.plain_disc = _compiled(gen.net, rules), _compiled(disc.net, rules)
        self.func = _func_step(self)  # train.ensemble_step: compiled (ganscope.func_step), else None
        self.d_steps = 0  # critic steps taken: the clock of lazy regularisation
        self._sums, self._span = {}, None  # the non-finite guard's record since the last check

    # ---- the schedule ----------------------------------------------------------------------------
    def n_critic(self, step: int) -> int:
        """Critic steps before generator step ``step`` (WGAN warm-up: 100 for the first 25 and every 500th)."""
        if self.rules.wgan_warmup and (step < 25 or step % 500 == 0):
            return 100
        return self.rules.n_d

    def step(self, step: int) -> dict:
        """One generator iteration at generator step ``step``; returns per-member statistics. Every
        ``rules.check_every`` generator steps the non-finite guard is read back (:meth:`check_finite`)."""
        if self.rules.scheme == "simgd":
            stats = self._simultaneous(step)
        else:
            phases = [self._critic_phase, self._generator_phase]
            if self.rules.order == "g-first":
                phases.reverse()
            stats = {}
            for phase in phases:
                stats.update(phase(step))
        if (step + 1) % self.rules.check_every == 0:
            self.check_finite()
        return stats

    def _critic_phase(self, step) -> dict:
        """The critic's steps before (d-first) or after (g-first) the generator's; the last one's statistics."""
        for _ in range(self.n_critic(step)):
            stats = self._critic_step(step)
        return stats

    def _generator_phase(self, step) -> dict:
        stats = {}
        for _ in range(self.rules.n_g):
            stats.update(self._generator_step(step))
        return stats

    # ---- pieces ----------------------------------------------------------------------------------
    def _sigma(self, step):
        return member_sigma(self.rules, self.members, step)

    def critic(self, x):
        """The eager critic under the rules' precision, float32 logits: what the penalties differentiate."""
        return self.precision.forward(self.disc.net, x)

    def _logits(self, real, fake, step, plain=True):
        """D on the (noisy) real and generated inputs; ``plain``: no double backward goes through them."""
        real_in, fake_in = instance_noise(real, fake, self._sigma(step), self.task.streams, self.rules.draws,
                                          self.task.event_dims)
        net = self.plain_disc if plain else self.disc.net
        return self.precision.forward(net, real_in), self.precision.forward(net, fake_in)

    def _due_penalty(self) -> Phase | None:
        """The penalty's phase when it runs at this critic step, else None."""
        return next((ph for ph in self.phases[1:] if ph.due(self.d_steps)), None)

    def _penalty(self, phase: Phase, real, fake):
        """gain × the penalty on the clean inputs (its own forward of the eager critic)."""
        pen = self.spec(self.critic, real, fake.detach(), self.weight, generator=self.task.streams,
                        event_dims=self.task.event_dims, grad_scale=self.precision.grad_scale)
        return phase.gained(pen)

    def _fusable(self, step) -> bool:
        """R1/R2 can share the loss's forward when D's input is the clean batch: no instance noise at this
        step, one draw, no consensus (whose generated input keeps the generator's graph)."""
        sigma = self._sigma(step)
        return (self.rules.fuse and self.spec.fusable and self.rules.draws == 1 and self.rules.consensus == 0
                and not torch.is_tensor(sigma) and sigma == 0)

    def _fused(self, phase: Phase, real, fake):
        """(D(real), D(fake), gain × R1 or R2) with one forward per batch: the penalised batch as a leaf that
        requires grad, its input gradient by ``autograd.grad(create_graph=True)`` of its logits' sum."""
        on_real = self.spec.needs == "real"
        x = (real if on_real else fake).detach().requires_grad_(True)
        d_x = self.critic(x)
        d_other = self.precision.forward(self.plain_disc, fake if on_real else real)
        sq = P.input_grad_sq(d_x, x, self.task.event_dims, self.precision.grad_scale)
        pen = phase.gained(self.spec.from_sq(sq, self.weight))
        return (d_x, d_other, pen) if on_real else (d_other, d_x, pen)

    def _consensus(self, g_loss, d_loss):
        """(γ/2)‖v‖² with v = (∇_θ L_G, ∇_ψ L_D), differentiable (Mescheder et al. 2017). Data-parallel (players
        with a ``reduce``): γ⟨v_r, sg(v̄)⟩ with v̄ the mean of the ranks' fields v_r, whose gradient averaged over
        the ranks, γ·mean_r(J_rᵀ)v̄, is the gradient of (γ/2)‖v̄‖², the global batch's term."""
        g_grads = torch.autograd.grad(g_loss.sum(), self.gen.params, create_graph=True)
        d_grads = torch.autograd.grad(d_loss.sum(), self.disc.params, create_graph=True)
        grads = g_grads + d_grads
        if self.gen.reduce is None and self.disc.reduce is None:
            return self.rules.consensus / 2 * sum(g.pow(2).sum() for g in grads)
        means = [*self.gen.mean([g.detach() for g in g_grads]), *self.disc.mean([g.detach() for g in d_grads])]
        return self.rules.consensus * sum((g * m).sum() for g, m in zip(grads, means))

    def _critic_step(self, step):
        if self.func is not None:
            return self._func_critic_step(step)
        real, z = self.task.real(), self.task.latent()
        consensus = self.rules.consensus > 0
        with torch.set_grad_enabled(consensus):
            fake = self.precision.forward(self.gen.net if consensus else self.plain_gen, z)
        reg = self._due_penalty()
        joint = reg is not None and not reg.own_step
        pen = None
        if joint and self._fusable(step):
            d_real, d_fake, pen = self._fused(reg, real, fake)
        else:
            d_real, d_fake = self._logits(real, fake if consensus else fake.detach(), step, plain=not consensus)
            pen = self._penalty(reg, real, fake) if joint else None
        d_loss = self.objective.d_loss(d_real, d_fake)
        stats = {"d_loss": d_loss}
        total = d_loss
        if pen is not None:
            stats["penalty"], total = pen, total + pen
        if consensus:
            g_loss = self.objective.g_loss(d_fake)
            total = total.sum() + self._consensus(g_loss, d_loss)
        self._critic_update(total.sum(), stats, step)
        if reg is not None and reg.own_step:  # stylegan2-ada's Dreg: its own step, after the main one
            stats["penalty"] = pen = self._penalty(reg, real, fake)
            self._critic_update(pen.sum(), {"penalty": pen}, step)
        self.d_steps += 1
        return stats

    def _update(self, player: Player, total, losses: dict, step: int) -> bool:
        """The gradient of ``total`` (loss-scaled under fp16) to ``player.apply``, and the step's ``losses`` to
        the non-finite record; False where fp16 skipped the step. A skipped step's losses are not recorded:
        its non-finite values come from the loss scale (a penalty's inner gradient of the scaled output
        overflows), which halves and retries (GradScaler's rule); a scale below ``MIN_LOSS_SCALE`` means the
        gradients are not finite at any scale: NonFiniteLoss. A parameter ``total`` does not reach gets a zero
        gradient (R1 alone does not see the last bias)."""
        grads = torch.autograd.grad(self.precision.scale_loss(total), player.params, allow_unused=True,
                                    materialize_grads=True)
        grads, ok = self.precision.unscale(grads)
        if ok:
            self._record(losses, step)
            player.apply(grads)
        self.precision.update(ok)
        if not ok and self.precision.scale < MIN_LOSS_SCALE:
            raise NonFiniteLoss(f"{', '.join(losses)}: the fp16 gradients are not finite at any loss scale "
                                f"(the scale fell to {self.precision.scale:.3g}) at generator step {step}")
        return ok

    def _critic_update(self, total, losses: dict, step: int):
        if self._update(self.disc, total, losses, step) and self.rules.clip > 0:
            P.clip_weights_(self.disc.net, self.rules.clip)

    def _generator_step(self, step):
        if self.func is not None:
            return self._func_generator_step(step)
        z = self.task.latent()
        if self.rules.consensus > 0:
            fake = self.precision.forward(self.gen.net, z)
            real = self.task.real()
            d_real, d_fake = self._logits(real, fake, step, plain=False)
            d_loss, g_loss = self.objective.d_loss(d_real, d_fake), self.objective.g_loss(d_fake)
            total = self.task.g_loss_total(g_loss) + self._consensus(g_loss, d_loss)
        else:
            fake = self.precision.forward(self.plain_gen, z)
            fake_in = add_noise(repeat_draws(fake, self.rules.draws, self.task.event_dims), self._sigma(step),
                                self.task.streams)
            g_loss = self.objective.g_loss(self.precision.forward(self.plain_disc, fake_in))
            total = self.task.g_loss_total(g_loss)
        self._update(self.gen, total, {"g_loss": g_loss}, step)
        self._after_generator_step()
        return {"g_loss": g_loss}

    def _after_generator_step(self):
        if self._ema_pairs is not None:
            self._ema_pairs.update(self.rules.ema)

    def _simultaneous(self, step):
        if self.func is not None:
            return self._func_simultaneous(step)
        real, z = self.task.real(), self.task.latent()
        consensus = self.rules.consensus > 0
        fake = self.precision.forward(self.gen.net if consensus else self.plain_gen, z)
        d_real, d_fake = self._logits(real, fake, step, plain=not consensus)
        d_loss, g_loss = self.objective.d_loss(d_real, d_fake), self.objective.g_loss(d_fake)
        stats = {"d_loss": d_loss, "g_loss": g_loss}
        d_total, g_total = d_loss.sum(), self.task.g_loss_total(g_loss)
        reg = self._due_penalty()
        if reg is not None:
            pen = self._penalty(reg, real, fake)
            stats["penalty"], d_total = pen, d_total + pen.sum()
        if consensus:
            both = self._consensus(g_loss, d_loss)
            d_total, g_total = d_total + both, g_total + both
        self._record(stats, step)
        g_grads = torch.autograd.grad(g_total, self.gen.params, retain_graph=True)
        d_grads = torch.autograd.grad(d_total, self.disc.params)
        self._simultaneous_update(g_grads, d_grads)
        return stats

    def _simultaneous_update(self, g_grads, d_grads):
        """Both players step from the same point (simgd), then the critic's clipping and the EMA."""
        self.gen.apply(g_grads)
        self.disc.apply(d_grads)
        if self.rules.clip > 0:
            P.clip_weights_(self.disc.net, self.rules.clip)
        self.d_steps += 1
        self._after_generator_step()

    # ---- the compiled functional path (train.ensemble_step: compiled; ganscope.func_step) -------------
    # The eager steps' draws in their order (real batch, latents, then WGAN-GP's ε where its phase runs), their
    # phases, records and updates; the losses and gradients of each optimizer step from one compiled call.
    def _func_eps(self, real, gain: int):
        """The interpolating penalties' ε, drawn from the streams as the eager penalty draws it (else None)."""
        if gain and self.spec.random:
            return P.interpolation_weights(real, self.task.streams, self.task.event_dims)
        return None

    def _func_critic_step(self, step):
        real, z = self.task.real(), self.task.latent()
        reg = self._due_penalty()
        calls = ([(True, 0)] if reg is None else [(True, 0), (False, reg.gain)] if reg.own_step
                 else [(True, reg.gain)])  # (main loss?, penalty gain) of each optimizer step
        stats = {}
        for main, gain in calls:
            losses, grads = self.func.critic(real, z, self._func_eps(real, gain), self.weight, main, gain)
            self._record(losses, step)
            stats.update(losses)
            self.disc.apply(grads)
            if self.rules.clip > 0:
                P.clip_weights_(self.disc.net, self.rules.clip)
        self.d_steps += 1
        return stats

    def _func_generator_step(self, step):
        losses, grads = self.func.generator(self.task.latent())
        self._record(losses, step)
        self.gen.apply(grads)
        self._after_generator_step()
        return losses

    def _func_simultaneous(self, step):
        real, z = self.task.real(), self.task.latent()
        reg = self._due_penalty()
        gain = 0 if reg is None else reg.gain
        losses, g_grads, d_grads = self.func.both(real, z, self._func_eps(real, gain), self.weight, gain)
        self._record(losses, step)
        self._simultaneous_update(g_grads, d_grads)
        return losses

    # ---- the non-finite guard ----------------------------------------------------------------------
    def _record(self, losses: dict, step: int):
        """Add each loss to its running sum since the last check, on the device (a NaN or ±inf stays in the
        sum): one small op per loss, no host read."""
        first = self._span[0] if self._span is not None else step
        self._span = (first, step)
        for name, value in losses.items():
            value = value.detach()
            old = self._sums.get(name)
            self._sums[name] = value if old is None else old + value

    def check_finite(self):
        """Read the record back (one host sync) and start a new one: NonFiniteLoss naming the loss, the range of
        generator steps since the previous check and the member, where a loss was NaN or infinite."""
        sums, span = self._sums, self._span
        self._sums, self._span = {}, None
        if not sums:
            return
        if self.gen.reduce is not None:  # data-parallel: a loss not finite on any rank stops every rank here
            sums = dict(zip(sums, self.gen.reduce(list(sums.values()))))
        finite = torch.stack([torch.isfinite(v).all() for v in sums.values()])
        if bool(finite.all()):
            return
        name = list(sums)[int((~finite).nonzero()[0, 0])]
        value = sums[name]
        bad = ~torch.isfinite(value)
        where = f" (ensemble member {int(bad.nonzero()[0, 0])})" if value.numel() > 1 else ""
        kind = value.flatten()[bad.flatten()][0].item()
        raise NonFiniteLoss(f"{name} is not finite ({kind}) at a generator step in {span[0]}–{span[1]}{where}")

    # ---- state for checkpoints ---------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {"d_steps": self.d_steps, "ema": None if self.ema is None else self.ema.state_dict(),
                "precision": self.precision.state_dict()}

    def load_state_dict(self, state: dict):
        self.d_steps = int(state["d_steps"])
        if self.ema is not None:
            self.ema.load_state_dict(state["ema"])
        self.precision.load_state_dict(state.get("precision"))


def _device_type(net: nn.Module) -> str:
    p = next(iter(net.parameters()), None)
    return "cpu" if p is None else p.device.type


def _func_step(game: Game) -> FuncStep | None:
    """The compiled functional step of ``train.ensemble_step: compiled`` (None for eager); refuses, with one line,
    what it does not compute (the config refuses the same before a run starts: config._check_ensemble_step)."""
    rules = game.rules
    if rules.ensemble_step != "compiled":
        return None
    if game.gen.reduce is not None or game.disc.reduce is not None:
        raise UsageError("train.ensemble_step: compiled runs in a single process, not under torchrun; use eager")
    noisy = rules.noise.sigma > 0 or (game.members is not None and game.members.noise_sigma is not None)
    problem = ensemble_step_unsupported(rules.consensus, noisy, rules.precision, rules.compile)
    if problem:
        raise UsageError(f"train.ensemble_step: compiled does not support {problem}; use eager")
    return FuncStep(game.gen.net, game.disc.net, game.objective, game.spec, game.task.event_dims,
                    game.task.g_loss_total, rules.compile_backend)


def _compiled(net: nn.Module, rules: GameRules):
    """``torch.compile(net)`` for the plain forward passes (one backward through them), or ``net`` itself.
    The compiled module shares the parameters; double backwards (penalties, consensus) use ``net``."""
    return torch.compile(net, backend=rules.compile_backend) if rules.compile else net
