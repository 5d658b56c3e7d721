"""Image metrics (ganscope.metrics.images / extractors): the shipped extractor, FID/KID sanity orderings,
PRDC on hand-computed cases, the feature cache, the source resolver and the `fid` command's JSON."""
import argparse
import json

import numpy as np
import pytest
import scipy.linalg
import torch

from ganscope.cli import fid as cli_fid
from ganscope.data import images as data
from ganscope.data.images import load_images
from ganscope.errors import UsageError
from ganscope.metrics import extractors, images as im
from ganscope.metrics.extractors import FMNIST_INFO, FMNIST_WEIGHTS, FashionCNN, load_extractor
from ganscope.metrics.images import (blur, cache_key, compare, fid_kid, images_from_source, metrics_from_features,
                                     prdc)

HAS_FASHION = (data.FASHION_DIR / "t10k-images-idx3-ubyte.gz").is_file()


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GANSCOPE_CACHE", str(tmp_path / "cache"))


# ---- the shipped extractor ------------------------------------------------------------------------------------------
def test_shipped_weights_are_small_and_load_safely():
    assert FMNIST_WEIGHTS.stat().st_size <= 2 * 2 ** 20
    state = torch.load(FMNIST_WEIGHTS, map_location="cpu", weights_only=True)
    net = FashionCNN()
    net.load_state_dict(state)
    assert sum(p.numel() for p in net.parameters()) < 400_000
    info = json.loads(FMNIST_INFO.read_text())
    assert info["test_accuracy"] > 0.85 and info["sha256_16"] == extractors.file_digest(FMNIST_WEIGHTS)


def test_features_shape_any_size_and_channels_deterministic():
    ext = load_extractor("fmnist-cnn")
    x = load_images("digits:test").x[:20]
    f = ext.features(x)
    assert f.shape == (20, 128) and f.dtype == torch.float32 and float(f.min()) >= 0
    assert torch.equal(f, ext.features(x))
    assert torch.allclose(ext.features(x.expand(-1, 3, -1, -1)), f, atol=1e-5)  # grey RGB = grey
    assert ext.features(torch.zeros(2, 3, 32, 32)).shape == (2, 128)


def test_fast_pooling_gives_the_training_path_s_features_exactly():
    g = torch.Generator().manual_seed(0)
    for shape in [(3, 4, 8, 8), (2, 3, 7, 7), (2, 1, 5, 6)]:  # odd sizes drop the last row/column
        x = torch.randn(shape, generator=g)
        assert torch.equal(extractors.max_pool2(x), torch.nn.functional.max_pool2d(x, 2))
    net = extractors.load_fashion_cnn()
    x = load_images("mnist5k:test").x[:300]
    with torch.no_grad():
        fast = net.features(x)
        net.train()
        slow = net.features(x)  # conv → ReLU → nn.MaxPool2d, the path the script trained
        net.eval()
    assert torch.equal(fast, slow) and (fast == 0).any() and (fast > 0).any()
    assert torch.equal(torch.signbit(fast), torch.signbit(slow))


@pytest.mark.skipif(not HAS_FASHION, reason="Debian package dataset-fashion-mnist not installed")
def test_extractor_accuracy_on_fashion_mnist_test_subset():
    info = json.loads(FMNIST_INFO.read_text())
    test = load_images("fashion-mnist:test")
    net = extractors.load_fashion_cnn()
    with torch.no_grad():
        acc = float((net(test.x[:2000]).argmax(1) == test.labels[:2000]).float().mean())
    assert acc >= info["test_accuracy"] - 0.03


def test_extractor_errors():
    with pytest.raises(UsageError, match="allowed: fmnist-cnn"):
        load_extractor("resnet50")
    with pytest.raises(UsageError, match="not found"):
        load_extractor("inception:/no/such/weights.pth")


def test_inception_without_torch_fidelity_says_what_to_install(tmp_path, monkeypatch):
    import torchmetrics.utilities.imports as tmi

    monkeypatch.setattr(tmi, "_TORCH_FIDELITY_AVAILABLE", False)
    (tmp_path / "w.pth").write_bytes(b"weights")
    with pytest.raises(UsageError, match=r"pip install ganscope\[inception\]"):
        load_extractor(f"inception:{tmp_path / 'w.pth'}")


