"""The compiled functional gradient path of 2-D runs (``train.ensemble_step: compiled``).

``Game`` keeps the step's structure (the random draws from the task's streams, the update order, ``Player.apply``
with its per-member learning-rate scales, clipping, the EMA, the non-finite record); what this module replaces
is the computation of a player's losses and gradients. Each is a pure function of tensors,

    critic:    (ψ, θ, x, z, ε, γ)  ->  ({d_loss, penalty}, ∇_ψ),   the generator's forward G_θ(z) inside;
    generator: (θ, ψ, z)           ->  ({g_loss}, ∇_θ);
    both:      (θ, ψ, x, z, ε, γ)  ->  ({d_loss, g_loss, penalty}, ∇_θ, ∇_ψ)  (simgd: one forward, two VJPs),

written with ``torch.func.functional_call`` on the nets' stacked ensemble parameters and ``torch.func.grad``
(R1/R2's and the interpolating penalties' input gradient by an inner ``torch.func.grad`` of Σ D(x), so the double
backward is traced, not a ``autograd.grad(create_graph=True)`` that a compiled graph cannot differentiate), and
``torch.compile``'d once per process for each static signature (nets' structure, loss, penalty, phase, dtype;
``dynamic=False``, so a new shape is a new graph). The random draws (WGAN-GP's ε per sample) are drawn eagerly
by the game from the same streams in the same order as the eager path and passed in: the compiled run is the
eager run to float tolerance, and a resumed compiled run equals an uninterrupted one bit for bit
(tests/test_func_step.py).

What it computes is the eager path's formulas: ``objectives`` for the losses (the critic's gradient is of the
sum of the members' losses, so every member receives exactly its own), and the penalties' ``of_sq`` (the penalty
as a function of the per-sample squared input-gradient norms, ``penalties.PenaltySpec``) at the points the
penalty names (real, generated, or the interpolates ``εx + (1−ε)x̃`` of ``penalties.interpolate``).
"""
from __future__ import annotations

import copy
import types

import torch
from torch import nn
from torch.func import functional_call, grad, vjp

_COMPILED: dict = {}  # static signature -> compiled function (one compilation per process and signature)


def _fresh(fn):
    """``fn`` with its own code object: torch.compile's cache and its recompile limit are per code object, so
    each static signature gets a cache of its own instead of sharing (and exhausting) one."""
    return types.FunctionType(fn.__code__.replace(), fn.__globals__, fn.__name__, fn.__defaults__, fn.__closure__)


NARROW = 4  # EnsembleMLP maps with at most this many inputs or outputs as sums of products (EnsembleMLP.affine)


def _template(net: nn.Module) -> nn.Module:
    """A parameter-free copy of ``net``'s structure (on the meta device) for ``functional_call``; its ensemble
    MLPs compute their narrow maps (the 2-D nets' first and last layers) as fusable sums of products."""
    template = copy.deepcopy(net).to("meta")
    for m in template.modules():
        if hasattr(m, "narrow"):
            m.narrow = NARROW
    return template


def _params(net: nn.Module) -> dict:
    return {n: p.detach() for n, p in net.named_parameters() if p.requires_grad}


def _static(weight):
    """What a compiled graph specialises on in a penalty weight: its value if a number, else that it is a tensor."""
    return "tensor" if torch.is_tensor(weight) else weight


def _ordered(losses: dict) -> dict:
    """The losses in the eager step's order (the non-finite guard names the first bad one)."""
    return {k: losses[k] for k in ("d_loss", "g_loss", "penalty") if k in losses}


def _sq_norm(g: torch.Tensor, event_dims: int) -> torch.Tensor:
    """Per-sample ‖g‖² over the ``event_dims`` trailing axes (as ``penalties.input_grad_sq``)."""
    return g.pow(2).sum(dim=tuple(range(g.ndim - event_dims, g.ndim)))


