"""RP-GAN (ganscope.nets.rp): fixed unit-norm projections as one strided conv, grouped discriminators equal to
the loop over K (values and gradients), member extraction, the K = 1 convention and the equal-size width."""
import pytest
import torch
import torch.nn.functional as F

from ganscope.errors import UsageError
from ganscope.nets.conv import DCGANDiscriminator, param_count
from ganscope.nets.rp import (PROJECTION, GroupedDiscriminators, RandomProjections, RPDiscriminator,
                              equal_size_width, projection_geometry)
from ganscope.objectives import get_objective

TIGHT = {"rtol": 1e-5, "atol": 1e-6}
EXACT = {"rtol": 1e-10, "atol": 1e-12}  # float64


@pytest.mark.parametrize("size,view", [(8, 4), (28, 14), (32, 16), (64, 32)])  # RGB: stride 2
def test_projection_filters_are_unit_norm_buffers_and_views_halve(size, view):
    proj = RandomProjections(5, 3, size, seed=1)
    assert projection_geometry(size, 3)[3] == proj.view_size == view
    assert proj.weight.shape == (5, 3, PROJECTION[size][0], PROJECTION[size][0])
    torch.testing.assert_close(proj.weight.flatten(1).norm(dim=1), torch.ones(5))
    assert list(proj.parameters()) == [] and "weight" in proj.state_dict()
    assert proj(torch.randn(2, 3, size, size)).shape == (2, 5, view, view)


def test_projections_depend_on_the_seed_only():
    torch.manual_seed(0)
    a = RandomProjections(4, 3, 32, seed=7).weight
    torch.manual_seed(1)
    assert torch.equal(a, RandomProjections(4, 3, 32, seed=7).weight)
    assert not torch.equal(a, RandomProjections(4, 3, 32, seed=8).weight)


@pytest.mark.parametrize("size,channels", [(32, 3), (64, 3), (28, 1)])
def test_projection_is_a_per_filter_strided_conv(size, channels):
    proj, x = RandomProjections(3, channels, size, seed=0), torch.randn(2, channels, size, size)
    f, stride, pad, _ = projection_geometry(size, channels)
    views = proj(x)
    for k in range(3):
        torch.testing.assert_close(views[:, k:k + 1], F.conv2d(x, proj.weight[k:k + 1], stride=stride, padding=pad))
    xp = F.pad(x, (pad,) * 4)  # one pixel by hand: <W_k, patch at (stride·i, stride·j)>
    i, j = 3, 5
    manual = (proj.weight[1] * xp[0, :, stride * i:stride * i + f, stride * j:stride * j + f]).sum()
    torch.testing.assert_close(views[0, 1, i, j], manual)


def test_grey_28px_views_are_8x8_tiling_the_image():
    proj = RandomProjections(2, 1, 28, seed=0)
    assert projection_geometry(28, 1) == (7, 3, 0, 8) == (proj.weight.shape[-1], proj.stride, proj.padding, 8)
    assert proj(torch.zeros(1, 1, 28, 28)).shape == (1, 2, 8, 8)
    x = torch.zeros(1, 1, 28, 28)
    x[0, 0, -1, -1] = 1.0  # the last pixel is inside the last window: the windows tile the image exactly
    assert proj(x)[0, :, -1, -1].abs().min() > 0


@pytest.mark.parametrize("size,channels", [(64, 3), (32, 3), (28, 3), (28, 1), (8, 3)])
def test_views_keep_the_papers_12x_reduction(size, channels):
    view = projection_geometry(size, channels)[3]
    assert 11.9 <= channels * size ** 2 / view ** 2 <= 12.3  # 12,288 -> 1,024 in the paper (dm12)


def grouped(k=4, view=16, width=8, norm="none", in_channels=1):
    torch.manual_seed(3)
    return GroupedDiscriminators(k, view, width, in_channels, norm)


@pytest.mark.parametrize("view,norm,in_channels", [(16, "none", 1), (14, "none", 1), (4, "none", 1),
                                                   (32, "layer", 1), (8, "none", 3)])
