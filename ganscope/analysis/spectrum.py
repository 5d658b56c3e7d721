"""The Jacobian spectrum of a GAN's joint gradient field at a training point (docs/references.md §M1).

Mescheder et al. 2018 (§2.1) read local convergence from the Jacobian v' of the gradient vector field

    v(θ, ψ) = (−∇_θ L_G(θ, ψ), −∇_ψ L_D(θ, ψ)),

with L_G = objective.g_loss(d(G_θ(z))) and L_D = objective.d_loss(d(x), d(G_θ(z))) + penalty, our logits d
being high on real data. For the Dirac-GAN, where D minimises d_loss = −L, this is Mescheder's
v = (−∇_θ L, ∇_ψ L). The field is evaluated on FIXED batches (real x, latents z, instance-noise draws,
interpolation weights ε, all drawn once), so v is a deterministic function of the flat float64 parameter
vector x = (θ, ψ); expectations may carry weights (Gauss–Hermite nodes give exact Gaussian expectations).

* Continuous time: the ODE ẋ = v(x) is locally stable where every eigenvalue λ of v' has Re λ < 0.
* SimGD x ← x + h v(x): update Jacobian I + hJ, eigenvalues 1 + hλ; converges iff |1 + hλ| < 1 for all λ,
  i.e. every λ lies in the disc of centre −1/h and radius 1/h.
* AltGD, ``g-first`` (n_g generator sub-steps, then n_d discriminator sub-steps, the lab's default):
  (I + hP_dJ)^{n_d} (I + hP_gJ)^{n_g}, P_g and P_d the projections on θ and ψ (as ``dirac.update_matrix``);
  ``d-first`` (the engine's default, ``game.order``) the product the other way round. eig(AB) = eig(BA), so
  the spectral radius does not depend on the order.

Dense (n ≤ ``DENSE_MAX`` parameters): v' by reverse-mode autodiff, one vector-Jacobian product per row, all
eigenvalues by LAPACK. Matrix-free (larger models): Jacobian-vector products by the double-backward trick
J u = ∂/∂w ⟨Jᵀw, u⟩, and ARPACK (``scipy.sparse.linalg.eigs``) for the k eigenvalues of largest real part and
of largest modulus; the spectral radii are then estimated from those eigenvalues of (F_h' − I)/h.
"""
from __future__ import annotations

import copy
import math
import sys
import time
from dataclasses import dataclass, field
from types import SimpleNamespace

import numpy as np
import torch
from scipy.sparse.linalg import ArpackNoConvergence, LinearOperator, eigs
from torch import nn
from torch.func import functional_call

from ganscope.analysis import dirac
from ganscope.errors import UsageError
from ganscope.objectives import Objective, check_logits, get_objective
from ganscope.noise import instance_noise
from ganscope.penalties import get_penalty
from ganscope.progress import Progress, hms
from ganscope.rng import Given

DENSE_MAX = 2000  # largest parameter count for the dense Jacobian (LAPACK eig is O(n³))
K_DEFAULT = 6  # eigenvalues per ARPACK request
CHUNK = 256  # Jacobian rows per batched backward pass
NEUTRAL_TOL = 1e-7  # |λ| ≤ NEUTRAL_TOL·max(1, max|λ|): a neutral direction (normal_space)
LOW_RANK_MIN = 1000  # dense fields from this size try low_rank_eigvals before a full LAPACK eig
DIRAC_REGS = ("none", "r1", "r2", "consensus", "noise")
DTYPE = torch.float64


# ---- the field on fixed batches -------------------------------------------------------------------------
def _layout(module: nn.Module):
    return [(name, p.shape, p.numel()) for name, p in module.named_parameters()]


def select_params(names: list[str], prefixes) -> list[bool]:
    """Which of the qualified names ``gen.NAME`` / ``disc.NAME`` start with one of ``prefixes`` (None: all).
    UsageError when the prefixes select nothing."""
    if prefixes is None:
        return [True] * len(names)
    prefixes = (prefixes,) if isinstance(prefixes, str) else tuple(prefixes)
    chosen = [any(n.startswith(p) for p in prefixes) for n in names]
    if not any(chosen):
        shown = ", ".join(names[:6]) + (", ..." if len(names) > 6 else "")
        raise UsageError(f"--params: {', '.join(map(repr, prefixes)) or 'no prefix'} selects no parameter; the "
                         f"names are gen.NAME and disc.NAME ({shown})")
    return chosen


