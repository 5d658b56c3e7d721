"""The Jacobian spectrum tool: autodiff vs finite differences, the Dirac-GAN bridge to the closed forms,
matrix-free vs dense, stored runs, and the `spectrum` command's JSON and bad input."""
import json
import math
import types

import numpy as np
import pytest
import torch

from ganscope import rundir
from ganscope.analysis import dirac
from ganscope.analysis import spectrum as S
from ganscope.cli import _Parser
from ganscope.cli import spectrum as cli_spectrum
from ganscope.config import resolve
from ganscope.errors import UsageError
from ganscope.game import Game, Player
from ganscope.nets.mlp import MLP
from ganscope.objectives import get_objective
from ganscope.penalties import get_penalty
from ganscope.rng import Streams
from ganscope.tasks import Logit

SMALL_RUN = ["train.steps=20", "model.g_width=8", "model.d_width=8", "model.g_depth=1", "model.d_depth=1",
             "data.batch_size=32", "data.eval_samples=50", "checkpoint.keep=[10]"]  # 42 + 33 parameters


def tiny_field(penalty="none", loss="nonsaturating", **kw):
    """A 2-D MLP GAN (tanh, one hidden layer of 8: 42 + 33 = 75 parameters) on a fixed batch of 24."""
    torch.manual_seed(3)
    gen, disc = MLP(2, 2, 1, 8, "tanh"), Logit(MLP(2, 1, 1, 8, "tanh"))
    g = torch.Generator().manual_seed(4)
    real, z = torch.randn(24, 2, generator=g) + 1.0, torch.randn(24, 2, generator=g)
    return S.make_field(gen, disc, get_objective(loss), real, z, penalty=penalty, **kw)


def fd_jacobian(fld, eps=1e-6):
    """Central finite differences of the field, column by column."""
    x0 = fld.x0.numpy()
    cols = []
    for j in range(len(x0)):
        e = np.zeros_like(x0)
        e[j] = eps
        cols.append((fld.value(x0 + e) - fld.value(x0 - e)) / (2 * eps))
    return np.stack(cols, 1)


# ---- autodiff Jacobian ----------------------------------------------------------------------------------------
CASES = {
    "r1": dict(penalty="r1", weight=10.0),
    "wgan-gp": dict(penalty="wgan-gp", loss="wgan"),
    "r2": dict(penalty="r2", weight=3.0),
    "consensus+r1": dict(penalty="r1", weight=1.0, consensus=0.5),
}


@pytest.mark.parametrize("case", CASES)
def test_jacobian_matches_finite_differences(case):
    fld = tiny_field(**CASES[case])
    jac, fd = S.jacobian(fld), fd_jacobian(fld)
    assert jac.shape == (75, 75) and fld.n_gen == 42
    assert np.abs(jac - fd).max() < 1e-7 * np.abs(jac).max()
    plain = S.jacobian(tiny_field(loss=CASES[case].get("loss", "nonsaturating")))
    assert np.abs(jac - plain).max() > 1e-2  # the regulariser is really in the field


def test_batched_and_row_by_row_vjps_agree():
    fld = tiny_field("r1", weight=5.0)
    assert np.abs(S.jacobian(fld, chunk=16) - S.jacobian(fld, batched=False)).max() < 1e-13


@pytest.mark.parametrize("name, weight", [("r1", 4.0), ("r2", 4.0), ("wgan-gp", 10.0), ("gp0", 2.0)])
def test_penalty_values_match_the_registry(name, weight):
    """The field's penalty (inputs kept attached) has the value of penalties.py's (detached inputs)."""
    fld = tiny_field(name, weight=weight, seed=11)
    ours = fld.losses(fld.x0.clone().requires_grad_(True))[2].item()
    fake = fld.gen(fld.z)
    theirs = get_penalty(name)(fld.disc, fld.real, fake, weight, generator=torch.Generator().manual_seed(11))
    assert ours == pytest.approx(theirs.item(), rel=1e-12, abs=0) and ours > 1e-3


