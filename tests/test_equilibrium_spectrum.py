"""The spectrum at a finite game's exact equilibrium (spectrum.equilibrium_field, spectrum_at_equilibrium,
normal_space; ``ganscope spectrum --equilibrium``): the normal space against a reparametrised Dirac-GAN's closed
form, the restriction to G and the critic's output layer against the full field, the identities the equilibrium
implies (R1 = R2, minimax = non-saturating), a vanishing field, bad input."""
import json
import math

import numpy as np
import pytest
import torch
from torch import nn

from ganscope.analysis import dirac
from ganscope.analysis import spectrum as S
from ganscope.cli import _Parser
from ganscope.cli import spectrum as cli_spectrum
from ganscope.config import load_yaml, resolve
from ganscope.errors import UsageError
from ganscope.objectives import get_objective
from ganscope.shipped import find_config
from ganscope.tasks.toy2d import Toy2DTask

SMALL = ["model.g_width=8", "model.d_width=8", "data.finite=16"]


class TwoThetaGenerator(nn.Module):
    """G(z) = θ₁ + θ₂: the Dirac-GAN's generator reparametrised, with one neutral direction θ₁ − θ₂."""

    def __init__(self):
        super().__init__()
        self.a = nn.Parameter(torch.zeros(1, dtype=S.DTYPE))
        self.b = nn.Parameter(torch.zeros(1, dtype=S.DTYPE))

    def forward(self, z):
        return (self.a + self.b).expand(*z.shape[:-1], 1)


def test_normal_space_of_a_reparametrised_dirac_gan():
    """Minimax with R1 (γ = 1) at (0, 0): v' = [[0, 0, c], [0, 0, c], [−c, −c, −γ]] up to signs, c = f'(0) = ½.
    On the normal space θ₁ + θ₂ the coupling is √2·c, so λ = (−γ ± √(γ² − 8c²))/2 = (−1 ± i)/2; the neutral
    direction θ₁ − θ₂ has λ = 0 and makes the full radii exactly 1."""
    zeros = torch.zeros(1, 1, dtype=S.DTYPE)
    fld = S.GameField(TwoThetaGenerator(), S.DiracCritic(), get_objective("minimax"), zeros, zeros,
                      penalty="r1", weight=1.0)
    h = 0.1
    out = S.spectrum(fld, h, "simgd")
    normal = out["normal_space"]
    assert normal["n_neutral"] == 1 and out["spectral_radius_simgd"] == pytest.approx(1.0, abs=1e-12)
    assert out["spectral_radius_altgd"] == pytest.approx(1.0, abs=1e-12)
    lam = np.array([-0.5 + 0.5j, -0.5 - 0.5j])
    assert normal["slowest_rate"] == pytest.approx(0.5, abs=1e-12)
    assert normal["least_damping"] == pytest.approx(1 / math.sqrt(2), abs=1e-12)
    assert normal["spectral_radius_simgd_normal"] == pytest.approx(abs(1 + h * lam[0]), abs=1e-12)
    assert normal["max_step_simgd_normal"] == pytest.approx(2 * 0.5 / 0.5, abs=1e-12)  # −2 Re λ/|λ|² = 2
    # AltGD on the normal space: the plain Dirac-GAN's R1 Jacobian with its coupling scaled by √2
    jac = dirac.DiracGAN("minimax", "r1", gamma=1.0).jacobian().copy()
    jac[0, 1] *= math.sqrt(2)
    jac[1, 0] *= math.sqrt(2)
    assert S.match_error(np.linalg.eigvals(jac), lam) < 1e-12
    alt = np.abs(np.linalg.eigvals(S.update_matrix(jac, h, "altgd", n_gen=1))).max()
    assert normal["spectral_radius_altgd_normal"] == pytest.approx(alt, abs=1e-12)


def test_normal_space_without_neutral_directions_is_the_whole_spectrum():
    out = S.spectrum(S.dirac_modules("minimax", "r1", gamma=1.0), 0.2, "altgd")
    normal = out["normal_space"]
    assert normal["n_neutral"] == 0 and normal["neutral_gap"][0] == 0.0
    assert normal["spectral_radius_simgd_normal"] == pytest.approx(out["spectral_radius_simgd"], abs=1e-14)
    assert normal["spectral_radius_altgd_normal"] == pytest.approx(out["spectral_radius_altgd"], abs=1e-14)


def task_of(*overrides):
    return S.equilibrium_game("convergence2d", [*SMALL, *overrides])


def nonzero(fld):
    lam = np.linalg.eigvals(S.jacobian(fld))
    return lam[np.abs(lam) > S.NEUTRAL_TOL * max(1.0, np.abs(lam).max())]


