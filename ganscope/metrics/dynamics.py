"""Convergence diagnostics for any generator G and critic D (plain ``nn.Module``s or callables): the
measurements, which the engine logs at every evaluation (``ganscope.train``) and ``ganscope.analysis.diagnostics``
re-exports beside the Jacobian's leading eigenvalues.

Mescheder et al. 2018 judge convergence by the iterates approaching an equilibrium (θ*, ψ*). Under their
Assumption I (§4: p_θ* = p_D and D_ψ* = 0 on a neighbourhood of supp p_D) the critic is flat there, so

* E_{p_D}‖∇ₓD(x)‖² = 0 and E_{p_θ}‖∇ₓD(x)‖² = 0: exactly what R1 and R2 drive to zero (§3.3, §4.1, eqs. 9–10;
  R1 = (γ/2)·``critic_grad_sq(D, real)``, R2 = (γ/2)·``critic_grad_sq(D, fake)``);
* the mean logit on real and on generated samples is 0 (standard / non-saturating losses; the Dirac-GAN's ψ* = 0);
* both players' parameters stop moving: ‖Δθ‖ and ‖Δψ‖ per step → 0;
* the Jacobian of the gradient field has every eigenvalue in the left half-plane (§2.1;
  ``ganscope.analysis.diagnostics.leading_eigenvalues``).

Critic logits (docs/references.md §C1): shape (B,) for one critic on (B, *event) inputs; (E, B) for an ensemble that
takes (E, B, *event) (pass ``event_dims``, as for the penalties) or for E critics reading one (B, *event)
input (RP-GAN's K discriminators). Per-member values then have the member shape (E,). (B, 1) is refused:
squeeze it. Nothing here draws random numbers, steps an optimizer or writes ``.grad``; modules' buffers
(BatchNorm statistics) and the global RNG are restored after every forward pass. Reference and readings:
docs/diagnostics.md.
"""
from __future__ import annotations

import math
from contextlib import contextmanager

import torch
from torch import nn

from ganscope.errors import UsageError
from ganscope.penalties import _event_dims

# the keys of ``evaluate``'s dict (speed keys only with trackers; path_speed_* only with path=True)
KEYS = ("grad_sq_real", "grad_sq_fake", "d_real", "d_fake", "d_gap", "speed_g", "speed_d", "path_speed_g",
        "path_speed_d")


# ---- shapes and side effects ---------------------------------------------------------------------------------
def member_axes(out_shape, batch) -> tuple:
    """The member axes of a critic's logits ``out_shape`` for inputs whose batch axes are ``batch``.

    ``()`` when the logits have the batch shape ((B,), or (E, B) for an ensemble fed (E, B, *event));
    ``(E,)`` for E critics on one input ((E, B) for a (B, *event) input). (B, 1) raises UsageError.
    """
    out_shape, batch = tuple(out_shape), tuple(batch)
    if out_shape == batch:
        return ()
    if len(out_shape) > len(batch) and out_shape[len(out_shape) - len(batch):] == batch:
        return out_shape[: len(out_shape) - len(batch)]
    if out_shape == (*batch, 1):
        raise UsageError(f"critic: returns logits of shape {out_shape} for a batch of shape {batch}; squeeze "
                         f"the last axis (return D(x).squeeze(-1)) so that it returns {batch}")
    raise UsageError(f"critic: must return one logit per sample, shape {batch} (or (E, {', '.join(map(str, batch))}) "
                     f"for E critics), got {out_shape}; for inputs with a member axis pass event_dims")


def _cuda_devices(objs) -> list[int]:
    tensors = [t for o in objs if isinstance(o, nn.Module) for t in (*o.parameters(), *o.buffers())]
    tensors += [o for o in objs if torch.is_tensor(o)]
    return sorted({t.device.index or 0 for t in tensors if t.is_cuda})


@contextmanager
def untouched(*objs):
    """Run a block, then restore the buffers of every ``nn.Module`` in ``objs`` (BatchNorm running statistics)
    and the global RNG state (CPU, and the CUDA devices of the modules and tensors in ``objs``)."""
    saved = [(b, b.detach().clone()) for m in objs if isinstance(m, nn.Module) for b in m.buffers()]
    with torch.random.fork_rng(devices=_cuda_devices(objs)):
        try:
            yield
        finally:
            with torch.no_grad():
                for b, value in saved:
                    b.copy_(value)


def _to_python(t: torch.Tensor):
    """A float for a scalar, (nested) lists of floats per member."""
    return t.detach().double().cpu().tolist()