def test_field_signs_are_minus_the_players_gradients():
    """v = (−∇_θ L_G, −∇_ψ L_D) computed with plain modules and autograd, against the flat-vector field."""
    fld = tiny_field("r1", weight=2.0)
    gen, disc, obj = fld.gen.requires_grad_(True), fld.disc.requires_grad_(True), fld.objective
    fake = gen(fld.z)
    l_g = obj.g_loss(disc(fake))
    l_d = obj.d_loss(disc(fld.real), disc(fake.detach())) + get_penalty("r1")(disc, fld.real, None, 2.0)
    g_g = torch.autograd.grad(l_g, list(gen.parameters()))
    g_d = torch.autograd.grad(l_d, list(disc.parameters()))
    expected = -torch.cat([g.reshape(-1) for g in g_g + g_d]).numpy()
    assert np.abs(fld.value() - expected).max() < 1e-13 and np.abs(expected).max() > 1e-3


# ---- one source of truth: the field is minus the engine's gradients ------------------------------------------------
class Recorder(Player):
    """A player that records the gradients the engine would apply, and does not step (the point stays)."""

    def apply(self, grads):
        self.grads = [g.detach().clone() for g in grads]


ENGINE_CASES = {  # name -> (engine overrides, field keywords); weights and σ arbitrary but non-trivial
    "none": (["penalty.name=none"], {}),
    "r1": (["penalty.name=r1", "penalty.weight=3.0"], dict(penalty="r1", weight=3.0)),
    "r2": (["penalty.name=r2", "penalty.weight=2.0"], dict(penalty="r2", weight=2.0)),
    "consensus": (["penalty.name=none", "game.consensus=0.7"], dict(consensus=0.7)),
    "consensus+r1": (["penalty.name=r1", "penalty.weight=1.5", "game.consensus=0.4"],
                     dict(penalty="r1", weight=1.5, consensus=0.4)),
    "wgan-gp": (["loss=wgan", "penalty.name=wgan-gp", "penalty.weight=10.0"], dict(penalty="wgan-gp", weight=10.0)),
    "gp0": (["penalty.name=gp0", "penalty.weight=4.0"], dict(penalty="gp0", weight=4.0)),
    "noise": (["penalty.name=none", "noise.sigma=0.3"], dict(sigma=0.3)),
    "noise+wgan-gp": (["loss=wgan", "penalty.name=wgan-gp", "penalty.weight=10.0", "noise.sigma=0.3"],
                      dict(penalty="wgan-gp", weight=10.0, sigma=0.3)),
}


def engine_gradients(gen, disc, real, z, overrides, scheme, seed=7):
    """The gradients Game.step would apply to (G, D) on the fixed batch (real, z) at the current point."""
    cfg = resolve({"method": "nonsaturating"}, [*overrides, f"game.scheme={scheme}"])
    task = types.SimpleNamespace(real=lambda: real, latent=lambda: z, streams=Streams([seed], members=False),
                                 event_dims=1, member_values={}, g_loss_total=torch.sum)
    g, d = Recorder(gen, torch.optim.SGD(gen.parameters(), lr=1.0)), Recorder(disc, torch.optim.SGD(disc.parameters(), lr=1.0))
    Game(cfg, g, d, task).step(0)
    return torch.cat([x.reshape(-1) for x in g.grads + d.grads]).numpy()