@dataclass
class GameField:
    """v(θ, ψ) = (−∇_θ L_G, −∇_ψ L_D) of ``gen`` and ``disc`` on fixed batches, as a function of x = (θ, ψ).

    The game's maths is the engine's (``ganscope.game.Game``), on fixed draws instead of random streams:
    instance noise is ``noise.instance_noise`` with the draws ``noise_real``, ``noise_fake`` (the same fake
    draw in L_G), the penalty is ``penalties.get_penalty(penalty)`` with weight ``weight`` on the clean
    inputs, its interpolation weights the draw ``interp`` (``detach=False``: the input's dependence on θ
    stays in the graph, so ∂v_ψ/∂θ sees it; the values are the engine's), and consensus (Mescheder et al.
    2017, ``Game._consensus``) adds (γ/2)‖v₀‖² to both players' losses, v₀ = (∇_θ L_G, ∇_ψ L_D) the
    unpenalised gradients, i.e. v = v_pen − γ v₀'ᵀv₀.

    ``params``: name prefixes of the parameters the field is a function of (qualified names ``gen.NAME`` and
    ``disc.NAME``, e.g. ``("gen.layers.2", "disc.layers.2")`` for the last layers); the others stay fixed at their
    values, so v' is the principal sub-matrix J_SS of the full Jacobian on the selected coordinates S. None: all.

    ``weights`` (B,) sum to 1: every expectation is Σ_b w_b ℓ_b of per-sample terms (every objective and
    penalty is a mean of per-sample terms; uniform weights are the engine's means). ``event_dims``: trailing
    axes of one sample, default all non-batch axes (as ``penalties``). Modules are copied to float64 on
    ``device`` (default the CPU; the fixed draws move there too); the originals are untouched. Results come
    back as numpy arrays.
    """

    gen: nn.Module
    disc: nn.Module
    objective: Objective
    real: torch.Tensor
    z: torch.Tensor
    weights: torch.Tensor | None = None
    penalty: str = "none"
    weight: float = 0.0
    sigma: float = 0.0
    noise_real: torch.Tensor | None = None
    noise_fake: torch.Tensor | None = None
    interp: torch.Tensor | None = None
    consensus: float = 0.0
    event_dims: int | None = None
    device: str | torch.device = "cpu"
    params: tuple[str, ...] | None = None
    x0: torch.Tensor = field(init=False)

    def __post_init__(self):
        self.gen = copy.deepcopy(self.gen).to(self.device, DTYPE).requires_grad_(False)
        self.disc = copy.deepcopy(self.disc).to(self.device, DTYPE).requires_grad_(False)
        for name in ("real", "z", "noise_real", "noise_fake", "interp", "weights"):
            value = getattr(self, name)
            setattr(self, name, None if value is None else torch.as_tensor(value).to(self.device, DTYPE))
        if self.weights is None:
            self.weights = torch.full((len(self.real),), 1.0 / len(self.real), dtype=DTYPE, device=self.device)
        self.spec = get_penalty(self.penalty)  # UsageError naming the allowed penalties
        if self.event_dims is None:
            self.event_dims = self.real.ndim - 1
        if self.interp is None:  # ε ~ U[0,1] per sample, seed 0
            shape = (len(self.real), *[1] * self.event_dims)
            self.interp = torch.rand(shape, generator=torch.Generator().manual_seed(0), dtype=DTYPE).to(self.device)
        if self.sigma > 0 and (self.noise_real is None or self.noise_fake is None):
            raise UsageError("sigma: instance noise needs its fixed draws noise_real and noise_fake (make_field)")
        if self.params is not None:
            self.params = (self.params,) if isinstance(self.params, str) else tuple(self.params)
        self._g, self._d = _layout(self.gen), _layout(self.disc)
        names = [f"gen.{n}" for n, _, _ in self._g] + [f"disc.{n}" for n, _, _ in self._d]
        self._chosen = select_params(names, self.params)
        params = [p for _, p in self.gen.named_parameters()] + [p for _, p in self.disc.named_parameters()]
        self._fixed = [p.detach() for p in params]  # the values of the parameters not in the field's x
        self.x0 = torch.cat([p.detach().reshape(-1) for p, c in zip(params, self._chosen) if c])

    @property
    def n_gen(self) -> int:
        return sum(n for (_, _, n), c in zip(self._g, self._chosen) if c)

    @property
    def n_total(self) -> int:
        """All parameters of both modules (``n_params`` counts those the field is a function of)."""
        return sum(n for _, _, n in self._g + self._d)

    @property
    def n_params(self) -> int:
        return len(self.x0)

    def split(self, x: torch.Tensor) -> tuple[dict, dict]:
        """The flat vector as two parameter dicts (views) for ``functional_call``; unselected parameters fixed."""
        out, i = [], 0
        for (name, shape, n), chosen, fixed in zip(self._g + self._d, self._chosen, self._fixed):
            if chosen:
                out.append((name, x[i: i + n].view(shape)))
                i += n
            else:
                out.append((name, fixed))
        return dict(out[: len(self._g)]), dict(out[len(self._g):])

    def losses(self, x: torch.Tensor):
        """(L_G, L_D without penalty, penalty) at x, each a weighted mean over the fixed batch."""
        p_g, p_d = self.split(x)
        fake = functional_call(self.gen, p_g, (self.z,))
        critic = lambda inp: functional_call(self.disc, p_d, (inp,))  # noqa: E731
        real_in, fake_in = instance_noise(self.real, fake, self.sigma, Given(self.noise_real, self.noise_fake))
        d_real, d_fake = critic(real_in), critic(fake_in)
        _check_critic(d_real, len(self.real))
        _check_critic(d_fake, len(self.real))
        w = self.weights  # per-sample terms: the objective's means over a sample axis of length 1
        l_d = (w * self.objective.d_mean(d_real[..., None], d_fake[..., None])).sum()
        l_g = (w * self.objective.g_mean(d_fake[..., None])).sum()
        return l_g, l_d, self._penalty(critic, fake)

    def _penalty(self, critic, fake):
        """Σ_b w_b ℓ_b of the registry's penalty: each sample is its own member (the penalties keep member
        axes), so the penalty returns its per-sample terms ℓ_b."""
        if self.spec.fn is None:
            return torch.zeros((), dtype=DTYPE, device=self.real.device)
        per_sample = lambda u: critic(u.flatten(0, 1)).unflatten(0, u.shape[:2])  # noqa: E731  (B, 1, …) -> (B, 1)
        terms = self.spec(per_sample, self.real[:, None], fake[:, None], self.weight, generator=Given(self.interp),
                          event_dims=self.event_dims, detach=False)
        return (self.weights * terms).sum()

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """v(x) with a graph to x (x must require grad)."""
        l_g, l_d, pen = self.losses(x)
        n = self.n_gen
        if self.consensus > 0:  # Game._consensus: (γ/2)‖(∇_θ L_G, ∇_ψ L_D)‖² on both players' losses
            v0 = torch.cat([_grad(l_g, x)[:n], _grad(l_d, x)[n:]])
            reg = self.consensus / 2 * v0.pow(2).sum()
            l_g, l_d = l_g + reg, l_d + reg
        return -torch.cat([_grad(l_g, x)[:n], _grad(l_d + pen, x)[n:]])

    def graph(self, x=None):
        """(x as a leaf that requires grad, v(x) with its graph)."""
        x = (self.x0 if x is None else torch.as_tensor(x, dtype=DTYPE, device=self.x0.device))
        x = x.detach().clone().requires_grad_(True)
        with torch.enable_grad():
            return x, self(x)

    def value(self, x=None) -> np.ndarray:
        """v(x) as a numpy array (x defaults to the stored parameters)."""
        return self.graph(x)[1].detach().cpu().numpy()


def _check_critic(logits, batch: int):
    """The field is of one critic: logits of shape (B,) (``objectives.check_logits`` refuses (B, 1))."""
    check_logits("critic", logits)
    if tuple(logits.shape) != (batch,):
        raise UsageError(f"critic: must return one logit per sample, shape ({batch},) for a batch of {batch}; got "
                         f"{tuple(logits.shape)} (the spectrum's field is of one critic, not an ensemble)")


def _grad(y, x):
    (g,) = torch.autograd.grad(y, x, create_graph=True, allow_unused=True)
    return torch.zeros_like(x) if g is None else g


