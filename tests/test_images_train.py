"""Image runs through the engine: a few steps per net, RP-GAN's K discriminators in the game, a run directory as a
FID source, and the frozen-generator probe on an image generator."""
import json

import numpy as np
import pytest
import torch

from ganscope import cli
from ganscope.analysis import probe
from ganscope.config import load_yaml, resolve
from ganscope.shipped import find_config
from ganscope.train import Run, sample_run

TINY = ["data.name=digits", "model.g_width=8", "model.d_width=8", "model.latent_dim=8", "data.batch_size=16",
        "data.eval_samples=64", "train.plots=false"]


def tiny(*overrides, steps=3):
    return resolve(load_yaml(find_config("images")), [*TINY, f"train.steps={steps}", f"train.eval_every={steps}",
                                                           *overrides])


@pytest.mark.parametrize("net,method", [("dcgan", "nonsaturating"), ("dcgan", "wgan-gp"), ("resnet", "r1"),
                                        ("dcgan", "lsgan"), ("dcgan", "wgan-clip")])
def test_a_few_steps_per_net_and_method(tmp_path, net, method):
    cfg = tiny(f"net={net}", f"method={method}")
    run = Run(cfg, tmp_path)
    before = [p.detach().clone() for p in run.task.gen.parameters()]
    summary = run.train(progress=False)
    assert summary["steps"] == 3 and all(torch.isfinite(torch.tensor(summary["final"]["fid"])).reshape(-1))
    assert summary["metrics_info"]["reference"] == "digits:test"
    assert any(not torch.equal(a, b) for a, b in zip(before, run.task.gen.parameters()))


@pytest.mark.parametrize("net,variant,method", [("dcgan", "g-mlp", "wgan-gp"), ("dcgan", "baseline", "wgan-clip"),
                                                ("resnet", "deep", "lsgan")])
def test_gulrajani_architectures_train(tmp_path, net, variant, method):
    from torch import nn

    run = Run(tiny(f"net={net}", f"model.variant={variant}", f"method={method}", "data.image_size=32", steps=2),
              tmp_path)  # 32 px: DCGAN D has normalised layers (8 px has none)
    summary = run.train(progress=False)
    assert summary["steps"] == 2 and torch.isfinite(torch.tensor(summary["final"]["fid"]))
    norms = {type(m) for m in run.task.disc.modules()}
    assert (nn.GroupNorm in norms) == (method == "wgan-gp" and variant != "standard" and net == "dcgan")


def test_rp_gan_trains_k_discriminators_and_the_mean_for_g(tmp_path):
    cfg = tiny("net=dcgan", "method=nonsaturating", "rp.k=4")
    run = Run(cfg, tmp_path)
    stats = run.game.step(0)
    assert stats["d_loss"].shape == (4,) and stats["g_loss"].shape == (4,)
    g_loss = torch.tensor([1.0, 2.0, 3.0, 6.0])
    assert run.task.g_loss_total(g_loss) == 3.0  # the mean over K (Neyshabur et al.), not the sum


def test_rp_gan_rejects_a_penalty():
    from ganscope.errors import UsageError

    with pytest.raises(UsageError, match="rp.k"):
        tiny("net=dcgan", "method=r1", "rp.k=4")


@pytest.fixture(scope="module")
def image_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("imgrun") / "run"
    assert cli.main(["train", "images", *TINY, "net=dcgan", "method=nonsaturating",
                     "train.steps=4", "train.eval_every=4", "checkpoint.keep=[0,4]", "--out", str(out)]) == 0
    return out


def test_sample_run_uses_the_ema_generator_and_fixed_latents(image_run):
    a, b = sample_run(image_run, 10, seed=3), sample_run(image_run, 10, seed=3)
    assert a.shape == (10, 1, 8, 8) and torch.equal(a, b)
    assert not torch.equal(a, sample_run(image_run, 10, seed=4))


def test_rundir_sample_is_the_tasks_generate(image_run):
    """rundir rebuilds the nets from the config alone: its samples are the trained run's EMA generator's."""
    from ganscope import rundir

    cfg = rundir.load_config(image_run)
    run = Run(cfg, image_run)
    run.load(rundir.last_checkpoint(image_run))
    want = run.task.generate(run.game.ema, 10, seed_offset=3 - cfg.seed)
    assert torch.equal(rundir.sample(image_run, 10, seed=3), want)
    assert torch.equal(rundir.sample(image_run, 10, seed=3, step=4), want)  # the kept step 4 is the last
    assert not torch.equal(rundir.sample(image_run, 10, seed=3, step=0), want)