@pytest.mark.parametrize("scheme", ["simgd", "altgd"])
@pytest.mark.parametrize("case", ENGINE_CASES)
def test_field_is_minus_the_engines_gradients(case, scheme):
    """v(θ, ψ) of the spectrum tool = −(the gradients the engine applies), same nets, batch, latents and draws:
    the engine's random draws (instance noise on real then fake, then the interpolation ε) come from its stream
    with seed 7, the field gets the same numbers as fixed draws."""
    overrides, kw = ENGINE_CASES[case]
    if scheme == "altgd" and "sigma" in kw:
        pytest.skip("AltGD's generator step draws fresh noise for its fake input; the field uses one draw for both")
    torch.manual_seed(3)
    gen, disc = MLP(2, 2, 1, 8, "tanh").double(), Logit(MLP(2, 1, 1, 8, "tanh")).double()
    g = torch.Generator().manual_seed(4)
    real = torch.randn(24, 2, generator=g, dtype=torch.float64) + 1.0
    z = torch.randn(24, 2, generator=g, dtype=torch.float64)
    stream = torch.Generator().manual_seed(7)
    draws = {}
    if "sigma" in kw:  # as noise.instance_noise draws from the stream: real first, then fake
        draws = {"noise_real": torch.randn(24, 2, generator=stream, dtype=torch.float64),
                 "noise_fake": torch.randn(24, 2, generator=stream, dtype=torch.float64)}
    draws["interp"] = torch.rand(24, 1, generator=stream, dtype=torch.float64)  # then the interpolation ε
    loss = "wgan" if "loss=wgan" in overrides else "nonsaturating"
    fld = S.GameField(gen, disc, get_objective(loss), real, z, **kw, **draws)
    expected = -engine_gradients(gen, disc, real, z, overrides, scheme)
    assert np.abs(fld.value() - expected).max() < 1e-12 * max(1.0, np.abs(expected).max())
    assert np.abs(expected).max() > 1e-3
    if case != "none":  # the regulariser is really in both
        plain = -engine_gradients(gen, disc, real, z, ["loss=" + loss], scheme)
        assert np.abs(expected - plain).max() > 1e-4


def test_field_keeps_the_penalty_input_graph():
    """penalties.py with detach=False: R2 on generated samples couples ψ's field to θ (∂v_ψ/∂θ ≠ 0), which
    the engine's detached penalty would cut; the Jacobian still matches finite differences (above)."""
    with_r2, plain = S.jacobian(tiny_field("r2", weight=3.0)), S.jacobian(tiny_field())
    block = (with_r2 - plain)[42:, :42]  # ∂(v_ψ)/∂θ from the penalty alone
    assert np.abs(block).max() > 1e-3


def test_run_field_uses_the_games_per_member_rules(tmp_path):
    """σ (schedule × per-member scale) and the penalty weight of a stored member are the run's Game's own."""
    import yaml

    from ganscope import rundir
    from ganscope.config import to_dict
    from ganscope.train import Run

    cfg = resolve({"method": "noise"}, ["ensemble=2", "members.noise.sigma=[0.2,0.5]", "noise.schedule=linear",
                                        "noise.end=0.0", "noise.steps=100", "model.g_width=8", "model.d_width=8",
                                        "model.g_depth=1", "model.d_depth=1"])
    run = Run(cfg, tmp_path)
    run.step = 40
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(to_dict(cfg), sort_keys=False))
    run.save()
    stored = rundir.open_run(tmp_path)
    for member, scale in ((0, 0.2), (1, 0.5)):
        sigma, weight = S.member_rules(stored, member)
        assert sigma == float(run.game._sigma(40)[member]) and weight == float(run.game.weight)
        assert sigma == pytest.approx(scale * 0.6, rel=1e-6)  # linear from σ to 0 over 100 steps, at step 40
        assert S.run_field(stored, member, batch=8)[1]["sigma"] == sigma


# ---- the Dirac-GAN bridge --------------------------------------------------------------------------------------
BRIDGE = [(loss, reg) for loss in ("standard", "nonsaturating", "wgan") for reg in S.DIRAC_REGS]


@pytest.mark.parametrize("loss, reg", BRIDGE)
def test_dirac_modules_reproduce_the_closed_forms(loss, reg):
    game = dirac.DiracGAN(loss, reg)
    fld = S.dirac_modules(loss, reg)
    jac = S.jacobian(fld)
    assert np.abs(jac - game.jacobian()).max() < 1e-12
    lam = np.linalg.eigvals(jac)
    assert S.match_error(lam, game.eigenvalues()) < 1e-10
    assert np.abs(lam).min() > 0.1  # nothing trivially zero
    away = S.dirac_modules(loss, reg, theta=0.7, psi=-0.4)  # the field itself, off the equilibrium
    assert np.abs(away.value() - np.ravel(game.field(0.7, -0.4))).max() < 1e-12


