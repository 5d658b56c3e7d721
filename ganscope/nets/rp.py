"""RP-GAN (Neyshabur, Bhojanapalli & Chakrabarti 2017): K discriminators, each on its own fixed random projection.

**Projections** (docs/references.md §N2; ``ayanc/rpgan`` ``filts/rproj.py``). View k is ``W_k * x``: one convolution
with a Gaussian filter ``W_k`` of shape (C, f, f) divided by its Frobenius norm, one output channel. All K
views are one ``conv2d`` with K output channels; the filters are a registered **buffer** (saved in checkpoints,
never trained), drawn from ``torch.Generator().manual_seed(seed)`` (the global RNG is untouched).

What makes a projected discriminator unable to reject perfectly is the reduction: the paper's 64 px setting
maps 64·64·3 = 12,288 dims to 32·32 = 1,024 per view ("dm12": **12×**). The geometry (``PROJECTION``, per
image size S; ``PROJECTION_GREY`` overrides it for 1-channel images) keeps that reduction where the data sets
of ganscope need it (filter f, stride s, zero padding p):

    RGB, stride 2 (12×):  S = 64: f = 8, p = 3 (the paper's), view 32×32   S = 32: f = 4, p = 1, view 16×16
    grey 28 px (12.25×):  f = 7, stride 3, p = 0, view 8×8 (784 → 64 dims; reproduce.md, protocol RP v2)
    otherwise stride 2:   S = 28 RGB: f = 4, view 14×14; S = 8: f = 4, view 4×4; grey at 64, 32, 8 px: 4×

At stride 2 the filter scales with the image (8·32/64 = 4: each view pixel mixes the same fraction of the
image side); 7×7 windows at stride 3 tile 28 px exactly into 8 per side, overlapping as the paper's do.

**Discriminators** (docs/references.md §N3). Each D_k is the DCGAN discriminator of ``ganscope.nets.conv`` on its 1-channel
view (4×4 stride-2 convs, LeakyReLU 0.2, no normalisation, linear head). ``GroupedDiscriminators`` evaluates
all K as one network: every conv has K times the channels and ``groups=K``, so member k owns the k-th block
of channels; the head gives ``(B, K)``, returned as ``(K, B)`` logits. ``member(k)`` is member k as a standalone
``DCGANDiscriminator``; ``forward_loop`` is the slow reference (one member after another, same weights).

**K = 1 means the single full-view discriminator**: no projection, one DCGAN discriminator on the whole
(C, S, S) image at width ``d_width`` (the paper's baseline ``face1``), still returning ``(1, B)``.

**Equal size.** By default the per-view width (channels of a member's widest layer) is ``equal_size_width``:
the width for which **12** view discriminators together have as close as possible the parameter count
(``param_count``) of the full-view DCGAN discriminator at ``d_width`` (found by bisection, the count being
non-decreasing in the width). It does not depend on K: as in the paper, K = 24 or 48 adds more discriminators
of the same size. E.g. ``d_width=64`` at 32 px RGB: 20 per view, 12 × 3,711 = 44,532 vs 42,865 parameters.
``view_width`` (config ``rp.view_width``) sets the per-view width instead; ``equal_size_width(..., k=1)`` is
the width at which **each** view discriminator alone matches the single one (rpgan's experiment files: each
view's discriminator has the single discriminator's widest layer, 1024 channels, and about its parameters;
e.g. ``d_width=32`` at 28 px grey: 325 per view on the 8×8 views, 10,726 vs 10,713 parameters).

**Training** (docs/references.md §N4; wired in the engine). D_k is trained on its own view with its own non-saturating
loss; the losses (``objectives["nonsaturating"].d_loss`` on ``(K, B)`` logits gives shape (K,)) are **summed**,
so each D_k receives exactly its own gradient, and one Adam (2e-4, β₁ = 0.5) on the grouped parameters is K
Adams in lockstep (Adam is elementwise). The generator minimises the **mean** over K of the K non-saturating
losses (``g_loss_total``).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from ganscope.errors import UsageError
from ganscope.nets.conv import DCGANDiscriminator, _check_channels, _check_int, dcgan_d_layers, param_count

__all__ = ["PROJECTION", "PROJECTION_GREY", "EQUAL_SIZE_K", "RandomProjections", "GroupedDiscriminators",
           "RPDiscriminator", "equal_size_width", "param_count"]

PROJECTION = {64: (8, 2, 3), 32: (4, 2, 1), 28: (4, 2, 1), 8: (4, 2, 1)}  # S: (filter, stride, padding)
PROJECTION_GREY = {28: (7, 3, 0)}  # 1-channel overrides: the paper's 12x reduction (784 -> 64 dims)
EQUAL_SIZE_K = 12
GROUPED_NORMS = ("none", "layer")


def projection_geometry(image_size: int, channels: int) -> tuple[int, int, int, int]:
    """(filter, stride, padding, view size) of the random projections of ``channels``-channel images of
    ``image_size`` px."""
    if image_size not in PROJECTION or isinstance(image_size, bool):
        raise UsageError(f"data.image_size: random projections are defined for image sizes "
                         f"{', '.join(map(str, sorted(PROJECTION)))}; got {image_size!r}")
    f, s, p = (PROJECTION_GREY if channels == 1 else {}).get(image_size, PROJECTION[image_size])
    return f, s, p, (image_size + 2 * p - f) // s + 1


class RandomProjections(nn.Module):
    """K fixed unit-norm Gaussian filters (C, f, f) at ``projection_geometry``: ``(B, C, S, S) -> (B, K, v, v)``."""

    def __init__(self, k: int, channels: int = 3, image_size: int = 64, seed: int = 0):
        super().__init__()
        _check_int("model.rp_k", k)
        _check_channels(channels)
        _check_int("model.rp_seed", seed, 0)
        f, self.stride, self.padding, self.view_size = projection_geometry(image_size, channels)
        self.k, self.channels, self.image_size, self.seed = k, channels, image_size, seed
        w = torch.randn(k, channels, f, f, generator=torch.Generator().manual_seed(seed), dtype=torch.float64,
                        device="cpu")  # the same filters on every device; move the module with .to()
        w = w / w.flatten(1).norm(dim=1).view(k, 1, 1, 1)
        self.register_buffer("weight", w.float())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight, stride=self.stride, padding=self.padding)

    def extra_repr(self) -> str:
        f = self.weight.shape[-1]
        return f"k={self.k}, channels={self.channels}, filter={f}, stride={self.stride}, view={self.view_size}"


class GroupedDiscriminators(nn.Module):
    """K DCGAN discriminators as one grouped network: ``(B, K·in_channels, h, h) -> (K, B)``.

    Member k reads channels ``[k·in_channels, (k+1)·in_channels)``. Built member after member, exactly as
    ``[DCGANDiscriminator(view_size, in_channels, d_width, norm) for _ in range(k)]`` under the same seed.
    ``norm``: "none" (default, the paper's) or "layer" (``GroupNorm(K, K·c)`` = each member's layer norm).
    """

    def __init__(self, k: int, view_size: int, d_width: int, in_channels: int = 1, norm: str = "none",
                 *, init: bool = True):
        super().__init__()
        _check_int("model.rp_k", k)
        if norm not in GROUPED_NORMS:
            raise UsageError(f"model.d_norm: grouped discriminators allow norms {', '.join(GROUPED_NORMS)}; "
                             f"got {norm!r}")
        self.k, self.view_size, self.d_width, self.in_channels, self.norm = k, view_size, d_width, in_channels, norm
        with torch.device("meta"):  # no RNG draws here: members are drawn one by one below
            net = dcgan_d_layers(view_size, in_channels, d_width, norm, groups=k)
        self.net = net.to_empty(device=torch.empty(0).device)  # the default device (honours `with torch.device`)
        if init:
            self.reset_parameters()

    def _member_args(self) -> tuple:
        return self.view_size, self.in_channels, self.d_width, self.norm

    def reset_parameters(self) -> None:
        """Fresh DCGAN initialisation, member after member (draws from the global RNG)."""
        self._load([DCGANDiscriminator(*self._member_args()) for _ in range(self.k)])

    @torch.no_grad()
    def _load(self, members: list[DCGANDiscriminator]) -> None:
        states = [m.state_dict() for m in members]
        for name, t in self.state_dict().items():
            t.copy_(torch.cat([s[name] for s in states]))

    @classmethod
    def from_members(cls, members: list[DCGANDiscriminator]) -> "GroupedDiscriminators":
        """Grouped discriminators whose member k has exactly ``members[k]``'s parameters (copied)."""
        m = members[0]
        if any((d.image_size, d.channels, d.d_width, d.norm) != (m.image_size, m.channels, m.d_width, m.norm)
               for d in members):
            raise ValueError("from_members needs DCGAN discriminators of one shape")
        grouped = cls(len(members), m.image_size, m.d_width, m.channels, m.norm, init=False)
        grouped.to(next(m.parameters()))
        grouped._load(members)
        return grouped

    def _slices(self, i: int) -> dict[str, torch.Tensor]:
        """Member i's tensors: the i-th of K equal blocks along the first axis (views, in the graph)."""
        out = {}
        for name, t in {**dict(self.named_parameters()), **dict(self.named_buffers())}.items():
            n = t.shape[0] // self.k
            out[name] = t[i * n:(i + 1) * n]
        return out

    @torch.no_grad()
    def member(self, i: int) -> DCGANDiscriminator:
        """A standalone ``DCGANDiscriminator`` with a copy of member ``i``'s parameters."""
        if not -self.k <= i < self.k:
            raise IndexError(f"member index {i} out of range for {self.k} discriminators")
        i %= self.k
        p = next(self.parameters())
        with torch.device("meta"):
            d = DCGANDiscriminator(*self._member_args())
        d = d.to_empty(device=p.device).to(p.dtype)
        d.load_state_dict({k: v.clone() for k, v in self._slices(i).items()})
        return d

    def _check(self, x: torch.Tensor) -> None:
        c = self.k * self.in_channels
        if x.dim() != 4 or x.shape[1] != c or x.shape[2:] != (self.view_size, self.view_size):
            raise ValueError(f"GroupedDiscriminators expects (B, {c}, {self.view_size}, {self.view_size}), "
                             f"got {tuple(x.shape)}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check(x)
        return self.net(x).flatten(1).T

    def forward_loop(self, x: torch.Tensor) -> torch.Tensor:
        """Reference: member after member on its own channels with the same (sliced) weights, then stacked."""
        self._check(x)
        with torch.device("meta"):
            template = DCGANDiscriminator(*self._member_args())
        c = self.in_channels
        return torch.stack([functional_call(template, self._slices(i), (x[:, i * c:(i + 1) * c],))
                            for i in range(self.k)])


def equal_size_width(d_width: int, channels: int, image_size: int, k: int = EQUAL_SIZE_K) -> int:
    """Per-view width w such that ``k`` view discriminators at w have as nearly as possible the parameters of
    the full-view DCGAN discriminator at ``d_width`` (ties to the smaller w)."""
    _check_int("model.d_width", d_width)
    _check_int("k", k)
    view = projection_geometry(image_size, channels)[3]
    with torch.device("meta"):
        target = param_count(DCGANDiscriminator(image_size, channels, d_width))

        def total(w):
            return k * param_count(DCGANDiscriminator(view, 1, w))

        lo, hi = 1, 1
        while total(hi) < target:
            hi *= 2
        while lo < hi:  # smallest w with total(w) >= target
            mid = (lo + hi) // 2
            lo, hi = (mid + 1, hi) if total(mid) < target else (lo, mid)
    if lo > 1 and target - total(lo - 1) <= total(lo) - target:
        lo -= 1
    return lo


class RPDiscriminator(nn.Module):
    """Random projections + grouped discriminators: ``(B, C, S, S) -> (K, B)`` logits, one row per view.

    ``view_width``: channels of each view discriminator's widest layer; None → ``equal_size_width(d_width, …)``.
    ``k = 1``: no projection, the single full-view DCGAN discriminator at ``d_width`` (``view_width`` unused).
    """

    def __init__(self, k: int = 12, channels: int = 3, image_size: int = 64, d_width: int = 64, seed: int = 0,
                 view_width: int | None = None):
        super().__init__()
        _check_int("model.rp_k", k)
        _check_channels(channels)
        self.k, self.channels, self.image_size = k, channels, image_size
        if k == 1:
            projection_geometry(image_size, channels)  # same sizes as K > 1
            self.projections = None
            self.discs = GroupedDiscriminators(1, image_size, d_width, channels)
        else:
            self.projections = RandomProjections(k, channels, image_size, seed)
            if view_width is None:
                view_width = equal_size_width(d_width, channels, image_size)
            _check_int("rp.view_width", view_width)
            self.discs = GroupedDiscriminators(k, self.projections.view_size, view_width, 1)

    def views(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, K, h, h)`` projected views (``x`` itself when K = 1)."""
        return x if self.projections is None else self.projections(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.discs(self.views(x))

    def forward_loop(self, x: torch.Tensor) -> torch.Tensor:
        """Reference: the K discriminators one after another (slow; tests and benchmarks)."""
        return self.discs.forward_loop(self.views(x))

    def member(self, i: int) -> DCGANDiscriminator:
        """Discriminator i as a standalone module acting on view i (``views(x)[:, i:i+1]``)."""
        return self.discs.member(i)

    @staticmethod
    def g_loss_total(g_loss: torch.Tensor) -> torch.Tensor:
        """The generator's objective: the mean over the K discriminators' losses (shape (K,))."""
        return g_loss.mean()


def run_image_nets(cfg, image_size: int, channels: int) -> tuple[nn.Module, nn.Module]:
    """A run's image generator and critic from its config: ``conv.image_nets``, with the critic replaced by
    ``rp.k`` discriminators on random projections (seeded by ``cfg.seed``) when ``rp.k > 1``; both in
    ``model.memory_format``."""
    from ganscope.nets.conv import image_nets

    gen, disc = image_nets(cfg, image_size, channels)
    if cfg.rp.k == 1:
        return gen, disc
    return gen, run_rp_discriminator(cfg, cfg.rp.k, channels, image_size, cfg.seed, cfg.rp.view_width)


def run_rp_discriminator(cfg, k: int, channels: int, image_size: int, seed: int, view_width: int = 0):
    """``RPDiscriminator`` of ``k`` views at the run's ``model.d_width`` (``view_width`` 0: the default
    sizing) in its ``model.memory_format`` (channels_last: 0.4× the NCHW time of 1-channel grouped convs on
    CPU, docs/performance.md)."""
    from ganscope.nets.conv import channels_last, in_memory_format

    disc = RPDiscriminator(k, channels, image_size, cfg.model.d_width, seed, view_width=view_width or None)
    return in_memory_format(disc, channels_last(cfg.model.memory_format))
