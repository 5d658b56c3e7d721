"""The shipped configs: every one validates; the GPU-sized ones hold the papers' hyper-parameters
(docs/references.md, /work/shared/REFERENCE.md) and their nets the papers' channels; a 2-step CPU run of each
GPU-sized config with tiny widths on the 8×8 digits resized to its image size."""
import pytest
import torch

from ganscope.config import load_yaml, resolve
from ganscope.shipped import configs, find_config
from ganscope.train import Run

GPU_CONFIGS = ("r1_resnet64", "r1_resnet128", "wgangp_resnet32", "rpgan64", "convergence2d_full")


def cfg_of(name, *overrides):
    return resolve(load_yaml(find_config(name)), list(overrides))


@pytest.mark.parametrize("path", configs(), ids=lambda p: p.stem)
def test_every_shipped_config_resolves(path):
    cfg = resolve(load_yaml(path))
    assert cfg.train.steps >= 1


def test_the_gpu_configs_are_shipped():
    assert set(GPU_CONFIGS) <= {p.stem for p in configs()}


def test_r1_resnet_configs_hold_gan_stabilitys_defaults():
    for name, size in (("r1_resnet64", 64), ("r1_resnet128", 128)):
        c = cfg_of(name)
        assert (c.net, c.loss, c.data.image_size, c.data.batch_size, c.model.latent_dim) == (
            "resnet", "nonsaturating", size, 64, 256)
        assert (c.penalty.name, c.penalty.weight) == ("r1", 20.0)  # reg_param 10 = γ 20 in our convention
        for o in (c.optim.g, c.optim.d):
            assert (o.name, o.lr, o.alpha, o.eps) == ("rmsprop", 1e-4, 0.99, 1e-8)
        assert c.game.ema == 0.999 and c.data.dequantize and c.game.n_d == 1


def test_wgangp_resnet32_holds_the_cifar_scripts_settings():
    c = cfg_of("wgangp_resnet32")
    assert (c.net, c.loss, c.data.image_size, c.data.batch_size, c.model.latent_dim) == (
        "wgangp-resnet", "wgan", 32, 64, 128)
    assert (c.penalty.name, c.penalty.weight, c.game.n_d, c.model.g_width, c.model.d_width) == (
        "wgan-gp", 10.0, 5, 128, 128)
    for o in (c.optim.g, c.optim.d):
        assert (o.name, o.lr, o.betas) == ("adam", 2e-4, [0.0, 0.9])
    assert c.data.dequantize and c.train.steps == 100000


def test_rpgan64_holds_rpgans_face48_settings():
    c = cfg_of("rpgan64")
    assert (c.net, c.loss, c.rp.k, c.rp.view_width, c.data.image_size, c.data.batch_size) == (
        "dcgan", "nonsaturating", 48, 1024, 64, 64)
    assert (c.model.latent_dim, c.model.g_width, c.model.d_width, c.penalty.name) == (100, 1024, 512, "none")
    for o in (c.optim.g, c.optim.d):
        assert (o.name, o.lr, o.betas[0]) == ("adam", 2e-4, 0.5)
    assert c.train.steps == 100000


def test_convergence2d_full_is_the_matrix_protocol_at_full_length():
    short, full = cfg_of("convergence2d"), cfg_of("convergence2d_full")
    assert (full.train.steps, full.ensemble, full.train.eval_every) == (10000, 16, 500)
    for key in ("data", "model", "optim", "penalty", "game", "noise"):
        assert getattr(full, key) == getattr(short, key), key