@pytest.mark.parametrize("loss, reg, params", [("standard", "r1", {"gamma": 1.7}),
                                               ("wgan", "consensus", {"gamma": 0.2}),
                                               ("nonsaturating", "noise", {"sigma": 1.5})])
def test_dirac_bridge_with_other_parameters(loss, reg, params):
    out = S.spectrum_of_dirac(loss, reg, h=0.3, **params)
    assert out["closed_form_max_error"] < 1e-10
    expected = dirac.DiracGAN(loss, reg, **params).eigenvalues()
    assert S.match_error([complex(*p) for p in out["eigenvalues"]], expected) < 1e-10


@pytest.mark.parametrize("h, scheme, n_g, n_d", [(0.1, "simgd", 1, 1), (0.7, "simgd", 1, 1), (0.1, "altgd", 1, 1),
                                                 (0.4, "altgd", 2, 3), (2.5, "altgd", 1, 1)])
@pytest.mark.parametrize("loss, reg", [("standard", "none"), ("standard", "r1"), ("wgan", "consensus"),
                                       ("nonsaturating", "noise")])
def test_update_radius_matches_the_lab(loss, reg, h, scheme, n_g, n_d):
    game, fld = dirac.DiracGAN(loss, reg), S.dirac_modules(loss, reg)
    mat = S.update_matrix(S.jacobian(fld), h, scheme, n_g, n_d, fld.n_gen)
    assert np.abs(mat - game.update_matrix(h, scheme, n_g, n_d)).max() < 1e-12
    out = S.spectrum(fld, h, scheme, n_g, n_d)
    rho = float(game.spectral_radius(h, scheme, n_g, n_d))
    assert out[f"spectral_radius_{scheme}"] == pytest.approx(rho, rel=1e-12)
    assert out["local_verdict"] == dirac.local_verdict(rho)


@pytest.mark.parametrize("order", ["g-first", "d-first"])
def test_altgd_order_in_the_update_operators(order):
    """d-first multiplies the same factors the other way round: the lab's matrix, the same eigenvalues."""
    fld, game = S.dirac_modules("minimax", "r1"), dirac.DiracGAN("minimax", "r1")
    mat = S.update_matrix(S.jacobian(fld), 0.4, "altgd", 2, 3, fld.n_gen, order)
    assert np.abs(mat - game.update_matrix(0.4, "altgd", 2, 3, order)).max() < 1e-12
    other = "g-first" if order == "d-first" else "d-first"
    assert np.abs(mat - game.update_matrix(0.4, "altgd", 2, 3, other)).max() > 1e-3
    assert S.match_error(np.linalg.eigvals(mat), dirac.eig2(game.update_matrix(0.4, "altgd", 2, 3, other))) < 1e-12
    big = tiny_field("r1", weight=3.0)
    dense = S.update_matrix(S.jacobian(big), 0.05, "altgd", 2, 3, big.n_gen, order)
    op = S.update_operator(S.JacobianOperator(big), 0.05, "altgd", 2, 3, order)
    u = np.random.default_rng(2).standard_normal(big.n_params)
    assert np.abs(op.matvec(u) - (dense - np.eye(len(u))) @ u / 0.05).max() < 1e-10


def test_dirac_verdicts():
    assert S.spectrum_of_dirac("standard", "none", h=0.1)["local_verdict"] == "diverges"
    assert S.spectrum_of_dirac("standard", "none", h=0.1, scheme="altgd")["local_verdict"] == "no-convergence"
    assert S.spectrum_of_dirac("standard", "r1", gamma=0.5, h=0.1)["local_verdict"] == "converges"


