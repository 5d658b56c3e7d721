"""Convolutional generators and discriminators for images: DCGAN, GAN_stability's ResNet, WGAN-GP's CIFAR ResNet.

Every generator maps ``(B, latent_dim) -> (B, C, S, S)`` in [−1, 1] (tanh); every discriminator maps
``(B, C, S, S) -> (B,)``, a logit high on real data. ``C`` is 1 or 3.

**Widths.** ``g_width`` / ``d_width`` are the channels of each net's **widest** layer, the one at the coarsest
resolution: the generator's first stage and the discriminator's last. Channels halve at every stage towards
the image (never below 1), so ``g_width == d_width`` gives mirrored nets and the parameter count grows like
``width²`` whatever the image size. In the papers' terms: DCGAN's ``8·ngf`` / ``8·ndf`` at 64 px,
GAN_stability's ``nf0 = nf·2^L`` (``nf_max`` = 1024 binds from 128 px with nf 64: docs/scale.md), WGAN-GP's
``DIM`` (all stages equal).

**Stages.** The coarsest resolution is s₀ = 7 when 7 divides S (28 px: 7 → 14 → 28), else 4
(32 px: 4 → 8 → 16 → 32); the number of ×2 stages is log₂(S/s₀). 8 px (sklearn digits) is one stage 4 → 8.

* ``DCGANGenerator`` / ``DCGANDiscriminator`` (Radford et al. 2016): G = Linear → BN → ReLU, then 4×4 stride-2
  transposed convs with BN + ReLU, the last to C channels with tanh; D = 4×4 stride-2 convs (pad 1: s → ⌊s/2⌋)
  with LeakyReLU(0.2) while the map is larger than 4×4 (at least one: 8 → 4, 28 → 14 → 7 → 3, 32 → 16 → 8 → 4,
  64 → … → 4), ``norm`` ∈ {"none", "batch", "layer"} after every conv but the first, and a final s×s conv to one
  logit (a linear map of the last feature map). Weights N(0, 0.02), BN scales N(1, 0.02), biases 0 (DCGAN paper).
  ``norm="none"`` (default) keeps samples independent, as a gradient penalty requires; "layer" is
  ``GroupNorm(1, C)`` = normalisation over (C, H, W) per sample with a per-channel affine (WGAN-GP's choice).
* ``ResNetGenerator`` / ``ResNetDiscriminator`` (Mescheder et al. 2018, GAN_stability ``resnet``; docs/references.md §M7):
  ``ResnetBlock`` = shortcut(x) + 0.1·conv3×3(lrelu(conv3×3(lrelu(x)))), hidden width min(fin, fout), learned 1×1
  shortcut without bias only when fin ≠ fout, LeakyReLU 0.2, **no normalisation**. G: Linear → (g_width, s₀, s₀)
  → L × (block, nearest ×2 upsample) → block → lrelu → 3×3 conv → tanh. D: 3×3 conv → block → L × (avg-pool 3×3
  stride 2 pad 1, block doubling channels) → lrelu → Linear. PyTorch's default initialisation (as GAN_stability).
* ``WGANGPResNetGenerator`` / ``WGANGPResNetDiscriminator`` (Gulrajani et al. 2017, App. F, ``gan_cifar_resnet``;
  docs/references.md §G4), 32 px only, pre-activation blocks with ReLU, all stages ``width`` channels (paper 128).
  G: Linear → (w, 4, 4) → 3 × up-block (BN, ReLU, nearest ×2 upsample, 3×3 conv, BN, ReLU, 3×3 conv; shortcut
  upsample + 1×1 conv) → BN → ReLU → 3×3 conv → tanh. D (no normalisation): optimised first block (3×3 conv,
  ReLU, 3×3 conv, 2×2 mean-pool; shortcut mean-pool + 1×1 conv) → down-block (ReLU, conv, ReLU, conv, mean-pool;
  shortcut 1×1 conv + mean-pool) → 2 plain blocks (identity shortcut) at 8×8 → ReLU → global mean pool → Linear.
  Following the code, the up-block upsamples before its first conv. PyTorch's default initialisation.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ganscope.errors import UsageError

IMAGE_NETS = ("dcgan", "resnet", "wgangp-resnet")
IMAGE_SIZES = {"dcgan": (8, 28, 32, 64), "resnet": (8, 28, 32, 64, 128), "wgangp-resnet": (32,)}
CHANNELS = (1, 3)
NORMS = ("none", "batch", "layer")
LRELU = 0.2
MEMORY_FORMATS = ("auto", "channels_last", "nchw")


def param_count(module: nn.Module) -> int:
    """Number of parameters (buffers such as fixed random projections or BN statistics are not counted)."""
    return sum(p.numel() for p in module.parameters())


def _check_int(field: str, value, least: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise UsageError(f"{field}: must be an integer >= {least}, got {value!r}")


def _check_generator(channels, latent_dim, g_width) -> None:
    _check_channels(channels)
    _check_int("model.latent_dim", latent_dim)
    _check_int("model.g_width", g_width)


def _check_channels(channels) -> None:
    if channels not in CHANNELS or isinstance(channels, bool):
        raise UsageError(f"model.channels: must be 1 or 3, got {channels!r}")


def _stages(size: int) -> tuple[int, int]:
    """(s₀, L): coarsest resolution (7 if 7 | S, else 4) and the number of ×2 stages, S = s₀·2^L, L ≥ 1."""
    _check_int("data.image_size", size, 8)
    s0 = 7 if size % 7 == 0 else 4
    n = round(math.log2(size / s0))
    if s0 * 2**n != size or n < 1:
        raise UsageError(f"data.image_size: must be 4·2^L or 7·2^L (L >= 1), e.g. 8, 28, 32, 64; got {size}")
    return s0, n


def _widths(width: int, n: int) -> list[int]:
    """Channels of n stages from the widest (``width``) down, halving, never below 1."""
    return [max(1, width >> i) for i in range(n)]


def _dcgan_init(module: nn.Module) -> None:
    """DCGAN initialisation: conv/linear weights N(0, 0.02), BN scales N(1, 0.02), biases 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