class FuncStep:
    """The compiled losses and gradients of a 2-D game's players (see the module doc).

    ``gen``, ``disc``: the players' nets (their parameters are read at every call, so optimizer steps, clipping
    and a loaded checkpoint are seen); ``objective``: ``objectives.Objective``; ``spec``: the penalty's
    ``PenaltySpec`` (``none`` for none); ``event_dims``, ``g_loss_total``: the task's; ``backend``: torch.compile's
    backend (``inductor``; tests use ``aot_eager``), None: the same functions uncompiled.
    """

    def __init__(self, gen: nn.Module, disc: nn.Module, objective, spec, event_dims: int, g_loss_total,
                 backend: str | None = "inductor"):
        self.gen, self.disc, self.objective, self.spec = gen, disc, objective, spec
        self.event_dims, self.g_loss_total, self.backend = event_dims, g_loss_total, backend
        self.g_names = list(_params(gen))
        self.d_names = list(_params(disc))
        self._signature = (repr(gen), repr(disc), objective.name, spec.name, event_dims, g_loss_total, backend)

    # ---- the calls the game makes --------------------------------------------------------------------
    def critic(self, real, z, eps=None, weight=None, main: bool = True, gain: int = 0):
        """({"d_loss", "penalty"}, critic gradients in the order of its parameters): the main loss when ``main``,
        ``gain`` × the penalty when ``gain`` > 0 (their sum's gradient: the joint phase)."""
        fn = self._compiled("critic", main, gain, eps is not None, _static(weight))
        losses, grads = fn(_params(self.disc), _params(self.gen), real, z, eps, weight)
        return losses, [grads[n] for n in self.d_names]

    def generator(self, z):
        """({"g_loss"}, generator gradients in the order of its parameters)."""
        losses, grads = self._compiled("generator")(_params(self.gen), _params(self.disc), z)
        return losses, [grads[n] for n in self.g_names]

    def both(self, real, z, eps=None, weight=None, gain: int = 0):
        """Simultaneous gradients at the same point and batch: (losses, generator grads, critic grads)."""
        fn = self._compiled("both", True, gain, eps is not None, _static(weight))
        losses, g_grads, d_grads = fn(_params(self.gen), _params(self.disc), real, z, eps, weight)
        return losses, [g_grads[n] for n in self.g_names], [d_grads[n] for n in self.d_names]

    # ---- building ------------------------------------------------------------------------------------
    def _compiled(self, kind: str, *flags):
        key = (*self._signature, kind, *flags)
        fn = _COMPILED.get(key)
        if fn is None:
            fn = getattr(self, f"_{kind}_fn")(*flags)
            if self.backend is not None:
                fn = torch.compile(_fresh(fn), backend=self.backend, dynamic=False, fullgraph=True)
            _COMPILED[key] = fn
        return fn

    def _nets(self):
        """Pure forward functions G(θ, z) and D(ψ, x) (logits) on parameter-free templates of the nets."""
        gen, disc = _template(self.gen), _template(self.disc)
        return (lambda theta, z: functional_call(gen, theta, (z,)),
                lambda psi, x: functional_call(disc, psi, (x,)))

    def _critic_terms(self, main: bool, gain: int, fake_graph: bool = False):
        """(ψ, x, x̃, ε, γ) -> (total, losses, D(x̃)): the critic's main loss and gain × penalty, as the eager
        path computes them (R1/R2 on the loss's own forward of the penalised batch, the fused path; R2 not when
        ``fake_graph``: D(x̃) must then keep the generator's graph, simgd)."""
        G, D = self._nets()
        objective, spec, k = self.objective, self.spec, self.event_dims
        penalised, on = gain > 0 and spec.of_sq is not None, spec.needs

        def with_input_grad(psi, x):
            """(∇ₓ Σ D(x), D(x)) from one forward."""
            def summed(x_):
                out = D(psi, x_)
                return out.sum(), out
            return grad(summed, has_aux=True)(x)

        def terms(psi, real, fake, eps, weight):
            losses, total, logits = {}, None, {}
            if penalised:
                x = {"real": real, "fake": fake}.get(on)
                if x is None:  # interpolates x̂ = εx + (1−ε)x̃ (penalties.interpolate, with the game's ε)
                    x = eps * real + (1 - eps) * fake.detach()
                g_x, d_x = with_input_grad(psi, x.detach())
                if on == "real" or (on == "fake" and not fake_graph):
                    logits[on] = d_x
                total = losses["penalty"] = gain * spec.of_sq(_sq_norm(g_x, k), weight)
            d_fake = logits.get("fake")
            if main:
                d_real = logits["real"] if "real" in logits else D(psi, real)
                d_fake = D(psi, fake) if d_fake is None else d_fake
                d_loss = losses["d_loss"] = objective.d_loss(d_real, d_fake)
                total = d_loss if total is None else d_loss + total
            return total, _ordered(losses), d_fake
        return G, D, terms

    def _critic_fn(self, main: bool, gain: int, *_static):
        G, _, terms = self._critic_terms(main, gain)

        def critic(psi, theta, real, z, eps, weight):
            fake = G(theta, z)

            def loss(psi_):
                total, losses, _ = terms(psi_, real, fake, eps, weight)
                return total.sum(), losses
            grads, losses = grad(loss, has_aux=True)(psi)
            return losses, grads
        return critic

    def _generator_fn(self):
        G, D = self._nets()
        objective, g_loss_total = self.objective, self.g_loss_total

        def generator(theta, psi, z):
            def loss(theta_):
                g_loss = objective.g_loss(D(psi, G(theta_, z)))
                return g_loss_total(g_loss), {"g_loss": g_loss}
            grads, losses = grad(loss, has_aux=True)(theta)
            return losses, grads
        return generator

    def _both_fn(self, main: bool, gain: int, *_static):
        G, _, terms = self._critic_terms(main, gain, fake_graph=True)
        objective, g_loss_total = self.objective, self.g_loss_total

        def both(theta, psi, real, z, eps, weight):
            def totals(theta_, psi_):
                fake = G(theta_, z)  # D's loss sees it through the graph, but only ∇_ψ of it is taken
                d_total, losses, d_fake = terms(psi_, real, fake, eps, weight)
                g_loss = objective.g_loss(d_fake)
                return (d_total.sum(), g_loss_total(g_loss)), _ordered({**losses, "g_loss": g_loss})
            (d_total, g_total), pullback, losses = vjp(totals, theta, psi, has_aux=True)
            one, zero = torch.ones_like(d_total), torch.zeros_like(g_total)
            _, d_grads = pullback((one, zero))
            g_grads, _ = pullback((zero, one))
            return losses, g_grads, d_grads
        return both