class _MeanPool(torch.nn.Module):
    def forward(self, x):
        return torch.nn.functional.adaptive_avg_pool2d(x, 2).flatten(1)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch >= 2.10 deprecates TorchScript
def test_user_extractors_torchscript_and_export(tmp_path):
    path = tmp_path / "pool.pt"
    torch.jit.save(torch.jit.script(_MeanPool()), str(path))
    ext = load_extractor(str(path))
    assert ext.name == "torchscript:pool.pt" and ext.features(torch.zeros(3, 1, 8, 8)).shape == (3, 4)
    program = torch.export.export(_MeanPool(), (torch.zeros(3, 1, 8, 8),), dynamic_shapes=({0: torch.export.Dim("n")},))
    torch.export.save(program, str(tmp_path / "pool.pt2"))
    ext = load_extractor(str(tmp_path / "pool.pt2"))
    assert ext.name == "export:pool.pt2" and ext.features(torch.ones(5, 1, 8, 8)).tolist() == [[1.0] * 4] * 5
    torch.save({"w": torch.zeros(2)}, tmp_path / "state.pt")
    with pytest.raises(UsageError, match="not a TorchScript module"):
        load_extractor(str(tmp_path / "state.pt"))


# ---- FID and KID --------------------------------------------------------------------------------------------------
def test_fid_matches_the_closed_form_on_features():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(400, 6, generator=g), torch.randn(300, 6, generator=g) * 1.5 + 0.3
    mu_a, mu_b = a.double().mean(0).numpy(), b.double().mean(0).numpy()
    s_a, s_b = np.cov(a.double().numpy().T), np.cov(b.double().numpy().T)
    expected = ((mu_a - mu_b) ** 2).sum() + np.trace(s_a + s_b - 2 * scipy.linalg.sqrtm(s_a @ s_b).real)
    assert fid_kid(a, b)["fid"] == pytest.approx(expected, rel=1e-6)


def _torchmetrics_fid_kid(fake, real, subsets, seed):
    """torchmetrics' FID and KID of the same float64 features (the pass-through module fed them before)."""
    from torchmetrics.image.fid import FrechetInceptionDistance
    from torchmetrics.image.kid import KernelInceptionDistance

    class Identity(torch.nn.Module):
        num_features = real.shape[1]

        def forward(self, f):
            return f

    fake, real = fake.double(), real.double()
    fid = FrechetInceptionDistance(feature=Identity(), sync_on_compute=False)
    kid = KernelInceptionDistance(feature=Identity(), subsets=subsets, subset_size=min(1000, len(real), len(fake)),
                                  sync_on_compute=False)
    for metric in (fid, kid):
        metric.update(real, real=True)
        metric.update(fake, real=False)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        kid_mean, kid_std = kid.compute()
    return float(fid.compute()), float(kid_mean), float(kid_std)


@pytest.mark.filterwarnings("ignore:.*will save all extracted features.*")
@pytest.mark.parametrize("n_fake,n_real,dim,subsets", [(400, 300, 6, 7), (1300, 1100, 128, 3)])
def test_fid_and_kid_equal_torchmetrics(n_fake, n_real, dim, subsets):
    """ganscope's own FID is torchmetrics' to the bit; its KID (same draws, same sums, the kernel fused into addmm)
    within 1e-12 both ways (seen: 1e-14), KID's standard deviation within 1e-11."""
    g = torch.Generator().manual_seed(dim)
    fake = torch.randn(n_fake, dim, generator=g).relu() * 3
    real = torch.randn(n_real, dim, generator=g).relu() * 2.5 + 0.1
    fid, kid, kid_std = _torchmetrics_fid_kid(fake, real, subsets, seed=5)
    ours = fid_kid(fake, real, seed=5, kid_subsets=subsets)
    assert ours["fid"] == fid and fid > 0
    assert abs(ours["kid"] - kid) <= 1e-12 * abs(kid) and kid != 0
    assert abs(ours["kid_std"] - kid_std) <= 1e-11 * kid_std and kid_std > 0  # seen: 1e-13 (std of 3 subsets)
    assert fid_kid(fake, real, kid=False) == {"fid": fid}