# ---- DCGAN ------------------------------------------------------------------------------------------

class DCGANGenerator(nn.Module):
    """Linear → (g_width, s₀, s₀) → BN → ReLU → (L−1) × [ConvT 4×4/2, BN, ReLU] → ConvT 4×4/2 → tanh.

    Options (Gulrajani et al. 2017 §5.2): ``bn=False`` drops every BN (the linear and transposed convs then get
    biases), ``constant=True`` keeps ``g_width`` channels at every stage instead of halving, ``act="tanh"``
    replaces the ReLUs by tanh.
    """

    def __init__(self, image_size: int = 32, channels: int = 3, latent_dim: int = 128, g_width: int = 64,
                 bn: bool = True, constant: bool = False, act: str = "relu"):
        super().__init__()
        _check_generator(channels, latent_dim, g_width)
        s0, n = _stages(image_size)
        ch = [g_width] * n if constant else _widths(g_width, n)
        self.image_size, self.channels, self.latent_dim, self.g_width = image_size, channels, latent_dim, g_width
        self.s0 = s0
        self.fc = nn.Linear(latent_dim, ch[0] * s0 * s0, bias=not bn)
        layers = [*_maybe_bn(bn, ch[0]), _act(act)]
        for cin, cout in zip(ch[:-1], ch[1:]):
            layers += [nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=not bn), *_maybe_bn(bn, cout), _act(act)]
        layers += [nn.ConvTranspose2d(ch[-1], channels, 4, 2, 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        _dcgan_init(self)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(self.fc(z).view(z.shape[0], -1, self.s0, self.s0))


def _maybe_bn(bn: bool, c: int) -> list[nn.Module]:
    return [nn.BatchNorm2d(c)] if bn else []


def _act(name: str) -> nn.Module:
    """The nonlinearity ``name``: "relu", "lrelu" (slope 0.2) or "tanh"."""
    return {"relu": nn.ReLU, "lrelu": lambda: nn.LeakyReLU(LRELU), "tanh": nn.Tanh}[name]()


class MLPImageGenerator(nn.Module):
    """Gulrajani et al. 2017 §5.2's MLP generator (``gan_64x64`` FCGenerator): 4 × [Linear, ReLU] of ``hidden``
    units (the paper 512) → Linear to C·S·S → tanh, reshaped to ``(B, C, S, S)``; no normalisation. He-normal
    weights on the ReLU layers, Glorot-uniform on the output, biases 0 (tflib's ReLULayer / Linear)."""

    def __init__(self, image_size: int = 32, channels: int = 3, latent_dim: int = 128, hidden: int = 512):
        super().__init__()
        _check_generator(channels, latent_dim, hidden)
        _check_int("data.image_size", image_size, 4)
        self.image_size, self.channels, self.latent_dim, self.g_width = image_size, channels, latent_dim, hidden
        dims = [latent_dim] + [hidden] * 4
        layers = [m for a, b in zip(dims[:-1], dims[1:]) for m in (nn.Linear(a, b), nn.ReLU())]
        self.net = nn.Sequential(*layers, nn.Linear(hidden, channels * image_size ** 2), nn.Tanh())
        linears = [m for m in self.net if isinstance(m, nn.Linear)]
        for m in linears[:-1]:
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
        nn.init.xavier_uniform_(linears[-1].weight)
        for m in linears:
            nn.init.zeros_(m.bias)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).view(z.shape[0], self.channels, self.image_size, self.image_size)


def _down_plan(size: int) -> tuple[int, int]:
    """(n, s): stride-2 stages of a DCGAN discriminator (each ⌊s/2⌋, while s > 4, at least one) and the final size."""
    _check_int("image_size", size, 4)
    n, s = 0, size
    while s > 4 or n == 0:
        n, s = n + 1, s // 2
    return n, s


def _norm_layer(norm: str, c: int, groups: int = 1) -> nn.Module:
    if norm == "batch":
        return nn.BatchNorm2d(c * groups)
    return nn.GroupNorm(groups, c * groups)  # "layer": per sample (and per group) over (C, H, W)


def dcgan_d_layers(size: int, in_channels: int, d_width: int, norm: str = "none", groups: int = 1,
                   act: str = "lrelu") -> nn.Sequential:
    """The DCGAN discriminator stack; with ``groups = K`` it holds K such discriminators side by side;
    ``act``: "lrelu" (LeakyReLU 0.2, DCGAN's) or "tanh" (Gulrajani et al. 2017 §5.2).

    Layer j of the grouped stack is the member's layer j with every channel count multiplied by K and
    ``groups=K``: its tensors are the K members' tensors concatenated along the first axis.
    """
    _check_int("in_channels", in_channels)
    _check_int("model.d_width", d_width)
    if norm not in NORMS:
        raise UsageError(f"model.d_norm: unknown norm {norm!r}; allowed: {', '.join(NORMS)}")
    n, s = _down_plan(size)
    ch = _widths(d_width, n)[::-1]
    g = groups
    layers = [nn.Conv2d(in_channels * g, ch[0] * g, 4, 2, 1, groups=g), _act(act)]
    for cin, cout in zip(ch[:-1], ch[1:]):
        layers.append(nn.Conv2d(cin * g, cout * g, 4, 2, 1, bias=norm == "none", groups=g))
        if norm != "none":
            layers.append(_norm_layer(norm, cout, g))
        layers.append(_act(act))
    layers.append(nn.Conv2d(ch[-1] * g, g, s, groups=g))  # the linear head: one logit per member
    return nn.Sequential(*layers)


class DCGANDiscriminator(nn.Module):
    """[Conv 4×4/2, LReLU] → (n−1) × [Conv 4×4/2, norm, LReLU] → Conv s×s → logit; ``(B, C, S, S) -> (B,)``.

    Any S >= 4 is accepted (the views of RP-GAN are 4–32 px).
    """

    def __init__(self, image_size: int = 32, channels: int = 3, d_width: int = 64, norm: str = "none",
                 act: str = "lrelu"):
        super().__init__()
        self.image_size, self.channels, self.d_width, self.norm = image_size, channels, d_width, norm
        self.net = dcgan_d_layers(image_size, channels, d_width, norm, act=act)
        _dcgan_init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).flatten()


