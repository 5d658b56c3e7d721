"""The Dirac-GAN of Mescheder, Geiger & Nowozin 2018 (§2.2, §3, supplementary), analytically.

Data p_D = δ_0, generator p_θ = δ_θ, linear discriminator D_ψ(x) = ψx (Mescheder's sign: high on fake),
game L(θ, ψ) = f(ψθ) + f(0) with the generator minimising and the discriminator maximising. The gradient
vector field is v(θ, ψ) = (-∂_θ L, ∂_ψ L) = (-ψ f'(ψθ), θ f'(ψθ)) (Lemma 2.2); regularisers change it as
in docs/references.md §M3. Everything here is vectorised over numpy arrays of θ and ψ.

Update schemes with step h (§1.1): SimGD x ← x + h v(x); AltGD in the order ``order``: ``g-first`` (the
default, as the official Dirac-GAN notebook) n_g generator sub-steps θ ← θ + h v₁, then n_d discriminator
sub-steps ψ ← ψ + h v₂ (with the new θ); ``d-first`` (the engine's default, ``game.order``) the discriminator's
sub-steps first. Local convergence is read from the spectral radius of the update operator's Jacobian at the
equilibrium (0, 0); both orders have the same spectrum (eig(AB) = eig(BA)), not the same iterates.

Names follow ``ganscope.vocabulary`` (the engine's): losses minimax, nonsaturating, wgan; the aliases
``standard`` (= minimax), ``gp0`` (= wgan-gp with g₀ = 0) and ``wgan-clip`` (= clip) are accepted, and
``DiracGAN.aliases`` records which were given.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np

from ganscope.errors import UsageError
from ganscope.objectives import FForm, get_objective
from ganscope.vocabulary import LOSS_ALIASES, ORDERS, REG_ALIASES, allowed, canonical

LOSSES = ("minimax", "nonsaturating", "wgan")  # the objectives of the same names (ganscope.objectives)
SCHEMES = ("simgd", "altgd")
ORDER_DEFAULT = "g-first"  # the official Dirac-GAN notebook; the engine's default is d-first
VERDICTS = ("converges", "no-convergence", "diverges")
GH_NODES, GH_WEIGHTS = np.polynomial.hermite_e.hermegauss(80)  # ∫ g(x) N(x; 0, 1) dx ≈ Σ w g(x)
GH_WEIGHTS = GH_WEIGHTS / GH_WEIGHTS.sum()


@dataclass(frozen=True)
class Regulariser:
    """How a regulariser enters the Dirac-GAN: its parameters, its field, its Jacobian at (0, 0)."""

    params: dict[str, float]  # parameter name -> default
    field: Callable  # (game, θ, ψ) -> (v₁, v₂)
    jacobian: Callable  # (game, J₀) -> 2×2 Jacobian at the equilibrium, or None where undefined
    doc: str


def _unregularised(game, theta, psi):
    """v = (-ψ f'(ψθ), θ f'(ψθ)); the non-saturating generator maximises f(-ψθ): v₁ = -ψ f'(-ψθ)."""
    f, u = game.f, psi * theta
    v1 = -psi * (f.df(u) if game.saturating else f.df(-u))
    return v1, theta * f.df(u)


def _unregularised_jacobian(game, theta, psi):
    """Exact Jacobian of the unregularised field at any (θ, ψ), shape (..., 2, 2)."""
    f, u = game.f, psi * theta
    d21 = f.df(u) + u * f.d2f(u)
    if game.saturating:
        d11, d12 = -(psi**2) * f.d2f(u), -d21
    else:
        d11, d12 = psi**2 * f.d2f(-u), -f.df(-u) + u * f.d2f(-u)
    return np.stack([np.stack([d11, d12], -1), np.stack([d21, theta**2 * f.d2f(u)], -1)], -2)


def _zero_centred(game, theta, psi):
    """R1 = R2 = (γ/2)ψ² on the Dirac-GAN (∇ₓD = ψ everywhere), subtracted from D's objective (Lemma 3.3)."""
    v1, v2 = _unregularised(game, theta, psi)
    return v1, v2 - game.gamma * psi