# ---- matrix-free ------------------------------------------------------------------------------------------------
def test_operator_products_match_the_dense_jacobian():
    fld = tiny_field("wgan-gp", loss="wgan")
    jac, op = S.jacobian(fld), S.JacobianOperator(fld)
    u = np.random.default_rng(0).standard_normal(fld.n_params)
    assert np.abs(op.matvec(u) - jac @ u).max() < 1e-12 * np.abs(jac @ u).max()
    assert np.abs(op.rmatvec(u) - jac.T @ u).max() < 1e-12 * np.abs(jac.T @ u).max()


def test_matrix_free_eigenvalues_match_dense():
    fld = tiny_field("r1", weight=3.0)
    k, h = 5, 0.05
    dense = S.spectrum(fld, h, "altgd", 1, 2, k=k)
    free = S.spectrum(fld, h, "altgd", 1, 2, k=k, max_dense=10)
    assert (dense["method"], free["method"]) == ("dense", "arnoldi")
    lam = np.array([complex(*p) for p in dense["eigenvalues"]])
    top_real = np.sort(lam.real)[::-1][:k]
    top_mod = np.sort(np.abs(lam))[::-1][:k]
    got = np.array([complex(*p) for p in free["eigenvalues_largest_real"]])
    assert np.abs(np.sort(got.real)[::-1] - top_real).max() < 1e-8
    got = np.array([complex(*p) for p in free["eigenvalues_largest_modulus"]])
    assert np.abs(np.sort(np.abs(got))[::-1] - top_mod).max() < 1e-8
    assert all(np.abs(lam - z).min() < 1e-8 for z in got)  # true eigenvalues, not just the right moduli
    for scheme in ("simgd", "altgd"):  # estimates from the top eigenvalues: here the exact radii
        assert free[f"spectral_radius_{scheme}"] == pytest.approx(dense[f"spectral_radius_{scheme}"], abs=1e-10)
    assert len(dense["eigenvalues"]) == fld.n_params and dense["radius_exact"] and not free["radius_exact"]


def test_altgd_operator_matches_the_dense_update_matrix():
    fld = tiny_field("r1", weight=3.0)
    jac, h = S.jacobian(fld), 0.05
    mat = S.update_matrix(jac, h, "altgd", 2, 3, fld.n_gen)
    op = S.update_operator(S.JacobianOperator(fld), h, "altgd", 2, 3)
    u = np.random.default_rng(1).standard_normal(fld.n_params)
    assert np.abs(op.matvec(u) - (mat - np.eye(len(u))) @ u / h).max() < 1e-10


# ---- stored runs ---------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    from ganscope.shipped import find_config
    from ganscope.train import start

    out = tmp_path_factory.mktemp("spectrum") / "run"
    assert start(find_config("toy2d"), SMALL_RUN, out) == 0
    return out


def test_spectrum_of_a_stored_run(run_dir):
    out = S.spectrum_of_run(run_dir, batch=64)
    assert out["method"] == "dense" and out["n_params"] == 42 + 33 == len(out["eigenvalues"])
    assert (out["n_gen_params"], out["h"], out["scheme"]) == (42, 1e-3, "altgd")  # the toy2d recipe: Adam 1e-3
    assert out["source"]["penalty"] == "r1" and out["source"]["weight"] == 20.0 and out["source"]["step"] == 20
    lam = np.array([complex(*p) for p in out["eigenvalues"]])
    assert out["spectral_radius_simgd"] == pytest.approx(np.abs(1 + 1e-3 * lam).max(), rel=1e-14)
    assert out["local_verdict"] == dirac.local_verdict(out["spectral_radius_altgd"])
    run10, run20 = rundir.open_run(run_dir, step=10), rundir.open_run(run_dir)
    assert (run10.step, run20.step) == (10, 20)
    assert float((S.run_field(run10)[0].x0 - S.run_field(run20)[0].x0).abs().max()) > 1e-6