@pytest.mark.parametrize("method", ["minimax", "r1", "consensus"])
def test_restricted_field_has_the_full_fields_spectrum(method):
    """The critic's hidden parameters are neutral at D = 0 on G(Z) = X: the field on G and the output layer
    has the full field's non-zero eigenvalues, and the full one has exactly the hidden count more zeros."""
    task = task_of(f"method={method}")
    sub, full = S.equilibrium_field(task), S.equilibrium_field(task, restrict=False)
    hidden = full.n_params - sub.n_params
    assert hidden == 2 * 8 + 8 + 8 * 8 + 8 and sub.n_gen == full.n_gen
    a, b = nonzero(sub), nonzero(full)
    assert len(a) == len(b) > 4 and S.match_error(a, b) < 1e-9 * np.abs(b).max()
    n_sub, n_full = (S.spectrum(f, 0.1)["normal_space"] for f in (sub, full))
    assert n_full["n_neutral"] - n_sub["n_neutral"] == hidden
    for key in ("spectral_radius_simgd_normal", "spectral_radius_altgd_normal", "slowest_rate", "least_damping"):
        assert n_sub[key] == pytest.approx(n_full[key], rel=1e-7, abs=1e-12)


def test_the_equilibrium_identities():
    """On G(Z) = X with D = 0: R1 and R2 penalise the same points, and minimax and non-saturating G losses
    have the same slope at 0 (their curvatures multiply ∇ₓD = 0), so each pair has one Jacobian; the field
    vanishes."""
    jac = {m: S.jacobian(S.equilibrium_field(task_of(f"method={m}"))) for m in ("minimax", "nonsaturating",
                                                                                  "r1", "r2")}
    scale = np.abs(jac["minimax"]).max()
    assert np.abs(jac["minimax"] - jac["nonsaturating"]).max() < 1e-12 * scale
    assert np.abs(jac["r1"] - jac["r2"]).max() < 1e-12 * scale
    assert np.abs(jac["r1"] - jac["minimax"]).max() > 1e-3 * scale  # the penalty does act
    for m in ("minimax", "r1", "consensus"):
        assert np.linalg.norm(S.equilibrium_field(task_of(f"method={m}")).value()) < 1e-7


def test_members_are_their_own_seeds():
    """Member i of an ensemble is the single game of seed cfg.seed + i."""
    two, one = task_of("ensemble=2"), task_of("seed=1")
    a, b = S.jacobian(S.equilibrium_field(two, 1)), S.jacobian(S.equilibrium_field(one, 0))
    assert np.abs(a - b).max() < 1e-6 * np.abs(b).max()


def test_equilibrium_field_needs_the_exact_start():
    cfg = resolve(load_yaml(find_config("convergence2d")), [*SMALL, "game.start=equilibrium"])  # perturb 0.1
    with pytest.raises(UsageError, match=r"^game.start: .*game.perturb=0"):
        S.equilibrium_field(Toy2DTask(cfg))


def cli(argv):
    parser = _Parser(prog="ganscope")
    cli_spectrum.register(parser.add_subparsers(parser_class=_Parser))
    args = parser.parse_args(["spectrum", *argv])
    return args.run(args)


