"""The Dirac-GAN lab against the closed forms of Mescheder et al. 2018 (docs/references.md §M2–M4)."""
import numpy as np
import pytest
from scipy.integrate import quad, solve_ivp
from scipy.stats import norm

from ganscope.analysis import dirac
from ganscope.analysis.dirac import DiracGAN
from ganscope.errors import UsageError

FP0 = {"minimax": 0.5, "nonsaturating": 0.5, "wgan": 1.0}  # f'(0)
FPP0 = {"minimax": -0.25, "nonsaturating": -0.25, "wgan": 0.0}  # f''(0)
FP0["standard"], FPP0["standard"] = FP0["minimax"], FPP0["minimax"]  # the lab's alias of minimax
ALL = [(loss, reg) for loss in dirac.LOSSES for reg in dirac.REGULARISERS]


def sorted_eigs(lam):
    lam = np.asarray(lam, complex).ravel()
    return lam[np.lexsort((lam.imag, lam.real))]


@pytest.mark.parametrize("loss,reg", ALL)
def test_closed_form_jacobian_matches_finite_differences(loss, reg):
    game = DiracGAN(loss, reg)
    if reg == "wgan-gp":
        assert game.jacobian() is None and game.jacobian_numeric() is None
        return
    np.testing.assert_allclose(game.jacobian(), game.jacobian_numeric(), atol=1e-7)


@pytest.mark.parametrize("reg,params", [("r1", {"gamma": 2.5}), ("noise", {"sigma": 2.0}),
                                        ("consensus", {"gamma": 0.1}), ("wgan-gp", {"target": 0.0})])
@pytest.mark.parametrize("loss", list(dirac.LOSSES))
def test_jacobian_matches_finite_differences_for_other_parameters(loss, reg, params):
    game = DiracGAN(loss, reg, **params)
    np.testing.assert_allclose(game.jacobian(), game.jacobian_numeric(), atol=1e-7)


@pytest.mark.parametrize("loss", list(dirac.LOSSES))
def test_lemma_2_2_purely_imaginary_eigenvalues(loss):
    a = FP0[loss]
    expected = sorted_eigs([a * 1j, -a * 1j])
    np.testing.assert_allclose(sorted_eigs(DiracGAN(loss).eigenvalues()), expected, atol=1e-12)


@pytest.mark.parametrize("gamma", [0.1, 0.3, 0.999, 1.0, 1.7, 5.0])
@pytest.mark.parametrize("loss", ["standard", "wgan"])
def test_lemma_3_3_gradient_penalty_eigenvalues(loss, gamma):
    a = FP0[loss]
    root = np.sqrt(complex(gamma**2 / 4 - a**2))
    for reg in ("r1", "r2"):
        lam = DiracGAN(loss, reg, gamma=gamma).eigenvalues()
        np.testing.assert_allclose(sorted_eigs(lam), sorted_eigs([-gamma / 2 + root, -gamma / 2 - root]),
                                   atol=1e-6)


@pytest.mark.parametrize("sigma", [0.2, 0.7, 1.5, 3.0])
def test_lemma_3_2_instance_noise_eigenvalues(sigma):
    a, b = FP0["standard"], FPP0["standard"]
    root = np.sqrt(complex(b**2 * sigma**4 - a**2))
    lam = DiracGAN("standard", "noise", sigma=sigma).eigenvalues()
    np.testing.assert_allclose(sorted_eigs(lam), sorted_eigs([b * sigma**2 + root, b * sigma**2 - root]), atol=1e-6)
    # the quadrature field itself, linearised numerically, gives the same spectrum
    lam_num = dirac.eig2(DiracGAN("standard", "noise", sigma=sigma).jacobian_numeric())
    np.testing.assert_allclose(sorted_eigs(lam_num), sorted_eigs(lam), atol=1e-5)


@pytest.mark.parametrize("gamma", [0.1, 1.0, 4.0])
@pytest.mark.parametrize("loss", list(dirac.LOSSES))
def test_consensus_eigenvalues(loss, gamma):
    a = FP0[loss]
    expected = sorted_eigs([-gamma * a**2 + a * 1j, -gamma * a**2 - a * 1j])
    np.testing.assert_allclose(sorted_eigs(DiracGAN(loss, "consensus", gamma=gamma).eigenvalues()), expected,
                               atol=1e-12)


