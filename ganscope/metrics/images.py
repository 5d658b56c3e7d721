"""Image metrics in a feature space: FID, KID and precision / recall / density / coverage.

With features f of the images under test (A, "fake") and of the reference (B, "real"), n of each:

* FID (Heusel et al. 2017): ‖μ_A − μ_B‖² + Tr(Σ_A + Σ_B − 2(Σ_A Σ_B)^{1/2}), Gaussian fits of the features;
  float64, the operations of torchmetrics' ``FrechetInceptionDistance`` (equal to it bit for bit; torchmetrics
  is not imported); a negative value within rounding (1e-6 of the traces) is reported as 0.
* KID (Bińkowski et al. 2018): the unbiased MMD² with the kernel k(x, y) = (xᵀy/D + 1)³, averaged over
  ``kid_subsets`` random subsets of min(1000, n) per side (``kid_std`` = their standard deviation);
  float64, drawn and summed as torchmetrics' ``KernelInceptionDistance`` does (equal within 1e-12), seeded.
* PRDC (Naeem et al. 2020), with r_k(v) the distance from v to its k-th nearest neighbour in its own set
  (itself excluded), B(v, r) the closed ball:
  precision = (1/n) Σ_j 1[∃ i: Y_j ∈ B(X_i, r_k(X_i))], recall = (1/n) Σ_i 1[∃ j: X_i ∈ B(Y_j, r_k(Y_j))],
  density = (1/(k n)) Σ_j Σ_i 1[Y_j ∈ B(X_i, r_k(X_i))], coverage = (1/n) Σ_i 1[∃ j: Y_j ∈ B(X_i, r_k(X_i))],
  X the reference, Y the images under test. Identical sets give precision = recall = coverage = 1 and
  density = (k + 1)/k (each real ball holds its own centre and its k neighbours).

The extractor (``ganscope.metrics.extractors``) runs once per side; the same features serve FID, KID and
PRDC. Features of data sets and folders are cached on disk
(``$GANSCOPE_CACHE`` or ``~/.cache/ganscope``), keyed by extractor and weights hash, source, split, n, seed
and image size. Every number is reported with the extractor, n and the reference it was measured against.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from ganscope.data.images import folder_stamp, is_image_data, load_images, parse_data_spec, resize
from ganscope.errors import UsageError
from ganscope.io import atomic_path
from ganscope.metrics.extractors import DEFAULT, Extractor, load_extractor

DEFAULT_N = 10_000  # samples per side when n is not given and no side limits it
K = 5  # Naeem et al.'s default k
KID_SUBSETS, KID_SUBSET_SIZE = 100, 1000  # Bińkowski et al.'s protocol, torchmetrics' defaults
CACHE_VERSION = 1
RADIUS_RTOL = 1e-9
KEYS = ("fid", "kid", "kid_std", "precision", "recall", "density", "coverage")


# ---- metrics of two feature sets ----------------------------------------------------------------------------------
def gaussian_fit(f: Tensor) -> tuple[Tensor, Tensor]:
    """μ = Σf / n and the unbiased Σ = (fᵀf − n μᵀμ) / (n − 1) of (n, D) float64 features, in torchmetrics'
    ``FrechetInceptionDistance`` order of operations (its ``update`` of all n at once, then ``compute``)."""
    n = len(f)
    mean = (f.sum(dim=0) / n).unsqueeze(0)
    cov = (f.t().mm(f) - n * mean.t().mm(mean)) / (n - 1)
    return mean.squeeze(0), cov


def frechet_distance(fake: Tensor, real: Tensor) -> float:
    """FID = ‖μ_B − μ_A‖² + Tr Σ_B + Tr Σ_A − 2 Σᵢ Re √λᵢ(Σ_B Σ_A) (Heusel et al. 2017), B the reference; float64.

    The same operations as torchmetrics' ``FrechetInceptionDistance`` (``_compute_fid``: the eigenvalues of the
    product, no matrix square root), so the value equals it bit for bit (tested), without importing torchmetrics
    (about a second of a command's start). A negative value within rounding (1e-6 of the traces) is 0."""
    if min(len(fake), len(real)) < 2:
        raise UsageError(f"n: FID needs at least 2 samples per side, got {len(fake)} and {len(real)}")
    fake, real = fake.double(), real.double()
    mu_real, cov_real = gaussian_fit(real)
    mu_fake, cov_fake = gaussian_fit(fake)
    a = (mu_real - mu_fake).square().sum(dim=-1)
    b = cov_real.trace() + cov_fake.trace()
    c = torch.linalg.eigvals(cov_real @ cov_fake).sqrt().real.sum(dim=-1)
    value = float(a + b - 2 * c)
    scale = float(fake.var(0).sum() + real.var(0).sum())
    if -1e-6 * scale < value < 0:  # rounding below the true minimum 0 (√ of ~0 eigenvalues of Σ_A Σ_B)
        value = 0.0
    return value


def _poly_kernel(x: Tensor, y: Tensor) -> Tensor:
    """k(x, y) = (xᵀy/D + 1)³ for every pair of rows (Bińkowski et al. 2018's default kernel): the scale and the
    1 in the product's own pass (``addmm``), the cube in place; half the time of three separate passes."""
    return torch.addmm(x.new_ones(1, 1), x, y.T, alpha=1.0 / x.shape[1]).pow_(3)


def _mmd2(real: Tensor, fake: Tensor) -> Tensor:
    """The unbiased MMD² of two m-row sets: Σ_{i≠j} k(x_i, x_j)/(m(m−1)) + the same for y − 2 Σ_ij k(x_i, y_j)/m²."""
    m = len(real)
    k_xx, k_yy, k_xy = _poly_kernel(real, real), _poly_kernel(fake, fake), _poly_kernel(real, fake)
    off_diagonal = (k_xx.sum(dim=-1) - k_xx.diag()).sum() + (k_yy.sum(dim=-1) - k_yy.diag()).sum()
    return off_diagonal / (m * (m - 1)) - 2 * k_xy.sum(dim=0).sum() / m ** 2


def kernel_distance(fake: Tensor, real: Tensor, subsets: int = KID_SUBSETS, subset_size: int = KID_SUBSET_SIZE,
                    seed: int = 0) -> tuple[float, float]:
    """KID (Bińkowski et al. 2018): the mean and the standard deviation (1/N) of the unbiased MMD² over ``subsets``
    random subsets of ``subset_size`` per side (``torch.randperm`` of the reference, then of the images under test,
    seeded with ``seed``; the global RNG is left as it was). torchmetrics' ``KernelInceptionDistance`` draws and
    sums the same way (the kernel in three passes; tested equal to it within 1e-12), in float64. When both sets
    have exactly ``subset_size`` rows, every draw is a permutation of both whole sets, under which the MMD² is
    invariant: it is computed once and the standard deviation is 0 (torchmetrics' differs from 0 by rounding)."""
    real, fake = real.double(), fake.double()
    if isinstance(subsets, bool) or not isinstance(subsets, int) or subsets < 1:
        raise UsageError(f"kid_subsets: must be an int >= 1, got {subsets!r}")
    if not 2 <= subset_size <= min(len(real), len(fake)):
        raise UsageError(f"kid_subset_size: must be >= 2 and at most n = {min(len(real), len(fake))}, "
                         f"got {subset_size!r}")
    if len(real) == len(fake) == subset_size:
        return float(_mmd2(real, fake)), 0.0
    scores = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for _ in range(subsets):
            r = real[torch.randperm(len(real))[:subset_size]]
            f = fake[torch.randperm(len(fake))[:subset_size]]
            scores.append(_mmd2(r, f))
    scores = torch.stack(scores)
    return float(scores.mean()), float(scores.std(unbiased=False))


def fid_kid(fake: Tensor, real: Tensor, seed: int = 0, kid_subsets: int = KID_SUBSETS, kid: bool = True) -> dict:
    """FID and (``kid``) KID with KID's standard deviation over subsets, from (n, D) features (float64)."""
    out = {"fid": frechet_distance(fake, real)}
    if kid:
        size = min(KID_SUBSET_SIZE, len(real), len(fake))
        out["kid"], out["kid_std"] = kernel_distance(fake, real, kid_subsets, size, seed)
    return out


def knn_radii(x: Tensor, k: int = K, chunk: int = 1024) -> Tensor:
    """r_k(x_i): distance from x_i to its k-th nearest neighbour in x, itself excluded, widened by a relative
    1e-9 so that the neighbours on the sphere stay inside when distances are recomputed (cdist's rounding)."""
    r = torch.cat([torch.cdist(c, x).topk(k + 1, dim=1, largest=False).values[:, -1] for c in x.split(chunk)])
    return r * (1 + RADIUS_RTOL)


def prdc(fake: Tensor, real: Tensor, k: int = K, chunk: int = 1024) -> dict:
    """Precision, recall, density and coverage (Naeem et al. 2020; formulas in the module doc), float64."""
    fake, real = fake.double(), real.double()
    r_real, r_fake = knn_radii(real, k, chunk), knn_radii(fake, k, chunk)
    in_real = torch.zeros(len(fake), dtype=torch.bool)
    counts = torch.zeros(len(fake), dtype=torch.float64)
    covered = torch.zeros(len(real), dtype=torch.bool)
    recalled = torch.zeros(len(real), dtype=torch.bool)
    for start in range(0, len(fake), chunk):
        d = torch.cdist(fake[start:start + chunk], real)  # (m, n): fake j to real i
        inside = d <= r_real[None, :]
        in_real[start:start + chunk] = inside.any(1)
        counts[start:start + chunk] = inside.sum(1)
        covered |= inside.any(0)
        recalled |= (d <= r_fake[start:start + chunk, None]).any(0)
    return {"precision": float(in_real.double().mean()), "recall": float(recalled.double().mean()),
            "density": float(counts.sum() / (k * len(fake))), "coverage": float(covered.double().mean())}


def metrics_from_features(fake: Tensor, real: Tensor, k: int = K, seed: int = 0,
                          kid_subsets: int = KID_SUBSETS, with_prdc: bool = True, with_kid: bool = True) -> dict:
    """FID, (``with_kid``) KID and KID std, and (``with_prdc``) precision, recall, density, coverage of features
    ``fake`` against ``real``."""
    for what, f in (("fake", fake), ("real", real)):
        if f.ndim != 2 or not torch.isfinite(f).all():
            raise UsageError(f"{what}: expected finite (n, D) features, got shape {tuple(f.shape)}")
    if fake.shape[1] != real.shape[1]:
        raise UsageError(f"fake: {fake.shape[1]} features per sample, real has {real.shape[1]}")
    n = min(len(fake), len(real))
    if isinstance(k, bool) or not isinstance(k, int) or k < 1 or n < k + 1:
        raise UsageError(f"k: need an int k >= 1 and at least k + 1 samples per side, got k={k!r}, n={n}")
    out = fid_kid(fake, real, seed, kid_subsets, kid=with_kid)
    return {**out, **prdc(fake, real, k)} if with_prdc else out


# ---- sources: data sets, folders, run directories, tensors ----------------------------------------------------------
def _kind(spec) -> str:
    """``tensor``, ``data`` (a data set spec; the name wins over a directory of that name), ``folder``
    (``folder:PATH`` or a directory without config.yaml) or ``run`` (a directory with config.yaml)."""
    if torch.is_tensor(spec):
        return "tensor"
    if not isinstance(spec, (str, os.PathLike)):
        raise UsageError(f"source: expected images, a data set, a folder or a run directory, got {type(spec).__name__}")
    spec = os.fspath(spec)
    if spec.startswith("folder:"):
        return "folder"
    if is_image_data(spec):
        return "data"
    path = Path(spec)
    if path.is_dir():
        return "run" if (path / "config.yaml").is_file() else "folder"  # the run-directory layout of rundir.py
    raise UsageError(f"source: {spec!r} is neither an image data set (digits, fashion-mnist, mnist5k, with "
                     ":train or :test; folder:PATH) nor an existing directory (of images, or a run)")


def _load(spec: str, kind: str, image_size: int | None):
    """The ImageSet of a data set or folder source; a data set without a split means its test split."""
    if kind == "folder":
        return load_images(spec if spec.startswith("folder:") else f"folder:{spec}", image_size=image_size)
    name, split = parse_data_spec(spec)
    return load_images(name, split=split or "test", image_size=image_size)


def _pick(x: Tensor, n: int, seed: int, label: str) -> Tensor:
    """n images drawn without replacement by a generator seeded with ``seed`` (all of them, permuted, when n = N)."""
    if n > len(x):
        raise UsageError(f"n: {n} exceeds the {len(x)} images of {label}; allowed: at most {len(x)}")
    return x[torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))[:n]]