def _instance_noise(game, theta, psi):
    """Noise ε ~ N(0, σ²) on real and fake inputs of D (Lemma 3.2), expectations by Gauss–Hermite quadrature."""
    f, s = game.f, 1.0 if game.saturating else -1.0
    theta, psi = np.asarray(theta, float)[..., None], np.asarray(psi, float)[..., None]
    eps = game.sigma * GH_NODES
    fake = theta + eps
    v1 = -(GH_WEIGHTS * psi * f.df(s * psi * fake)).sum(-1)
    v2 = (GH_WEIGHTS * (fake * f.df(psi * fake) - eps * f.df(-psi * eps))).sum(-1)
    return v1, v2


def _consensus(game, theta, psi):
    """Consensus optimisation (Mescheder et al. 2017): w = v - γ v'ᵀv, the exact gradient of γ/2‖v‖²."""
    v = np.stack(np.broadcast_arrays(*_unregularised(game, theta, psi)), -1)
    jac = _unregularised_jacobian(game, *np.broadcast_arrays(theta, psi))
    w = v - game.gamma * np.einsum("...ij,...i->...j", jac, v)
    return w[..., 0], w[..., 1]


def _wgan_gp(game, theta, psi):
    """WGAN-GP on the Dirac-GAN: penalty (γ/2)(|ψ| - g₀)², gradient γ(|ψ| - g₀) sign ψ."""
    v1, v2 = _unregularised(game, theta, psi)
    return v1, v2 - game.gamma * (np.abs(psi) - game.target) * np.sign(psi)


def _damped(entry):
    return lambda game, j0: j0 + np.multiply.outer(entry(game), np.diag([0.0, 1.0]))


REGULARISERS: dict[str, Regulariser] = {
    "none": Regulariser({}, _unregularised, lambda g, j0: j0, "unregularised"),
    "r1": Regulariser({"gamma": 0.3}, _zero_centred, _damped(lambda g: -g.gamma), "R1, (γ/2)E_p_D‖∇D‖²"),
    "r2": Regulariser({"gamma": 0.3}, _zero_centred, _damped(lambda g: -g.gamma), "R2, (γ/2)E_p_θ‖∇D‖²"),
    "noise": Regulariser(
        {"sigma": 0.7}, _instance_noise, _damped(lambda g: 2 * g.f.d2f(0.0) * g.sigma**2), "instance noise σ"
    ),
    "consensus": Regulariser(
        {"gamma": 1.0},
        _consensus,
        lambda g, j0: j0 - g.gamma[..., None, None] * np.swapaxes(j0, -1, -2) @ j0,
        "consensus optimisation γ",
    ),
    "wgan-gp": Regulariser(
        {"gamma": 0.7, "target": 1.0},
        _wgan_gp,
        lambda g, j0: (j0 + np.multiply.outer(-g.gamma, np.diag([0.0, 1.0]))) if np.all(g.target == 0) else None,
        "WGAN-GP (γ/2)(|ψ|-g₀)²",
    ),
    "clip": Regulariser({"clip": 0.5}, _unregularised, lambda g, j0: j0, "weight clipping |ψ| ≤ c"),
}
PARAMS = ("gamma", "sigma", "clip", "target")