def test_cli_equilibrium_json(capsys):
    assert cli(["--equilibrium", "convergence2d", "method=r1", *SMALL, "--json", "--quiet"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["source"]["method"] == "r1" and out["source"]["restricted"] is True
    normal = out["normal_space"]
    assert normal["n_neutral"] > 0 and normal["spectral_radius_simgd_normal"] < 1
    assert out["local_verdict"] == dirac.local_verdict(normal["spectral_radius_altgd_normal"])  # the config's AltGD


def test_the_figure_of_an_equilibrium_shows_the_normal_radii(tmp_path, capsys):
    png = tmp_path / "eq.png"
    assert cli(["--equilibrium", "convergence2d", "method=r1", *SMALL, "--json", "--quiet", "--plot", str(png)]) == 0
    out = json.loads(capsys.readouterr().out)
    fig = S.plot_spectrum(out)
    title = fig.axes[0].get_title()
    assert "on the normal space" in title and f"{out['normal_space']['spectral_radius_altgd_normal']:.10g}" in title
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("argv, field", [
    (["--equilibrium"], "CONFIG"),
    (["--equilibrium", "toy2d"], "data.finite"),
    (["--equilibrium", "convergence2d", "--step", "3"], "--step"),
    (["--equilibrium", "convergence2d", "--dirac"], "--equilibrium"),
    (["--equilibrium", "convergence2d", "--member", "1"], "--member"),
    (["--equilibrium", "convergence2d", "nope=1"], "nope"),
    (["runs/x", "method=r1"], "KEY=VALUE"),
])
def test_cli_equilibrium_bad_input(argv, field, capsys):
    with pytest.raises(UsageError, match=rf"^{field}:"):
        cli(argv)


# ---- the premise: every move of G's points felt by the critic ------------------------------------------------------
def test_premise_of_the_reparametrised_dirac_gan():
    """G(z) = θ₁ + θ₂ moves its one point in one direction, and the critic's field feels it."""
    zeros = torch.zeros(1, 1, dtype=S.DTYPE)
    fld = S.GameField(TwoThetaGenerator(), S.DiracCritic(), get_objective("minimax"), zeros, zeros)
    assert S.premise(fld) == {"generator_rank": 1, "coupling_rank": 1, "invisible": 0, "points": 1}


@pytest.mark.parametrize("d_width", [2, 32])
def test_premise_counts_against_the_full_jacobian(d_width):
    """The ranks from their own computation (∂G(Z)/∂θ by autograd through G alone, the coupling block of the
    dense Jacobian): a 2-wide critic (3 output weights) cannot feel 16 points' 32 directions."""
    fld = S.equilibrium_field(task_of("model.g_width=16", f"model.d_width={d_width}"))
    got = S.premise(fld)
    jac = S.jacobian(fld)
    coupling = jac[fld.n_gen:, :fld.n_gen]
    gen = fld.gen
    moves = torch.autograd.functional.jacobian(lambda *p: torch.func.functional_call(
        gen, dict(zip([n for n, _ in gen.named_parameters()], p)), (fld.z,)).reshape(-1),
        tuple(p.detach() for p in gen.parameters()))
    moves = torch.cat([m.reshape(m.shape[0], -1) for m in moves], 1).numpy()
    rank = lambda a: int((np.linalg.svd(a, compute_uv=False) > 1e-9 * np.linalg.norm(a, 2)).sum())  # noqa: E731
    assert got["generator_rank"] == rank(moves) and got["coupling_rank"] == rank(coupling)
    assert got["points"] == 16 and got["invisible"] == got["generator_rank"] - got["coupling_rank"]
    if d_width == 2:  # 3 output weights: rank ≤ 3
        assert got["coupling_rank"] <= 3 < got["generator_rank"] and got["invisible"] > 0


# ---- the low-rank eigensolver ------------------------------------------------------------------------------------
@pytest.mark.parametrize("order, n_g, n_d", [("g-first", 1, 1), ("d-first", 1, 1), ("g-first", 2, 3)])
def test_altgd_apply_is_the_update_matrix(order, n_g, n_d):
    rng = np.random.default_rng(0)
    jac, x = rng.standard_normal((9, 9)), rng.standard_normal((9, 4))
    want = S.update_matrix(jac, 0.3, "altgd", n_g, n_d, n_gen=4, order=order) @ x
    assert np.abs(S.altgd_apply(jac, x, 0.3, n_g, n_d, 4, order) - want).max() < 1e-12


@pytest.mark.parametrize("method", ["minimax", "consensus"])
def test_low_rank_eigenvalues_are_lapacks(method):
    fld = S.equilibrium_field(task_of(f"method={method}"))
    jac = S.jacobian(fld)
    n, scale = len(jac), np.abs(jac).max()
    lam = S.low_rank_eigvals(lambda x: jac @ x, n, width=16)
    nu = S.low_rank_eigvals(lambda x: S.altgd_apply(jac, x, 0.1, 1, 1, fld.n_gen) - x, n, width=16)
    assert S.match_error(lam, np.linalg.eigvals(jac)) < 1e-7 * scale  # zeros vs ~1e-17: the clusters match
    full_mu = np.linalg.eigvals(S.update_matrix(jac, 0.1, "altgd", 1, 1, fld.n_gen))
    a, b = S.normal_space(lam, 1 + nu, 0.1), S.normal_space(np.linalg.eigvals(jac), full_mu, 0.1)
    assert a["n_neutral"] == b["n_neutral"]
    for key in ("spectral_radius_simgd_normal", "spectral_radius_altgd_normal", "slowest_rate", "least_damping"):
        assert a[key] == pytest.approx(b[key], rel=1e-9, abs=1e-14)


def test_spectrum_takes_the_low_rank_path_with_the_same_result(monkeypatch):
    fld = S.equilibrium_field(task_of("method=r1", "model.g_width=32", "model.d_width=32"))
    fast = S.spectrum(fld, 0.1)
    monkeypatch.setattr(S, "LOW_RANK_MIN", 10**9)
    full = S.spectrum(fld, 0.1)
    assert fast["n_params"] >= 1000  # at or above the default LOW_RANK_MIN: the first result took that path
    for key in ("spectral_radius_simgd_normal", "spectral_radius_altgd_normal", "slowest_rate", "least_damping"):
        assert fast["normal_space"][key] == pytest.approx(full["normal_space"][key], rel=1e-9, abs=1e-14)
    assert fast["normal_space"]["n_neutral"] == full["normal_space"]["n_neutral"]
