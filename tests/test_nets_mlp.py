"""MLP and EnsembleMLP (ganscope.nets.mlp): shapes, activations, and ensemble == members, exactly."""
import pytest
import torch
from torch import nn

from ganscope.errors import UsageError
from ganscope.nets.mlp import ACTIVATIONS, MLP, EnsembleMLP

E, B, IN, OUT = 3, 7, 2, 1


def make_members(depth=3, width=16, activation="relu", seed=0, n=E):
    torch.manual_seed(seed)
    return [MLP(IN, OUT, depth=depth, width=width, activation=activation) for _ in range(n)]


def n_params(in_dim, out_dim, depth, width):
    dims = [in_dim] + [width] * depth + [out_dim]
    return sum(i * o + o for i, o in zip(dims[:-1], dims[1:]))


@pytest.mark.parametrize("depth,width", [(0, 8), (1, 5), (3, 128), (12, 32)])
def test_mlp_layer_count_and_parameter_count(depth, width):
    mlp = MLP(IN, OUT, depth=depth, width=width)
    linears = [m for m in mlp.modules() if isinstance(m, nn.Linear)]
    assert len(linears) == depth + 1
    assert sum(p.numel() for p in mlp.parameters()) == n_params(IN, OUT, depth, width)
    ens = EnsembleMLP(E, IN, OUT, depth=depth, width=width)
    assert len(ens.weights) == len(ens.biases) == depth + 1
    assert sum(p.numel() for p in ens.parameters()) == E * n_params(IN, OUT, depth, width)


def test_default_shape_is_three_hidden_layers_of_128():
    mlp = MLP(IN, OUT)
    assert [tuple(l.weight.shape) for l in mlp.layers] == [(128, 2), (128, 128), (128, 128), (1, 128)]


def test_mlp_forward_shapes_on_leading_batch_axes():
    mlp = MLP(IN, 4, depth=2, width=8)
    assert mlp(torch.randn(5, IN)).shape == (5, 4)
    assert mlp(torch.randn(3, 5, IN)).shape == (3, 5, 4)
    out, hs = mlp.forward_with_activations(torch.randn(3, 5, IN))
    assert out.shape == (3, 5, 4) and [h.shape for h in hs] == [(3, 5, 8)] * 2