@dataclass(frozen=True)
class DiracGAN:
    """One Dirac-GAN method: a loss and a regulariser with its parameters.

    Parameters may be numpy arrays (broadcast together) for vectorised sweeps over γ or σ. ``loss`` and
    ``reg`` may be aliases (``standard``, ``gp0``, ``wgan-clip``): the game holds the canonical names and
    ``aliases`` maps "loss"/"reg" to the alias given.
    """

    loss: str = "minimax"
    reg: str = "none"
    gamma: float | np.ndarray = np.nan
    sigma: float | np.ndarray = np.nan
    clip: float | np.ndarray = np.nan
    target: float | np.ndarray = np.nan
    _spec: Regulariser = field(init=False, repr=False, compare=False)
    aliases: dict = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        self._canonical_names()
        spec = REGULARISERS[self.reg]
        object.__setattr__(self, "_spec", spec)
        for name in PARAMS:
            value = getattr(self, name)
            given = not np.all(np.isnan(value))
            if given and name not in spec.params:
                raise UsageError(f"--{name}: regulariser {self.reg!r} takes no {name}; it takes: "
                                 f"{', '.join(spec.params) or 'no parameters'}")
            if not given and name in spec.params:
                value = spec.params[name]
            if name in spec.params:
                value = np.asarray(value, float) if np.ndim(value) else float(value)
                low_ok = np.all(value > 0) if name in ("clip",) else np.all(value >= 0)
                if not low_ok or not np.all(np.isfinite(value)):
                    bound = "> 0" if name == "clip" else ">= 0"
                    raise UsageError(f"--{name}: must be a finite number {bound}, got {value}")
            object.__setattr__(self, name, value)

    def _canonical_names(self):
        """Aliases to canonical names (ganscope.vocabulary); ``gp0`` is wgan-gp with target g₀ = 0."""
        loss, loss_alias = canonical(self.loss, LOSS_ALIASES)
        reg, reg_alias = canonical(self.reg, REG_ALIASES)
        if loss not in LOSSES:
            raise UsageError(f"--loss: unknown loss {self.loss!r}; allowed: {allowed(LOSSES, LOSS_ALIASES)}")
        if reg not in REGULARISERS:
            raise UsageError(f"--reg: unknown regulariser {self.reg!r}; allowed: "
                             f"{allowed(REGULARISERS, REG_ALIASES)}")
        if reg_alias == "gp0":
            if not np.all(np.isnan(self.target)) and not np.all(np.asarray(self.target) == 0):
                raise UsageError(f"--target: gp0 is wgan-gp with target 0, got {self.target}")
            object.__setattr__(self, "target", 0.0)
        object.__setattr__(self, "loss", loss)
        object.__setattr__(self, "reg", reg)
        names = {"loss": loss_alias, "reg": reg_alias}
        object.__setattr__(self, "aliases", {k: v for k, v in names.items() if v is not None})

    @property
    def f(self) -> FForm:
        return get_objective(self.loss).f

    @property
    def saturating(self) -> bool:
        return get_objective(self.loss).saturating

    @property
    def params(self) -> dict[str, float]:
        return {k: getattr(self, k) for k in self._spec.params}

    def with_params(self, **params) -> "DiracGAN":
        return replace(self, **params)

    # ---- the vector field -------------------------------------------------------------------
    def field(self, theta, psi):
        """The (regularised) gradient vector field v(θ, ψ), vectorised."""
        with np.errstate(over="ignore", invalid="ignore"):
            return self._spec.field(self, np.asarray(theta, float), np.asarray(psi, float))

    def project(self, psi):
        """The discriminator's projection after each of its steps: clip ψ into [-c, c] (WGAN, Lemma 3.1)."""
        return np.clip(psi, -self.clip, self.clip) if self.reg == "clip" else psi

    # ---- linearisation at the equilibrium (0, 0) --------------------------------------------
    @property
    def defined(self) -> bool:
        """False where the field is not differentiable at the equilibrium (WGAN-GP with g₀ ≠ 0)."""
        return self.jacobian() is not None

    def jacobian(self):
        """Closed-form Jacobian v'(0, 0) (docs/references.md §M3), shape (..., 2, 2); None where undefined."""
        a = self.f.df(0.0)
        shape = np.broadcast_shapes(*(np.shape(v) for v in self.params.values()))
        j0 = np.broadcast_to(np.array([[0.0, -a], [a, 0.0]]), shape + (2, 2))
        return self._spec.jacobian(_Broadcast(self), j0)

    def jacobian_numeric(self, eps: float = 1e-5):
        """Central finite differences of the field at (0, 0); None where the field is discontinuous there."""
        if not self.defined:
            return None
        cols = []
        for d in (np.array([eps, 0.0]), np.array([0.0, eps])):
            plus, minus = np.array(self.field(*d)), np.array(self.field(*-d))
            cols.append((plus - minus) / (2 * eps))
        return np.stack(cols, -1)

    def eigenvalues(self):
        """Continuous-time eigenvalues of v'(0, 0), shape (..., 2) complex; None where undefined."""
        jac = self.jacobian()
        return None if jac is None else eig2(jac)

    def update_matrix(self, h, scheme: str = "simgd", n_g: int = 1, n_d: int = 1, order: str = ORDER_DEFAULT):
        """Jacobian of the update operator F_h at (0, 0): I + hJ (SimGD) or, for AltGD,
        (I + hP_dJ)^n_d (I + hP_gJ)^n_g (g-first) and (I + hP_gJ)^n_g (I + hP_dJ)^n_d (d-first)."""
        jac = self.jacobian()
        if jac is None:
            return None
        return update_matrix(jac, h, scheme, n_g, n_d, order)

    def spectral_radius(self, h, scheme="simgd", n_g=1, n_d=1, order=ORDER_DEFAULT):
        mat = self.update_matrix(h, scheme, n_g, n_d, order)
        return None if mat is None else np.abs(eig2(mat)).max(-1)

    def max_step(self, scheme="simgd", n_g=1, n_d=1, order=ORDER_DEFAULT):
        """Largest h with ρ(F_h') < 1 on all of (0, h); 0 if no h works, None where undefined.

        SimGD in closed form, h* = min over eigenvalues of -2 Re λ / |λ|² (docs/references.md §M4);
        AltGD by a geometric scan of h refined by bisection.
        """
        jac = self.jacobian()
        if jac is None:
            return None
        if scheme == "simgd":
            return max_step_simgd(eig2(jac))
        return max_step_scan(lambda h: np.abs(eig2(update_matrix(jac, h, scheme, n_g, n_d, order))).max(-1))

    # ---- trajectories ------------------------------------------------------------------------
    def trajectory(self, start=(1.0, 1.0), h=0.1, steps=1000, scheme="simgd", n_g=1, n_d=1, order=ORDER_DEFAULT):
        """Iterates (θ_k, ψ_k), k = 0..steps, shape (steps + 1, ..., 2); start may be (..., 2). AltGD takes
        n_g generator and n_d discriminator sub-steps per step, the generator's first for ``g-first``."""
        check_scheme(scheme, h, n_g, n_d)
        check_order(order)
        g_first = order == "g-first"
        x = np.empty((steps + 1,) + np.shape(start), float)
        theta, psi = np.array(start, float)[..., 0], np.array(start, float)[..., 1]
        x[0, ..., 0], x[0, ..., 1] = theta, psi
        with np.errstate(over="ignore", invalid="ignore"):
            for k in range(1, steps + 1):
                if scheme == "simgd":
                    v1, v2 = self.field(theta, psi)
                    theta, psi = theta + h * v1, self.project(psi + h * v2)
                else:
                    for _ in range(n_g if g_first else 0):
                        theta = theta + h * self.field(theta, psi)[0]
                    for _ in range(n_d):
                        psi = self.project(psi + h * self.field(theta, psi)[1])
                    for _ in range(0 if g_first else n_g):
                        theta = theta + h * self.field(theta, psi)[0]
                x[k, ..., 0], x[k, ..., 1] = theta, psi
        return x