def test_run_field_is_the_engines_field(run_dir):
    """The run's member as modules + R1 γ = 20 + nonsaturating loss, differentiated by plain autograd."""
    run = rundir.open_run(run_dir)
    cfg = run.cfg
    fld, info = S.run_field(run, batch=16, seed=5)
    gen = run.gen.member(0).double()
    disc = Logit(run.disc.net.member(0)).double()
    obj, real, z = get_objective(cfg.loss), fld.real, fld.z
    fake = gen(z)
    l_g = obj.g_loss(disc(fake))
    l_d = obj.d_loss(disc(real), disc(fake.detach())) + get_penalty("r1")(disc, real, None, 20.0)
    grads = torch.autograd.grad(l_g, list(gen.parameters())) + torch.autograd.grad(l_d, list(disc.parameters()))
    expected = -torch.cat([g.reshape(-1) for g in grads]).numpy()
    assert np.abs(fld.value() - expected).max() < 1e-12 and np.abs(expected).max() > 1e-4


def test_stored_run_bad_input(run_dir, tmp_path):
    with pytest.raises(UsageError, match=r"^--step: .*kept no checkpoint for step 7; kept steps: 10"):
        S.spectrum_of_run(run_dir, step=7)
    with pytest.raises(UsageError, match=r"^--member: the run has 1 member"):
        S.spectrum_of_run(run_dir, member=1)
    with pytest.raises(UsageError, match=r"^RUN_DIR: .* is not a run directory"):
        S.spectrum_of_run(tmp_path / "nowhere")
    with pytest.raises(UsageError, match=r"^--batch: must be an integer >= 1"):
        cli([run_dir, "--batch", "0"])


# ---- command line ----------------------------------------------------------------------------------------------
def cli(argv):
    parser = _Parser(prog="ganscope")
    cli_spectrum.register(parser.add_subparsers(parser_class=_Parser))
    args = parser.parse_args(["spectrum", *map(str, argv)])
    return args.run(args)


def strict_json(text):
    def refuse(name):
        raise ValueError(f"non-finite number {name} in JSON")

    return json.loads(text, parse_constant=refuse)


KEYS = {"eigenvalues", "spectral_radius_simgd", "spectral_radius_altgd", "h", "local_verdict", "n_params", "method"}


def test_cli_dirac_json(capsys):
    assert cli(["--dirac", "--loss", "wgan", "--reg", "r1", "--gamma", "0.5", "--h", "0.2", "--json"]) == 0
    out = strict_json(capsys.readouterr().out)
    assert KEYS <= set(out) and out["method"] == "dense" and out["n_params"] == 2 and out["h"] == 0.2
    lam = [complex(*p) for p in out["eigenvalues"]]
    assert S.match_error(lam, [-0.25 + math.sqrt(0.9375) * 1j, -0.25 - math.sqrt(0.9375) * 1j]) < 1e-12
    assert out["spectral_radius_simgd"] == pytest.approx(abs(1 + 0.2 * lam[0]), rel=1e-12)


def test_cli_run_json_and_plot(run_dir, tmp_path, capsys):
    png = tmp_path / "spectrum.png"
    assert cli([run_dir, "--batch", "32", "--h", "0.01", "--json", "--plot", png]) == 0
    out = strict_json(capsys.readouterr().out)
    assert KEYS <= set(out) and out["h"] == 0.01 and out["n_params"] == 75
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_json_safe_writes_null_for_non_finite():
    from ganscope.io import json_safe  # the spectrum's JSON goes through it

    safe = json_safe({"a": [math.inf, np.float64("nan"), 1.5], "b": np.int64(3)})
    assert safe == {"a": [None, None, 1.5], "b": 3}


def test_plot_draws_the_simgd_region():
    out = S.spectrum_of_dirac("standard", "r1", h=0.5)
    fig = S.plot_spectrum(out)
    disc = fig.axes[0].patches[0]
    assert disc.center == pytest.approx((-2.0, 0.0)) and disc.radius == pytest.approx(2.0)
    assert len(fig.axes[0].collections[0].get_offsets()) == 2