@pytest.mark.filterwarnings("ignore:.*will save all extracted features.*")
def test_kid_of_whole_sets_is_one_mmd_with_zero_spread():
    """n = subset size on both sides: every draw permutes both whole sets, so torchmetrics' 20 subsets all give
    the one MMD² (to rounding) that ganscope computes once; its spread is exactly 0, torchmetrics' rounding."""
    g = torch.Generator().manual_seed(9)
    fake, real = torch.randn(300, 16, generator=g).relu() * 3, torch.randn(300, 16, generator=g).relu() * 2
    _, kid, kid_std = _torchmetrics_fid_kid(fake, real, 20, seed=5)
    ours = fid_kid(fake, real, seed=5, kid_subsets=20)
    assert abs(ours["kid"] - kid) <= 1e-12 * abs(kid) and kid > 0.01
    assert ours["kid_std"] == 0.0 and kid_std <= 1e-12 * kid
    assert ours["kid"] == im.kernel_distance(fake, real, subsets=1, subset_size=300, seed=0)[0]


def test_kid_refuses_bad_subsets_and_fid_a_single_sample():
    a = torch.randn(10, 3)
    with pytest.raises(UsageError, match="^n: FID needs at least 2 samples per side, got 1 and 10$"):
        im.frechet_distance(a[:1], a)
    with pytest.raises(UsageError, match="^kid_subsets: must be an int >= 1, got 0$"):
        im.kernel_distance(a, a, subsets=0, subset_size=5)
    with pytest.raises(UsageError, match="^kid_subset_size: must be >= 2 and at most n = 10, got 11$"):
        im.kernel_distance(a, a, subsets=2, subset_size=11)


def test_kid_is_seeded_and_leaves_the_global_rng_alone():
    g = torch.Generator().manual_seed(1)
    a, b = torch.randn(200, 4, generator=g), torch.randn(200, 4, generator=g) + 0.5
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    r1, r2 = fid_kid(a, b, seed=3, kid_subsets=10), fid_kid(a, b, seed=3, kid_subsets=10)
    assert r1 == r2 and torch.equal(torch.rand(1), before)


def test_identical_sets_give_zero_fid_and_unit_prdc():
    x = load_images("mnist5k:test").x[:300]
    r = compare(x, x, kid_subsets=10)
    assert abs(r["fid"]) < 1e-6
    assert r["precision"] == r["recall"] == r["coverage"] == 1.0
    assert r["n"] == 300 and r["extractor"] == "fmnist-cnn" and r["reference"] == "tensor"


def _sanity(x, n):
    """Metrics of the same half, the other half, its blurred copy and uniform noise, against one half of x."""
    g = torch.Generator().manual_seed(0)
    x = x[torch.randperm(len(x), generator=g)[:2 * n]]
    a, b = x[:n], x[n:]
    noise = torch.rand(b.shape, generator=g) * 2 - 1
    return [compare(other, a, kid_subsets=3) for other in (a, b, blur(b, 1.0), noise)]  # subsets = whole sets


def _check_ordering(same, real, blurred, noise):
    """Uniform noise fools precision and density in this feature space (its features fall among low-contrast
    real images, docs/images_metrics.md); recall and coverage see it."""
    assert abs(same["fid"]) < 1e-6 and abs(same["kid"]) < 0.1 * blurred["kid"]
    for key in ("fid", "kid"):
        assert real[key] < blurred[key] < noise[key], key
    assert real["fid"] < 0.2 * blurred["fid"]
    assert min(real["precision"], real["recall"], real["coverage"]) > 0.9
    assert noise["coverage"] < blurred["coverage"] < real["coverage"] and noise["recall"] < 0.05


@pytest.mark.parametrize("spec,n", [("mnist5k:test", 500), ("digits", 400)])
def test_real_halves_beat_blurred_beat_noise(spec, n):
    _check_ordering(*_sanity(load_images(spec).x, n))


