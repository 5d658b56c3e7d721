"""Feature extractors for FID, KID and PRDC: images (N, C, H, W) in [−1, 1] → features (N, D).

* ``fmnist-cnn`` (default): :class:`FashionCNN`, a small classifier trained on Fashion-MNIST by the project's
  own deterministic script ``scripts/train_extractor.py``; weights shipped in ``ganscope/assets/fmnist_cnn.pt``
  (test accuracy in ``fmnist_cnn.json``). Features: the 128-d penultimate ReLU layer, the analogue of
  Inception's 2048-d pool3 features (Heusel et al. 2017). Numbers are comparable only with this extractor.
* ``inception:PATH``: the standard FID Inception-v3 (torch-fidelity's ``inception-v3-compat``, pool3, 2048-d)
  from a weights file the user supplies, through torchmetrics' ``feature_extractor_weights_path``; nothing is
  downloaded. Needs the optional torch-fidelity (``pip install ganscope[inception]``).
* ``PATH``: the user's own feature map, images in [−1, 1] at the data's size and channels → (N, D) features,
  either a ``torch.export`` program (``PATH.pt2``, ``torch.export.save``; export it with a dynamic batch
  dimension, features are computed 500 images at a time) or a TorchScript module (any other name,
  ``torch.jit.save`` of a scripted or traced module; TorchScript is deprecated from torch 2.10 on). Loading
  either runs the user's code: use files you trust.

``load_extractor(spec, device)`` gives the extractor on ``device`` (one copy per device); its ``features``
run there, images copied over 500 at a time, and come back to the CPU as float32 (the metrics are float64 on
the CPU). A user's module must support ``.to(device)`` (a ``torch.export`` program traced on the CPU may not).
"""
from __future__ import annotations

import hashlib
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ganscope.errors import UsageError

ASSETS = Path(__file__).resolve().parent.parent / "assets"
FMNIST_WEIGHTS = ASSETS / "fmnist_cnn.pt"
FMNIST_INFO = ASSETS / "fmnist_cnn.json"
DEFAULT = "fmnist-cnn"
LUMA = (0.299, 0.587, 0.114)  # ITU-R BT.601 grey = 0.299 R + 0.587 G + 0.114 B
ALLOWED = ("fmnist-cnn, inception:PATH (FID Inception weights file), PATH.pt2 (a torch.export program) "
           "or PATH.pt (a TorchScript module)")

_LOADED: dict = {}


def to_grey28(x: Tensor) -> Tensor:
    """(N, C, H, W) in [−1, 1] → (N, 1, 28, 28): RGB → grey by BT.601 luma, bilinear antialiased resize."""
    if x.ndim != 4 or x.shape[1] not in (1, 3):
        raise UsageError(f"images: expected shape (N, C in {{1, 3}}, H, W), got {tuple(x.shape)}")
    x = x.float()
    if x.shape[1] == 3:
        x = torch.einsum("nchw,c->nhw", x, x.new_tensor(LUMA))[:, None]
    if tuple(x.shape[-2:]) != (28, 28):
        x = F.interpolate(x, size=(28, 28), mode="bilinear", antialias=True, align_corners=False)
    return x


def max_pool2(x: Tensor) -> Tensor:
    """2×2 max-pooling with stride 2 (an odd last row or column dropped, as ``F.max_pool2d(x, 2)``), as two
    element-wise maxima of strided views: exactly its values, several times faster than oneDNN's NCHW pooling."""
    h, w = x.shape[-2] // 2 * 2, x.shape[-1] // 2 * 2
    rows = torch.maximum(x[..., 0:h:2, :w], x[..., 1:h:2, :w])
    return torch.maximum(rows[..., 0::2], rows[..., 1::2])