class _Broadcast:
    """A view of a game whose parameters are arrays ready to broadcast against (..., 2, 2)."""

    def __init__(self, game: DiracGAN):
        self.f = game.f
        for k, v in game.params.items():
            setattr(self, k, np.asarray(v, float))


def check_scheme(scheme, h, n_g, n_d):
    if scheme not in SCHEMES:
        raise UsageError(f"--scheme: unknown scheme {scheme!r}; allowed: {', '.join(SCHEMES)}")
    if not np.all(np.asarray(h) > 0) or not np.all(np.isfinite(h)):
        raise UsageError(f"--h: the step size must be a finite number > 0, got {h}")
    for name, n in (("--n-g", n_g), ("--n-d", n_d)):
        if int(n) != n or n < 1:
            raise UsageError(f"{name}: must be an integer >= 1, got {n}")


def check_order(order):
    if order not in ORDERS:
        raise UsageError(f"--order: unknown order {order!r}; allowed: {', '.join(ORDERS)}")


def scheme_label(scheme, n_g=1, n_d=1, order=ORDER_DEFAULT) -> str:
    """'simgd', or 'altgd g-first' with ' (n_g=2, n_d=3)' where a count is not 1: for titles and tables."""
    if scheme != "altgd":
        return scheme
    return f"altgd {order}" + (f" (n_g={n_g}, n_d={n_d})" if (n_g, n_d) != (1, 1) else "")


