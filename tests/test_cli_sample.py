"""`ganscope sample`: a stored run's samples as files (PNGs for images, .npy for 2-D), latent interpolations
(linear and slerp), and bad input (exit 2, one line)."""
import numpy as np
import pytest
import torch
from PIL import Image

from ganscope import rundir
from ganscope.cli import main
from ganscope.export import lerp, slerp
from ganscope.shipped import find_config
from ganscope.train import start

IMAGES = ["data.name=digits", "net=dcgan", "model.g_width=8", "model.d_width=8", "model.latent_dim=8",
          "data.batch_size=16", "data.eval_samples=64", "train.steps=4", "train.eval_every=4", "train.plots=false",
          "checkpoint.keep=[2]", "game.ema=0.5"]
TOY = ["model.g_width=8", "model.d_width=8", "data.batch_size=32", "data.eval_samples=50", "train.steps=3",
       "game.ema=0", "train.plots=false"]


@pytest.fixture(scope="module")
def image_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("sample") / "img"
    assert start(find_config("images"), IMAGES, out) == 0
    return out


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("sample") / "toy"
    assert start(find_config("toy2d"), TOY, out) == 0
    return out


def test_image_samples_are_pngs_of_the_generator(image_run, tmp_path, capsys):
    assert main(["sample", str(image_run), "--n", "5", "--out", str(tmp_path / "a")]) == 0
    files = sorted((tmp_path / "a").glob("*.png"))
    assert [f.name for f in files] == [f"sample_{i:06d}.png" for i in range(5)]
    run = rundir.open_run(image_run)
    z = torch.randn(5, 8, generator=torch.Generator().manual_seed(0))
    want = rundir.generate(run.gen, z)  # the training generator by default
    got = np.asarray(Image.open(files[3]), dtype=float)
    pixels = np.rint((want[3, 0].clamp(-1, 1).numpy() + 1) * 127.5)
    assert got.shape == pixels.shape  # H × W greyscale, no frame
    assert np.abs(got - pixels).max() <= 1
    assert "wrote 5 file(s)" in capsys.readouterr().out


def test_ema_and_kept_step_give_other_samples(image_run, tmp_path):
    for name, extra in (("last", []), ("ema", ["--ema"]), ("step", ["--step", "2"])):
        assert main(["sample", str(image_run), "--n", "2", "--out", str(tmp_path / name), *extra]) == 0
    read = lambda d: np.asarray(Image.open(tmp_path / d / "sample_000000.png"))  # noqa: E731
    assert not np.array_equal(read("last"), read("ema")) and not np.array_equal(read("last"), read("step"))


def test_image_interpolation_grids(image_run, tmp_path):
    assert main(["sample", str(image_run), "--interpolate", "3", "--steps", "5", "--out", str(tmp_path)]) == 0
    for kind in ("linear", "slerp"):
        grid = np.asarray(Image.open(tmp_path / f"interpolate_{kind}.png"))
        size = rundir.open_run(image_run).state["snapshots"]
        h = next(iter(size.values())).shape[-1]
        assert grid.shape[:2] == (3 * (h + 1) + 1, 5 * (h + 1) + 1)  # a row per pair, a column per step


def test_toy_samples_and_interpolations_are_npy(toy_run, tmp_path):
    assert main(["sample", str(toy_run), "--n", "7", "--interpolate", "2", "--out", str(tmp_path)]) == 0
    samples = np.load(tmp_path / "samples.npy")
    assert samples.shape == (7, 2)
    run = rundir.open_run(toy_run)
    z = torch.randn(7, run.cfg.model.latent_dim, generator=torch.Generator().manual_seed(0))
    np.testing.assert_allclose(samples, run.gen(z[None])[0].numpy(), rtol=1e-6)
    walk = np.load(tmp_path / "interpolate_slerp.npy")
    assert walk.shape == (2, 8, 2)
    ends = torch.randn(4, run.cfg.model.latent_dim, generator=torch.Generator().manual_seed(1))
    np.testing.assert_allclose(walk[:, 0], run.gen(ends[None, :2])[0].numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(walk[:, -1], run.gen(ends[None, 2:])[0].numpy(), rtol=1e-5, atol=1e-6)


def test_slerp_keeps_the_norm_and_lerp_is_straight():
    g = torch.Generator().manual_seed(0)
    z0, z1 = torch.randn(4, 16, generator=g, dtype=torch.float64), torch.randn(4, 16, generator=g, dtype=torch.float64)
    z1 = z1 / z1.norm(dim=-1, keepdim=True) * z0.norm(dim=-1, keepdim=True)  # equal norms: slerp stays on the sphere
    t = torch.linspace(0, 1, 9, dtype=torch.float64)
    s, line = slerp(z0, z1, t), lerp(z0, z1, t)
    torch.testing.assert_close(s[:, 0], z0)
    torch.testing.assert_close(s[:, -1], z1)
    torch.testing.assert_close(s.norm(dim=-1), z0.norm(dim=-1)[:, None].expand(4, 9))
    assert (line[:, 4].norm(dim=-1) < z0.norm(dim=-1) - 1e-3).all()  # the straight line cuts inside
    torch.testing.assert_close(line[:, 4], (z0 + z1) / 2)
    torch.testing.assert_close(slerp(z0, z0, t), lerp(z0, z0, t))  # Ω = 0: the limit


@pytest.mark.parametrize("argv, field", [
    (["no/such/run", "--n", "3"], "RUN_DIR"),
    (["RUN", "--n", "0"], "--n"),
    (["RUN", "--n", "2", "--step", "3"], "--step"),
    (["RUN"], "--n"),
    (["RUN", "--interpolate", "0"], "--interpolate"),
    (["RUN", "--n", "2", "--steps", "1", "--interpolate", "1"], "--steps"),
    (["TOY", "--n", "2", "--ema"], "--ema"),
])
def test_bad_input_exits_2_with_one_line(image_run, toy_run, tmp_path, capsys, argv, field):
    argv = [str(image_run) if a == "RUN" else str(toy_run) if a == "TOY" else a for a in argv]
    assert main(["sample", *argv, "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {field}:")


def test_a_checkpoint_of_other_nets_is_one_line_naming_the_tensor(toy_run, tmp_path, capsys):
    """A run whose config no longer builds its checkpoint's nets (e.g. an RP-GAN run on 28 px grey images from
    before the 8×8 views): exit 2, one line that says which tensors do not fit."""
    import shutil

    run = tmp_path / "toy"
    shutil.copytree(toy_run, run)
    cfg = (run / "config.yaml").read_text()
    assert "d_width: 8\n" in cfg
    (run / "config.yaml").write_text(cfg.replace("d_width: 8\n", "d_width: 9\n"))
    assert main(["sample", str(run), "--n", "2", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: checkpoint:") and "does not fit the config" in err[0]
    assert "size mismatch for" in err[0]
