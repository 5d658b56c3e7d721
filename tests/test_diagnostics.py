"""ganscope.analysis.diagnostics: the re-exported measurements (tested in test_metrics_dynamics.py), the (B, 1)
refusal across all of them, and the leading eigenvalues against the spectrum's Dirac bridge."""
import pytest
import torch
from torch import nn

from ganscope import penalties as P
from ganscope.analysis import diagnostics as G
from ganscope.analysis import spectrum as S
from ganscope.errors import UsageError
from ganscope.metrics import dynamics as D
from ganscope.nets.mlp import MLP, EnsembleMLP
from ganscope.nets.rp import RPDiscriminator
from ganscope.tasks.toy2d import Logit

F64 = torch.float64


def gauss(*shape, seed=0, scale=1.0):
    return scale * torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=F64)


# ---- the re-exports and shapes -------------------------------------------------------------------------------
def test_the_measurements_are_those_of_metrics_dynamics():
    for name in ("KEYS", "ParameterSpeed", "critic_grad_sq", "critic_outputs", "evaluate", "member_axes",
                 "untouched"):
        assert getattr(G, name) is getattr(D, name), name


def test_b1_logits_are_refused_with_a_squeeze_hint():
    net = nn.Linear(3, 1).double()  # (B, 3) -> (B, 1): silently broke users' spectra
    real, z = gauss(8, 3), gauss(8, 3, seed=1)
    for call in (lambda: G.critic_grad_sq(net, real), lambda: G.critic_outputs(net, real, real),
                 lambda: G.evaluate(nn.Identity(), net, real, z),
                 lambda: G.leading_eigenvalues(nn.Linear(3, 3).double(), net, "nonsaturating", real, z)):
        with pytest.raises(UsageError, match=r"critic: .*\(8, 1\).*squeeze"):
            call()
    ens = EnsembleMLP(2, 3, 1, depth=1, width=4).double()  # (E, B, 3) -> (E, B, 1)
    with pytest.raises(UsageError, match="squeeze"):
        G.critic_grad_sq(ens, gauss(2, 8, 3), event_dims=1)
    assert G.critic_grad_sq(lambda x: net(x).squeeze(-1), real).shape == ()


# ---- the eigenvalue wrapper ----------------------------------------------------------------------------------
@pytest.mark.parametrize("loss,objective,reg,gamma", [("standard", "minimax", "none", None),
                                                      ("standard", "minimax", "r1", 0.3),
                                                      ("nonsaturating", "nonsaturating", "r2", 1.7),
                                                      ("wgan", "wgan", "none", None)])
def test_leading_eigenvalues_match_the_dirac_bridge(loss, objective, reg, gamma):
    bridge = S.spectrum_of_dirac(loss, reg, gamma=gamma, h=0.1)
    zeros = torch.zeros(1, 1, dtype=F64)
    got = G.leading_eigenvalues(S.DiracGenerator(), S.DiracCritic(), objective, zeros, zeros, k=2, penalty=reg,
                                weight=gamma, h=0.1)
    assert got["method"] == "dense" and got["n_params"] == 2
    assert S.match_error([complex(*p) for p in got["eigenvalues"]],
                         [complex(*p) for p in bridge["eigenvalues"]]) < 1e-14
    assert bridge["closed_form_max_error"] < 1e-14
    assert got["max_real_part"] == pytest.approx(bridge["max_real_part"], abs=1e-14)
    assert got["spectral_radius"] == pytest.approx(bridge["spectral_radius_simgd"], rel=1e-14)
    assert got["local_verdict"] == bridge["local_verdict"]


def test_leading_eigenvalues_matrix_free_above_the_guard_match_dense():
    torch.manual_seed(0)
    gen, critic = MLP(2, 2, depth=1, width=6).double(), Logit(MLP(2, 1, depth=1, width=6, activation="tanh").double())
    real, z = gauss(24, 2, seed=1), gauss(24, 2, seed=2)
    args = (gen, critic, "nonsaturating", real, z)
    dense = G.leading_eigenvalues(*args, k=4, penalty="r1", weight=1.0)
    sparse = G.leading_eigenvalues(*args, k=4, penalty="r1", weight=1.0, max_dense=10)
    assert dense["method"] == "dense" and sparse["method"] == "arnoldi"
    assert dense["n_params"] == sparse["n_params"] == (12 + 6 + 12 + 2) + (12 + 6 + 6 + 1)  # G 2-6-2, D 2-6-1
    assert len(sparse["eigenvalues"]) == 4
    assert [p[0] for p in sparse["eigenvalues"]] == pytest.approx([p[0] for p in dense["eigenvalues"]], abs=1e-8)
    assert dense["eigenvalues"][0][0] == dense["max_real_part"]