@pytest.mark.skipif(not HAS_FASHION, reason="Debian package dataset-fashion-mnist not installed")
def test_fashion_halves_beat_blurred_beat_noise():
    _check_ordering(*_sanity(load_images("fashion-mnist:test").x, 1000))


def test_blur_keeps_constants_and_smooths():
    assert torch.allclose(blur(torch.full((1, 2, 9, 9), 0.3), 1.5), torch.full((1, 2, 9, 9), 0.3))
    x = torch.zeros(1, 1, 9, 9)
    x[0, 0, 4, 4] = 1
    y = blur(x, 1.0)
    assert y.sum().item() == pytest.approx(1.0, abs=1e-6) and y[0, 0, 4, 4] < 0.2
    with pytest.raises(UsageError, match="sigma"):
        blur(x, 3.0)


# ---- PRDC -------------------------------------------------------------------------------------------------------
def test_prdc_identical_sets():
    x = torch.randn(200, 5, generator=torch.Generator().manual_seed(0))
    r = prdc(x, x, k=5)
    assert r["precision"] == r["recall"] == r["coverage"] == 1.0
    assert r["density"] == pytest.approx(6 / 5)  # each real ball holds its centre and its 5 neighbours


def test_prdc_far_apart_clouds_are_all_zero():
    g = torch.Generator().manual_seed(0)
    r = prdc(torch.randn(100, 3, generator=g) + 100, torch.randn(100, 3, generator=g), k=5)
    assert r == {"precision": 0.0, "recall": 0.0, "density": 0.0, "coverage": 0.0}


def test_prdc_by_hand_on_a_line():
    """Real {0..5}, k = 1: every real radius is 1. Fake {0.5, 10}: 0.5 lies in the balls of 0 and 1, 10 in none
    → precision 1/2, density 2/(1·2) = 1, coverage 2/6; fake radii are 9.5, so every real point is recalled."""
    real = torch.arange(6.0)[:, None]
    fake = torch.tensor([[0.5], [10.0]])
    r = prdc(fake, real, k=1)
    assert r == pytest.approx({"precision": 0.5, "recall": 1.0, "density": 1.0, "coverage": 2 / 6})


def test_prdc_chunking_does_not_change_the_result():
    g = torch.Generator().manual_seed(2)
    a, b = torch.randn(130, 4, generator=g), torch.randn(90, 4, generator=g) + 0.3
    assert prdc(a, b, k=3, chunk=7) == prdc(a, b, k=3)


def test_metrics_need_k_plus_one_samples_and_matching_dims():
    with pytest.raises(UsageError, match="k"):
        metrics_from_features(torch.randn(5, 2), torch.randn(5, 2), k=5)
    with pytest.raises(UsageError, match="features per sample"):
        metrics_from_features(torch.randn(9, 2), torch.randn(9, 3))


# ---- sources, cache, command line ---------------------------------------------------------------------------------
def test_images_from_source_subsets_are_seeded():
    a = images_from_source("mnist5k:test", 50, seed=1)
    assert a.shape == (50, 1, 28, 28) and torch.equal(a, images_from_source("mnist5k:test", 50, seed=1))
    assert not torch.equal(a, images_from_source("mnist5k:test", 50, seed=2))
    assert images_from_source("digits", 10, image_size=16).shape == (10, 1, 16, 16)  # no split: test
    with pytest.raises(UsageError, match="exceeds the 355 images of digits:test"):
        images_from_source("digits", 400)
    with pytest.raises(UsageError, match="neither an image data set"):
        images_from_source("no/such/thing", 10)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_cache_key_changes_with_n_seed_size_and_extractor(tmp_path):
    cnn = load_extractor("fmnist-cnn")
    path = tmp_path / "pool.pt"
    torch.jit.save(torch.jit.script(_MeanPool()), str(path))
    base = cache_key(cnn, "digits:test", 100, 0, 8)
    assert base == cache_key(cnn, "digits", 100, 0, 8)  # no split means test
    others = [cache_key(cnn, "digits:test", 101, 0, 8), cache_key(cnn, "digits:test", 100, 1, 8),
              cache_key(cnn, "digits:test", 100, 0, 28), cache_key(cnn, "digits:train", 100, 0, 8),
              cache_key(load_extractor(str(path)), "digits:test", 100, 0, 8)]
    paths = {im.cache_path(k) for k in [base, *others]}
    assert len(paths) == 6