def test_grouped_equals_loop_values_and_gradients(view, norm, in_channels):
    d = grouped(view=view, norm=norm, in_channels=in_channels).double()
    x = torch.randn(5, 4 * in_channels, view, view, dtype=torch.float64, requires_grad=True)
    w = torch.randn(4, 5, dtype=torch.float64)  # a different weight per logit: no gradient cancels by accident
    out, ref = d(x), d.forward_loop(x)
    assert out.shape == (4, 5)
    torch.testing.assert_close(out, ref, **EXACT)
    params = list(d.parameters())
    g_out = torch.autograd.grad((w * out).sum(), [x, *params])
    g_ref = torch.autograd.grad((w * ref).sum(), [x, *params])
    for a, b in zip(g_out, g_ref):
        torch.testing.assert_close(a, b, **EXACT)


def test_member_is_a_standalone_dcgan_discriminator_with_the_kth_output():
    d = grouped()
    x = torch.randn(3, 4, 16, 16)
    out = d(x)
    for k in (0, 2, -1):
        m = d.member(k)
        assert isinstance(m, DCGANDiscriminator) and (m.image_size, m.channels, m.d_width) == (16, 1, 8)
        torch.testing.assert_close(m(x[:, k % 4:k % 4 + 1]), out[k], **TIGHT)
    with pytest.raises(IndexError):
        d.member(4)


def test_grouped_initialises_like_k_separate_discriminators_and_round_trips():
    d = grouped()
    torch.manual_seed(3)
    members = [DCGANDiscriminator(16, 1, 8) for _ in range(4)]
    for k, m in enumerate(members):
        for (name, a), b in zip(d.member(k).state_dict().items(), m.state_dict().values()):
            assert torch.equal(a, b), name
    again = GroupedDiscriminators.from_members([d.member(k) for k in range(4)])
    assert all(torch.equal(a, b) for a, b in zip(again.state_dict().values(), d.state_dict().values()))
    assert param_count(d) == 4 * param_count(members[0])


def test_summed_member_losses_give_each_discriminator_its_own_gradient():
    d, obj = grouped(), get_objective("nonsaturating")
    real, fake = torch.randn(6, 4, 16, 16), torch.randn(6, 4, 16, 16)
    losses = obj.d_loss(d(real), d(fake))
    assert losses.shape == (4,)
    grads = torch.autograd.grad(losses.sum(), list(d.parameters()))
    m = d.member(2)
    own = torch.autograd.grad(obj.d_loss(m(real[:, 2:3]), m(fake[:, 2:3])), list(m.parameters()))
    for g, o in zip(grads, own):
        n = g.shape[0] // 4
        torch.testing.assert_close(g[2 * n:3 * n], o, **TIGHT)


def test_rp_discriminator_shapes_and_loop():
    torch.manual_seed(0)
    d = RPDiscriminator(12, 3, 32, d_width=16, seed=2)
    x = torch.randn(3, 3, 32, 32)
    out = d(x)
    assert out.shape == (12, 3)
    torch.testing.assert_close(out, d.forward_loop(x), **TIGHT)
    torch.testing.assert_close(d.member(5)(d.views(x)[:, 5:6]), out[5], **TIGHT)
    assert "projections.weight" in d.state_dict()
    assert all(p is not d.projections.weight for p in d.parameters())
    assert d.g_loss_total(torch.tensor([1.0, 2.0, 6.0])) == 3.0


def test_rp_discriminator_does_not_couple_samples():
    torch.manual_seed(0)
    d = RPDiscriminator(12, 1, 28, d_width=8)
    x = torch.randn(3, 1, 28, 28, requires_grad=True)
    out = d(x)
    (g,) = torch.autograd.grad(out[:, 1].sum(), x)
    assert g[1].abs().max() > 0 and g[0].abs().max() == 0 and g[2].abs().max() == 0


def test_k1_is_the_single_full_view_discriminator():
    torch.manual_seed(0)
    d = RPDiscriminator(1, 3, 32, d_width=16)
    assert d.projections is None
    x = torch.randn(2, 3, 32, 32)
    assert d(x).shape == (1, 2)
    full = d.member(0)
    assert (full.image_size, full.channels, full.d_width) == (32, 3, 16)
    torch.testing.assert_close(full(x), d(x)[0], **TIGHT)
    assert param_count(d) == param_count(DCGANDiscriminator(32, 3, 16))