def make_field(gen, disc, objective, real, z, *, penalty="none", weight=None, sigma=0.0, consensus=0.0,
               seed=0, event_dims=None, params=None, device="cpu") -> GameField:
    """A field with fixed draws: interpolation ε ~ U[0,1] (B, 1, ...) from seed, noise N(0, I) from seed + 1
    (on the real batch, then on the fake one, as the engine draws them); ``event_dims`` defaults to all
    non-batch axes of ``real`` (as the penalties); ``params``: name prefixes restricting the field (GameField).
    The critic must return one logit per sample, shape (B,): (B, 1) is refused (``objectives.check_logits``).
    The draws are made on the CPU, the field lives on ``device``."""
    spec = get_penalty(penalty)
    weight = spec.default if weight is None else weight
    if spec.fn is not None and weight is None:
        raise UsageError(f"penalty.weight: penalty {penalty!r} needs a weight")
    real = torch.as_tensor(real).to("cpu", DTYPE)
    event_dims = real.ndim - 1 if event_dims is None else event_dims
    fake_shape = (len(real), *real.shape[real.ndim - event_dims:])
    eps = torch.rand((len(real), *[1] * event_dims), generator=torch.Generator().manual_seed(seed), dtype=DTYPE)
    g_noise = torch.Generator().manual_seed(seed + 1)
    noise = [torch.randn(real.shape, generator=g_noise, dtype=DTYPE),
             torch.randn(fake_shape, generator=g_noise, dtype=DTYPE)] if sigma > 0 else [None, None]
    return GameField(gen, disc, objective, real, z, penalty=penalty, weight=float(weight or 0.0), sigma=sigma,
                     noise_real=noise[0], noise_fake=noise[1], interp=eps, consensus=consensus,
                     event_dims=event_dims, params=params, device=device)


# ---- the Jacobian: dense and matrix-free ------------------------------------------------------------------
def jacobian(fld: GameField, x=None, chunk: int = CHUNK, batched: bool = True, on_rows=None) -> np.ndarray:
    """v'(x), row i = e_iᵀ v' by a vector-Jacobian product (batched over ``chunk`` rows when possible);
    ``on_rows(m)`` is called after each chunk of m rows (progress)."""
    x, v = fld.graph(x)
    n = len(x)
    rows = []
    for start in range(0, n, chunk):
        idx = torch.arange(start, min(start + chunk, n))
        basis = torch.zeros(len(idx), n, dtype=DTYPE)
        basis[torch.arange(len(idx)), idx] = 1.0
        rows.append(_vjp_rows(v, x, basis.to(x.device), batched).cpu())
        if on_rows is not None:
            on_rows(len(idx))
    return torch.cat(rows).numpy()


def _vjp_rows(v, x, basis, batched):
    if batched:
        try:
            (rows,) = torch.autograd.grad(v, x, basis, retain_graph=True, is_grads_batched=True,
                                          allow_unused=True, materialize_grads=True)
            return rows.detach()
        except RuntimeError:  # an op without a batching rule: fall back to one row at a time
            pass
    return torch.stack([_vjp(v, x, u) for u in basis])


def _vjp(v, x, u):
    (g,) = torch.autograd.grad(v, x, u, retain_graph=True, allow_unused=True)
    return torch.zeros_like(x) if g is None else g.detach()


class JacobianOperator(LinearOperator):
    """v'(x) as a scipy LinearOperator: J u = ∂/∂w ⟨Jᵀw, u⟩ (double backward), Jᵀu a plain VJP."""

    def __init__(self, fld: GameField, x=None, on_product=None):
        self.x, self.v = fld.graph(x)
        self.w = torch.zeros_like(self.v, requires_grad=True)
        with torch.enable_grad():
            (self.jt_w,) = torch.autograd.grad(self.v, self.x, self.w, create_graph=True)
        self.n_gen = fld.n_gen
        self.products, self.on_product = 0, on_product  # J u products so far; a callback after each
        super().__init__(np.float64, (len(self.x), len(self.x)))

    def _matvec(self, u):
        u = torch.as_tensor(np.ascontiguousarray(np.real(u)).reshape(-1), dtype=DTYPE, device=self.x.device)
        (g,) = torch.autograd.grad(self.jt_w, self.w, u, retain_graph=True, allow_unused=True)
        self.products += 1
        if self.on_product is not None:
            self.on_product(1)
        return np.zeros(self.shape[0]) if g is None else g.detach().cpu().numpy()

    def _rmatvec(self, u):
        u = torch.as_tensor(np.ascontiguousarray(np.real(u)).reshape(-1), dtype=DTYPE, device=self.x.device)
        return _vjp(self.v, self.x, u).cpu().numpy()


def update_matrix(jac, h, scheme="simgd", n_g=1, n_d=1, n_gen=None, order=dirac.ORDER_DEFAULT) -> np.ndarray:
    """F_h' = I + hJ (SimGD) or (I + hP_dJ)^{n_d} (I + hP_gJ)^{n_g} (AltGD g-first; d-first: the other way
    round); θ = the first n_gen coordinates."""
    dirac.check_scheme(scheme, h, n_g, n_d)
    dirac.check_order(order)
    jac = np.asarray(jac, float)
    eye = np.eye(len(jac))
    if scheme == "simgd":
        return eye + h * jac
    a_g, a_d = eye.copy(), eye.copy()
    a_g[:n_gen] += h * jac[:n_gen]
    a_d[n_gen:] += h * jac[n_gen:]
    gen, dis = np.linalg.matrix_power(a_g, int(n_g)), np.linalg.matrix_power(a_d, int(n_d))
    return dis @ gen if order == "g-first" else gen @ dis


def update_operator(op: JacobianOperator, h, scheme="simgd", n_g=1, n_d=1, order=dirac.ORDER_DEFAULT) -> LinearOperator:
    """(F_h' − I)/h matrix-free; its eigenvalues ν give those of F_h' as 1 + hν (= J itself for SimGD)."""
    dirac.check_scheme(scheme, h, n_g, n_d)
    dirac.check_order(order)
    if scheme == "simgd":
        return op
    mask_g = np.arange(op.shape[0]) < op.n_gen

    def matvec(u):
        u = np.real(np.asarray(u, float)).reshape(-1)
        y = u.copy()
        players = ((mask_g, n_g), (~mask_g, n_d))
        for mask, steps in players if order == "g-first" else players[::-1]:
            for _ in range(int(steps)):
                y = y + h * np.where(mask, op.matvec(y), 0.0)
        return (y - u) / h

    return LinearOperator(op.shape, matvec=matvec, dtype=np.float64)


def arnoldi(op: LinearOperator, k: int, which: str, seed: int = 0, tol: float = 1e-10) -> np.ndarray:
    """k eigenvalues of op by ARPACK (``which``: "LR" largest real part, "LM" largest modulus), residuals
    ‖Ax − λx‖ ≤ tol·|λ|, a Krylov space of max(2k + 1, 40) vectors and a deterministic start vector; where
    ARPACK stops short, the eigenvalues that converged."""
    n = op.shape[0]
    k = max(1, min(int(k), n - 2))
    v0 = np.random.default_rng(seed).standard_normal(n)
    ncv = min(n - 1, max(2 * k + 1, 40))
    try:
        return eigs(op, k=k, which=which, v0=v0, ncv=ncv, tol=tol, return_eigenvectors=False)
    except ArpackNoConvergence as err:
        return np.asarray(err.eigenvalues)