def test_reference_features_are_cached_on_disk(tmp_path, monkeypatch):
    ext = load_extractor("fmnist-cnn")
    first = im.source_features("digits:test", ext, 100, 0)
    files = list((tmp_path / "cache" / "features").glob("*.pt"))
    assert len(files) == 1
    monkeypatch.setattr(type(ext), "features", lambda *a, **k: pytest.fail("features recomputed"))
    assert torch.equal(im.source_features("digits:test", ext, 100, 0), first)
    files[0].write_bytes(b"damaged")
    monkeypatch.undo()
    monkeypatch.setenv("GANSCOPE_CACHE", str(tmp_path / "cache"))
    assert torch.equal(im.source_features("digits:test", ext, 100, 0), first)


def test_cached_features_are_found_before_the_images_are_decoded(monkeypatch):
    ext = load_extractor("fmnist-cnn")
    first = im.source_features("digits:train", ext, 60, 3)
    assert torch.equal(first, ext.features(images_from_source("digits:train", 60, 3)))  # the same as uncached
    monkeypatch.setattr(im, "load_images", lambda *a, **k: pytest.fail("images decoded despite the cache"))
    assert torch.equal(im.source_features("digits:train", ext, 60, 3), first)
    r = compare("digits:train", "digits:train", n=60, seed=3, kid_subsets=5, prdc=False)
    assert r["fid"] == 0.0 and "precision" not in r


def test_run_directory_is_sampled_by_the_given_runs(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text("seed: 0\n")
    calls = []

    def fake_sample_run(run_dir, n, seed=0):
        calls.append((run_dir, n, seed))
        return load_images("digits:train").x[:n]

    with pytest.raises(UsageError, match=r"^source: .* is a run directory; pass runs="):
        compare(str(run), "digits:test", seed=4, kid_subsets=5)
    r = compare(str(run), "digits:test", seed=4, kid_subsets=5, runs=fake_sample_run)
    assert calls == [(str(run), 355, 4)] and r["source"] == f"run:{run}" and r["n"] == 355
    assert r["image_size"] == 8 and r["reference"] == "digits:test"


def test_fid_command_prints_one_json_object(capsys):
    parser = argparse.ArgumentParser()
    cli_fid.register(parser.add_subparsers())
    common = ["fid", "digits:test", "digits:train", "--n", "120", "--seed", "1", "--json"]
    args = parser.parse_args(common + ["--prdc", "--kid"])
    assert args.run(args) == 0
    r = json.loads(capsys.readouterr().out)
    prdc_keys, kid_keys = {"precision", "recall", "density", "coverage"}, {"kid", "kid_std", "kid_subsets",
                                                                          "kid_subset_size"}
    for key in ("fid", "n", "extractor", "reference", *prdc_keys, *kid_keys):
        assert key in r
    assert r == compare("digits:test", "digits:train", n=120, seed=1)  # the library's defaults: all of them
    args = parser.parse_args(common)
    assert args.run(args) == 0
    without = json.loads(capsys.readouterr().out)  # KID and PRDC only on request; the rest identical
    assert not (prdc_keys | kid_keys) & set(without)
    assert without == {k: v for k, v in r.items() if k not in prdc_keys | kid_keys}
    args = parser.parse_args(common + ["--kid"])
    assert args.run(args) == 0
    assert json.loads(capsys.readouterr().out) == {k: v for k, v in r.items() if k not in prdc_keys}
    assert r["n"] == 120 and r["reference"] == "digits:train" and r["source"] == "digits:test" and r["fid"] > 0
    args = parser.parse_args(["fid", "digits:test", "digits:test", "--n", "50"])
    assert args.run(args) == 0
    text = capsys.readouterr().out
    assert "FID 0.0000" in text and "KID" not in text
    args = parser.parse_args(["fid", "digits:test", "digits:test", "--n", "50", "--kid"])
    assert args.run(args) == 0
    assert "KID -" in (text := capsys.readouterr().out) and "(100 subsets of 50)" in text  # identical: KID < 0