def test_leading_eigenvalues_refuse_several_critics():
    ws = gauss(3, 2, seed=3)
    with pytest.raises(UsageError, match="one game"):
        G.leading_eigenvalues(nn.Linear(2, 2).double(), lambda x: ws @ x.T, "wgan", gauss(5, 2), gauss(5, 2))


# ---- train.spectrum_at: the engine's hook ------------------------------------------------------------------------
def spectrum_run(tmp_path, name, overrides, hook=G.run_spectrum):
    from ganscope.config import resolve
    from ganscope.train import Run, prepare

    cfg = resolve({}, ["ensemble=2", "method=r1", "penalty.weight=2", "game.scheme=simgd", "model.g_width=8",
                       "model.d_width=8", "data.batch_size=32", "data.eval_samples=64", "train.steps=4",
                       "train.eval_every=2", "train.plots=false", *overrides])
    prepare(cfg)
    run = Run(cfg, tmp_path / name, spectrum=hook)
    run.out.mkdir()
    run.train(progress=False)
    import json
    return run, [json.loads(ln) for ln in (run.out / "metrics.jsonl").read_text().splitlines()]


def test_spectrum_at_logs_each_members_leading_eigenvalues(tmp_path):
    run, rows = spectrum_run(tmp_path, "s", ["train.spectrum_at=[4, 1]", "members.penalty.weight=[0.5, 3]"])
    logged = [r for r in rows if "spectrum_radius" in r]
    assert [r["step"] for r in logged] == [1, 4]
    real, z = run.task.diagnostic_batch()
    for m, gamma in enumerate((0.5, 3.0)):  # at the last step, by hand: the member alone, its own γ
        gen, disc = run.game.gen.net.member(m), Logit(run.game.disc.net.net.member(m))
        ref = G.leading_eigenvalues(gen, disc, "nonsaturating", real[m], z[m].double(), k=4, penalty="r1",
                                    weight=gamma, h=run.cfg.optim.d.lr, scheme="simgd", seed=m)
        assert ref["method"] == "dense"
        assert logged[-1]["spectrum_max_real_part"][m] == pytest.approx(ref["max_real_part"], rel=1e-9, abs=1e-12)
        assert logged[-1]["spectrum_radius"][m] == pytest.approx(ref["spectral_radius"], rel=1e-12)
    assert logged[0]["spectrum_max_real_part"] != logged[1]["spectrum_max_real_part"]


def test_spectrum_at_leaves_training_bit_identical(tmp_path):
    with_spectrum, _ = spectrum_run(tmp_path, "on", ["train.spectrum_at=[1,3]", "noise.sigma=0.1"])
    without, _ = spectrum_run(tmp_path, "off", ["noise.sigma=0.1"])
    a, b = with_spectrum.state_dict(), without.state_dict()
    for part in ("generator", "discriminator"):
        assert all(torch.equal(a[part][k], b[part][k]) for k in a[part])
    assert torch.equal(a["rng"]["torch"], b["rng"]["torch"])
    assert all(torch.equal(x, y) for x, y in zip(a["rng"]["streams"], b["rng"]["streams"]))


def test_spectrum_at_needs_the_hook_and_a_2d_run(tmp_path):
    from ganscope.config import resolve

    with pytest.raises(UsageError, match=r"^train.spectrum_at: needs the eigenvalue hook"):
        spectrum_run(tmp_path, "nohook", ["train.spectrum_at=[2]"], hook=None)
    for overrides, match in ((["data.name=digits", "net=dcgan"], r"^train.spectrum_at: .* 2-D runs only; images"),
                             (["data.name=fortunes", "net=charcnn"], r"2-D runs only; text"),
                             (["train.steps=10", "train.spectrum_at=[0]"], r"^train.spectrum_at: expected generator "
                                                                           r"steps in \[1, train.steps = 10\]"),
                             (["train.steps=10", "train.spectrum_at=[11]"], r"\[1, train.steps = 10\]"),
                             (["train.spectrum_at=[1.5]"], r"^train.spectrum_at: must be an integer")):
        with pytest.raises(UsageError, match=match):
            resolve({}, [*overrides, *([] if "spectrum_at" in " ".join(overrides) else ["train.spectrum_at=[5]"])])
    assert resolve({}, ["train.spectrum_at=[30, 1e1, 10]"]).train.spectrum_at == [10, 30]
    assert resolve({}, ["data.name=digits", "net=dcgan"]).train.spectrum_at == []