def test_consensus_field_is_exact_gradient_of_half_norm_squared():
    """w = v - γ ∇(½‖v‖²), checked against central differences of ½‖v‖² away from the equilibrium."""
    plain, cons = DiracGAN("standard"), DiracGAN("standard", "consensus", gamma=0.8)
    rng = np.random.default_rng(0)
    for theta, psi in rng.normal(size=(5, 2)) * 2:
        half_sq = lambda t, p: 0.5 * np.sum(np.square(plain.field(t, p)))  # noqa: E731
        e = 1e-6
        grad = [(half_sq(theta + e, psi) - half_sq(theta - e, psi)) / (2 * e),
                (half_sq(theta, psi + e) - half_sq(theta, psi - e)) / (2 * e)]
        expected = np.array(plain.field(theta, psi)) - 0.8 * np.array(grad)
        np.testing.assert_allclose(cons.field(theta, psi), expected, atol=1e-7)


def test_instance_noise_quadrature_matches_adaptive_integration():
    game, sigma = DiracGAN("standard", "noise", sigma=0.9), 0.9
    theta, psi = 0.7, -1.3
    fp = game.f.df
    dens = lambda e: norm.pdf(e, scale=sigma)  # noqa: E731
    v1 = -quad(lambda e: psi * fp(psi * (theta + e)) * dens(e), -np.inf, np.inf)[0]
    v2 = quad(lambda e: ((theta + e) * fp(psi * (theta + e)) - e * fp(-psi * e)) * dens(e), -np.inf, np.inf)[0]
    np.testing.assert_allclose(game.field(theta, psi), [v1, v2], rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("loss", ["standard", "wgan"])
def test_r1_equals_instance_noise_at_gamma_minus_two_fpp_sigma_squared(loss):
    """Mescheder: the Jacobians agree when γ = -2 f''(0) σ² (σ = sqrt(2γ) for the standard GAN)."""
    sigma = 1.1
    gamma = -2 * FPP0[loss] * sigma**2
    noise_jac = DiracGAN(loss, "noise", sigma=sigma).jacobian_numeric()
    np.testing.assert_allclose(noise_jac, DiracGAN(loss, "r1", gamma=gamma).jacobian(), atol=1e-7)
    if loss == "standard":
        np.testing.assert_allclose(np.sqrt(2 * gamma), sigma)


def test_wgan_gp_undefined_at_equilibrium_and_zero_centred_equals_r1():
    gp = DiracGAN("wgan", "wgan-gp", gamma=0.7, target=1.0)
    assert gp.eigenvalues() is None and gp.max_step() is None and gp.spectral_radius(0.1) is None
    v2_plus, v2_minus = gp.field(0.0, 1e-12)[1], gp.field(0.0, -1e-12)[1]
    np.testing.assert_allclose([v2_plus, v2_minus], [0.7, -0.7], atol=1e-9)  # ±γ g₀: a jump
    zero = DiracGAN("wgan", "wgan-gp", gamma=0.7, target=0.0)
    np.testing.assert_allclose(zero.jacobian(), DiracGAN("wgan", "r1", gamma=0.7).jacobian())


@pytest.mark.parametrize("loss", list(dirac.LOSSES))
def test_lemma_2_3_continuous_flow_conserves_the_radius(loss):
    game = DiracGAN(loss) if loss != "nonsaturating" else DiracGAN("standard")
    grid = np.linspace(-3, 3, 41)
    theta, psi = np.meshgrid(grid, grid)
    v1, v2 = game.field(theta, psi)
    np.testing.assert_allclose(theta * v1 + psi * v2, 0.0, atol=1e-12)  # v ⟂ (θ, ψ)
    sol = solve_ivp(lambda t, x: game.field(*x), (0, 30), [1.0, 0.5], rtol=1e-11, atol=1e-12)
    r2 = sol.y[0] ** 2 + sol.y[1] ** 2
    np.testing.assert_allclose(r2, 1.25, rtol=1e-7)


def test_nonsaturating_flow_dissipates_as_minus_u_tanh_u_over_two():
    """N1: d/dt ½(θ²+ψ²) = -u tanh(u/2), u = ψθ."""
    game = DiracGAN("nonsaturating")
    theta, psi = np.meshgrid(np.linspace(-3, 3, 13), np.linspace(-2, 2, 9))
    v1, v2 = game.field(theta, psi)
    u = theta * psi
    np.testing.assert_allclose(theta * v1 + psi * v2, -u * np.tanh(u / 2), atol=1e-12)


@pytest.mark.parametrize("loss", ["standard", "wgan"])
def test_lemma_2_4_simgd_norm_growth_identity(loss):
    """‖x_{k+1}‖² = ‖x_k‖² + h²‖v(x_k)‖² for every step of unregularised SimGD."""
    game, h = DiracGAN(loss), 0.2
    traj = game.trajectory((0.8, -0.3), h=h, steps=200)
    v = np.stack(game.field(traj[:-1, 0], traj[:-1, 1]), -1)
    lhs = np.sum(traj[1:] ** 2, -1)
    rhs = np.sum(traj[:-1] ** 2, -1) + h**2 * np.sum(v**2, -1)
    np.testing.assert_allclose(lhs, rhs, rtol=1e-12)
    assert np.all(np.diff(lhs) > 0)


@pytest.mark.parametrize("h", [0.01, 0.1, 1.0])
@pytest.mark.parametrize("loss", list(dirac.LOSSES))
def test_lemma_2_4_simgd_update_eigenvalues(loss, h):
    a = FP0[loss]
    upd = dirac.eig2(DiracGAN(loss).update_matrix(h, "simgd"))
    np.testing.assert_allclose(sorted_eigs(upd), sorted_eigs([1 + 1j * h * a, 1 - 1j * h * a]), atol=1e-12)
    np.testing.assert_allclose(DiracGAN(loss).spectral_radius(h), np.sqrt(1 + h**2 * a**2), rtol=1e-12)


@pytest.mark.parametrize("h,n_g,n_d", [(0.1, 1, 1), (0.5, 2, 3), (1.0, 1, 5), (3.0, 1, 1), (1.5, 2, 2)])
@pytest.mark.parametrize("loss", ["standard", "wgan"])
def test_lemma_2_5_altgd_update_eigenvalues(loss, h, n_g, n_d):
    alpha = np.sqrt(n_g * n_d) * h * FP0[loss]
    c = 1 - alpha**2 / 2
    root = np.sqrt(complex(c**2 - 1))
    upd = dirac.eig2(DiracGAN(loss).update_matrix(h, "altgd", n_g, n_d))
    np.testing.assert_allclose(sorted_eigs(upd), sorted_eigs([c + root, c - root]), atol=1e-9)
    rho = DiracGAN(loss).spectral_radius(h, "altgd", n_g, n_d)
    verdict = dirac.local_verdict(rho)
    assert verdict == ("no-convergence" if alpha <= 2 else "diverges")


def _brute_force_max_step(game, scheme, n_g=1, n_d=1, h_top=10.0, points=200001):
    hs = np.linspace(h_top / points, h_top, points)
    ok = game.spectral_radius(hs, scheme, n_g, n_d) < 1 - 1e-12
    return 0.0 if not ok[0] else hs[np.argmin(ok) - 1] if not ok.all() else np.inf, hs[1] - hs[0]


@pytest.mark.parametrize("scheme,n_g,n_d", [("simgd", 1, 1), ("altgd", 1, 1), ("altgd", 1, 3), ("altgd", 2, 1)])
@pytest.mark.parametrize("reg,params", [("r1", {"gamma": 0.3}), ("r1", {"gamma": 2.0}), ("r2", {"gamma": 1.0}),
                                        ("noise", {"sigma": 0.7}), ("noise", {"sigma": 2.0}),
                                        ("consensus", {"gamma": 1.0}), ("none", {}), ("clip", {})])
def test_max_step_against_brute_force(reg, params, scheme, n_g, n_d):
    game = DiracGAN("standard", reg, **params)
    brute, dh = _brute_force_max_step(game, scheme, n_g, n_d)
    got = game.max_step(scheme, n_g, n_d)
    assert abs(got - brute) <= 2 * dh


@pytest.mark.parametrize("gamma", [0.2, 0.5, 0.9])
def test_step_bounds_of_section_1_4(gamma):
    a, b = FP0["standard"], FPP0["standard"]
    # R1, γ < 2|f'(0)|: h < γ / f'(0)²
    np.testing.assert_allclose(DiracGAN("standard", "r1", gamma=gamma).max_step(), gamma / a**2, rtol=1e-12)
    # consensus: h < 2γ / (γ² f'(0)² + 1)
    np.testing.assert_allclose(DiracGAN("standard", "consensus", gamma=gamma).max_step(),
                               2 * gamma / (gamma**2 * a**2 + 1), rtol=1e-12)
    # instance noise, |f''(0)|σ² < |f'(0)|: h < -2 f''(0) σ² / f'(0)²  (= 2σ²)
    sigma = gamma
    np.testing.assert_allclose(DiracGAN("standard", "noise", sigma=sigma).max_step(), -2 * b * sigma**2 / a**2,
                               rtol=1e-12)
    np.testing.assert_allclose(DiracGAN("standard", "noise", sigma=sigma).max_step(), 2 * sigma**2, rtol=1e-12)


def test_step_bound_above_critical_damping():
    gamma, a = 3.0, 0.5
    expected = 2 / (gamma / 2 + np.sqrt(gamma**2 / 4 - a**2))
    np.testing.assert_allclose(DiracGAN("standard", "r1", gamma=gamma).max_step(), expected, rtol=1e-12)


def test_unregularised_has_no_working_step():
    for loss in dirac.LOSSES:
        for scheme in dirac.SCHEMES:
            assert DiracGAN(loss).max_step(scheme) == 0.0


def test_radius_map_equals_pointwise_spectral_radius():
    """Vectorised (h, γ) map equals the single-point computation."""
    hs, gammas = np.linspace(0.05, 5, 7), np.linspace(0.05, 2, 5)
    for reg in ("r1", "consensus", "noise"):
        for scheme, n_g, n_d in (("simgd", 1, 1), ("altgd", 2, 3)):
            base = DiracGAN("standard", reg)
            grid = dirac.radius_map(base, hs, gammas, scheme, n_g, n_d)
            param = dirac.sweep_param(base)
            for i, g in enumerate(gammas):
                for j, h in enumerate(hs):
                    single = base.with_params(**{param: g}).spectral_radius(h, scheme, n_g, n_d)
                    np.testing.assert_allclose(grid[i, j], single, rtol=1e-12)


def test_clip_projects_after_each_discriminator_step():
    game = DiracGAN("wgan", "clip", clip=0.3)
    traj = game.trajectory((1.0, 1.0), h=0.1, steps=200, scheme="altgd", n_d=5)
    assert np.abs(traj[1:, 1]).max() <= 0.3 + 1e-15
    assert np.isclose(np.abs(traj[1:, 1]).max(), 0.3)


def test_trajectory_accepts_batches_of_starts():
    game = DiracGAN("standard", "r1")
    starts = np.array([[1.0, 1.0], [-0.5, 2.0], [0.3, -0.1]])
    batch = game.trajectory(starts, h=0.1, steps=50, scheme="altgd", n_g=2, n_d=1)
    for k, s in enumerate(starts):
        np.testing.assert_array_equal(batch[:, k], game.trajectory(s, 0.1, 50, "altgd", 2, 1))


def test_verdicts():
    assert dirac.local_verdict(0.99) == "converges"
    assert dirac.local_verdict(1.0 + 1e-12) == "no-convergence"
    assert dirac.local_verdict(1.01) == "diverges"
    n = np.arange(401)
    assert dirac.trajectory_verdict(0.98**n) == "converges"
    assert dirac.trajectory_verdict(1.002**n) == "diverges"
    assert dirac.trajectory_verdict(1 + 0.1 * np.sin(n / 5)) == "no-convergence"
    assert dirac.trajectory_verdict(np.r_[1.0, np.inf]) == "diverges"
    assert dirac.trajectory_verdict(1 / np.sqrt(1 + n / 400)) == "no-convergence"  # sub-linear


@pytest.mark.parametrize("loss,reg,scheme,local,traj", [
    ("standard", "none", "simgd", "diverges", "diverges"),
    ("standard", "none", "altgd", "no-convergence", "no-convergence"),
    ("standard", "r1", "simgd", "converges", "converges"),
    ("standard", "noise", "altgd", "converges", "converges"),
    ("standard", "consensus", "simgd", "converges", "converges"),
    ("wgan", "clip", "altgd", "no-convergence", "no-convergence"),
    ("wgan", "wgan-gp", "simgd", "no-convergence", "no-convergence"),
])
def test_paper_verdicts(loss, reg, scheme, local, traj):
    result = dirac.analyse(DiracGAN(loss, reg), scheme, h=0.1, steps=1000)
    assert (result["local_verdict"], result["trajectory_verdict"]) == (local, traj)


@pytest.mark.parametrize("kwargs,field", [
    ({"loss": "foo"}, "--loss"), ({"reg": "bar"}, "--reg"), ({"reg": "r1", "gamma": -1}, "--gamma"),
    ({"reg": "none", "gamma": 1.0}, "--gamma"), ({"reg": "noise", "clip": 1.0}, "--clip"),
    ({"reg": "clip", "clip": 0.0}, "--clip"),
])
def test_bad_method_arguments(kwargs, field):
    with pytest.raises(UsageError, match=field):
        DiracGAN(**kwargs)


def test_bad_scheme_arguments():
    game = DiracGAN()
    for kwargs, field in (({"h": 0}, "--h"), ({"scheme": "foo"}, "--scheme"), ({"n_d": 0}, "--n-d"),
                          ({"steps": 0}, "--steps")):
        with pytest.raises(UsageError, match=field):
            dirac.analyse(game, **kwargs)


def test_d_first_steps_the_discriminator_first():
    game, h = DiracGAN("minimax", "r1", gamma=0.3), 0.2
    theta, psi = 0.8, -0.6
    traj = game.trajectory((theta, psi), h, 1, "altgd", n_g=2, n_d=3, order="d-first")
    for _ in range(3):
        psi = psi + h * game.field(theta, psi)[1]
    for _ in range(2):
        theta = theta + h * game.field(theta, psi)[0]
    np.testing.assert_allclose(traj[1], [theta, psi], rtol=0, atol=1e-15)
    g_first = game.trajectory((0.8, -0.6), h, 1, "altgd", n_g=2, n_d=3)  # the default order
    assert np.abs(g_first[1] - traj[1]).max() > 1e-3
    for scheme, n_g, n_d in (("altgd", 1, 3), ("altgd", 2, 1)):  # same spectrum, same step bound
        assert game.max_step(scheme, n_g, n_d, "d-first") == pytest.approx(game.max_step(scheme, n_g, n_d), rel=1e-9)
    np.testing.assert_allclose(dirac.radius_map(game, [0.1, 1.0], [0.3, 1.0], "altgd", 2, 3, "d-first"),
                               dirac.radius_map(game, [0.1, 1.0], [0.3, 1.0], "altgd", 2, 3), rtol=1e-12)
    with pytest.raises(UsageError, match="^--order: unknown order 'x'; allowed: d-first, g-first"):
        game.trajectory((1.0, 1.0), h, 1, "altgd", order="x")


def test_aliases_are_canonical_names_with_a_record():
    game = DiracGAN("standard", "gp0", gamma=0.5)
    assert (game.loss, game.reg, game.target, game.aliases) == ("minimax", "wgan-gp", 0.0, {"loss": "standard",
                                                                                            "reg": "gp0"})
    assert game == DiracGAN("minimax", "wgan-gp", gamma=0.5, target=0.0)
    assert DiracGAN("wgan", "wgan-clip").reg == "clip" and DiracGAN().aliases == {}
    out = dirac.analyse(DiracGAN("standard"), steps=10)
    assert (out["loss"], out["aliases"]) == ("minimax", {"loss": "standard"})
    with pytest.raises(UsageError, match=r"^--loss: unknown loss 'x'; allowed: minimax, nonsaturating, wgan "
                                         r"\(aliases: standard = minimax\)"):
        DiracGAN("x")
    with pytest.raises(UsageError, match="^--target: gp0 is wgan-gp with target 0"):
        DiracGAN("wgan", "gp0", target=1.0)


def test_the_lab_speaks_the_shared_vocabulary():
    from ganscope import vocabulary
    from ganscope.objectives import OBJECTIVES
    from ganscope.presets import PRESETS

    assert tuple(dirac.REGULARISERS) == vocabulary.REGULARISERS
    assert set(dirac.LOSSES) <= set(OBJECTIVES) and set(vocabulary.LOSS_ALIASES.values()) <= set(dirac.LOSSES)
    assert set(vocabulary.REG_ALIASES.values()) <= set(dirac.REGULARISERS)
    assert set(vocabulary.METHOD_ALIASES.values()) <= set(PRESETS)
