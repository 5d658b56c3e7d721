"""The frozen-generator gradient probe (Arjovsky & Bottou 2017, Figs. 1-3): G untouched, D fresh, gradient norms
against an independent float64 computation, vanishing original-cost gradient under perfect separation,
determinism over seeds, the written files, bad input."""
import argparse
import copy
import json
import math
import shutil

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ganscope import cli, rundir, train
from ganscope.analysis import probe
from ganscope.cli import probe as cli_probe
from ganscope.data.toy2d import get_dataset
from ganscope.errors import UsageError
from ganscope.nets.mlp import MLP
from ganscope.shipped import find_config

TINY = ["train.steps=20", "checkpoint.keep=[0,10,20]", "model.g_width=8", "model.d_width=8",
        "data.batch_size=32", "data.eval_samples=50", "method=nonsaturating"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("probe") / "run"
    assert train.start(find_config("toy2d"), TINY, out) == 0
    return out


@pytest.fixture(scope="module")
def result(run_dir):
    return probe.probe_run(run_dir, steps=30, sigma=0.2, seeds=2)


def _params(module):
    return [p.detach().clone() for p in module.parameters()]


def _tiny_gen(seed=0, shift=0.0, width=8):
    torch.manual_seed(seed)
    gen = MLP(2, 2, 1, width)
    with torch.no_grad():
        gen.layers[-1].bias += shift
    return gen


# ---- generator frozen, discriminator fresh ----------------------------------------------------------------------
def test_generator_unchanged_bit_for_bit(run_dir):
    gen = _tiny_gen()
    before = _params(gen)
    disc = probe.fresh_discriminator(rundir.load_config(run_dir).model, 5)
    probe.probe_generator(gen, disc, get_dataset("8gaussians").sample, 2, iterations=20, batch_size=32, sigma=0.1,
                          lr=1e-2)
    assert all(torch.equal(a, b) for a, b in zip(before, gen.parameters()))
    assert all(p.grad is None for p in gen.parameters())
    files = sorted((run_dir / "checkpoints").glob("*.pt"))
    snapshot = {p: p.read_bytes() for p in files}
    probe.probe_run(run_dir, steps=3, sigma=0.0, seeds=1)
    assert {p: p.read_bytes() for p in files} == snapshot


def test_discriminator_is_fresh_and_trained(run_dir, monkeypatch):
    made = []
    real_fresh = probe.fresh_discriminator

    def recording(model_cfg, seed):
        disc = real_fresh(model_cfg, seed)
        made.append((disc, _params(disc)))
        return disc

    monkeypatch.setattr(probe, "fresh_discriminator", recording)
    probe.probe_run(run_dir, steps=5, sigma=0.0, seeds=2)
    assert len(made) == 3 * 2  # 3 kept checkpoints × 2 seeds, one new D each
    for path in rundir.stored_checkpoints(run_dir):
        run_d = rundir.open_run(run_dir, path=path).disc.net.member(0)
        for _, init in made:
            assert not any(torch.equal(a, b) for a, b in zip(init, run_d.parameters()))
    (d0, init0), (d1, init1) = made[0], made[1]
    assert not torch.equal(init0[0], init1[0])  # seeds give different initialisations
    assert not torch.equal(init0[0], d0.net.layers[0].weight)  # and D was trained
    assert all(torch.equal(a, b) for a, b in zip(init0, made[2][1]))  # same seed at the next checkpoint


# ---- the gradient norms against a hand-written float64 computation ---------------------------------------------
def _reference_norms(gen, disc, sigma, batch, seed):
    """Iteration 0 recomputed independently: naive log(1 − σ(t)) and −log σ(t) in float64, autograd over G."""
    streams = probe.probe_streams(seed)
    real = get_dataset("8gaussians").sample(batch, streams["data"])
    z = torch.randn(batch, 2, generator=streams["latent"])
    noise_real = torch.randn(batch, 2, generator=streams["noise"])
    noise_fake = torch.randn(batch, 2, generator=streams["noise"])
    g64, d64 = MLP(2, 2, 1, 8).double(), MLP(2, 1, 1, 8).double()
    g64.load_state_dict(gen.state_dict())
    d64.load_state_dict(disc.net.state_dict())
    fake_in = g64(z.double()) + sigma * noise_fake.double()
    p_fake = torch.sigmoid(d64(fake_in).squeeze(-1))
    p_real = torch.sigmoid(d64(real.double() + sigma * noise_real.double()).squeeze(-1))

    def norm(loss):
        grads = torch.autograd.grad(loss, list(g64.parameters()), retain_graph=True)
        return math.sqrt(sum(float((g ** 2).sum()) for g in grads))

    d_loss = float(-(torch.log(p_real).mean() + torch.log(1 - p_fake).mean()).detach())
    return norm(torch.log(1 - p_fake).mean()), norm(-torch.log(p_fake).mean()), d_loss


@pytest.mark.parametrize("sigma", [0.0, 0.3])
def test_gradient_norms_match_independent_computation(sigma):
    gen = _tiny_gen(seed=3)
    disc = probe.fresh_discriminator(argparse.Namespace(d_depth=1, d_width=8, activation="relu"), 11)
    with torch.no_grad():
        disc.net.layers[-1].bias.fill_(-2.0)  # logits ≈ −2: the two costs weigh samples by σ(t) vs σ(−t), ≈ 7× apart
    orig, nlogd, d_loss = _reference_norms(gen, disc, sigma, batch=64, seed=4)
    out = probe.probe_generator(gen, disc, get_dataset("8gaussians").sample, 2, iterations=1, batch_size=64,
                                sigma=sigma, seed=4)
    assert nlogd > 3 * orig > 0  # the test distinguishes the two costs
    assert out["grad_norm_original"][0] == pytest.approx(orig, rel=1e-5)
    assert out["grad_norm_minus_log_d"][0] == pytest.approx(nlogd, rel=1e-5)
    assert out["d_loss"][0] == pytest.approx(d_loss, rel=1e-5)


# ---- Corollary 2.1 on a perfectly separable toy -------------------------------------------------------------------
def test_original_gradient_vanishes_under_perfect_separation():
    gen = _tiny_gen(seed=1, shift=4.0)  # generated points around (4, 4), 8 Gaussians within radius 1.5
    disc = probe.fresh_discriminator(argparse.Namespace(d_depth=2, d_width=32, activation="relu"), 0)
    out = probe.probe_generator(gen, disc, get_dataset("8gaussians").sample, 2, iterations=300, batch_size=64,
                                lr=3e-3)
    g = out["grad_norm_original"]
    assert np.all(out["accuracy"][-50:] == 1.0) and out["accuracy"][0] < 1.0
    assert 1e-12 < g[-10:].mean() < g[:10].mean() / 10
    assert out["d_loss"][-1] < out["d_loss"][0] / 10
    assert out["grad_norm_minus_log_d"][-10:].mean() > out["grad_norm_minus_log_d"][:10].mean()  # −log D: no decay


# ---- seeds ---------------------------------------------------------------------------------------------------------
def test_seeds_differ_and_repeat(run_dir, result):
    entry = result["checkpoints"][20]["sigma=0.2"]
    a, b = entry["seeds"]
    assert not np.array_equal(a["grad_norm_original"], b["grad_norm_original"])
    assert not np.array_equal(a["d_loss"], b["d_loss"])
    again = probe.probe_run(run_dir, steps=30, sigma=0.2, seeds=2)
    for step in (0, 10, 20):
        for setting in ("none", "sigma=0.2"):
            for k in range(2):
                for m in probe.METRICS:
                    assert np.array_equal(again["checkpoints"][step][setting]["seeds"][k][m],
                                          result["checkpoints"][step][setting]["seeds"][k][m])


def test_result_shape_and_quantiles(result):
    assert sorted(result["checkpoints"]) == [0, 10, 20]
    entry = result["checkpoints"][10]
    assert list(entry) == ["none", "sigma=0.2"]
    for m in probe.METRICS:
        runs = np.stack([s[m] for s in entry["none"]["seeds"]])
        assert runs.shape == (2, 30)
        assert np.allclose(entry["none"]["median"][m], runs.mean(0))  # two seeds: the median is their mean
        assert np.all(entry["none"]["q25"][m] <= entry["none"]["median"][m])
        assert np.all(entry["none"]["median"][m] <= entry["none"]["q75"][m])
    assert not np.array_equal(entry["none"]["median"]["d_loss"], entry["sigma=0.2"]["median"]["d_loss"])


def test_last_checkpoint_when_no_kept_steps(run_dir, tmp_path):
    out = tmp_path / "run"
    shutil.copytree(run_dir, out)
    for path in (out / "checkpoints").glob("step_*.pt"):
        path.unlink()
    assert rundir.stored_checkpoints(out) == [out / "checkpoints" / "last.pt"]
    res = probe.probe_run(out, steps=2, sigma=0.0, seeds=1)
    assert list(res["checkpoints"]) == [20] and list(res["checkpoints"][20]) == ["none"]


# ---- files and command line ----------------------------------------------------------------------------------------
def _cli(argv):
    parser = cli._Parser(prog="ganscope")
    cli_probe.register(parser.add_subparsers(parser_class=cli._Parser))
    args = parser.parse_args(argv)
    return args.run(args)


def test_cli_writes_json_and_png(run_dir, tmp_path, capsys):
    out = tmp_path / "probe"
    assert _cli(["probe", str(run_dir), "--steps", "4", "--seeds", "2", "--sigma", "0.5", "--out", str(out)]) == 0
    assert "G step" in capsys.readouterr().out
    png = (out / "probe.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    data = json.loads((out / "probe.json").read_text())  # strict JSON: NaN or inf would not parse back as null
    assert data["iterations"] == 4 and data["sigma"] == 0.5 and data["seeds"] == 2
    curves = data["checkpoints"]["20"]["sigma=0.5"]
    assert len(curves["seeds"]) == 2 and len(curves["median"]["grad_norm_minus_log_d"]) == 4
    assert not list(out.glob(".*tmp"))
    fig = probe.plot_probe(data)  # the figure can be redrawn from probe.json
    assert len(fig.axes) == 2 * 5
    assert [ax.get_yscale() for ax in fig.axes[:5]] == ["log", "linear", "linear", "log", "log"]
    assert all(len(ax.get_lines()) == 3 for ax in fig.axes)  # one median curve per kept checkpoint


def test_json_writes_non_finite_as_null():
    assert probe.to_jsonable({1: np.array([1.0, np.nan, np.inf]), "x": np.float32(-np.inf)}) == \
        {"1": [1.0, None, None], "x": None}


@pytest.mark.parametrize("argv, flag", [
    (["--steps", "0"], "--steps"),
    (["--sigma", "-0.1"], "--sigma"),
    (["--seeds", "0"], "--seeds"),
    (["--member", "1"], "--member"),
    (["--steps", "x"], "--steps"),
    (["--views", "0"], "--views"),
    (["--views", "2", "--view-width", "-1"], "--view-width"),
    (["--views", "3"], "views: random-projection discriminators need an image run"),
    ([], "--out"),
])
def test_bad_arguments(run_dir, tmp_path, argv, flag):
    out = [] if flag == "--out" else ["--out", str(tmp_path / "o")]
    with pytest.raises(UsageError, match=flag):
        _cli(["probe", str(run_dir), *argv, *out])
    assert not (tmp_path / "o").exists()


def test_bad_run_directories(tmp_path):
    with pytest.raises(UsageError, match="RUN_DIR.*no config.yaml"):
        probe.probe_run(tmp_path / "missing")
    (tmp_path / "config.yaml").write_text("seed: 0\n")
    with pytest.raises(UsageError, match="RUN_DIR.*no checkpoints"):
        probe.probe_run(tmp_path)
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "step_000005.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(UsageError, match=r"^checkpoint: .*step_000005\.pt is damaged or not a ganscope checkpoint; "
                                         r"no other checkpoint in .* loads$"):
        probe.probe_run(tmp_path, steps=1, seeds=1)


def test_a_b_by_1_critic_is_refused():
    """The probe reads one logit per sample: a critic returning (B, 1) is refused with the fix, not averaged."""
    disc = probe.fresh_discriminator(argparse.Namespace(d_depth=1, d_width=8, activation="relu"), 11)
    before = _params(disc)
    with pytest.raises(UsageError, match=r"critic: logits of shape \(16, 1\).*squeeze"):
        probe.probe_generator(_tiny_gen(), disc.net, get_dataset("8gaussians").sample, 2, iterations=1,
                              batch_size=16)
    assert all(torch.equal(a, b) for a, b in zip(before, _params(disc)))  # refused before any update


# ---- K discriminators on random projections (RP-GAN's views) -----------------------------------------------------
def _image_gen(seed):
    """A tiny generator of 1×8×8 images from a 3-D latent."""
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(3, 64), torch.nn.Tanh(), torch.nn.Unflatten(1, (1, 8, 8)))