@pytest.mark.parametrize("argv, field", [
    (["no/such/run"], "RUN_DIR"),
    (["--dirac", "--loss", "hinge"], "--loss"),
    (["--dirac", "--reg", "wgan-gp"], "--reg"),
    (["--dirac", "--reg", "noise", "--gamma", "1"], "--gamma"),
    (["--dirac", "--h", "-1"], "--h"),
    (["--dirac", "--step", "3"], "--step"),
    (["some/run", "--loss", "wgan"], "--loss"),
    ([], "RUN_DIR"),
    (["--dirac", "--plot", "x.pdf"], "--plot"),
    (["--dirac", "--n-d", "0"], "--n-d"),
    (["--dirac", "--scheme", "rk4"], "--scheme"),
    (["--dirac", "--params", "gen."], "--params"),
    (["some/run", "--params", " , "], "--params"),
])
def test_cli_bad_input_names_the_field(argv, field):
    with pytest.raises(UsageError) as err:
        cli(argv)
    assert str(err.value).startswith(f"{field}:")


# ---- the critic's output shape and event_dims (issue 14) -----------------------------------------------------
def _issue_example(critic_of):
    """The issue's example in small: a 2-D MLP GAN whose critic ends in Linear(..., 1), R1, batch 32."""
    torch.manual_seed(3)
    gen, net = MLP(2, 2, 1, 8, "tanh"), MLP(2, 1, 1, 8, "tanh")
    g = torch.Generator().manual_seed(4)
    real, z = torch.randn(32, 2, generator=g) + 1.0, torch.randn(32, 2, generator=g)
    fld = S.make_field(gen, critic_of(net), get_objective("nonsaturating"), real, z, penalty="r1", weight=1.0)
    return S.spectrum(fld, 0.1)


def test_a_b_by_1_critic_is_refused_not_misread():
    """Before the check the (B, 1) critic gave max Re λ = 21.76 against 0.772 for the same weights read as (B,)
    (about B = 32 times too large: the issue's 8.78 vs 0.278); now it is refused, and squeezing it gives the
    (B,) answer."""
    with pytest.raises(UsageError, match=r"critic: logits of shape \(32, 1\).*squeeze"):
        _issue_example(lambda net: net)
    squeezed = _issue_example(lambda net: Logit(net))
    by_hand = _issue_example(_Squeeze)
    assert squeezed["max_real_part"] == pytest.approx(0.7717232774, rel=1e-6)
    assert by_hand["eigenvalues"] == squeezed["eigenvalues"]


class _Squeeze(torch.nn.Module):
    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        return self.net(x)[:, 0]


def test_field_refuses_an_ensemble_critic():
    torch.manual_seed(0)
    gen = MLP(2, 2, 1, 4, "tanh")
    disc = _Stack(Logit(MLP(2, 1, 1, 4, "tanh")))
    real, z = torch.randn(8, 2), torch.randn(8, 2)
    with pytest.raises(UsageError, match=r"shape \(8,\) for a batch of 8; got \(3, 8\)"):
        S.make_field(gen, disc, get_objective("wgan"), real, z).value()


class _Stack(torch.nn.Module):
    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        return torch.stack([self.net(x)] * 3)