def gan_stability_d_blocks(size, nf=64, nf_max=1024):
    """(fin, fout) of GAN_stability resnet D's blocks (REFERENCE.md §1.7): block(nf, nf), then per ×2 stage
    block(min(nf·2^i, nf_max), min(nf·2^(i+1), nf_max)), L = log2(size / 4) stages."""
    stages = (size // 4).bit_length() - 1
    return [(nf, nf)] + [(min(nf * 2**i, nf_max), min(nf * 2**(i + 1), nf_max)) for i in range(stages)]


def d_blocks(d):
    from ganscope.nets.conv import ResnetBlock

    return [(m.conv_0.in_channels, m.conv_1.out_channels) for m in d.modules() if isinstance(m, ResnetBlock)]


@pytest.mark.parametrize("name, differs", [("r1_resnet64", []), ("r1_resnet128", [((1024, 1024), (1024, 2048))])])
def test_resnet_blocks_follow_gan_stability(name, differs):
    """64 px: every block as GAN_stability's; 128 px: all but the coarsest (nf_max binds there; docs/scale.md)."""
    from ganscope.nets.conv import make_image_nets

    c = cfg_of(name)
    with torch.device("meta"):  # shapes only, no memory
        g, d = make_image_nets(c.net, c.data.image_size, 1, c.model.latent_dim, c.model.g_width, c.model.d_width)
    ours, theirs = d_blocks(d), gan_stability_d_blocks(c.data.image_size)
    assert len(ours) == len(theirs) == {64: 5, 128: 6}[c.data.image_size]
    assert [(t, o) for t, o in zip(theirs, ours) if t != o] == differs
    assert g.fc.out_features == c.model.g_width * 16 and d_blocks(g)[-1] == (64, 64)  # G mirrors D


@pytest.mark.parametrize("name", ["r1_resnet64", "r1_resnet128", "wgangp_resnet32", "rpgan64"])
def test_a_tiny_variant_of_each_gpu_image_config_trains_two_steps(tmp_path, name):
    c = cfg_of(name, "data.name=digits", "model.g_width=16", "model.d_width=16", "rp.view_width=8",
               "data.batch_size=8", "data.eval_samples=32", "train.steps=2", "train.eval_every=2",
               "train.log_every=1", "checkpoint.every=2", "train.plots=false", "train.diagnostics=false",
               *(["rp.k=4"] if name == "rpgan64" else []))
    summary = Run(c, tmp_path).train(progress=False)
    assert summary["steps"] == 2 and torch.isfinite(torch.tensor(summary["final"]["fid"])).all()


def test_a_short_full_matrix_cell_trains(tmp_path):
    c = cfg_of("convergence2d_full", "method=r1", "ensemble=2", "train.steps=2", "train.eval_every=2",
               "checkpoint.every=2", "train.diagnostics=false")
    summary = Run(c, tmp_path).train(progress=False)
    assert summary["steps"] == 2 and len(summary["members"]) == 2


def test_reproduce_full_runs_on_the_gpu_sized_configs(tmp_path):
    """--full's image sweeps start from r1_resnet64 and rpgan64 (their runs validate); --quick's are unchanged."""
    from ganscope.reproduce import neyshabur2017, r1_images
    from ganscope.reproduce.common import Context
    from ganscope.sweep import expand, parse_spec

    full, quick = Context(tmp_path, quick=False), Context(tmp_path)
    r1 = r1_images.r1_spec(full, 5, 20000)
    assert r1["base"] == "r1_resnet64" and r1_images.r1_spec(quick, 3, 600)["base"] == "images"
    runs = expand(parse_spec(r1))
    assert len(runs) == 10 and {r.config["data"]["image_size"] for r in runs} == {64}
    assert {r.config["model"]["g_width"] for r in runs} == {1024}
    rp = neyshabur2017.rp_spec(full, [1, 12, 24, 48], 5, 20000, view_width=64)
    assert rp["base"] == "rpgan64" and neyshabur2017.rp_spec(quick, [1], 1, 10)["base"] == "images"
    runs = expand(parse_spec(rp))
    assert len(runs) == 20 and {r.config["rp"]["k"] for r in runs} == {1, 12, 24, 48}
    assert {(r.config["data"]["image_size"], r.config["model"]["latent_dim"]) for r in runs} == {(64, 100)}