def test_views_match_per_discriminator_computation():
    """One probe iteration with K = 3 views against each D_k computed alone: G's two gradients are those of the
    mean over k of each cost (autograd straight through D_k ∘ W_k ∘ G), ``rejected`` is the share of the K·B
    fake logits ≤ 0, and each D_k takes the Adam step of its own L_D."""
    from ganscope.nets.rp import RPDiscriminator

    gen, pool = _image_gen(0), torch.rand(200, 1, 8, 8) * 2 - 1
    disc = RPDiscriminator(3, 1, 8, d_width=4, seed=5, view_width=4)
    members = [copy.deepcopy(disc.member(i)) for i in range(3)]
    sample = lambda n, g: pool[torch.randint(len(pool), (n,), generator=g)]  # noqa: E731
    out = probe.probe_generator(gen, disc, sample, 3, iterations=1, batch_size=16, seed=2, lr=1e-2)

    streams = probe.probe_streams(2)
    real = sample(16, streams["data"])
    fake = gen(torch.randn(16, 3, generator=streams["latent"]))
    view = lambda x, i: disc.views(x)[:, i:i + 1].detach() if x is real else disc.views(x)[:, i:i + 1]  # noqa: E731
    t_fake = torch.stack([m(view(fake, i)) for i, m in enumerate(members)])  # (K, B)

    def norm(cost):
        grads = torch.autograd.grad(cost, list(gen.parameters()), retain_graph=True)
        return math.sqrt(sum(float((g.double() ** 2).sum()) for g in grads))

    assert out["grad_norm_original"][0] == pytest.approx(norm(-F.softplus(t_fake).mean()), rel=1e-5)
    assert out["grad_norm_minus_log_d"][0] == pytest.approx(norm(F.softplus(-t_fake).mean()), rel=1e-5)
    assert out["rejected"][0] == pytest.approx(float((t_fake <= 0).double().mean()), abs=1e-12)
    for i, m in enumerate(members):
        loss = F.softplus(-m(view(real, i))).mean() + F.softplus(m(view(fake, i).detach())).mean()
        opt = torch.optim.Adam(m.parameters(), lr=1e-2, betas=probe.DEFAULTS["betas"])
        opt.zero_grad()
        loss.backward()
        opt.step()
        for a, b in zip(m.parameters(), disc.member(i).parameters()):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_views_need_an_image_run(run_dir):
    run = rundir.open_run(run_dir)
    with pytest.raises(UsageError, match="views: random-projection discriminators need an image run"):
        probe.probe_parts(run, 0, views=4)


def test_sparse_recording_changes_nothing_it_records():
    """``record_every`` 7 on 50 iterations: every 7th and the last 5 recorded, the same values as recording all,
    and D ends bit-identical."""
    gen = _tiny_gen(seed=2)
    cfg = argparse.Namespace(d_depth=1, d_width=8, activation="relu")
    d_all, d_some = probe.fresh_discriminator(cfg, 3), probe.fresh_discriminator(cfg, 3)
    sample = get_dataset("8gaussians").sample
    every = probe.probe_generator(gen, d_all, sample, 2, iterations=50, batch_size=32, seed=1)
    some = probe.probe_generator(gen, d_some, sample, 2, iterations=50, batch_size=32, seed=1, record_every=7)
    assert some["iteration"].tolist() == [0, 7, 14, 21, 28, 35, 42, 45, 46, 47, 48, 49]
    for m in probe.METRICS:
        assert np.array_equal(some[m], every[m][some["iteration"]])
    assert all(torch.equal(a, b) for a, b in zip(d_all.parameters(), d_some.parameters()))