def test_a_run_directory_is_a_fid_source(image_run, capsys):
    assert cli.main(["fid", str(image_run), "digits:test", "--n", "50", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["n"] == 50 and result["fid"] > 0


def test_probe_on_an_image_generator(image_run):
    result = probe.probe_run(image_run, steps=5, sigma=0.1, seeds=2)
    assert sorted(result["checkpoints"]) == [0, 4]
    for settings in result["checkpoints"].values():
        for setting in ("none", "sigma=0.1"):
            median = settings[setting]["median"]
            assert all(len(median[k]) == 5 for k in probe.METRICS)
            assert all(torch.isfinite(torch.as_tensor(median[k])).all() for k in probe.METRICS)
            assert (torch.as_tensor(median["grad_norm_original"]) > 0).all()


def test_probe_with_random_projection_views(image_run, tmp_path, capsys):
    """``ganscope probe --views 3``: the fresh discriminator is 3 views of the 8×8 digits, one logit row each."""
    out = tmp_path / "probe"
    assert cli.main(["probe", str(image_run), "--steps", "4", "--seeds", "1", "--sigma", "0", "--views", "3",
                     "--view-width", "4", "--out", str(out)]) == 0
    assert "rejected" in capsys.readouterr().out
    data = json.loads((out / "probe.json").read_text())
    assert data["views"] == 3 and data["view_width"] == 4
    curves = data["checkpoints"]["4"]["none"]["seeds"][0]
    assert all(0.0 <= r <= 1.0 for r in curves["rejected"]) and all(g > 0 for g in curves["grad_norm_original"])
    single = probe.probe_run(image_run, steps=4, sigma=0.0, seeds=1)["checkpoints"][4]["none"]["seeds"][0]
    assert not np.array_equal(single["grad_norm_original"], curves["grad_norm_original"])


def test_rp_gan_diagnostics_are_the_mean_over_the_k_discriminators(tmp_path):
    from ganscope.metrics import dynamics

    run = Run(tiny("net=dcgan", "method=nonsaturating", "rp.k=3", steps=2), tmp_path)
    run.train(progress=False)
    last = [json.loads(ln) for ln in (tmp_path / "metrics.jsonl").read_text().splitlines()][-1]
    real, z = run.task.diagnostic_batch()
    per_k = dynamics.evaluate(run.game.gen.net, run.game.disc.net, real, z, event_dims=3)
    for key in ("grad_sq_real", "grad_sq_fake", "d_real", "d_fake", "d_gap"):
        assert len(per_k[key]) == 3
        assert last[key] == pytest.approx(sum(per_k[key]) / 3, rel=1e-12), key
    assert len(set(per_k["grad_sq_real"])) == 3  # the K discriminators differ: the mean is not one of them
    assert isinstance(last["speed_d"], float) and last["speed_d"] > 0  # ‖Δψ‖ of all K together


def test_image_diagnostic_batch_is_fixed_test_images_and_eval_latents(tmp_path):
    from ganscope.data.images import load_images

    run = Run(tiny("net=dcgan", "method=nonsaturating"), tmp_path)
    streams = [s.clone() for s in run.task.streams.state()]
    real, z = run.task.diagnostic_batch()
    assert real.shape == (64, 1, 8, 8) and z.shape == (64, 8)  # min(256, data.eval_samples)
    test = load_images("digits", split="test").x.flatten(1)
    train = load_images("digits", split="train").x.flatten(1)
    hits = (real.flatten(1)[:, None] == test[None]).all(-1).any(-1)
    assert hits.all() and not (real.flatten(1)[:, None] == train[None]).all(-1).any()  # from the test split
    assert torch.equal(z, run.task.eval_latents(64)[:64])
    again = Run(tiny("net=dcgan", "method=nonsaturating"), tmp_path / "b").task.diagnostic_batch()
    assert torch.equal(real, again[0]) and torch.equal(z, again[1])
    assert all(torch.equal(a, b) for a, b in zip(streams, run.task.streams.state()))  # no training draw