class _ConvCritic(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(9, 1)

    def forward(self, x):
        return self.lin(torch.tanh(x).flatten(1)).squeeze(-1)


class _ConvGen(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(2, 9)

    def forward(self, z):
        return self.lin(z).view(-1, 1, 3, 3)


@pytest.mark.parametrize("penalty", ["r1", "r2", "wgan-gp"])
def test_event_dims_default_to_all_non_batch_axes(penalty):
    """Image-shaped samples (B, 1, 3, 3): make_field's default is event_dims = 3, as the penalties' (all
    non-batch axes); the field equals the one with event_dims=3 given, """
    torch.manual_seed(1)
    real, z = torch.randn(6, 1, 3, 3, dtype=torch.float64), torch.randn(6, 2, dtype=torch.float64)
    gen, disc = _ConvGen(), _ConvCritic()
    make = lambda **kw: S.make_field(gen, disc, get_objective("wgan"), real, z,  # noqa: E731
                                     penalty=penalty, weight=1.0, **kw)
    default, explicit = make(), make(event_dims=3)
    assert default.event_dims == 3 and default.interp.shape == (6, 1, 1, 1)
    np.testing.assert_array_equal(default.value(), explicit.value())
    np.testing.assert_array_equal(S.jacobian(default), S.jacobian(explicit))


# ---- large models: a restricted field, the estimate and progress (issue 14) ----------------------------------
def _indices(fld_full, prefixes):
    i, out = 0, []
    layout = [(f"gen.{a}", c) for a, _, c in fld_full._g] + [(f"disc.{a}", c) for a, _, c in fld_full._d]
    for name, n in layout:
        if name.startswith(prefixes):
            out += range(i, i + n)
        i += n
    return np.array(out)


@pytest.mark.parametrize("prefixes", [("gen.layers.1", "disc.net.layers.1"), ("disc.",), ("gen.layers.0.bias",)])
def test_restricted_field_is_the_principal_submatrix(prefixes):
    full, sub = tiny_field("r1", weight=2.0), tiny_field("r1", weight=2.0, params=prefixes)
    idx = _indices(full, prefixes)
    assert sub.n_params == len(idx) < full.n_params and sub.n_total == full.n_params
    assert sub.n_gen == int((idx < full.n_gen).sum())
    np.testing.assert_array_equal(sub.x0.numpy(), full.x0.numpy()[idx])
    jac_full, jac_sub = S.jacobian(full), S.jacobian(sub)
    assert np.abs(jac_sub - jac_full[np.ix_(idx, idx)]).max() < 1e-12 * np.abs(jac_full).max()
    assert np.abs(sub.value() - full.value()[idx]).max() < 1e-12
    out = S.spectrum(sub, 0.05)
    assert out["n_params"] == len(idx) and out["params"] == list(prefixes)
    assert any("restricted to" in n for n in out["notes"])


def test_restriction_that_selects_nothing_names_the_parameters():
    with pytest.raises(UsageError, match=r"^--params: 'layers' selects no parameter.*gen.layers.0.weight"):
        tiny_field(params="layers")


def test_progress_prints_the_estimate_then_lines():
    import io

    fld, stream = tiny_field("r1", weight=3.0), io.StringIO()
    out = S.spectrum(fld, 0.05, "altgd", k=4, max_dense=10, progress=True, stream=stream)
    lines = stream.getvalue().splitlines()
    assert lines[0].startswith("spectrum: 75 parameters, arnoldi: about ")
    est = int(lines[0].split("about ")[1].split()[0].replace(",", ""))
    assert est == S.arpack_products(75, 4) and 0.2 < out["products"] / est < 1.5  # the right size (61k model: 0.95)
    assert lines[-1].startswith(f"spectrum: {out['products']}/{est} products")
    quiet = S.spectrum(fld, 0.05, "altgd", k=4, max_dense=10)
    assert quiet["eigenvalues"] == out["eigenvalues"] and quiet["products"] == out["products"]
    stream = io.StringIO()
    S.spectrum(fld, 0.05, progress=True, stream=stream)  # dense: rows
    lines = stream.getvalue().splitlines()
    assert lines[0].startswith("spectrum: 75 parameters, dense: about 75 Jacobian rows") and "75/75 rows" in lines[-1]


def test_cli_restricts_a_stored_run(run_dir, capsys):
    assert cli([run_dir, "--params", "disc.", "--json"]) == 0
    captured = capsys.readouterr()
    out = strict_json(captured.out)
    assert out["n_params"] == out["n_disc_params"] == 33 and out["n_params_total"] == 75 and out["n_gen_params"] == 0
    assert captured.err.startswith("spectrum: 33 parameters, dense")
    assert cli([run_dir, "--params", "disc.", "--json", "--quiet"]) == 0
    assert capsys.readouterr().err == ""