# ---- the spectrum of one field ------------------------------------------------------------------------------
def _top(lam, key, k):
    order = np.lexsort((-lam.imag, -key(lam)))  # descending key; conjugates with Im > 0 first
    return lam[order[:k]]


def _union(*groups, tol=1e-9):
    out = []
    for lam in np.concatenate(groups):
        if all(abs(lam - m) > tol * max(1.0, abs(m)) for m in out):
            out.append(lam)
    return np.array(out, complex)


def _dense(fld, h, n_g, n_d, tick=None):
    """(eigenvalues λ of v', eigenvalues μ of the AltGD update matrix); from ``LOW_RANK_MIN`` parameters on, by
    ``low_rank_eigvals`` where v' and F_h' − I have low rank (a game at an equilibrium: most directions
    neutral), else by LAPACK on the whole matrices."""
    jac = jacobian(fld, on_rows=tick)
    n = len(jac)
    if n >= LOW_RANK_MIN:
        lam = low_rank_eigvals(lambda x: jac @ x, n)
        nu = None if lam is None else low_rank_eigvals(lambda x: altgd_apply(jac, x, h, n_g, n_d, fld.n_gen) - x, n)
        if nu is not None:
            return lam, 1 + nu
    return np.linalg.eigvals(jac), np.linalg.eigvals(update_matrix(jac, h, "altgd", n_g, n_d, fld.n_gen))


def altgd_apply(jac, x, h, n_g=1, n_d=1, n_gen=None, order=dirac.ORDER_DEFAULT) -> np.ndarray:
    """F_h' X for AltGD, ``update_matrix``'s product applied to the columns of X without forming it: n_g
    sub-steps X_θ += h(v'X)_θ and n_d sub-steps X_ψ += h(v'X)_ψ, in ``order``."""
    y = np.array(x, float, copy=True)
    players = ((slice(0, n_gen), n_g), (slice(n_gen, None), n_d))
    for part, steps in players if order == "g-first" else players[::-1]:
        for _ in range(int(steps)):
            y[part] += h * (jac[part] @ y)
    return y


def low_rank_eigvals(apply, n: int, width: int = 128, rtol: float = 1e-12, seed: int = 0):
    """All n eigenvalues of an n×n matrix A of low rank, given as apply(X) = AX: Q an orthonormal basis of
    range(A) from AΩ for Gaussian Ω of doubling width until AΩ's numerical rank (singular values above
    rtol·σ₁) falls below the width (Halko, Martinsson & Tropp 2011, §4); then A = QQᵀA, so every eigenvector of
    λ ≠ 0 lies in range(Q) and eig(A) = eig(QᵀAQ) ∪ {0}^(n − rank). O(n²·rank) instead of LAPACK's O(n³).
    None when the rank exceeds n/2 (a full eig is then about as cheap)."""
    rng = np.random.default_rng(seed)
    while width <= n // 2:
        u, s, _ = np.linalg.svd(apply(rng.standard_normal((n, width))), full_matrices=False)
        rank = int((s > rtol * s[0]).sum()) if s[0] > 0 else 0
        if rank < width:
            q = u[:, :rank]
            return np.concatenate([np.linalg.eigvals(q.T @ apply(q)), np.zeros(n - rank, complex)])
        width *= 2
    return None


def normal_space(lam, mu, h: float, tol: float = NEUTRAL_TOL) -> dict:
    """The spectrum off the neutral directions. Where the equilibria form a manifold (Mescheder et al. 2018
    §4, Assumption III: reparametrisations of G that leave p_θ unchanged, a critic's hidden layers while its
    output layer is zero), v' vanishes on its tangent space: λ = 0, and every update matrix has μ = 1 there.
    Their Theorem 4.1 reads convergence on the normal space only, so the radii here leave out the n₀ neutral
    eigenvalues, |λ| ≤ tol·max(1, max|λ|), and the n₀ eigenvalues μ nearest 1 (AltGD fixes every u with
    v'u = 0). A neutral direction is a tangent of the equilibria only where every move off them is felt
    (``premise``); the others are neutral too, and no radius here sees them. Also: the slowest rate min −Re λ
    (continuous time, e^{−rate·t}; 10× takes ln 10/(h·rate) steps of a small h), the least damping ratio
    ζ = −Re λ/|λ| (0: an undamped rotation, the Dirac-GAN's ±f'(0)i) and the largest SimGD step that
    converges there, min −2 Re λ/|λ|² (``dirac.max_step_simgd``)."""
    lam, mu = np.asarray(lam, complex), np.asarray(mu, complex)
    scale = max(1.0, float(np.abs(lam).max(initial=0.0)))
    neutral = np.abs(lam) <= tol * scale
    moving, n0 = lam[~neutral], int(neutral.sum())
    mu_moving = mu[np.argsort(np.abs(mu - 1))[n0:]]
    if not len(moving):
        return {"n_neutral": n0, "neutral_gap": None, "slowest_rate": None, "least_damping": None,
                "spectral_radius_simgd_normal": None, "max_step_simgd_normal": None,
                "spectral_radius_altgd_normal": None}
    return {"n_neutral": n0,
            "neutral_gap": [float(np.abs(lam[neutral]).max(initial=0.0)), float(np.abs(moving).min())],
            "slowest_rate": float((-moving.real).min()),
            "least_damping": float((-moving.real / np.abs(moving)).min()),
            "spectral_radius_simgd_normal": float(np.abs(1 + h * moving).max()),
            "max_step_simgd_normal": float(dirac.max_step_simgd(moving)),
            "spectral_radius_altgd_normal": float(np.abs(mu_moving).max()) if len(mu_moving) else None}


def _matrix_free(fld, h, n_g, n_d, k, op=None):
    op = JacobianOperator(fld) if op is None else op
    lam = _union(arnoldi(op, k, "LR"), arnoldi(op, k, "LM"))
    alt_op = update_operator(op, h, "altgd", n_g, n_d)
    nu = _union(arnoldi(alt_op, k, "LR"), arnoldi(alt_op, k, "LM"))
    return lam, float(np.abs(1 + h * lam).max()), float(np.abs(1 + h * nu).max())


def _pairs(lam):
    return [[float(z.real), float(z.imag)] for z in np.asarray(lam).ravel()]


# ---- cost: an estimate before, progress during -----------------------------------------------------------
EIG_S_PER_N3 = 2e-10  # seconds per n³ of one dense nonsymmetric eigvals (LAPACK, ~10 n³ flops at ~50 GFLOP/s)
ARPACK_RESTARTS = 3  # restarts of one ARPACK call in the estimate (measured: 1–4 on the test models)