# ---- GAN_stability ResNet ---------------------------------------------------------------------------

class _PoolGrad(torch.autograd.Function):
    """The input gradient of ``avg_pool2d`` as an op that is linear in ``grad`` alone: its own gradient is the
    pool of ``gg`` and nothing for ``x`` (only ``x``'s shape and layout are read)."""

    @staticmethod
    def forward(ctx, grad, x, k, s, p):
        ctx.pool = (k, s, p)
        return torch.ops.aten.avg_pool2d_backward(grad, x, k, s, p, False, True, None)

    @staticmethod
    def backward(ctx, gg):
        return F.avg_pool2d(gg, *ctx.pool), None, None, None, None


class _Pool(torch.autograd.Function):
    """``avg_pool2d`` (count_include_pad, floor) whose backward is :class:`_PoolGrad`. aten's own double backward
    also returns a zero gradient for the pooled input, allocated in NCHW: added to the input gradient of a
    channels_last critic, it turns the rest of R1's double backward into NCHW (mixed-layout adds and copies,
    slow in bf16). Values and gradients are the same kernels' (docs/performance.md, "bf16")."""

    @staticmethod
    def forward(ctx, x, k, s, p):
        ctx.save_for_backward(x)
        ctx.pool = (k, s, p)
        return F.avg_pool2d(x, k, s, p)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return _PoolGrad.apply(grad, x, *ctx.pool), None, None, None