class FashionCNN(nn.Module):
    """Three 3×3 conv + ReLU + 2×2 max-pool stages (1 → 16 → 32 → 64 channels, 28 → 14 → 7 → 3 px), a
    576 → 128 linear + ReLU (the features), dropout 0.3 while training, and a 128 → 10 linear head.
    Input: images in [−1, 1], any size, grey or RGB (converted by :func:`to_grey28`)."""

    num_features = 128

    def __init__(self, classes: int = 10):
        super().__init__()
        self.convs = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
        self.embed = nn.Linear(64 * 3 * 3, self.num_features)
        self.dropout = nn.Dropout(0.3)
        self.head = nn.Linear(self.num_features, classes)

    def features(self, x: Tensor) -> Tensor:
        """The penultimate embedding, (N, 128), non-negative. In eval mode each stage runs as conv → 2×2 max →
        ReLU (:func:`max_pool2`; ReLU is monotone, so max∘ReLU = ReLU∘max exactly): the same numbers as the
        training path through ``convs``, about 3× faster on the CPU than ``nn.MaxPool2d`` there."""
        h = to_grey28(x)
        if self.training:
            h = self.convs(h)
        else:
            for conv in self.convs[::3]:  # the Conv2d of each (Conv2d, ReLU, MaxPool2d) stage
                h = F.relu(max_pool2(conv(h)))
        return F.relu(self.embed(h.flatten(1)))

    def forward(self, x: Tensor) -> Tensor:
        """Class logits (N, 10)."""
        return self.head(self.dropout(self.features(x)))


class Extractor(nn.Module):
    """A named feature map, images (N, C, H, W) in [−1, 1] → (N, D) float32, in eval mode and without gradients.

    ``name`` is what results report; ``digest`` (SHA-256 of the weights file, 16 hex digits) keys the caches.
    """

    def __init__(self, net: nn.Module, name: str, digest: str):
        super().__init__()
        self.net = net
        self.name, self.digest = name, digest
        self.train(False)

    def train(self, mode: bool = True):
        """Always eval mode (dropout off, BatchNorm statistics fixed); a torch.export program fixed its mode."""
        self.training = False
        try:
            self.net.eval()
        except NotImplementedError:  # torch.export's module refuses eval(); it runs as exported
            pass
        return self

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)

    @property
    def device(self) -> torch.device:
        """Where the extractor's weights are (the CPU for one without parameters or buffers)."""
        tensor = next(iter(self.net.parameters()), None)
        if tensor is None:
            tensor = next(iter(self.net.buffers()), None)
        return torch.device("cpu") if tensor is None else tensor.device

    @torch.no_grad()
    def features(self, images: Tensor, batch: int = 500) -> Tensor:
        """Features of every image, computed ``batch`` at a time on the extractor's device; (N, D) on the CPU."""
        if not torch.is_tensor(images) or images.ndim != 4 or len(images) == 0:
            shape = tuple(images.shape) if torch.is_tensor(images) else type(images).__name__
            raise UsageError(f"images: expected a non-empty (N, C, H, W) tensor, got {shape}")
        device = self.device
        out = torch.cat([self.net(chunk.to(device)).float().cpu() for chunk in images.float().split(batch)])
        if out.ndim != 2 or len(out) != len(images):
            raise UsageError(f"extractor: {self.name} returned shape {tuple(out.shape)}; expected (N, D) features")
        return out


class _CNNFeatures(nn.Module):
    def __init__(self, cnn: FashionCNN):
        super().__init__()
        self.cnn = cnn

    def forward(self, x: Tensor) -> Tensor:
        return self.cnn.features(x)


class _InceptionFeatures(nn.Module):
    """[−1, 1] images → uint8 RGB (grey repeated) → Inception pool3 features; the net resizes to 299 itself."""

    def __init__(self, inception: nn.Module):
        super().__init__()
        self.inception = inception

    def forward(self, x: Tensor) -> Tensor:
        x = x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x
        return self.inception(torch.round((x.clamp(-1, 1) + 1) * 127.5).to(torch.uint8)).float()