def arpack_products(n: int, k: int, n_g: int = 1, n_d: int = 1) -> int:
    """The estimate of J u products of the matrix-free path: four ARPACK calls (LR and LM of J, LR and LM of the
    AltGD operator, whose products cost n_g + n_d each), each ncv + ``ARPACK_RESTARTS``·(ncv − k) products."""
    k = max(1, min(int(k), n - 2))
    ncv = min(n - 1, max(2 * k + 1, 40))
    per_call = ncv + ARPACK_RESTARTS * (ncv - k)
    return int(2 * per_call + 2 * per_call * (n_g + n_d))


def _is_dense(fld, max_dense):
    return fld.n_params <= max(max_dense, 3)  # ARPACK needs k < n - 1


def estimate(fld: GameField, k: int = K_DEFAULT, n_g: int = 1, n_d: int = 1, max_dense: int = DENSE_MAX,
             op=None) -> dict:
    """The cost of ``spectrum`` before it runs, from one timed step: dense, n vector-Jacobian rows in chunks of
    ``CHUNK`` (one chunk timed) plus two eigvals of ``EIG_S_PER_N3``·n³ s; matrix-free, ``arpack_products``
    Jacobian-vector products (one timed; a rough count: ARPACK stops when it converges). From ``LOW_RANK_MIN``
    parameters on, the dense figure is an upper bound (``at_most``): a low-rank Jacobian skips LAPACK's n³."""
    n, dense = fld.n_params, _is_dense(fld, max_dense)
    if dense:
        x, v = fld.graph()
        m = min(n, CHUNK)
        basis = torch.zeros(m, n, dtype=DTYPE)
        basis[torch.arange(m), torch.arange(m)] = 1.0
        t0 = time.perf_counter()
        _vjp_rows(v, x, basis, True)
        per = (time.perf_counter() - t0) / m
    else:
        op = JacobianOperator(fld) if op is None else op
        t0 = time.perf_counter()
        op.matvec(np.ones(n))
        per = time.perf_counter() - t0
    products = n if dense else arpack_products(n, k, n_g, n_d)
    seconds = products * per + (2 * EIG_S_PER_N3 * n**3 if dense else 0.0)
    return {"method": "dense" if dense else "arnoldi", "n_params": n, "products": products,
            "seconds_per_product": per, "seconds": seconds, "at_most": dense and n >= LOW_RANK_MIN}


def estimate_line(est: dict) -> str:
    """``spectrum: 61,026 parameters, arnoldi: about 1,200 Jacobian products × 0.05 s ≈ 0:01:00``."""
    kind = "Jacobian rows" if est["method"] == "dense" else "Jacobian-vector products"
    return (f"spectrum: {est['n_params']:,} parameters, {est['method']}: about {est['products']:,} {kind} × "
            f"{est['seconds_per_product']:.3g} s ≈ {hms(est['seconds'])}"
            f"{' at most (less where the Jacobian has low rank)' if est.get('at_most') else ''} "
            "(restrict with params=/--params or k=/--k)")


def spectrum(fld: GameField, h: float, scheme: str = "simgd", n_g: int = 1, n_d: int = 1, k: int = K_DEFAULT,
             max_dense: int = DENSE_MAX, progress: bool = False, stream=None) -> dict:
    """Eigenvalues of v' at the field's point, spectral radii of the SimGD and AltGD update operators with
    step h, and ``dirac.local_verdict`` for ``scheme``. Dense when n ≤ max_dense (all eigenvalues), else
    matrix-free ARPACK (the top k), chosen by the size alone. ``progress``: first the ``estimate`` as one line,
    then ``ganscope.progress`` lines (a bar on a terminal) on ``stream`` (default stderr)."""
    dirac.check_scheme(scheme, h, n_g, n_d)
    _check_int("--k", k, 1)
    dense = _is_dense(fld, max_dense)
    op = None if dense else JacobianOperator(fld)
    bar = None
    if progress:
        est = estimate(fld, k, n_g, n_d, max_dense, op)
        print(estimate_line(est), file=stream or sys.stderr, flush=True)
        bar = Progress(est["products"], unit="row" if dense else "product", desc="spectrum", stream=stream)
        if op is not None:
            op.products, op.on_product = 0, bar.update  # count the computation's products, not the timed one
    try:
        if dense:
            lam, mu = _dense(fld, h, n_g, n_d, bar and bar.update)
            rho_sim, rho_alt = float(np.abs(1 + h * lam).max()), float(np.abs(mu).max())
        else:
            lam, rho_sim, rho_alt = _matrix_free(fld, h, n_g, n_d, k, op)
    finally:
        if bar is not None:
            bar.close()
    by_real = _top(lam, lambda z: z.real, len(lam))
    rho = {"simgd": rho_sim, "altgd": rho_alt}
    scale = max(1.0, float(np.abs(lam).max(initial=0.0)))
    return {
        "method": "dense" if dense else "arnoldi",
        "n_params": fld.n_params, "n_gen_params": fld.n_gen, "n_disc_params": fld.n_params - fld.n_gen,
        "n_params_total": fld.n_total, "params": None if fld.params is None else list(fld.params),
        "products": fld.n_params if dense else op.products,
        "h": float(h), "scheme": scheme, "n_g": int(n_g), "n_d": int(n_d),
        "field_norm": float(np.linalg.norm(fld.value())),
        "eigenvalues": _pairs(by_real),
        "eigenvalues_largest_real": _pairs(by_real[:k]),
        "eigenvalues_largest_modulus": _pairs(_top(lam, np.abs, k)),
        "max_real_part": float(lam.real.max()), "max_modulus": float(np.abs(lam).max()),
        "n_positive_real": int((lam.real > 1e-9 * scale).sum()) if dense else None,
        "n_negative_real": int((lam.real < -1e-9 * scale).sum()) if dense else None,
        "spectral_radius_simgd": rho_sim, "spectral_radius_altgd": rho_alt,
        "radius_exact": dense,
        "max_step_simgd": float(dirac.max_step_simgd(lam)) if dense else None,
        "local_verdict": dirac.local_verdict(rho[scheme]),
        "local_verdict_simgd": dirac.local_verdict(rho_sim), "local_verdict_altgd": dirac.local_verdict(rho_alt),
        "normal_space": normal_space(lam, mu, h) if dense else None,
        "notes": _notes(fld, dense, k),
    }


def _notes(fld, dense, k) -> list[str]:
    notes = [] if dense else [f"matrix-free: the {k} eigenvalues of largest real part and of largest modulus; "
                              "radii estimated from those (lower bounds)"]
    if fld.params is not None:
        notes.append(f"restricted to {fld.n_params} of {fld.n_total} parameters ({', '.join(fld.params)}): the "
                     "eigenvalues of that principal sub-matrix of v', the others held fixed")
    return notes