# ---- the critic at the samples -------------------------------------------------------------------------------
def critic_grad_sq(critic, x: torch.Tensor, event_dims: int | None = None) -> torch.Tensor:
    """E_x‖∇ₓD(x)‖², the per-sample squared norm over the ``event_dims`` trailing axes (default all non-batch
    axes, as ``penalties``), averaged over the sample axis; shape () or the member shape (E,), detached.

    On real x it is R1/(γ/2), on generated x R2/(γ/2) (Mescheder et al. 2018, eqs. 9–10); 0 at an equilibrium
    satisfying their Assumption I (§4). Unlike ``penalties.grad_sq_norm`` (which differentiates the sum of
    all logits, with a graph for the double backward) it builds no second-order graph and takes one gradient
    per member when E critics read one input, so members never mix.
    """
    k = _event_dims(x, event_dims)
    batch = tuple(x.shape[: x.ndim - k])
    with untouched(critic, x), torch.enable_grad():
        xg = x.detach().requires_grad_(True)
        out = critic(xg)
        members = member_axes(out.shape, batch)
        rows = out.reshape(-1, *batch)  # (M, *batch), M = 1 without member axes
        sq = torch.stack([_input_grad_sq(row, xg, k) for row in rows])
    return sq.reshape(*members, *batch).mean(-1)


def _input_grad_sq(row: torch.Tensor, x: torch.Tensor, k: int) -> torch.Tensor:
    """Per-sample ‖∇ₓ row‖² (row: one logit per sample of x), no graph."""
    g = None
    if row.requires_grad:
        (g,) = torch.autograd.grad(row.sum(), x, retain_graph=True, allow_unused=True)
    g = torch.zeros_like(x) if g is None else g.detach()
    return g.pow(2).reshape(*g.shape[: x.ndim - k], -1).sum(-1)


@torch.no_grad()
def critic_outputs(critic, real: torch.Tensor, fake: torch.Tensor, *, event_dims: int | None = None):
    """(E_{p_D} D(x), E_{p_θ} D(x̃)): the mean logit on real and on generated samples, each () or (E,).

    At the Dirac-GAN's equilibrium (ψ* = 0) and under Mescheder's Assumption I both are 0 (standard and
    non-saturating losses: D* = ½ in probability); LSGAN's optimal output is ½ on both. For WGAN the level is
    arbitrary and the gap E D(x) − E D(x̃) estimates W1(p_D, p_θ) when D is a near-optimal 1-Lipschitz critic
    (Arjovsky et al. 2017, eq. 3).
    """
    with untouched(critic, real, fake):
        return tuple(_mean_logit(critic, x, event_dims) for x in (real, fake))


def _mean_logit(critic, x, event_dims):
    k = _event_dims(x, event_dims)
    out = critic(x)
    member_axes(out.shape, x.shape[: x.ndim - k])
    return out.detach().mean(-1)


