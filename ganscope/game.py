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
from ganscope.noise import SigmaSchedule, add_noise, instance_noise, repeat_draws
from ganscope.objectives import get_objective


class NonFiniteLoss(RuntimeError):
    """A loss became NaN or infinite; the message says which loss, at which step (and which member)."""


@dataclass
class Player:
    """A network with its optimizer. ``lr_scale``: per-member multipliers of the step (ensembles), or None.
    ``reduce``: data-parallel training's mean of a list of gradients over the ranks
    (``ganscope.distributed.Ranks.average``), applied in :meth:`apply`; None in a single process."""

    net: nn.Module
    opt: torch.optim.Optimizer
    lr_scale: torch.Tensor | None = None
    reduce: Callable[[list], list] | None = None

    @property
    def params(self):
        return [p for p in self.net.parameters() if p.requires_grad]

    def apply(self, grads):
        """One optimizer step with the given gradients; per-member lr as a scaling of the step."""
        before = [p.detach().clone() for p in self.params] if self.lr_scale is not None else None
        grads = self.mean(grads)
        for p, g in zip(self.params, grads):
            p.grad = g
        self.opt.step()
        if before is not None:
            with torch.no_grad():
                for p, p0 in zip(self.params, before):
                    p.copy_(p0 + self.lr_scale.view(-1, *[1] * (p.dim() - 1)) * (p - p0))

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

    @classmethod
    def from_config(cls, cfg) -> GameRules:
        """The rules of a validated ganscope Config: the one place where the game's options are read from it."""
        game, noise = cfg.game, cfg.noise
        return cls(loss=cfg.loss, scheme=game.scheme, order=game.order, n_d=game.n_d, n_g=game.n_g,
                   wgan_warmup=game.wgan_warmup,
                   clip=game.clip, consensus=game.consensus, ema=game.ema, penalty=cfg.penalty.name,
                   penalty_weight=cfg.penalty.weight, penalty_every=cfg.penalty.every,
                   noise=SigmaSchedule(noise.sigma, noise.schedule, noise.end,
                                       noise.steps or max(cfg.train.steps, 1)), draws=noise.draws)


def make_optimizer(params, cfg) -> torch.optim.Optimizer:
    """Adam, RMSProp or SGD from an OptimConfig."""
    if cfg.name == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, betas=tuple(cfg.betas), eps=cfg.eps)
    if cfg.name == "rmsprop":
        return torch.optim.RMSprop(params, lr=cfg.lr, alpha=cfg.alpha, eps=cfg.eps)
    return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum)