def eig2(mat):
    """Eigenvalues of a stack of real 2×2 matrices, (..., 2, 2) -> (..., 2) complex: tr/2 ± sqrt(tr²/4 - det)."""
    mat = np.asarray(mat, float)
    tr = mat[..., 0, 0] + mat[..., 1, 1]
    det = mat[..., 0, 0] * mat[..., 1, 1] - mat[..., 0, 1] * mat[..., 1, 0]
    root = np.sqrt((tr**2 / 4 - det).astype(complex))
    return np.stack([tr / 2 + root, tr / 2 - root], -1)


def update_matrix(jac, h, scheme="simgd", n_g=1, n_d=1, order=ORDER_DEFAULT):
    """F_h'(0,0) for a field Jacobian J (..., 2, 2) and steps h broadcast against its batch shape; AltGD
    multiplies the generator's and the discriminator's sub-step matrices in the order ``order``."""
    check_scheme(scheme, h, n_g, n_d)
    check_order(order)
    h = np.asarray(h, float)[..., None, None]
    eye = np.eye(2)
    if scheme == "simgd":
        return eye + h * jac
    p_g, p_d = np.diag([1.0, 0.0]), np.diag([0.0, 1.0])
    gen = np.linalg.matrix_power(eye + h * (p_g @ jac), int(n_g))
    dis = np.linalg.matrix_power(eye + h * (p_d @ jac), int(n_d))
    return dis @ gen if order == "g-first" else gen @ dis


def max_step_simgd(eigenvalues):
    """SimGD converges iff |1 + hλ| < 1 for every λ, i.e. h < -2 Re λ / |λ|² with Re λ < 0 (docs/references.md §M4)."""
    lam = np.asarray(eigenvalues)
    with np.errstate(divide="ignore", invalid="ignore"):
        bound = np.where(lam.real < 0, -2 * lam.real / np.abs(lam) ** 2, 0.0)
    return float(bound.min()) if bound.ndim == 1 else bound.min(-1)


def max_step_scan(radius, h_min=1e-4, h_max=1e4, points=4001, tol=1e-12, bisections=60):
    """sup{h : radius(h') < 1 - tol for all h' in (0, h)} by a geometric scan, then bisection."""
    grid = np.geomspace(h_min, h_max, points)
    ok = radius(grid) < 1 - tol
    if not ok[0]:
        return 0.0
    if ok.all():
        return float("inf")
    bad = int(np.argmin(ok))
    lo, hi = grid[bad - 1], grid[bad]
    for _ in range(bisections):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if radius(np.array(mid)) < 1 - tol else (lo, mid)
    return float(lo)


def local_verdict(radius, tol=1e-9):
    """From ρ(F_h'): < 1 converges (linearly), = 1 within tol no-convergence, > 1 diverges."""
    if radius < 1 - tol:
        return "converges"
    return "no-convergence" if radius <= 1 + tol else "diverges"


