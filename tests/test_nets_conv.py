"""Image nets (ganscope.nets.conv): shapes for every net × size × channels, widths, trainability, no coupling
of samples in the discriminators, and the factory's errors."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ganscope.config import ModelConfig
from ganscope.errors import UsageError
from ganscope.nets.conv import (ALL_VARIANTS, DEEP_BLOCKS, IMAGE_NETS, IMAGE_SIZES, VARIANTS, AvgPool,
                                DCGANDiscriminator, MLPImageGenerator, ResNetDiscriminator, ResnetBlock, avg_pool,
                                make_image_nets, param_count)

Z = 8
CASES = [(net, size, c) for net in IMAGE_NETS for size in IMAGE_SIZES[net] for c in (1, 3)]


def small(net, size, channels, width=4, **kw):
    torch.manual_seed(0)
    return make_image_nets(net, size, channels, latent_dim=Z, g_width=width, d_width=width, **kw)


@pytest.mark.parametrize("net,size,channels", CASES)
def test_shapes_and_range(net, size, channels):
    gen, disc = small(net, size, channels)
    x = gen(torch.randn(3, Z))
    assert x.shape == (3, channels, size, size)
    assert x.abs().max() <= 1
    assert disc(x).shape == (3,)


def convs(module, cls=nn.Conv2d):
    return [m for m in module.modules() if isinstance(m, cls)]


@pytest.mark.parametrize("size,g_widths,d_widths", [(8, [16], [16]), (28, [16, 8], [4, 8, 16]),
                                                     (32, [16, 8, 4], [4, 8, 16]), (64, [16, 8, 4, 2], [2, 4, 8, 16])])
def test_dcgan_widths_halve_from_the_widest_layer(size, g_widths, d_widths):
    gen, disc = small("dcgan", size, 3, width=16)
    assert [c.out_channels for c in convs(disc)] == d_widths + [1]  # last conv is the linear head
    assert gen.fc.out_features == 16 * gen.s0**2
    assert [c.out_channels for c in convs(gen, nn.ConvTranspose2d)] == g_widths[1:] + [3]


def test_resnet_stage_widths_follow_gan_stability():
    gen, disc = small("resnet", 32, 3, width=16)  # L = 3 stages: 16 → 8 → 4 → 2 in G, mirrored in D
    assert gen.fc.out_features == 16 * 4 * 4
    assert [b.conv_1.out_channels for b in gen.blocks if isinstance(b, ResnetBlock)] == [8, 4, 2, 2]
    assert [b.conv_1.out_channels for b in disc.blocks if isinstance(b, ResnetBlock)] == [2, 4, 8, 16]
    assert disc.fc.in_features == 16 * 4 * 4


def test_resnet_block_scales_the_residual_by_a_tenth():
    torch.manual_seed(0)
    block, x = ResnetBlock(3, 3), torch.randn(2, 3, 5, 5)
    dx = block.conv_1(F.leaky_relu(block.conv_0(F.leaky_relu(x, 0.2)), 0.2))
    torch.testing.assert_close(block(x), x + 0.1 * dx)
    assert ResnetBlock(3, 5).shortcut.bias is None and ResnetBlock(3, 3).shortcut is None


def test_wgangp_resnet_at_paper_width_has_128_channels_at_8x8():
    gen, disc = make_image_nets("wgangp-resnet", 32, 3, latent_dim=128, g_width=128, d_width=128)
    assert {c.out_channels for c in convs(disc)} == {128}
    h = disc.blocks(torch.zeros(1, 3, 32, 32))
    assert h.shape == (1, 128, 8, 8)
    assert any(isinstance(m, nn.BatchNorm2d) for m in gen.modules())


@pytest.mark.parametrize("net,size,norm", [("dcgan", 8, "none"), ("dcgan", 28, "layer"), ("resnet", 8, "none"),
                                           ("resnet", 28, "none"), ("wgangp-resnet", 32, "none")])
def test_discriminator_has_no_batchnorm_and_does_not_couple_samples(net, size, norm):
    _, disc = small(net, size, 3, width=4, d_norm=norm)
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in disc.modules())
    x = torch.randn(3, 3, size, size, requires_grad=True)
    out = disc(x)
    for i in range(3):
        (g,) = torch.autograd.grad(out[i], x, retain_graph=True)
        for j in range(3):
            assert (g[j].abs().max() == 0) == (i != j)


def test_batchnorm_discriminator_couples_samples():  # the check above can fail
    _, disc = small("dcgan", 28, 1, width=4, d_norm="batch")
    assert any(isinstance(m, nn.BatchNorm2d) for m in disc.modules())
    x = torch.randn(3, 1, 28, 28, requires_grad=True)
    (g,) = torch.autograd.grad(disc(x)[0], x)
    assert g[1].abs().max() > 0


@pytest.mark.parametrize("net,size", [("dcgan", 8), ("resnet", 8), ("wgangp-resnet", 32)])
def test_a_few_adam_steps_lower_simple_losses(net, size):
    gen, disc = small(net, size, 1, width=8)
    real, z = torch.rand(8, 1, size, size) * 2 - 1, torch.randn(8, Z)
    fake = gen(z).detach()
    opt = torch.optim.Adam(disc.parameters(), 1e-3)

    def d_loss():
        return F.softplus(-disc(real)).mean() + F.softplus(disc(fake)).mean()

    first = d_loss().item()
    for _ in range(8):
        opt.zero_grad()
        d_loss().backward()
        assert all(torch.isfinite(p.grad).all() for p in disc.parameters())
        opt.step()
    assert d_loss().item() < first
    opt = torch.optim.Adam(gen.parameters(), 1e-3)
    first = (gen(z) - real).pow(2).mean().item()
    for _ in range(8):
        opt.zero_grad()
        (gen(z) - real).pow(2).mean().backward()
        assert all(torch.isfinite(p.grad).all() for p in gen.parameters())
        opt.step()
    assert (gen(z) - real).pow(2).mean().item() < first


def test_parameter_count_grows_with_width_squared():
    small_d, big_d = DCGANDiscriminator(32, 3, 32), DCGANDiscriminator(32, 3, 64)
    assert 3.5 < param_count(big_d) / param_count(small_d) < 4.1


def test_layer_norm_is_per_sample_group_norm():
    disc = DCGANDiscriminator(32, 3, 8, norm="layer")
    norms = [m for m in disc.modules() if isinstance(m, nn.GroupNorm)]
    assert norms and all(m.num_groups == 1 for m in norms)


@pytest.mark.parametrize("kwargs,field", [
    ({"net": "stylegan"}, "model.net"),
    ({"net": "wgangp-resnet", "image_size": 28}, "data.image_size"),
    ({"image_size": 48}, "data.image_size"),
    ({"channels": 2}, "model.channels"),
    ({"g_width": 0}, "model.g_width"),
    ({"d_width": 2.5}, "model.d_width"),
    ({"net": "resnet", "d_norm": "layer"}, "model.d_norm"),
    ({"d_norm": "spectral"}, "model.d_norm"),
])
def test_factory_errors_name_the_field(kwargs, field):
    args = {"net": "dcgan", "image_size": 32, "channels": 3} | kwargs
    with pytest.raises(UsageError, match=field):
        make_image_nets(**args)


def test_unsupported_size_says_what_is_allowed():
    with pytest.raises(UsageError, match="32"):
        make_image_nets("wgangp-resnet", 64, 3)
    with pytest.raises(UsageError, match="8, 28, 32, 64"):
        make_image_nets("resnet", 16, 3)


# ---- Gulrajani et al. 2017 §5.2's architectures (model.variant) -------------------------------------

VARIANT_CASES = [(net, v) for net, vs in VARIANTS.items() for v in vs]


def kinds(module, cls):
    return [m for m in module.modules() if isinstance(m, cls)]


@pytest.mark.parametrize("net,variant", VARIANT_CASES)
def test_every_variant_maps_latents_to_images_and_logits(net, variant):
    size = 32 if net == "wgangp-resnet" else 28
    gen, disc = small(net, size, 1, width=8, variant=variant)
    x = gen(torch.randn(5, Z))
    assert x.shape == (5, 1, size, size) and x.abs().max() <= 1
    assert disc(x).shape == (5,)


def test_the_config_offers_exactly_the_variants_of_the_nets():
    from dataclasses import fields

    meta = {f.name: f.metadata for f in fields(ModelConfig)}["variant"]
    assert tuple(meta["choices"]) == ALL_VARIANTS and ModelConfig().variant == "standard"


def test_standard_variant_is_the_unchanged_net():
    a, b = small("dcgan", 28, 1, width=8), small("dcgan", 28, 1, width=8, variant="standard", penalised=True)
    for x, y in zip(a, b):
        assert [k for k in x.state_dict()] == [k for k in y.state_dict()]
        for p, q in zip(x.state_dict().values(), y.state_dict().values()):
            torch.testing.assert_close(p, q)


@pytest.mark.parametrize("variant,g_bn,d_norm", [("baseline", True, nn.BatchNorm2d),
                                                 ("g-nobn-const", False, nn.BatchNorm2d),
                                                 ("no-norm", False, None), ("tanh", True, nn.BatchNorm2d)])
def test_variant_normalisation(variant, g_bn, d_norm):
    gen, disc = small("dcgan", 28, 1, width=8, variant=variant)
    assert bool(kinds(gen, nn.BatchNorm2d)) == g_bn
    assert not kinds(disc, nn.GroupNorm)
    assert bool(kinds(disc, nn.BatchNorm2d)) == (d_norm is not None)


@pytest.mark.parametrize("variant", ["baseline", "g-nobn-const", "g-mlp", "tanh"])
def test_a_gradient_penalty_turns_the_critics_batch_norm_into_layer_norm(variant):
    _, disc = small("dcgan", 28, 1, width=8, variant=variant, penalised=True)
    assert not kinds(disc, nn.BatchNorm2d)
    assert kinds(disc, nn.GroupNorm) and all(m.num_groups == 1 for m in kinds(disc, nn.GroupNorm))
    disc.eval()  # per-sample: ∂D(x)_i/∂x_j = 0 for i ≠ j
    x = torch.randn(3, 1, 28, 28, requires_grad=True)
    (g,) = torch.autograd.grad(disc(x)[0], x)
    assert g[1:].abs().max() == 0 and g[0].abs().max() > 0


def test_constant_filters_keep_the_width_at_every_stage():
    gen, _ = small("dcgan", 32, 3, width=16, variant="g-nobn-const")
    assert [c.out_channels for c in convs(gen, nn.ConvTranspose2d)] == [16, 16, 3]
    assert gen.fc.bias is not None and all(c.bias is not None for c in convs(gen, nn.ConvTranspose2d))


def test_tanh_variant_has_no_relus():
    gen, disc = small("dcgan", 28, 1, width=8, variant="tanh")
    assert not kinds(gen, nn.ReLU) and not kinds(disc, nn.LeakyReLU)
    assert len(kinds(disc, nn.Tanh)) == 3 and len(kinds(gen, nn.Tanh)) == 3  # 2 hidden + the output in G


def test_mlp_generator_is_four_relu_layers_of_eight_times_the_width():
    gen, _ = small("dcgan", 28, 1, width=8, variant="g-mlp")
    assert isinstance(gen, MLPImageGenerator)
    linears = kinds(gen, nn.Linear)
    assert [m.out_features for m in linears] == [64, 64, 64, 64, 28 * 28] and len(kinds(gen, nn.ReLU)) == 4
    assert not convs(gen, nn.ConvTranspose2d) and not kinds(gen, nn.BatchNorm2d)


def test_deep_resnet_repeats_every_block():
    gen, disc = small("resnet", 28, 1, width=8, variant="deep")
    shallow_g, shallow_d = small("resnet", 28, 1, width=8)
    assert len(kinds(gen, ResnetBlock)) == DEEP_BLOCKS * len(kinds(shallow_g, ResnetBlock))
    assert len(kinds(disc, ResnetBlock)) == DEEP_BLOCKS * len(kinds(shallow_d, ResnetBlock))


@pytest.mark.parametrize("net,variant", [("resnet", "g-mlp"), ("dcgan", "deep"), ("wgangp-resnet", "deep")])
def test_a_variant_the_net_lacks_is_a_one_line_error(net, variant):
    with pytest.raises(UsageError, match="model.variant"):
        small(net, 32, 3, variant=variant)


# ---- memory format (model.memory_format) ---------------------------------------------------------------------------
def _run_nets(net: str, size: int, channels: int, fmt: str, k: int = 1):
    from ganscope.config import resolve
    from ganscope.nets.rp import run_image_nets

    cfg = resolve({"method": "r1" if k == 1 else "nonsaturating", "net": net,
                   "data": {"name": "digits", "image_size": size},
                   "model": {"latent_dim": 16, "g_width": 16, "d_width": 16, "memory_format": fmt},
                   "rp": {"k": k}})
    torch.manual_seed(3)
    return run_image_nets(cfg, size, channels)


@pytest.mark.parametrize("net,size,channels,k", [("resnet", 32, 3, 1), ("resnet", 28, 1, 1), ("dcgan", 32, 3, 1),
                                                  ("wgangp-resnet", 32, 3, 1), ("dcgan", 32, 3, 4)])
def test_channels_last_nets_equal_nchw_ones_within_rounding(net, size, channels, k):
    """The same weights in either layout; forward, R1's input gradient and the weight gradients agree to fp32
    rounding (different kernels, not different maths), and the conv weights really are channels_last."""
    from ganscope.nets.conv import channels_last

    assert channels_last("auto") and channels_last("channels_last") and not channels_last("nchw")
    (g0, d0), (g1, d1) = _run_nets(net, size, channels, "nchw", k), _run_nets(net, size, channels, "auto", k)
    assert all(torch.equal(a, b) for a, b in zip(d0.state_dict().values(), d1.state_dict().values()))
    w = [p for p in d1.parameters() if p.dim() == 4]
    assert w and all(p.is_contiguous(memory_format=torch.channels_last) for p in w)
    assert all(p.is_contiguous() for p in d0.parameters())
    torch.manual_seed(0)
    z, x = torch.randn(6, 16), torch.rand(6, channels, size, size) * 2 - 1
    g0.eval(), g1.eval()
    assert torch.allclose(g0(z), g1(z), rtol=1e-4, atol=1e-5)
    grads = []
    for d, xin in ((d0, x), (d1, x.contiguous(memory_format=torch.channels_last))):
        xin = xin.clone().requires_grad_(True)
        out = d(xin)
        (gx,) = torch.autograd.grad(out.sum(), xin, create_graph=True)
        loss = out.sum() + gx.pow(2).sum()
        grads.append((out.detach(), gx.detach(), torch.autograd.grad(loss, list(d.parameters()))))
    (o0, x0, p0), (o1, x1, p1) = grads
    assert torch.allclose(o0, o1, rtol=1e-4, atol=1e-5) and torch.allclose(x0, x1, rtol=1e-3, atol=1e-6)
    for a, b in zip(p0, p1):
        assert torch.allclose(a, b, rtol=1e-3, atol=1e-5 * (1 + a.abs().max()))
    assert not torch.equal(o0, o0 + 1e-3)  # the tolerance is below a visible change


def test_memory_format_is_checked():
    from ganscope.config import resolve
    from ganscope.nets.conv import channels_last

    with pytest.raises(UsageError, match="model.memory_format"):
        resolve({"net": "resnet", "data": {"name": "digits"}, "model": {"memory_format": "nhwc"}})
    with pytest.raises(UsageError, match="model.memory_format"):
        channels_last("nhwc")


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("layout", [torch.channels_last, torch.contiguous_format])
@pytest.mark.parametrize("kernel, stride, padding", [(3, 2, 1), (2, None, 0)])
def test_avg_pool_equals_avg_pool2d_through_the_double_backward(dtype, layout, kernel, stride, padding):
    """avg_pool: the same value, input gradient and double-backward gradients as F.avg_pool2d (the same kernels),
    and its double backward keeps the input's layout (aten's adds an NCHW zero gradient)."""
    torch.manual_seed(0)
    x0 = torch.randn(4, 3, 8, 8).to(dtype).to(memory_format=layout)
    w = torch.randn(4, 3, 8, 8).to(dtype)
    results = []
    for pool in (lambda x: F.avg_pool2d(x, kernel, stride, padding), lambda x: avg_pool(x, kernel, stride, padding)):
        x = x0.clone().requires_grad_(True)
        y = pool(x * w)
        (g,) = torch.autograd.grad(y.float().sin().sum(), x, create_graph=True)
        (gx,) = torch.autograd.grad(g.float().pow(2).sum(), x)
        results.append((y, g, gx))
    for a, b in zip(*results):
        assert torch.equal(a, b)
    assert results[1][2].is_contiguous(memory_format=layout)
    assert results[0][0].abs().sum() > 0 and results[0][2].abs().sum() > 0


def test_avg_pool_gradients_pass_gradcheck_to_third_order():
    x = torch.randn(2, 2, 6, 6, dtype=torch.float64, requires_grad=True)
    pool = lambda t: avg_pool(t, 3, 2, 1)  # noqa: E731
    assert torch.autograd.gradcheck(pool, (x,)) and torch.autograd.gradgradcheck(pool, (x,))
    g = torch.randn(2, 2, 3, 3, dtype=torch.float64, requires_grad=True)
    first = lambda t, u: torch.autograd.grad(pool(t), t, u, create_graph=True)[0]  # noqa: E731
    assert torch.autograd.gradgradcheck(first, (x, g))


def test_resnet_discriminator_pools_with_avg_pool():
    d = ResNetDiscriminator(image_size=16, channels=1, d_width=8)
    pools = [m for m in d.modules() if isinstance(m, nn.AvgPool2d)]
    assert pools and all(isinstance(m, AvgPool) and m.kernel_size == 3 and m.stride == 2 and m.padding == 1
                         for m in pools)
