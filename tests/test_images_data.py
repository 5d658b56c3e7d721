"""Image data (ganscope.data.images): sources, splits, ranges, folders, bad files, specs, dequantisation."""
import gzip

import numpy as np
import pytest
import torch
from PIL import Image

from ganscope.data import images as data
from ganscope.data.images import (IMAGE_DATASETS, dequantize, is_image_data, load_images, parse_data_spec,
                                  read_idx)
from ganscope.errors import UsageError

HAS_FASHION = (data.FASHION_DIR / "t10k-images-idx3-ubyte.gz").is_file()
needs_fashion = pytest.mark.skipif(not HAS_FASHION, reason="Debian package dataset-fashion-mnist not installed")


def _check(s, n, c, size):
    assert s.x.shape == (n, c, size, size) and s.x.dtype == torch.float32
    assert float(s.x.min()) == -1.0 and float(s.x.max()) == 1.0


@pytest.mark.parametrize("split,n", [("train", 1442), ("test", 355)])
def test_digits_split_shapes_range_and_balance(split, n):
    s = load_images("digits", split=split)
    _check(s, n, 1, 8)
    counts = torch.bincount(s.labels, minlength=10)
    assert counts.sum() == n and counts.max() - counts.min() <= 10 and s.split == split


def test_digits_splits_are_disjoint_and_cover_the_set():
    from sklearn.datasets import load_digits

    train, test = load_images("digits"), load_images("digits:test")
    assert len(train.x) + len(test.x) == len(load_digits().images)
    rows = {tuple(r) for r in train.x.flatten(1).tolist()}
    assert sum(tuple(r) in rows for r in test.x.flatten(1).tolist()) < 5  # digits holds a few duplicate images


def test_digits_values_are_the_sklearn_pixels_scaled():
    from sklearn.datasets import load_digits

    first = torch.as_tensor(load_digits().images[0], dtype=torch.float32) / 8 - 1
    assert torch.equal(load_images("digits").x[0, 0], first)


def test_mnist5k_split_is_balanced_100_per_class():
    train, test = load_images("mnist5k"), load_images("mnist5k:test")
    _check(train, 4000, 1, 28)
    _check(test, 1000, 1, 28)
    assert torch.bincount(test.labels).tolist() == [100] * 10


@needs_fashion
def test_fashion_mnist_official_split():
    _check(load_images("fashion-mnist:test"), 10000, 1, 28)
    s = load_images("fashion-mnist", split="train")
    assert s.x.shape == (60000, 1, 28, 28) and torch.bincount(s.labels).tolist() == [6000] * 10


def test_image_size_resizes_any_source_and_caches():
    s = load_images("digits:test", image_size=16)
    assert s.x.shape == (355, 1, 16, 16) and float(s.x.abs().max()) <= 1.0
    assert load_images("digits:test", image_size=16) is s


def test_channels_3_repeats_grey():
    s = load_images("digits:test", channels=3)
    assert s.x.shape[1] == 3 and torch.equal(s.x[:, 0], s.x[:, 2])


def test_missing_fashion_mnist_says_how_to_get_it(monkeypatch, tmp_path):
    monkeypatch.setattr(data, "FASHION_DIR", tmp_path)
    monkeypatch.setattr(data, "_CACHE", {})
    with pytest.raises(UsageError, match="apt-get install dataset-fashion-mnist"):
        load_images("fashion-mnist:test")


def test_read_idx_round_trip_and_bad_magic(tmp_path):
    a = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    header = bytes([0, 0, 8, 3]) + np.array([2, 3, 4], dtype=">u4").tobytes()
    (tmp_path / "ok.gz").write_bytes(gzip.compress(header + a.tobytes()))
    np.testing.assert_array_equal(read_idx(tmp_path / "ok.gz"), a)
    (tmp_path / "bad").write_bytes(bytes([1, 2, 3, 4]) + a.tobytes())
    with pytest.raises(UsageError, match="magic"):
        read_idx(tmp_path / "bad")
    (tmp_path / "short").write_bytes(header + a.tobytes()[:-1])
    with pytest.raises(UsageError, match="header says"):
        read_idx(tmp_path / "short")


# ---- folders -------------------------------------------------------------------------------------------------------
def _png(path, array, mode):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(array, dtype=np.uint8), mode).save(path)