def test_ensemble_forward_shapes_and_input_check():
    ens = EnsembleMLP(E, IN, 4, depth=2, width=8)
    out, hs = ens.forward_with_activations(torch.randn(E, B, IN))
    assert out.shape == (E, B, 4) and [h.shape for h in hs] == [(E, B, 8)] * 2
    with pytest.raises(ValueError, match="EnsembleMLP expects input"):
        ens(torch.randn(E + 1, B, IN))
    with pytest.raises(ValueError, match="EnsembleMLP expects input"):
        ens(torch.randn(B, IN))


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_activation_registry_applies_the_named_function(activation):
    torch.manual_seed(1)
    mlp = MLP(IN, OUT, depth=1, width=6, activation=activation)
    x = torch.randn(B, IN)
    pre = mlp.layers[0](x)
    expected = {"relu": torch.relu(pre), "leaky_relu": torch.where(pre > 0, pre, 0.2 * pre),
                "tanh": torch.tanh(pre), "softplus": torch.log1p(torch.exp(pre))}[activation]
    torch.testing.assert_close(mlp.activations(x)[0], expected, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("cls_args", [(MLP, (IN, OUT)), (EnsembleMLP, (E, IN, OUT))])
def test_unknown_activation_is_a_usage_error(cls_args):
    cls, args = cls_args
    with pytest.raises(UsageError, match=r"model\.activation.*'gelu'.*leaky_relu, relu, softplus, tanh"):
        cls(*args, activation="gelu")


@pytest.mark.parametrize("field,kwargs", [("depth", {"depth": -1}), ("width", {"width": 0}),
                                          ("width", {"width": 2.5})])
def test_bad_depth_or_width_is_a_usage_error(field, kwargs):
    with pytest.raises(UsageError, match=rf"model\.{field}"):
        MLP(IN, OUT, **kwargs)


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_from_members_forward_equals_each_member(activation):
    members = make_members(activation=activation)
    ens = EnsembleMLP.from_members(members)
    x = torch.randn(E, B, IN)
    out = ens(x)
    for e, m in enumerate(members):
        torch.testing.assert_close(out[e], m(x[e]), rtol=0, atol=1e-6)
    assert not torch.allclose(out[0], members[1](x[0]), atol=1e-3)  # the members do differ


def test_member_round_trip_is_bit_exact_and_a_copy():
    members = make_members()
    ens = EnsembleMLP.from_members(members)
    for e in (0, 1, -1):
        back = ens.member(e)
        original = members[e]
        assert type(back) is MLP and back.extra_repr() == original.extra_repr()
        for p, q in zip(back.parameters(), original.parameters(), strict=True):
            assert torch.equal(p, q)
    with torch.no_grad():
        ens.member(0).layers[0].weight.add_(1.0)
    assert torch.equal(ens.member(0).layers[0].weight, members[0].layers[0].weight)
    with pytest.raises(IndexError):
        ens.member(E)


def test_from_members_copies_and_member_draws_no_randomness():
    members = make_members()
    ens = EnsembleMLP.from_members(members)
    with torch.no_grad():
        members[0].layers[0].weight.add_(1.0)
    assert not torch.equal(ens.member(0).layers[0].weight, members[0].layers[0].weight)
    state = torch.get_rng_state()
    EnsembleMLP.from_members(members).member(1)
    assert torch.equal(torch.get_rng_state(), state)


def test_from_members_rejects_mixed_shapes():
    with pytest.raises(ValueError, match="one shape"):
        EnsembleMLP.from_members([MLP(IN, OUT, width=8), MLP(IN, OUT, width=9)])


def test_ensemble_init_equals_members_built_under_the_same_seed():
    members = make_members(seed=3)
    torch.manual_seed(3)
    ens = EnsembleMLP(E, IN, OUT, depth=3, width=16)
    for e, m in enumerate(members):
        for p, q in zip(ens.member(e).parameters(), m.parameters(), strict=True):
            assert torch.equal(p, q)


def test_ensemble_gradients_equal_member_gradients():
    members = make_members()
    ens = EnsembleMLP.from_members(members)
    x = torch.randn(E, B, IN)
    ens(x).pow(2).sum().backward()
    for e, m in enumerate(members):
        m(x[e]).pow(2).sum().backward()
        for k, layer in enumerate(m.layers):
            torch.testing.assert_close(ens.weights[k].grad[e], layer.weight.grad.T, rtol=1e-5, atol=1e-6)
            torch.testing.assert_close(ens.biases[k].grad[e], layer.bias.grad, rtol=1e-5, atol=1e-6)
        assert layer.weight.grad.abs().max() > 1e-3  # non-trivial gradients


def test_ensemble_input_gradients_support_double_backward():
    """A gradient penalty on the ensemble (input gradient, then backward) matches the members'."""
    members = make_members(activation="softplus")
    ens = EnsembleMLP.from_members(members)
    x = torch.randn(E, B, IN, requires_grad=True)
    (gx,) = torch.autograd.grad(ens(x).sum(), x, create_graph=True)
    gx.pow(2).sum().backward()
    for e, m in enumerate(members):
        xe = x[e].detach().requires_grad_(True)
        (ge,) = torch.autograd.grad(m(xe).sum(), xe, create_graph=True)
        torch.testing.assert_close(gx[e], ge, rtol=1e-5, atol=1e-6)
        ge.pow(2).sum().backward()
        torch.testing.assert_close(ens.weights[0].grad[e], m.layers[0].weight.grad.T, rtol=1e-5, atol=1e-6)


def test_adam_on_ensemble_equals_adam_on_each_member():
    members = make_members()
    ens = EnsembleMLP.from_members(members)
    torch.manual_seed(5)
    xs = [torch.randn(E, B, IN) for _ in range(5)]
    ys = [torch.randn(E, B, OUT) for _ in range(5)]
    opt = torch.optim.Adam(ens.parameters(), lr=1e-2, betas=(0.5, 0.9))
    for x, y in zip(xs, ys):
        opt.zero_grad()
        (ens(x) - y).pow(2).mean(dim=(1, 2)).sum().backward()  # sum of the members' losses
        opt.step()
    for e, m in enumerate(members):
        opt_e = torch.optim.Adam(m.parameters(), lr=1e-2, betas=(0.5, 0.9))
        start = [p.detach().clone() for p in m.parameters()]
        for x, y in zip(xs, ys):
            opt_e.zero_grad()
            (m(x[e]) - y[e]).pow(2).mean().backward()
            opt_e.step()
        moved = ens.member(e)
        for p, q, p0 in zip(moved.parameters(), m.parameters(), start, strict=True):
            torch.testing.assert_close(p, q, rtol=1e-6, atol=1e-6)
            assert (q - p0).abs().max() > 1e-4  # the optimizer really moved them (lr 1e-2, 5 steps)


@pytest.mark.parametrize("depth", [1, 3, 12])
def test_mlp_activations_feed_the_output(depth):
    torch.manual_seed(2)
    mlp = MLP(IN, OUT, depth=depth, width=16)
    x = torch.randn(B, IN)
    out, hs = mlp.forward_with_activations(x)
    assert len(hs) == depth == len(mlp.activations(x))
    torch.testing.assert_close(mlp.layers[-1](hs[-1]), mlp(x), rtol=0, atol=1e-6)
    torch.testing.assert_close(out, mlp(x), rtol=0, atol=0)
    grads = torch.autograd.grad(out.sum(), hs)
    assert [g.shape for g in grads] == [(B, 16)] * depth
    # d(sum out)/d h_depth = column sums of the last weight, the same for every sample
    torch.testing.assert_close(grads[-1], mlp.layers[-1].weight.sum(0).expand(B, -1), rtol=1e-6, atol=1e-7)


def test_mlp_activations_support_retain_grad():
    torch.manual_seed(2)
    mlp = MLP(IN, OUT, depth=2, width=16)
    out, hs = mlp.forward_with_activations(torch.randn(B, IN))
    for h in hs:
        h.retain_grad()
    out.sum().backward()
    g1, g2 = hs[0].grad, hs[1].grad
    assert g1.shape == g2.shape == (B, 16)
    torch.testing.assert_close(g2, mlp.layers[-1].weight.sum(0).expand(B, -1), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("depth", [1, 4])
def test_ensemble_activations_feed_the_output_and_match_members(depth):
    members = make_members(depth=depth)
    ens = EnsembleMLP.from_members(members)
    x = torch.randn(E, B, IN)
    out, hs = ens.forward_with_activations(x)
    assert len(hs) == depth == len(ens.activations(x))
    torch.testing.assert_close(ens.affine(depth, hs[-1]), ens(x), rtol=0, atol=1e-6)
    grads = torch.autograd.grad(out.sum(), hs)
    assert [g.shape for g in grads] == [(E, B, 16)] * depth
    for e, m in enumerate(members):
        out_e, hs_e = m.forward_with_activations(x[e])
        grads_e = torch.autograd.grad(out_e.sum(), hs_e)
        for h, he, g, ge in zip(hs, hs_e, grads, grads_e, strict=True):
            torch.testing.assert_close(h[e], he, rtol=0, atol=1e-6)
            torch.testing.assert_close(g[e], ge, rtol=1e-5, atol=1e-6)