# ---- the Dirac-GAN as torch modules -----------------------------------------------------------------------
class DiracGenerator(nn.Module):
    """G_θ(z) = θ for every z (p_θ = δ_θ): one parameter, samples of shape (..., 1)."""

    def __init__(self, theta: float = 0.0):
        super().__init__()
        self.theta = nn.Parameter(torch.tensor([float(theta)], dtype=DTYPE))

    def forward(self, z):
        return self.theta.expand(*z.shape[:-1], 1)


class DiracCritic(nn.Module):
    """Our logit d(x) = −ψx, high on real; Mescheder's D_ψ(x) = ψx is minus our logit (docs/references.md §C9)."""

    def __init__(self, psi: float = 0.0):
        super().__init__()
        self.psi = nn.Parameter(torch.tensor([float(psi)], dtype=DTYPE))

    def forward(self, x):
        return -self.psi * x[..., 0]


def dirac_modules(loss: str = "minimax", reg: str = "none", gamma=None, sigma=None, theta: float = 0.0,
                  psi: float = 0.0) -> GameField:
    """The Dirac-GAN (Mescheder et al. 2018, Def. 2.1) as modules and a field at (θ, ψ): data δ₀ (real batch
    of zeros), G_θ(z) = θ, d(x) = −ψx. Losses minimax (alias standard), nonsaturating, wgan; regs none,
    r1/r2 ((γ/2)ψ²), consensus (γ), noise (σ, both inputs; the 80 Gauss–Hermite nodes as a weighted batch,
    an exact Gaussian expectation of the Jacobian at (0, 0)). Defaults and checks: ``dirac.DiracGAN``."""
    params = {k: v for k, v in (("gamma", gamma), ("sigma", sigma)) if v is not None}
    game = dirac.DiracGAN(loss, reg, **params)
    reg = game.reg
    if reg not in DIRAC_REGS:
        raise UsageError(f"--reg: the spectrum's Dirac-GAN supports {', '.join(DIRAC_REGS)}; got {reg!r} "
                         "(its field has no Jacobian at the equilibrium, or is a projection)")
    nodes = torch.from_numpy(dirac.GH_NODES)[:, None] if reg == "noise" else torch.zeros(1, 1, dtype=DTYPE)
    weights = torch.from_numpy(dirac.GH_WEIGHTS) if reg == "noise" else None
    zeros = torch.zeros(len(nodes), 1, dtype=DTYPE)
    return GameField(DiracGenerator(theta), DiracCritic(psi), get_objective(game.loss), zeros, zeros,
                     weights=weights, penalty=reg if reg in ("r1", "r2") else "none",
                     weight=float(game.gamma) if reg in ("r1", "r2") else 0.0,
                     sigma=float(game.sigma) if reg == "noise" else 0.0, noise_real=nodes, noise_fake=nodes,
                     consensus=float(game.gamma) if reg == "consensus" else 0.0)


def spectrum_of_dirac(loss="minimax", reg="none", gamma=None, sigma=None, h=0.1, scheme="simgd", n_g=1,
                      n_d=1) -> dict:
    """``spectrum`` of the Dirac modules at (0, 0), beside the lab's closed form (``DiracGAN.eigenvalues``)."""
    fld = dirac_modules(loss, reg, gamma, sigma)
    params = {k: v for k, v in (("gamma", gamma), ("sigma", sigma)) if v is not None}
    game = dirac.DiracGAN(loss, reg, **params)
    out = spectrum(fld, h, scheme, n_g, n_d, k=2)
    closed = np.asarray(game.eigenvalues())
    got = np.array([complex(a, b) for a, b in out["eigenvalues"]])
    out["closed_form_eigenvalues"] = _pairs(closed)
    out["closed_form_max_error"] = match_error(got, closed)
    out["source"] = {"dirac": {"loss": game.loss, "reg": game.reg, **{k: float(v) for k, v in game.params.items()}},
                     "aliases": dict(game.aliases)}
    return out


def match_error(a, b) -> float:
    """max |a_i − b_π(i)| for the best matching π of two small sets of eigenvalues (greedy, nearest first)."""
    a, b = list(np.asarray(a, complex)), list(np.asarray(b, complex))
    if len(a) != len(b):
        return math.inf
    err = 0.0
    for z in a:
        j = int(np.argmin([abs(z - w) for w in b]))
        err = max(err, abs(z - b.pop(j)))
    return float(err)


# ---- stored runs (opened by ganscope.rundir) ------------------------------------------------------------------
def _check_int(name, value, low):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise UsageError(f"{name}: must be an integer >= {low}, got {value!r}")


def member_rules(run, member: int) -> tuple[float, float]:
    """(instance-noise σ, penalty weight) of ensemble member ``member`` of a stored run at its step, by the
    game's own per-member rules (``game.member_sigma``, ``game.member_weight``)."""
    from ganscope.game import GameRules, member_sigma, member_weight
    from ganscope.tasks.toy2d import member_values

    rules, members = GameRules.from_config(run.cfg), member_values(run.cfg.members)

    def pick(value):
        return float(value[member]) if torch.is_tensor(value) and value.ndim else float(value)

    return pick(member_sigma(rules, members, run.step)), pick(member_weight(rules, members))


def _member_value(run, key, member, default):
    from ganscope.tasks.toy2d import member_values

    values = getattr(member_values(run.cfg.members), key)  # float32 tensors, as the engine holds them
    return default if values is None else float(values[member])


def run_field(run, member=0, batch=256, seed=0, params=None, device="cpu") -> tuple[GameField, dict]:
    """The field of ensemble member ``member`` of a stored run (``ganscope.rundir.open_run``), on a fixed batch
    of size ``batch``: real data from seed, latents from seed + 1, interpolation and noise from seed + 2 and
    seed + 3 (all drawn on the CPU); the field on ``device``."""
    from ganscope.data.toy2d import get_dataset
    from ganscope.tasks.kinds import task_class
    from ganscope.nets.mlp import Logit

    cfg = run.cfg
    if not task_class(cfg.data.name).supports_spectrum:
        raise UsageError(f"RUN_DIR: {run.dir} is a {cfg.data.name} run; the spectrum of a stored run is for 2-D runs")
    _check_int("--batch", batch, 1)
    _check_int("--seed", seed, 0)
    if isinstance(member, bool) or not isinstance(member, (int, np.integer)) or not 0 <= member < cfg.ensemble:
        raise UsageError(f"--member: the run has {cfg.ensemble} member(s) (0..{cfg.ensemble - 1}), got {member!r}")
    gen, disc = run.gen.member(member), Logit(run.disc.net.member(member))
    real = get_dataset(cfg.data.name).sample(batch, torch.Generator().manual_seed(seed))
    z = torch.randn(batch, cfg.model.latent_dim, generator=torch.Generator().manual_seed(seed + 1), dtype=DTYPE)
    sigma, weight = member_rules(run, member)
    fld = make_field(gen, disc, get_objective(cfg.loss), real, z, penalty=cfg.penalty.name,
                     weight=weight if cfg.penalty.name != "none" else None, sigma=sigma,
                     consensus=cfg.game.consensus, seed=seed + 2, params=params, device=device)
    info = {"loss": cfg.loss, "penalty": cfg.penalty.name, "weight": weight if cfg.penalty.name != "none" else None,
            "sigma": sigma, "consensus": cfg.game.consensus, "step": run.step, "member": int(member),
            "batch": int(batch), "seed": int(seed)}
    return fld, info