def test_folder_centre_crop_and_resize(tmp_path):
    """A 4×8 image, white in its centre 4×4 and black at the sides, cropped to 4×4: all white; a 8×16 image of
    constant grey resized (shorter side 8 → 4) and cropped: 4×4 of the same grey."""
    a = np.zeros((4, 8), dtype=np.uint8)
    a[:, 2:6] = 255
    _png(tmp_path / "crop" / "a.png", a, "L")
    s = load_images(f"folder:{tmp_path / 'crop'}", image_size=4)
    assert s.x.shape == (1, 1, 4, 4) and s.labels is None and s.split is None and s.skipped == 0
    assert torch.equal(s.x, torch.ones(1, 1, 4, 4))
    _png(tmp_path / "resize" / "b.png", np.full((8, 16), 51), "L")
    s = load_images(f"folder:{tmp_path / 'resize'}", image_size=4)
    assert s.x.shape == (1, 1, 4, 4) and torch.allclose(s.x, torch.full((1, 1, 4, 4), 51 / 127.5 - 1), atol=1e-6)


def test_folder_native_size_is_smallest_side_and_recursive_sorted(tmp_path):
    _png(tmp_path / "b" / "z.png", np.full((6, 6), 0), "L")
    _png(tmp_path / "a.png", np.full((4, 5), 255), "L")
    (tmp_path / "notes.txt").write_text("not an image")
    s = load_images(f"folder:{tmp_path}")
    assert s.x.shape == (2, 1, 4, 4)
    assert float(s.x[0].mean()) == 1.0 and float(s.x[1].mean()) == -1.0  # a.png sorts before b/z.png


def test_folder_channels_rgb_when_any_colour_and_forced_grey(tmp_path):
    _png(tmp_path / "grey.png", np.full((4, 4), 128), "L")
    _png(tmp_path / "red.png", np.tile([255, 0, 0], (4, 4, 1)), "RGB")
    rgb = load_images(f"folder:{tmp_path}")
    assert rgb.x.shape == (2, 3, 4, 4)
    assert torch.allclose(rgb.x[1, :, 0, 0], torch.tensor([1.0, -1.0, -1.0]))
    grey = load_images(f"folder:{tmp_path}", channels=1)
    assert grey.x.shape == (2, 1, 4, 4)


def test_corrupt_image_names_the_file_or_is_skipped_and_counted(tmp_path):
    _png(tmp_path / "good.png", np.zeros((4, 4)), "L")
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    (tmp_path / "cut.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    with pytest.raises(UsageError, match="broken.png"):
        load_images(f"folder:{tmp_path}")
    s = load_images(f"folder:{tmp_path}", skip_bad=True)
    assert s.x.shape == (1, 1, 4, 4) and s.skipped == 2


def test_missing_or_empty_folder_names_the_path(tmp_path):
    with pytest.raises(UsageError, match=str(tmp_path / "nope")):
        load_images(f"folder:{tmp_path / 'nope'}")
    with pytest.raises(UsageError, match="no PNG or JPEG"):
        load_images(f"folder:{tmp_path}")


def test_changed_folder_is_reloaded(tmp_path):
    _png(tmp_path / "a.png", np.zeros((4, 4)), "L")
    assert len(load_images(f"folder:{tmp_path}").x) == 1
    _png(tmp_path / "b.png", np.zeros((4, 4)), "L")
    assert len(load_images(f"folder:{tmp_path}").x) == 2


# ---- specs and dequantisation ----------------------------------------------------------------------------------------
def test_parse_data_spec():
    assert parse_data_spec("fashion-mnist:test") == ("fashion-mnist", "test")
    assert parse_data_spec("digits") == ("digits", None)
    assert parse_data_spec("mnist5k:train") == ("mnist5k", "train")
    assert parse_data_spec("folder:/some/pa:th") == ("folder:/some/pa:th", None)
    for bad, what in (("cifar10", "unknown image data set"), ("digits:val", "unknown split"), ("folder:", "path")):
        with pytest.raises(UsageError, match=what):
            parse_data_spec(bad)


def test_is_image_data_and_names():
    assert IMAGE_DATASETS == ("digits", "fashion-mnist", "mnist5k")
    assert all(is_image_data(n) for n in ("digits", "fashion-mnist:test", "mnist5k", "folder:/x"))
    assert not any(is_image_data(n) for n in ("8gaussians", "fortunes", "", None))


def test_split_in_spec_wins_and_bad_arguments():
    assert load_images("digits:test", split="train").split == "test"
    with pytest.raises(UsageError, match="image_size"):
        load_images("digits", image_size=0)
    with pytest.raises(UsageError, match="channels"):
        load_images("digits", channels=2)


def test_dequantize_adds_uniform_noise_below_one_128th():
    x = torch.zeros(64, 1, 8, 8)
    y = dequantize(x, torch.Generator().manual_seed(0))
    assert float(y.min()) >= 0.0 and float(y.max()) < 1 / 128
    assert abs(float(y.mean()) - 1 / 256) < 1e-4
    assert torch.equal(y, dequantize(x, torch.Generator().manual_seed(0)))