# ---- the players' parameter speed ----------------------------------------------------------------------------
class ParameterSpeed:
    """How fast one player's parameters move: ‖θ_now − θ_then‖ / n over the n steps since the last ``read``.

    Construction keeps a copy of the parameters (θ_then). ``update()`` after each optimizer step only counts
    the step (O(1)); ``read(steps=n)`` can replace the counting altogether. That net speed is a lower bound
    of the mean step length (1/n)Σ‖θ_t − θ_{t−1}‖ (triangle inequality), equal to it when the steps are
    aligned. ``path=True`` also accumulates the mean step length, at the price of one parameter copy and one
    norm per ``update()``. The ratio speed / path_speed is about 1 for a steady drift and near 0 when the
    iterates circle (the Dirac-GAN under AltGD, Mescheder et al. 2018 Lemma 2.5).

    ``members=E``: one norm per ensemble member, the first axis of every parameter split into E equal
    contiguous blocks (stacked (E, ...) parameters and grouped (E·n, ...) convolutions alike): shape (E,).
    The tracker only reads the parameters: it never changes the module, its gradients or any RNG.
    """

    def __init__(self, module: nn.Module, *, members: int | None = None, path: bool = False):
        if not isinstance(module, nn.Module):
            raise UsageError(f"module: ParameterSpeed tracks an nn.Module, got {type(module).__name__}")
        if members is not None and (isinstance(members, bool) or not isinstance(members, int) or members < 1):
            raise UsageError(f"members: must be None or an integer >= 1, got {members!r}")
        self.module, self.members, self.path = module, members, bool(path)
        self._then = self._snapshot()
        self._prev = self._then
        self.steps = 0
        self._path_sum = torch.zeros(() if members is None else (members,), dtype=torch.float64)

    def _snapshot(self) -> list[torch.Tensor]:
        params = [p.detach().clone() for p in self.module.parameters()]
        for name, p in self.module.named_parameters():
            if self.members is not None and (p.ndim == 0 or p.shape[0] % self.members):
                raise UsageError(f"members: parameter {name!r} of shape {tuple(p.shape)} has no leading axis "
                                 f"divisible by {self.members} members")
        return params

    def _distance(self, a: list[torch.Tensor], b: list[torch.Tensor]) -> torch.Tensor:
        """‖a − b‖ over all parameters, per member when ``members`` is set (float64, on the CPU)."""
        if [t.shape for t in a] != [t.shape for t in b]:
            raise UsageError("module: its parameters changed shape or number since the tracker was made")
        sq = torch.zeros_like(self._path_sum)
        for x, y in zip(a, b):
            d = (x - y).double()
            d = d.reshape(-1) if self.members is None else d.reshape(self.members, -1)
            sq = d.pow(2).sum(-1) + sq.to(d.device)  # on the parameters' device: one transfer at the end
        return sq.cpu().sqrt()

    def update(self) -> None:
        """Count one optimizer step (with ``path=True``: also add ‖θ_t − θ_{t−1}‖)."""
        self.steps += 1
        if self.path:
            now = self._snapshot()
            self._path_sum += self._distance(now, self._prev)
            self._prev = now

    def read(self, steps: int | None = None) -> dict:
        """{"speed": ‖θ_now − θ_then‖/n, "steps": n} (+ "path_speed": (1/n)Σ‖θ_t − θ_{t−1}‖ with path=True)
        over the n steps since the last read (n = ``steps``, default the ``update()`` count), then a new
        interval starts at θ_now. With n = 0 the speeds are NaN and the interval goes on."""
        if steps is not None and (isinstance(steps, bool) or not isinstance(steps, int) or steps < 0):
            raise UsageError(f"steps: must be an integer >= 0, got {steps!r}")
        if self.path and steps is not None and steps != self.steps:
            raise UsageError(f"steps: a path=True tracker counts its own steps ({self.steps}), got {steps}")
        n = self.steps if steps is None else steps
        if n == 0:
            nan = torch.full_like(self._path_sum, math.nan)
            return {"speed": nan, "steps": 0, **({"path_speed": nan} if self.path else {})}
        now = self._snapshot()
        out = {"speed": self._distance(now, self._then) / n, "steps": n}
        if self.path:
            out["path_speed"] = self._path_sum / n
        self._then, self._prev, self.steps = now, now, 0
        self._path_sum = torch.zeros_like(self._path_sum)
        return out

    # ---- state for checkpoints (plain tensors and ints: torch.load(..., weights_only=True) reads it) ----------
    def state_dict(self) -> dict:
        """The interval so far: θ_then (a copy), the step count, and with path=True θ_{t−1} and the path sum."""
        state = {"then": [t.clone() for t in self._then], "steps": int(self.steps)}
        if self.path:
            state.update(prev=[t.clone() for t in self._prev], path_sum=self._path_sum.clone())
        return state

    def load_state_dict(self, state: dict) -> None:
        """Continue the interval of ``state`` (from ``state_dict`` of a tracker of the same module and options)."""
        params = list(self.module.parameters())

        def restore(tensors, what):
            if [tuple(t.shape) for t in tensors] != [tuple(p.shape) for p in params]:
                raise UsageError(f"state: its {what} parameters do not match the module's shapes")
            return [t.detach().to(p.device, p.dtype).clone() for t, p in zip(tensors, params)]

        if self.path != ("prev" in state):
            raise UsageError(f"state: saved by a tracker with path={'prev' in state}, this one has path={self.path}")
        self._then = restore(state["then"], "reference")
        self._prev = restore(state["prev"], "previous") if self.path else self._then
        if self.path:
            self._path_sum = state["path_sum"].detach().to(torch.float64).clone()
        self.steps = int(state["steps"])


# ---- everything at one evaluation ----------------------------------------------------------------------------
def evaluate(gen, critic, real: torch.Tensor, z: torch.Tensor, *, event_dims: int | None = None,
             speed_g: ParameterSpeed | None = None, speed_d: ParameterSpeed | None = None) -> dict:
    """The diagnostics at one evaluation, as floats (or per-member lists of floats), keys ``KEYS``:

    grad_sq_real, grad_sq_fake: E‖∇ₓD‖² on ``real`` and on G(``z``); d_real, d_fake: the mean logits there;
    d_gap = d_real − d_fake; speed_g / speed_d (and path_speed_g / path_speed_d): ``ParameterSpeed.read()``
    of the trackers given (which starts their next interval). The caller passes the samples: no RNG is used;
    G(z) is computed without a graph in the modules' current train/eval mode.
    """
    with untouched(gen, real, z), torch.no_grad():
        fake = gen(z)
    d_real, d_fake = critic_outputs(critic, real, fake, event_dims=event_dims)
    out = {"grad_sq_real": critic_grad_sq(critic, real, event_dims),
           "grad_sq_fake": critic_grad_sq(critic, fake, event_dims),
           "d_real": d_real, "d_fake": d_fake, "d_gap": d_real - d_fake}
    for player, tracker in (("g", speed_g), ("d", speed_d)):
        if tracker is not None:
            read = tracker.read()
            out[f"speed_{player}"] = read["speed"]
            if "path_speed" in read:
                out[f"path_speed_{player}"] = read["path_speed"]
    return {key: _to_python(value) for key, value in out.items()}