def file_digest(path) -> str:
    """SHA-256 of a file's bytes, the first 16 hex digits."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]


def load_fashion_cnn(path=FMNIST_WEIGHTS) -> FashionCNN:
    """The shipped classifier (``torch.load(weights_only=True)`` of a state dict), in eval mode."""
    if not Path(path).is_file():
        raise UsageError(f"extractor: fmnist-cnn weights missing ({path}); "
                         "recreate them with: python scripts/train_extractor.py")
    net = FashionCNN()
    net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return net.eval()


def load_extractor(spec: str | Extractor = DEFAULT, device=None) -> Extractor:
    """The extractor named by ``spec`` (see the module doc) on ``device`` (None: the CPU); loaded once per
    process, file version and device. A given ``Extractor`` is returned as it is, wherever it lives."""
    if isinstance(spec, Extractor):
        return spec
    if not isinstance(spec, str) or not spec:
        raise UsageError(f"extractor: expected a name or a file, got {spec!r}; allowed: {ALLOWED}")
    path = _file_of(spec)
    device = torch.device("cpu" if device is None else device)
    key = (spec, path.stat().st_mtime_ns if path is not None and path.exists() else None)
    if key not in _LOADED:
        _LOADED[key] = _build(spec)
    if device.type == "cpu":
        return _LOADED[key]
    if (*key, str(device)) not in _LOADED:
        ext = _build(spec)  # a copy of its own: the CPU one stays where it is
        ext.net.to(device)
        _LOADED[(*key, str(device))] = ext
    return _LOADED[(*key, str(device))]


def _file_of(spec: str) -> Path | None:
    if spec == DEFAULT:
        return FMNIST_WEIGHTS
    return Path(spec[len("inception:"):] if spec.startswith("inception:") else spec)


def _build(spec: str) -> Extractor:
    if spec == DEFAULT:
        return Extractor(_CNNFeatures(load_fashion_cnn()), DEFAULT, file_digest(FMNIST_WEIGHTS))
    if spec.startswith("inception:"):
        return _inception(Path(spec[len("inception:"):]))
    path = Path(spec)
    if not path.is_file():
        raise UsageError(f"extractor: unknown extractor or missing file {spec!r}; allowed: {ALLOWED}")
    return Extractor(_user_module(path), f"{'export' if path.suffix == '.pt2' else 'torchscript'}:{path.name}",
                     file_digest(path))


def _user_module(path: Path) -> nn.Module:
    """A ``torch.export`` program (``.pt2``) or a TorchScript archive (any other name) as a module."""
    try:
        if path.suffix == ".pt2":
            return torch.export.load(str(path)).module()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # torch >= 2.10 deprecates TorchScript
            return torch.jit.load(str(path), map_location="cpu")
    except Exception as err:  # not an archive of that kind (e.g. a plain state dict)
        kind = "torch.export program" if path.suffix == ".pt2" else "TorchScript module"
        raise UsageError(f"extractor: {path} is not a {kind} ({type(err).__name__}); save one with "
                         "torch.export.save(torch.export.export(...), PATH.pt2) or "
                         "torch.jit.save(torch.jit.script(module), PATH.pt)") from None


def _inception(path: Path) -> Extractor:
    """torchmetrics' FID Inception (torch-fidelity ``inception-v3-compat``, 2048-d pool3) from a weights file."""
    from torchmetrics.utilities.imports import _TORCH_FIDELITY_AVAILABLE

    if not path.is_file():
        raise UsageError(f"extractor: Inception weights file {path} not found; give the path of the FID "
                         "Inception weights (pt_inception-2015-12-05-6726825d.pth)")
    if not _TORCH_FIDELITY_AVAILABLE:
        raise UsageError("extractor: inception:PATH needs the optional torch-fidelity package; "
                         "pip install ganscope[inception]")
    from torchmetrics.image.fid import FrechetInceptionDistance

    metric = FrechetInceptionDistance(feature=2048, feature_extractor_weights_path=str(path))
    return Extractor(_InceptionFeatures(metric.inception), "inception-v3-compat", file_digest(path))