def avg_pool(x: torch.Tensor, kernel: int, stride: int | None = None, padding: int = 0) -> torch.Tensor:
    """``F.avg_pool2d(x, kernel, stride, padding)`` (zero padding counted, as nn.AvgPool2d's default) with a
    double backward that keeps the input's layout (:class:`_Pool`)."""
    return _Pool.apply(x, _pair(kernel), _pair(stride or kernel), _pair(padding))


def _pair(v) -> list[int]:
    return list(v) if isinstance(v, (tuple, list)) else [v, v]


class AvgPool(nn.AvgPool2d):
    """``nn.AvgPool2d(kernel, stride, padding)`` computed by :func:`avg_pool` (the same values and gradients)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return avg_pool(x, self.kernel_size, self.stride, self.padding)


class ResnetBlock(nn.Module):
    """x_s + 0.1·conv_1(lrelu(conv_0(lrelu(x)))); 3×3 convs, hidden min(fin, fout), 1×1 shortcut iff fin ≠ fout."""

    def __init__(self, fin: int, fout: int):
        super().__init__()
        hidden = min(fin, fout)
        self.conv_0 = nn.Conv2d(fin, hidden, 3, 1, 1)
        self.conv_1 = nn.Conv2d(hidden, fout, 3, 1, 1)
        self.shortcut = nn.Conv2d(fin, fout, 1, bias=False) if fin != fout else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x_s = x if self.shortcut is None else self.shortcut(x)
        dx = self.conv_1(F.leaky_relu(self.conv_0(F.leaky_relu(x, LRELU)), LRELU))
        return x_s + 0.1 * dx


def _stack(fin: int, fout: int, k: int) -> nn.Module:
    """``k`` ResnetBlocks, the first fin → fout, the others fout → fout (one block itself when k = 1)."""
    if k == 1:
        return ResnetBlock(fin, fout)
    return nn.Sequential(ResnetBlock(fin, fout), *(ResnetBlock(fout, fout) for _ in range(k - 1)))


class ResNetGenerator(nn.Module):
    """Linear → (g_width, s₀, s₀) → L × [block (c → c/2), upsample ×2] → block → lrelu → conv 3×3 → tanh;
    ``blocks = k``: every block is k blocks in a row (Gulrajani et al. 2017 §5.2's very deep ResNet, scaled)."""

    def __init__(self, image_size: int = 32, channels: int = 3, latent_dim: int = 128, g_width: int = 64,
                 blocks: int = 1):
        super().__init__()
        _check_generator(channels, latent_dim, g_width)
        s0, n = _stages(image_size)
        ch = _widths(g_width, n + 1)
        self.image_size, self.channels, self.latent_dim, self.g_width = image_size, channels, latent_dim, g_width
        self.s0 = s0
        self.fc = nn.Linear(latent_dim, ch[0] * s0 * s0)
        k, layers = blocks, []
        for cin, cout in zip(ch[:-1], ch[1:]):
            layers += [_stack(cin, cout, k), nn.Upsample(scale_factor=2, mode="nearest")]
        layers.append(_stack(ch[-1], ch[-1], k))
        self.blocks = nn.Sequential(*layers)
        self.conv_img = nn.Conv2d(ch[-1], channels, 3, 1, 1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.blocks(self.fc(z).view(z.shape[0], -1, self.s0, self.s0))
        return torch.tanh(self.conv_img(F.leaky_relu(h, LRELU)))


class ResNetDiscriminator(nn.Module):
    """conv 3×3 → block → L × [avg-pool 3×3/2, block (c → 2c)] → lrelu → Linear → logit; no normalisation;
    ``blocks = k``: every block is k blocks in a row."""

    def __init__(self, image_size: int = 32, channels: int = 3, d_width: int = 64, blocks: int = 1):
        super().__init__()
        _check_channels(channels)
        _check_int("model.d_width", d_width)
        s0, n = _stages(image_size)
        ch = _widths(d_width, n + 1)[::-1]
        self.image_size, self.channels, self.d_width = image_size, channels, d_width
        self.conv_img = nn.Conv2d(channels, ch[0], 3, 1, 1)
        layers = [_stack(ch[0], ch[0], blocks)]
        for cin, cout in zip(ch[:-1], ch[1:]):
            layers += [AvgPool(3, stride=2, padding=1), _stack(cin, cout, blocks)]
        self.blocks = nn.Sequential(*layers)
        self.fc = nn.Linear(ch[-1] * s0 * s0, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.blocks(self.conv_img(x))
        return self.fc(F.leaky_relu(h, LRELU).flatten(1)).squeeze(1)


# ---- WGAN-GP CIFAR ResNet ---------------------------------------------------------------------------

def _up(x):
    return F.interpolate(x, scale_factor=2, mode="nearest")


def _pool(x):
    return avg_pool(x, 2)


class UpBlock(nn.Module):
    """G block: BN, ReLU, upsample, conv3×3, BN, ReLU, conv3×3; shortcut upsample + conv1×1."""

    def __init__(self, fin: int, fout: int):
        super().__init__()
        self.bn_1, self.conv_1 = nn.BatchNorm2d(fin), nn.Conv2d(fin, fout, 3, 1, 1)
        self.bn_2, self.conv_2 = nn.BatchNorm2d(fout), nn.Conv2d(fout, fout, 3, 1, 1)
        self.shortcut = nn.Conv2d(fin, fout, 1)

    def forward(self, x):
        h = self.conv_1(_up(F.relu(self.bn_1(x))))
        return self.shortcut(_up(x)) + self.conv_2(F.relu(self.bn_2(h)))


class DownBlock(nn.Module):
    """D block: ReLU, conv3×3, ReLU, conv3×3 (+ mean-pool 2×2 if ``down``); shortcut conv1×1 (+ pool), or identity."""

    def __init__(self, fin: int, fout: int, down: bool):
        super().__init__()
        self.down = down
        self.conv_1, self.conv_2 = nn.Conv2d(fin, fin, 3, 1, 1), nn.Conv2d(fin, fout, 3, 1, 1)
        self.shortcut = nn.Conv2d(fin, fout, 1) if down or fin != fout else None

    def forward(self, x):
        h = self.conv_2(F.relu(self.conv_1(F.relu(x))))
        x_s = x if self.shortcut is None else self.shortcut(x)
        return _pool(x_s) + _pool(h) if self.down else x_s + h


class OptimizedBlock(nn.Module):
    """First D block: conv3×3, ReLU, conv3×3, mean-pool; shortcut mean-pool + conv1×1 (no pre-activation)."""

    def __init__(self, fin: int, fout: int):
        super().__init__()
        self.conv_1, self.conv_2 = nn.Conv2d(fin, fout, 3, 1, 1), nn.Conv2d(fout, fout, 3, 1, 1)
        self.shortcut = nn.Conv2d(fin, fout, 1)

    def forward(self, x):
        return self.shortcut(_pool(x)) + _pool(self.conv_2(F.relu(self.conv_1(x))))


def _check_wgangp_size(image_size) -> None:
    if image_size != 32 or isinstance(image_size, bool):
        raise UsageError(f"data.image_size: the WGAN-GP CIFAR ResNet is defined for 32 px only, got {image_size!r}")


class WGANGPResNetGenerator(nn.Module):
    """Linear → (w, 4, 4) → 3 × UpBlock(w, w) → BN → ReLU → conv 3×3 → tanh; 32 px."""

    def __init__(self, image_size: int = 32, channels: int = 3, latent_dim: int = 128, g_width: int = 128):
        super().__init__()
        _check_wgangp_size(image_size)
        _check_generator(channels, latent_dim, g_width)
        self.image_size, self.channels, self.latent_dim, self.g_width = image_size, channels, latent_dim, g_width
        self.fc = nn.Linear(latent_dim, 16 * g_width)
        self.blocks = nn.Sequential(*(UpBlock(g_width, g_width) for _ in range(3)))
        self.bn = nn.BatchNorm2d(g_width)
        self.conv_img = nn.Conv2d(g_width, channels, 3, 1, 1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.blocks(self.fc(z).view(z.shape[0], -1, 4, 4))
        return torch.tanh(self.conv_img(F.relu(self.bn(h))))


class WGANGPResNetDiscriminator(nn.Module):
    """OptimizedBlock → DownBlock → 2 × plain block (8×8) → ReLU → global mean pool → Linear; no normalisation."""

    def __init__(self, image_size: int = 32, channels: int = 3, d_width: int = 128):
        super().__init__()
        _check_wgangp_size(image_size)
        _check_channels(channels)
        _check_int("model.d_width", d_width)
        self.image_size, self.channels, self.d_width = image_size, channels, d_width
        w = d_width
        self.blocks = nn.Sequential(OptimizedBlock(channels, w), DownBlock(w, w, True),
                                    DownBlock(w, w, False), DownBlock(w, w, False))
        self.fc = nn.Linear(w, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(F.relu(self.blocks(x)).mean((2, 3))).squeeze(1)


# ---- factory ----------------------------------------------------------------------------------------

_NETS = {
    "dcgan": (DCGANGenerator, DCGANDiscriminator),
    "resnet": (ResNetGenerator, ResNetDiscriminator),
    "wgangp-resnet": (WGANGPResNetGenerator, WGANGPResNetDiscriminator),
}

DEEP_BLOCKS = 8  # "deep": 8 residual blocks where the ResNet has one (28 px: 24 blocks, about 50 conv layers per net)

# The architectures of Gulrajani et al. 2017 §5.2 / Figure 2 as options of the nets (``model.variant``):
# (generator options, discriminator options); "batch" in D becomes "layer" under a gradient penalty.
VARIANTS = {
    "dcgan": {
        "standard": ({}, {}),  # ganscope's DCGAN: BN in G, no normalisation in D
        "baseline": ({}, {"norm": "batch"}),  # the paper's DCGAN baseline: BN in G and D
        "g-nobn-const": ({"bn": False, "constant": True}, {"norm": "batch"}),
        "g-mlp": ({"mlp": True}, {"norm": "batch"}),
        "no-norm": ({"bn": False}, {}),
        "tanh": ({"act": "tanh"}, {"norm": "batch", "act": "tanh"}),
    },
    "resnet": {"standard": ({}, {}), "deep": ({"blocks": DEEP_BLOCKS}, {"blocks": DEEP_BLOCKS})},
    "wgangp-resnet": {"standard": ({}, {})},
}
ALL_VARIANTS = tuple(dict.fromkeys(v for net in VARIANTS.values() for v in net))


def make_image_nets(net: str, image_size: int, channels: int, latent_dim: int = 128, g_width: int = 64,
                    d_width: int = 64, d_norm: str = "none", variant: str = "standard",
                    penalised: bool = False) -> tuple[nn.Module, nn.Module]:
    """``(G, D)`` for ``net`` ∈ IMAGE_NETS at ``image_size`` (see IMAGE_SIZES) with ``channels`` ∈ {1, 3}.

    ``d_norm`` (DCGAN only; the ResNets have none by design): "none", "batch" or "layer".
    ``variant`` ∈ VARIANTS[net]: one of Gulrajani et al. 2017 §5.2's architectures (docs/images_nets.md); it
    sets D's norm itself. ``penalised``: the critic carries a gradient penalty, so a variant's BatchNorm in D is
    layer norm instead (the penalty is per input; WGAN-GP's ``gan_64x64`` does the same).
    Parameters are drawn from the global RNG: seed before calling.
    """
    if net not in _NETS:
        raise UsageError(f"model.net: unknown image net {net!r}; allowed: {', '.join(IMAGE_NETS)}")
    if image_size not in IMAGE_SIZES[net] or isinstance(image_size, bool):
        allowed = ", ".join(map(str, IMAGE_SIZES[net]))
        raise UsageError(f"data.image_size: {net!r} supports image sizes {allowed}; got {image_size!r}")
    _check_channels(channels)
    if variant not in VARIANTS[net]:
        raise UsageError(f"model.variant: {net!r} has variants {', '.join(VARIANTS[net])}; got {variant!r}")
    if net != "dcgan" and d_norm != "none":
        raise UsageError(f"model.d_norm: {net!r} has no normalisation in D; only 'none' is allowed, got {d_norm!r}")
    if d_norm not in NORMS:
        raise UsageError(f"model.d_norm: unknown norm {d_norm!r}; allowed: {', '.join(NORMS)}")
    g_opts, d_opts = (dict(o) for o in VARIANTS[net][variant])
    if net == "dcgan":
        d_opts.setdefault("norm", d_norm)
        if penalised and d_opts["norm"] == "batch" and variant != "standard":
            d_opts["norm"] = "layer"
    g_cls, d_cls = _NETS[net]
    if g_opts.pop("mlp", False):
        gen = MLPImageGenerator(image_size, channels, latent_dim, 8 * g_width)
    else:
        gen = g_cls(image_size, channels, latent_dim, g_width, **g_opts)
    return gen, d_cls(image_size, channels, d_width, **d_opts)


def channels_last(memory_format: str) -> bool:
    """Whether ``model.memory_format`` lays the conv nets and their image batches out channels_last (NHWC):
    "channels_last", or "auto" (the default: 0.6–0.8× of the NCHW step time for the ResNet and RP-GAN's grouped
    discriminators on CPU, where oneDNN has direct NHWC kernels; docs/performance.md); "nchw": no."""
    if memory_format not in MEMORY_FORMATS:
        raise UsageError(f"model.memory_format: got {memory_format!r}; allowed: {', '.join(MEMORY_FORMATS)}")
    return memory_format != "nchw"


def in_memory_format(x, last: bool):
    """A module with its 4-D parameters and buffers in channels_last strides, or a 4-D tensor so laid out, when
    ``last``; else ``x`` itself. The values are unchanged (only the strides), and ``.to(device)`` keeps them;
    convolutions then return channels_last outputs whatever their input's layout."""
    if not last:
        return x
    if isinstance(x, nn.Module):
        return x.to(memory_format=torch.channels_last)
    return x.contiguous(memory_format=torch.channels_last) if x.dim() == 4 else x


def image_nets(cfg, image_size: int, channels: int) -> tuple[nn.Module, nn.Module]:
    """``make_image_nets`` for a run's config: ``cfg.net``, ``cfg.model`` (latent, widths, variant, memory
    format) and whether ``cfg.penalty`` is a gradient penalty (any name but "none")."""
    m = cfg.model
    last = channels_last(m.memory_format)
    gen, disc = make_image_nets(cfg.net, image_size, channels, m.latent_dim, m.g_width, m.d_width,
                                variant=m.variant, penalised=cfg.penalty.name != "none")
    return in_memory_format(gen, last), in_memory_format(disc, last)