def trajectory_verdict(radii, conv_tol=1e-3, shrink=0.5, growth=1.05, blowup=1e6):
    """Read a radius sequence r_0..r_N by comparing late = max r over the last quarter with
    mid = max r over the second quarter. It converges when late ≤ conv_tol·r_0 or late < shrink·mid
    (a linear rate is visible); it diverges when r is non-finite, late ≥ blowup·r_0 or late > growth·mid
    (still growing); otherwise no-convergence (circling, or shrinking slower than linearly)."""
    r = np.asarray(radii, float)
    r0 = max(r[0], 1e-12)
    n = len(r) - 1
    if not np.all(np.isfinite(r)):
        return "diverges"
    late, mid = r[max(1, 3 * n // 4):].max(), r[max(1, n // 4): max(2, n // 2 + 1)].max()
    if late <= conv_tol * r0 or late < shrink * mid:
        return "converges"
    if late >= blowup * r0 or late > growth * mid:
        return "diverges"
    return "no-convergence"


def analyse(game: DiracGAN, scheme="simgd", h=0.1, n_g=1, n_d=1, steps=1000, start=(1.0, 1.0),
            order=ORDER_DEFAULT) -> dict:
    """Everything the lab reports for one method, scheme and step: the CLI's JSON object. ``loss``/``reg``
    are the canonical names, ``aliases`` the aliases given for them; ``order`` is null for SimGD."""
    check_scheme(scheme, h, n_g, n_d)
    check_order(order)
    if int(steps) != steps or steps < 1:
        raise UsageError(f"--steps: must be an integer >= 1, got {steps}")
    jac, notes = game.jacobian(), []
    traj = game.trajectory(start, h, steps, scheme, n_g, n_d, order)
    radii = np.hypot(traj[:, 0], traj[:, 1])
    out = {
        "loss": game.loss,
        "reg": game.reg,
        "aliases": dict(game.aliases),
        "params": {k: float(v) for k, v in game.params.items()},
        "scheme": scheme,
        "order": order if scheme == "altgd" else None,
        "h": float(h),
        "n_g": int(n_g),
        "n_d": int(n_d),
        "steps": int(steps),
        "start": [float(v) for v in start],
        "jacobian": None if jac is None else jac.tolist(),
        "eigenvalues": None,
        "update_eigenvalues": None,
        "spectral_radius": None,
        "max_step": game.max_step(scheme, n_g, n_d, order),
    }
    if jac is None:
        notes.append("the WGAN-GP field is discontinuous at (0, 0) (v₂(0, 0±) = ±γg₀), so the Jacobian, its "
                     "eigenvalues, the update operator and the step bound are undefined; (0, 0) is not a zero "
                     "of the field, so the iterates cannot converge to it")
        out["local_verdict"] = "no-convergence"
    else:
        upd = eig2(game.update_matrix(h, scheme, n_g, n_d, order))
        rho = float(np.abs(upd).max())
        out.update(eigenvalues=_pairs(eig2(jac)), update_eigenvalues=_pairs(upd), spectral_radius=rho)
        out["local_verdict"] = local_verdict(rho)
    if game.reg == "clip":
        notes.append(f"projection |ψ| ≤ {game.clip:g} after each discriminator step; inside the band the "
                     "linearisation is the unregularised one")
    out.update(
        final=[_finite(v) for v in traj[-1]],
        radius=[_finite(v) for v in radii],
        trajectory_verdict=trajectory_verdict(radii),
        notes=notes,
    )
    if out["max_step"] == float("inf"):
        out["max_step"] = "inf"
    return out


def _pairs(lam):
    return [[float(z.real), float(z.imag)] for z in np.asarray(lam).ravel()]


def _finite(v):
    """JSON has no inf/nan: a non-finite value is written as null."""
    return float(v) if np.isfinite(v) else None


def sweep_param(game: DiracGAN) -> str | None:
    """The parameter that eigenvalue paths and convergence maps vary: γ, or σ for instance noise."""
    return next((p for p in ("gamma", "sigma") if p in game.params), None)


def radius_map(game: DiracGAN, hs, values=None, scheme="simgd", n_g=1, n_d=1, order=ORDER_DEFAULT):
    """Spectral radius ρ(F_h') over a grid, shape (len(values), len(hs)), vectorised (no loop per point).

    ``values`` sweep the game's γ (or σ); a game with neither gives the same row for every value.
    None where the Jacobian is undefined.
    """
    hs = np.asarray(hs, float)
    values = np.atleast_1d(np.asarray([np.nan] if values is None else values, float))
    param = sweep_param(game)
    jac = (game.with_params(**{param: values}) if param else game).jacobian()
    if jac is None:
        return None
    jac = np.broadcast_to(jac, (len(values), 2, 2))
    mat = update_matrix(jac[:, None], hs[None, :], scheme, n_g, n_d, order)
    return np.abs(eig2(mat)).max(-1)