@torch.no_grad()
def ema_update(ema: nn.Module, net: nn.Module, beta: float):
    """θ_ema ← β θ_ema + (1 − β) θ for parameters and floating buffers; other buffers are copied."""
    for pe, p in zip(ema.parameters(), net.parameters()):
        pe.lerp_(p, 1 - beta)
    for be, b in zip(ema.buffers(), net.buffers()):
        be.lerp_(b, 1 - beta) if be.is_floating_point() else be.copy_(b)


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
        spec = P.get_penalty(rules.penalty)
        self.penalty = P.lazy(spec, rules.penalty_every) if spec.fn is not None else None
        self.members = members
        self.weight = member_weight(rules, members)
        self.ema = copy.deepcopy(gen.net).requires_grad_(False) if rules.ema > 0 else None
        self.d_steps = 0  # critic steps taken: the clock of lazy regularisation

    # ---- the schedule ----------------------------------------------------------------------------
    def n_critic(self, step: int) -> int:
        """Critic steps before generator step ``step`` (WGAN warm-up: 100 for the first 25 and every 500th)."""
        if self.rules.wgan_warmup and (step < 25 or step % 500 == 0):
            return 100
        return self.rules.n_d

    def step(self, step: int) -> dict:
        """One generator iteration at generator step ``step``; returns per-member statistics."""
        if self.rules.scheme == "simgd":
            return self._simultaneous(step)
        phases = [self._critic_phase, self._generator_phase]
        if self.rules.order == "g-first":
            phases.reverse()
        stats = {}
        for phase in phases:
            stats.update(phase(step))
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

    def _logits(self, real, fake, step):
        real_in, fake_in = instance_noise(real, fake, self._sigma(step), self.task.streams, self.rules.draws,
                                          self.task.event_dims)
        return self.disc.net(real_in), self.disc.net(fake_in)

    def _penalty(self, real, fake):
        if self.penalty is None:
            return None
        return self.penalty(self.disc.net, real, fake.detach(), self.weight, generator=self.task.streams,
                            event_dims=self.task.event_dims, step=self.d_steps)

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
        real, z = self.task.real(), self.task.latent()
        consensus = self.rules.consensus > 0
        with torch.set_grad_enabled(consensus):
            fake = self.gen.net(z)
        d_real, d_fake = self._logits(real, fake if consensus else fake.detach(), step)
        d_loss = self.objective.d_loss(d_real, d_fake)
        stats = {"d_loss": d_loss}
        total = d_loss
        pen = self._penalty(real, fake)
        if pen is not None:
            stats["penalty"], total = pen, total + pen
        if consensus:
            g_loss = self.objective.g_loss(d_fake)
            total = total.sum() + self._consensus(g_loss, d_loss)
        _check_finite(stats, step)
        self.disc.apply(torch.autograd.grad(total.sum(), self.disc.params))
        self._after_critic_step()
        return stats

    def _after_critic_step(self):
        self.d_steps += 1
        if self.rules.clip > 0:
            P.clip_weights_(self.disc.net, self.rules.clip)

    def _generator_step(self, step):
        z = self.task.latent()
        fake = self.gen.net(z)
        if self.rules.consensus > 0:
            real = self.task.real()
            d_real, d_fake = self._logits(real, fake, step)
            d_loss, g_loss = self.objective.d_loss(d_real, d_fake), self.objective.g_loss(d_fake)
            total = self.task.g_loss_total(g_loss) + self._consensus(g_loss, d_loss)
        else:
            fake_in = add_noise(repeat_draws(fake, self.rules.draws, self.task.event_dims), self._sigma(step),
                                self.task.streams)
            g_loss = self.objective.g_loss(self.disc.net(fake_in))
            total = self.task.g_loss_total(g_loss)
        _check_finite({"g_loss": g_loss}, step)
        self.gen.apply(torch.autograd.grad(total, self.gen.params))
        self._after_generator_step()
        return {"g_loss": g_loss}

    def _after_generator_step(self):
        if self.ema is not None:
            ema_update(self.ema, self.gen.net, self.rules.ema)

    def _simultaneous(self, step):
        real, z = self.task.real(), self.task.latent()
        fake = self.gen.net(z)
        d_real, d_fake = self._logits(real, fake, step)
        d_loss, g_loss = self.objective.d_loss(d_real, d_fake), self.objective.g_loss(d_fake)
        stats = {"d_loss": d_loss, "g_loss": g_loss}
        d_total, g_total = d_loss.sum(), self.task.g_loss_total(g_loss)
        pen = self._penalty(real, fake)
        if pen is not None:
            stats["penalty"], d_total = pen, d_total + pen.sum()
        if self.rules.consensus > 0:
            reg = self._consensus(g_loss, d_loss)
            d_total, g_total = d_total + reg, g_total + reg
        _check_finite(stats, step)
        g_grads = torch.autograd.grad(g_total, self.gen.params, retain_graph=True)
        d_grads = torch.autograd.grad(d_total, self.disc.params)
        self.gen.apply(g_grads)
        self.disc.apply(d_grads)
        self._after_critic_step()
        self._after_generator_step()
        return stats

    # ---- state for checkpoints ---------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {"d_steps": self.d_steps, "ema": None if self.ema is None else self.ema.state_dict()}

    def load_state_dict(self, state: dict):
        self.d_steps = int(state["d_steps"])
        if self.ema is not None:
            self.ema.load_state_dict(state["ema"])


def _check_finite(losses: dict, step: int):
    for name, value in losses.items():
        bad = ~torch.isfinite(value.detach())
        if bad.any():
            where = f" (ensemble member {int(bad.nonzero()[0, 0])})" if value.numel() > 1 else ""
            raise NonFiniteLoss(f"{name} is {value.detach().flatten()[bad.flatten()][0].item()} at generator step "
                                f"{step}{where}")