def _run_notes(cfg) -> list[str]:
    notes = ["the point is a training iterate, not necessarily a stationary point: the spectrum describes the "
             "local linearisation of the field there (see field_norm)"]
    if cfg.optim.g.lr != cfg.optim.d.lr:
        notes.append(f"the run's learning rates differ (G {cfg.optim.g.lr:g}, D {cfg.optim.d.lr:g}); one step h "
                     "is used for both players")
    if cfg.optim.d.name != "sgd" or cfg.optim.g.name != "sgd":
        notes.append("the update operators are those of plain gradient steps; Adam/RMSProp rescale each coordinate")
    if cfg.penalty.every > 1:
        notes.append(f"lazy penalty (every {cfg.penalty.every}): the field uses its average, the dense penalty")
    if cfg.game.clip > 0:
        notes.append("weight clipping is a projection after each critic step, not part of the field")
    if cfg.game.wgan_warmup:
        notes.append("the WGAN warm-up's 100 critic steps are not modelled (n_d from the config)")
    return notes


def spectrum_of_run(run_dir, member: int = 0, batch: int = 256, h: float | None = None, seed: int = 0,
                    step: int | None = None, k: int = K_DEFAULT, max_dense: int = DENSE_MAX,
                    scheme: str | None = None, n_g: int | None = None, n_d: int | None = None, params=None,
                    progress: bool = False, device="cpu") -> dict:
    """``spectrum`` of a stored run (config.yaml + checkpoints/last.pt, or step_NNNNNN.pt for ``step``) at
    member ``member``; h defaults to the member's D learning rate, the scheme and n_g/n_d to the run's;
    ``params`` restricts the field to parameters by name prefix (``GameField``). The float64 field is
    evaluated on ``device`` (its eigenvalues by ARPACK on the CPU)."""
    from ganscope import rundir

    run = rundir.open_run(run_dir, step)
    cfg = run.cfg
    fld, info = run_field(run, member, batch, seed, params, device)
    h = _member_value(run, "lr_d", member, cfg.optim.d.lr) if h is None else h
    game = cfg.game
    out = spectrum(fld, h, scheme or game.scheme, _default(n_g, game.n_g), _default(n_d, game.n_d), k, max_dense,
                   progress=progress)
    out["notes"] = out["notes"] + _run_notes(cfg)
    out["source"] = {"run": str(run_dir), **info}
    return out


def _default(value, default):
    return default if value is None else value


# ---- a finite game at its exact equilibrium ---------------------------------------------------------------------
EQUILIBRIUM_OVERRIDES = ("game.start=equilibrium", "game.perturb=0", "train.diagnostics=true")
EQUILIBRIUM_DENSE_MAX = 6000  # G of the matrix (4,482) and a 65-weight output layer: dense, about 20 s


def equilibrium_field(task, member: int = 0, restrict: bool = True) -> GameField:
    """The field of member ``member`` of a finite 2-D game ``task`` (``Toy2DTask`` built with ``game.start:
    equilibrium``, ``game.perturb: 0``) at its exact equilibrium (``ganscope.equilibrium.start``), on the game's
    own N latents and points, with the engine's loss, penalty weight and consensus. The points are G's at
    those latents recomputed in float64 (they differ from the engine's float32 data by rounding), so that the
    point is an equilibrium of the float64 field to rounding, not only to float32's 1e-8.

    ``restrict``: G and the critic's output layer (w, b) only. At D = wᵀh(x) + b with w = 0 that is exact
    wherever the critic's loss is antisymmetric at 0, f₁'(0) = −f₂'(0) (minimax, non-saturating, WGAN): for
    the hidden parameters ψ_h, ∂D/∂ψ_h = wᵀ∂h/∂ψ_h = 0 and ∇ₓD = wᵀ∇ₓh = 0, every penalty term is quadratic
    in w, and the mixed terms f₁'(0)E_X ∂h/∂ψ_h + f₂'(0)E_G(Z) ∂h/∂ψ_h cancel because G(Z) = X; so v' has zero
    rows and columns on ψ_h and its other eigenvalues are the restricted field's. Instance noise with a finite
    number of draws breaks the cancellation and the equilibrium itself (the field does not vanish)."""
    from ganscope.nets.mlp import Logit

    cfg = task.cfg
    if task.finite is None or cfg.game.start != "equilibrium" or cfg.game.perturb != 0:
        raise UsageError("game.start: the equilibrium field needs a finite game started at its exact equilibrium "
                         "(data.finite > 0, game.start=equilibrium, game.perturb=0)")
    z = task.finite[1][member].to("cpu", DTYPE)
    gen, disc = task.gen.member(member), Logit(task.disc.net.member(member))
    with torch.no_grad():  # the data are G's points: the engine's, recomputed in float64, so v = 0 to rounding
        x = copy.deepcopy(gen).to("cpu", DTYPE)(z)
    params = ("gen.", f"disc.net.layers.{cfg.model.d_depth}.") if restrict else None
    sigma, weight = member_rules(SimpleNamespace(cfg=cfg, step=0), member)  # as a stored run at step 0
    penalised = cfg.penalty.name != "none"
    return make_field(gen, disc, get_objective(cfg.loss), x, z, penalty=cfg.penalty.name,
                      weight=weight if penalised else None, sigma=sigma, consensus=cfg.game.consensus,
                      seed=cfg.seed + member, params=params)


def premise(fld: GameField, rtol: float = 1e-9) -> dict:
    """Does the critic feel every move of G's points at first order? ``generator_rank`` = rank ∂G(Z)/∂θ (the
    moves of the N points that G can make), ``coupling_rank`` = rank ∂v_ψ/∂θ (how many of them change the
    critic's field), ranks counting singular values above rtol·σ₁. ``invisible`` = the difference: directions
    that move the points off the data with λ = 0 for every method, along which no linearisation can converge
    (docs/reproduce.md, "Protocol v3"; Mescheder et al. 2018 need the coupling of full rank off the
    equilibria). 0 is the premise of a local test. Both matrices are formed densely: for small games."""
    x, v = fld.graph()
    n, n_gen = fld.n_params, fld.n_gen
    basis = torch.zeros(n - n_gen, n, dtype=DTYPE, device=x.device)
    basis[torch.arange(n - n_gen), torch.arange(n_gen, n)] = 1.0
    coupling = _vjp_rows(v, x, basis, True)[:, :n_gen].cpu().numpy()  # rows of v' on ψ, columns on θ
    points = lambda y: functional_call(fld.gen, fld.split(y)[0], (fld.z,)).reshape(-1)  # noqa: E731
    moves = torch.func.jacrev(points)(x.detach())[:, :n_gen].cpu().numpy()  # ∂G(Z)/∂θ on the chosen θ
    r_g, r_c = _rank(moves, rtol), _rank(coupling, rtol)
    return {"generator_rank": r_g, "coupling_rank": r_c, "invisible": max(r_g - r_c, 0),
            "points": int(fld.z.shape[0])}