def images_from_source(spec, n: int, seed: int = 0, image_size: int | None = None, runs=None) -> Tensor:
    """n images (N, C, H, W) in [−1, 1] from a data set spec (``fashion-mnist:test``; no split: test), a folder
    (``folder:PATH`` or a directory), or a run directory, whose images come from ``runs(path, n, seed)``
    (``ganscope.rundir.sample``: its EMA generator, latents seeded by ``seed``; metrics sit below the engine, so
    the caller passes it). Data sets and folders give a seeded random subset without replacement."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise UsageError(f"n: must be a positive int, got {n!r}")
    kind = _kind(spec)
    if kind == "data" or kind == "folder":
        return _pick(_load(os.fspath(spec), kind, image_size).x, n, seed, _label(spec))
    if kind == "tensor":
        x = _pick(spec.detach().cpu().float(), n, seed, "the given images")
    elif runs is None:
        raise UsageError(f"source: {os.fspath(spec)} is a run directory; pass runs=ganscope.rundir.sample "
                         "(ganscope fid does) to sample it")
    else:
        x = runs(os.fspath(spec), n, seed)
    return resize(x, image_size) if image_size else x


def _label(spec) -> str:
    if torch.is_tensor(spec):
        return "tensor"
    spec = os.fspath(spec)
    kind = _kind(spec)
    if kind == "data":
        name, split = parse_data_spec(spec)
        return f"{name}:{split or 'test'}"
    if kind == "folder" and not spec.startswith("folder:"):
        return f"folder:{spec}"
    return spec if kind == "folder" else f"run:{spec}"


def _available(spec, kind: str) -> int | None:
    """How many images a side can give: None for a run (any number)."""
    if kind == "tensor":
        return len(spec)
    return None if kind == "run" else len(_load(os.fspath(spec), kind, None).x)


# ---- the on-disk feature cache ---------------------------------------------------------------------------------------
def cache_dir() -> Path:
    """``$GANSCOPE_CACHE`` or ``~/.cache/ganscope``."""
    return Path(os.environ.get("GANSCOPE_CACHE") or Path.home() / ".cache" / "ganscope")


def cache_key(extractor: Extractor, source: str, n: int, seed: int, image_size: int | None) -> dict:
    """What the cached features depend on: extractor name and weights hash, source and split, n, seed, size
    (None: the source's native size); for a folder also a hash of its files' paths, sizes and modification
    times. Computed without decoding the images."""
    kind = _kind(source)
    label = _label(source)
    name, split = (label, None) if kind == "folder" else label.rsplit(":", 1)
    key = {"version": CACHE_VERSION, "extractor": extractor.name, "extractor_sha256": extractor.digest,
           "source": name, "split": split, "n": n, "seed": seed, "image_size": image_size}
    if extractor.device.type != "cpu":  # an accelerator's convolutions round differently from the CPU's
        key["device"] = extractor.device.type
    if kind == "folder":
        stamp = repr(folder_stamp(label)).encode()
        key["folder_sha256"] = hashlib.sha256(stamp).hexdigest()[:16]
    return key


def cache_path(key: dict) -> Path:
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:24]
    return cache_dir() / "features" / f"{digest}.pt"


def source_features(spec, extractor: Extractor, n: int, seed: int, image_size: int | None = None,
                    cache: bool = True) -> Tensor:
    """Features of n images of a data set or folder. With ``cache``, the on-disk cache is looked up first and the
    images are decoded only on a miss (their features are then stored); ``image_size`` None: the native size."""
    if not cache:
        return extractor.features(images_from_source(spec, n, seed, image_size))
    key = cache_key(extractor, os.fspath(spec), n, seed, image_size)
    path = cache_path(key)
    feats = _read_cached(path, key)
    if feats is None:
        feats = extractor.features(images_from_source(spec, n, seed, image_size))
        with atomic_path(path) as tmp:
            torch.save({"key": json.dumps(key, sort_keys=True), "features": feats}, tmp)
    return feats


def _read_cached(path: Path, key: dict) -> Tensor | None:
    """The features stored at ``path`` under exactly ``key``; None if absent, foreign or damaged."""
    if not path.is_file():
        return None
    try:
        stored = torch.load(path, map_location="cpu", weights_only=True)
        if stored.get("key") == json.dumps(key, sort_keys=True):
            return stored["features"]
    except Exception:  # a damaged cache file is recomputed and replaced
        pass
    return None


# ---- comparing two image sources ------------------------------------------------------------------------------------
def compare(a_images, b_images, extractor: str | Extractor = DEFAULT, n: int | None = None, seed: int = 0,
            k: int = K, image_size: int | None = None, kid_subsets: int = KID_SUBSETS, cache: bool = True,
            runs=None, device=None, prdc: bool = True, kid: bool = True) -> dict:
    """FID, KID (``kid=True``) and PRDC (``prdc=True``) of ``a_images`` (under test) against ``b_images`` (the
    reference), n samples each. Both default to True here (training evaluations report all seven numbers);
    ``ganscope fid`` computes KID only with ``--kid`` and PRDC only with ``--prdc``. Without one, its keys
    (KID: ``kid``, ``kid_std``, ``kid_subsets``, ``kid_subset_size``) are absent and the rest is the same.

    Either side is a (N, C, H, W) tensor in [−1, 1], a data set spec, a folder or a run directory (sampled by
    ``runs``, see ``images_from_source``).
    n defaults to the smaller side, at most 10,000; a side with more images gives a seeded random subset.
    ``image_size`` defaults to the size of the tensor or run side, so a data set is resized as it was for
    training; with two data sets each keeps its native size (the extractor resizes as it needs).
    ``device``: where the extractor runs (None: the CPU; ignored for a given ``Extractor``); the features and
    the metrics of them are computed on the CPU.
    """
    ext = load_extractor(extractor, device)
    kinds = [_kind(s) for s in (a_images, b_images)]
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise UsageError(f"seed: must be an int, got {seed!r}")
    if n is None:
        n = _default_n(a_images, b_images, kinds)
    elif isinstance(n, bool) or not isinstance(n, int) or n < 2:
        raise UsageError(f"n: must be an int >= 2 (samples per side), got {n!r}")
    images = [images_from_source(s, n, seed, image_size, runs) if kd in ("tensor", "run") else None
              for s, kd in zip((a_images, b_images), kinds)]
    if image_size is None:
        image_size = next((int(x.shape[-1]) for x in images if x is not None), None)
    feats = [ext.features(x) if x is not None else source_features(s, ext, n, seed, image_size, cache)
             for s, x in zip((a_images, b_images), images)]
    result = {"extractor": ext.name, "extractor_sha256": ext.digest, "n": n, "source": _label(a_images),
              "reference": _label(b_images), "seed": seed, "k": k, "image_size": image_size}
    if kid:
        result.update(kid_subset_size=min(KID_SUBSET_SIZE, n), kid_subsets=kid_subsets)
    return {**result, **metrics_from_features(feats[0], feats[1], k, seed, kid_subsets, prdc, kid)}


def _default_n(a, b, kinds) -> int:
    sizes = [_available(s, kd) for s, kd in zip((a, b), kinds)]
    return min([DEFAULT_N] + [s for s in sizes if s is not None])


def blur(x: Tensor, sigma: float) -> Tensor:
    """Gaussian blur with standard deviation ``sigma`` pixels (kernel radius ⌈3σ⌉, reflect padding), per channel."""
    r = max(1, math.ceil(3 * sigma)) if sigma > 0 else 0
    if not 0 < r < min(x.shape[-2:]):
        raise UsageError(f"sigma: must be > 0 with a kernel radius ceil(3 sigma) below the image size, got {sigma!r}")
    t = torch.arange(-r, r + 1, dtype=x.dtype)
    g = torch.exp(-t ** 2 / (2 * sigma ** 2))
    g = g / g.sum()
    c = x.shape[1]
    x = F.conv2d(F.pad(x, (r, r, 0, 0), mode="reflect"), g.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)
    return F.conv2d(F.pad(x, (0, 0, r, r), mode="reflect"), g.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)