@pytest.mark.parametrize("size,channels", [(28, 1), (32, 3), (64, 3)])
def test_default_view_width_matches_the_full_discriminator_size_at_k12(size, channels):
    w = equal_size_width(64, channels, size)
    full = param_count(DCGANDiscriminator(size, channels, 64))
    view = projection_geometry(size, channels)[3]
    assert abs(12 * param_count(DCGANDiscriminator(view, 1, w)) / full - 1) < 0.1
    d12 = RPDiscriminator(12, channels, size, d_width=64)
    assert d12.discs.d_width == w == RPDiscriminator(3, channels, size, d_width=64).discs.d_width


@pytest.mark.parametrize("build,field", [
    (lambda: RandomProjections(0, 3, 32), "model.rp_k"),
    (lambda: RandomProjections(2, 3, 16), "data.image_size"),
    (lambda: RandomProjections(2, 2, 32), "model.channels"),
    (lambda: RPDiscriminator(12, 3, 48), "data.image_size"),
    (lambda: GroupedDiscriminators(2, 16, 4, norm="batch"), "model.d_norm"),
])
def test_errors_name_the_field(build, field):
    with pytest.raises(UsageError, match=field):
        build()


def test_view_width_sets_each_view_discriminator_and_full_size_matches_the_single_one():
    w = equal_size_width(32, 1, 28, k=1)
    assert w == 325  # 8×8 views: one 4×4/2 conv and the head, 10,726 parameters against the single one's 10,713
    d = RPDiscriminator(4, 1, 28, d_width=32, view_width=w)
    assert d.discs.d_width == 325 and d.member(0).d_width == 325
    single = param_count(DCGANDiscriminator(28, 1, 32))
    assert abs(param_count(d.member(0)) / single - 1) < 0.05  # each view as large as the single discriminator
    assert RPDiscriminator(1, 1, 28, d_width=32, view_width=w).member(0).d_width == 32  # K = 1: unused
    with pytest.raises(UsageError, match="rp.view_width"):
        RPDiscriminator(4, 1, 28, d_width=32, view_width=0)


def test_config_view_width_reaches_the_task_and_the_stored_nets(tmp_path):
    from ganscope.config import resolve
    from ganscope.rundir import build_nets
    from ganscope.tasks import make_task

    base = {"data": {"name": "digits"}, "net": "dcgan", "rp": {"k": 3}}
    for view_width in (0, 6):
        cfg = resolve({**base, "rp": {"k": 3, "view_width": view_width}}, [])
        expected = view_width or equal_size_width(cfg.model.d_width, 1, 8)  # digits: 8×8 grey
        assert build_nets(cfg)[1].discs.d_width == expected
        assert make_task(cfg).disc.discs.d_width == expected
    with pytest.raises(UsageError, match="rp.view_width"):
        resolve(base, ["rp.view_width=-1"])


@pytest.mark.parametrize("fmt", ["auto", "nchw"])
def test_run_rp_discriminator_is_the_rp_discriminator_in_the_runs_memory_format(fmt):
    """The probe's and the runs' K-view discriminator: RPDiscriminator's values, laid out as model.memory_format."""
    from ganscope.config import resolve
    from ganscope.nets.rp import run_rp_discriminator

    cfg = resolve({"data": {"name": "digits"}, "net": "dcgan", "model": {"d_width": 8, "memory_format": fmt}}, [])
    torch.manual_seed(4)
    d = run_rp_discriminator(cfg, 3, 1, 28, seed=2, view_width=5)
    torch.manual_seed(4)
    ref = RPDiscriminator(3, 1, 28, d_width=8, seed=2, view_width=5)
    assert d.discs.d_width == 5 and d.projections.view_size == 8
    convs = [p for p in d.parameters() if p.dim() == 4]
    assert all(p.is_contiguous(memory_format=torch.channels_last) for p in convs) == (fmt == "auto")
    x = torch.randn(6, 1, 28, 28)
    torch.testing.assert_close(d(x), ref(x), **TIGHT)