def _rank(a, rtol) -> int:
    s = np.linalg.svd(a, compute_uv=False)
    return int((s > rtol * s[0]).sum()) if len(s) and s[0] > 0 else 0


def equilibrium_game(config, overrides=()):
    """The finite 2-D game of a config (a file or shipped name, ``KEY=VALUE`` overrides) built at its exact
    equilibrium (``EQUILIBRIUM_OVERRIDES``): a ``Toy2DTask``, torch's global generator left as it was.
    UsageError unless the config is a finite 2-D game."""
    from ganscope.config import load_yaml, resolve
    from ganscope.shipped import find_config
    from ganscope.tasks.kinds import task_class
    from ganscope.tasks.toy2d import Toy2DTask

    values = load_yaml(find_config(config))
    cfg = resolve(values, overrides)
    if not task_class(cfg.data.name).supports_spectrum:
        raise UsageError(f"data.name: the equilibrium spectrum is for 2-D games, got {cfg.data.name!r}")
    if not cfg.data.finite:
        raise UsageError("data.finite: the equilibrium spectrum needs a finite game (data.finite > 0, as the "
                         "shipped convergence2d)")
    with torch.random.fork_rng(devices=[]):  # the task seeds the global generator for its nets
        return Toy2DTask(resolve(values, [*overrides, *EQUILIBRIUM_OVERRIDES]))


def spectrum_at_equilibrium(config, overrides=(), member: int = 0, h: float | None = None,
                            restrict: bool = True, max_dense: int = EQUILIBRIUM_DENSE_MAX,
                            progress: bool = False) -> dict:
    """``spectrum`` of a finite 2-D game (a config file or shipped name with ``KEY=VALUE`` overrides, e.g.
    ``convergence2d`` with ``method=r1 data.name=circle seed=3``) at its exact equilibrium: the local test of
    Mescheder et al. 2018 (Theorem 4.1) itself, read on the normal space (``normal_space``). h defaults to
    the critic's learning rate, the scheme and n_g/n_d to the config's."""
    task = equilibrium_game(config, overrides)
    cfg = task.cfg
    if isinstance(member, bool) or not isinstance(member, (int, np.integer)) or not 0 <= member < cfg.ensemble:
        raise UsageError(f"--member: the game has {cfg.ensemble} member(s) (0..{cfg.ensemble - 1}), got {member!r}")
    fld = equilibrium_field(task, member, restrict)
    game = cfg.game
    out = spectrum(fld, cfg.optim.d.lr if h is None else h, game.scheme, game.n_g, game.n_d,
                   max_dense=max_dense, progress=progress)
    out["premise"] = premise(fld)
    normal = out["normal_space"]
    if normal is not None and normal["slowest_rate"] is not None:  # the verdicts on the normal space
        for scheme in ("simgd", "altgd"):
            out[f"local_verdict_{scheme}"] = dirac.local_verdict(normal[f"spectral_radius_{scheme}_normal"])
        out["local_verdict"] = out[f"local_verdict_{game.scheme}"]
    out["notes"].append("at the exact equilibrium of the finite game (G fitted onto the data, which become the "
                        "fitted points; D = 0): the local verdicts read the normal space's radii"
                        if normal is not None else "at the exact equilibrium of the finite game, matrix-free: the "
                        "radii include the neutral directions (μ = 1); raise --max-dense for the normal space")
    if cfg.noise.sigma > 0:
        out["notes"].append("instance noise with finite draws: the point is not an equilibrium of this field")
    out["source"] = {"config": str(config), "overrides": list(overrides), "member": int(member),
                     "seed": cfg.seed + int(member), "method": cfg.method, "loss": cfg.loss,
                     "penalty": cfg.penalty.name, "problem": cfg.data.name, "restricted": bool(restrict)}
    return out


# ---- the figure ---------------------------------------------------------------------------------------------
def plot_spectrum(result: dict, ax=None):
    """Eigenvalues of v' in the complex plane with the SimGD region {λ : |1 + hλ| < 1} (disc of centre −1/h,
    radius 1/h) for the result's h; returns the Figure."""
    from matplotlib.patches import Circle

    from ganscope import plots

    if ax is None:
        fig, ax = plots.plt.subplots(figsize=(5, 4.2))
    lam = np.array([complex(a, b) for a, b in result["eigenvalues"]])
    h = result["h"]
    ax.add_patch(Circle((-1 / h, 0), 1 / h, color="tab:green", alpha=0.15, lw=0, label="|1 + hλ| < 1"))
    ax.add_patch(Circle((-1 / h, 0), 1 / h, fill=False, color="tab:green", lw=1))
    ax.axhline(0, color="0.6", lw=0.6)
    ax.axvline(0, color="0.6", lw=0.6)
    ax.scatter(lam.real, lam.imag, s=12, color="tab:blue", label=f"eigenvalues of v′ ({result['method']})")
    span = max(float(np.abs(lam).max(initial=0.0)), 1e-3) * 1.15
    left = min(float(lam.real.min(initial=0.0)) * 1.15, -0.1 * span)
    right = max(float(lam.real.max(initial=0.0)) * 1.15, 0.1 * span)
    top = max(float(np.abs(lam.imag).max(initial=0.0)) * 1.15, 0.25 * (right - left))
    ax.set(xlim=(left, right), ylim=(-top, top), xlabel="Re λ", ylabel="Im λ")
    sim, alt, where = result["spectral_radius_simgd"], result["spectral_radius_altgd"], ""
    normal = result.get("normal_space")
    if "premise" in result and normal and normal["slowest_rate"] is not None:  # an equilibrium: what the verdict reads
        sim, alt = normal["spectral_radius_simgd_normal"], normal["spectral_radius_altgd_normal"]
        where = f" on the normal space ({normal['n_neutral']} neutral left out)"
    ax.set_title(f"{result['n_params']} params, h={h:g}: ρ_simgd={sim:.10g}, ρ_altgd={alt:.10g}{where}\n"
                 f"local verdict ({result['scheme']}): {result['local_verdict']}", fontsize=8)
    ax.legend(fontsize=7, loc="best")
    return ax.figure
