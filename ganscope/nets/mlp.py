"""Fully connected networks for the 2-D toy problems, alone or as a batched ensemble.

``MLP(in_dim, out_dim, depth, width)`` has ``depth`` hidden layers of ``width`` units, i.e. ``depth + 1``
affine maps, with an activation after every hidden one:

    h_0 = x,   h_k = a(W_k h_{k-1} + b_k)  (k = 1..depth),   out = W_{depth+1} h_depth + b_{depth+1}.

WGAN-GP's toy nets are ``depth=3, width=512, "relu"`` (docs/references.md §G4); its Figure 1b critic is a 12-layer
ReLU MLP without BatchNorm, whose gradient norms w.r.t. each ``h_k`` come from ``forward_with_activations``.
Weights use PyTorch's default ``nn.Linear`` initialisation, drawn from the global RNG (seed before building).

``EnsembleMLP`` evaluates E independent MLPs of one shape as a single model with stacked parameters
(weight ``(E, in, out)``, bias ``(E, out)``) and ``torch.baddbmm``: member e computes exactly the MLP above
with ``W_k = weights[k][e].T``. The loss of the ensemble being the sum of the members' losses, each member's
slice of the gradient is that member's own gradient, so any elementwise optimizer (SGD, Adam, RMSProp) on
the ensemble runs each member's optimizer in lockstep.
"""
from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch import nn

from ganscope.errors import UsageError

ACTIVATIONS = {
    "relu": F.relu,
    "leaky_relu": functools.partial(F.leaky_relu, negative_slope=0.2),
    "tanh": torch.tanh,
    "softplus": F.softplus,
}


def get_activation(name: str):
    """The activation function registered as ``name``; UsageError naming ``model.activation`` otherwise."""
    if name not in ACTIVATIONS:
        allowed = ", ".join(sorted(ACTIVATIONS))
        raise UsageError(f"model.activation: unknown activation {name!r}; allowed: {allowed}")
    return ACTIVATIONS[name]


def _check_shape(in_dim: int, out_dim: int, depth: int, width: int, activation: str) -> None:
    for field, value, least in (("in_dim", in_dim, 1), ("out_dim", out_dim, 1),
                                ("depth", depth, 0), ("width", width, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise UsageError(f"model.{field}: must be an integer >= {least}, got {value!r}")
    get_activation(activation)


def _layer_dims(in_dim: int, out_dim: int, depth: int, width: int) -> list[tuple[int, int]]:
    """(fan_in, fan_out) of each of the depth + 1 affine maps."""
    dims = [in_dim] + [width] * depth + [out_dim]
    return list(zip(dims[:-1], dims[1:]))


class MLP(nn.Module):
    """``depth`` hidden layers of ``width`` units with ``activation``, then a linear output layer.

    ``layers`` is the ``nn.ModuleList`` of the ``depth + 1`` ``nn.Linear`` maps. Maps ``(..., in_dim)``
    to ``(..., out_dim)``.
    """

    def __init__(self, in_dim: int, out_dim: int, depth: int = 3, width: int = 128,
                 activation: str = "relu", *, device=None, dtype=None):
        super().__init__()
        _check_shape(in_dim, out_dim, depth, width, activation)
        self.in_dim, self.out_dim, self.depth, self.width = in_dim, out_dim, depth, width
        self.activation = activation
        self.layers = nn.ModuleList(nn.Linear(i, o, device=device, dtype=dtype)
                                    for i, o in _layer_dims(in_dim, out_dim, depth, width))

    def forward_with_activations(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """``(out, [h_1, ..., h_depth])`` from one pass; each ``h_k`` is the tensor that feeds layer k + 1,
        so ``torch.autograd.grad(out.sum(), hs)`` or ``h.retain_grad()`` gives ∂out/∂h_k."""
        act = get_activation(self.activation)
        hs = []
        h = x
        for layer in self.layers[:-1]:
            h = act(layer(h))
            hs.append(h)
        return self.layers[-1](h), hs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_with_activations(x)[0]

    def activations(self, x: torch.Tensor) -> list[torch.Tensor]:
        """``[h_1, ..., h_depth]``, the post-activation output of every hidden layer (see above)."""
        return self.forward_with_activations(x)[1]

    def extra_repr(self) -> str:
        return f"depth={self.depth}, width={self.width}, activation={self.activation!r}"


class EnsembleMLP(nn.Module):
    """E independent MLPs of one shape, evaluated together: ``(E, B, in_dim) -> (E, B, out_dim)``.

    ``weights[k]`` has shape ``(E, fan_in, fan_out)`` and ``biases[k]`` shape ``(E, fan_out)``; member e's
    k-th layer is ``h @ weights[k][e] + biases[k][e]``, computed for all members by one ``torch.baddbmm``.
    ``EnsembleMLP(E, ...)`` initialises member after member exactly as ``[MLP(...) for _ in range(E)]`` would
    under the same seed.
    """

    def __init__(self, n_members: int, in_dim: int, out_dim: int, depth: int = 3, width: int = 128,
                 activation: str = "relu", *, device=None, dtype=None, init: bool = True):
        super().__init__()
        if isinstance(n_members, bool) or not isinstance(n_members, int) or n_members < 1:
            raise UsageError(f"model.n_members: must be an integer >= 1, got {n_members!r}")
        _check_shape(in_dim, out_dim, depth, width, activation)
        self.n_members = n_members
        self.in_dim, self.out_dim, self.depth, self.width = in_dim, out_dim, depth, width
        self.activation = activation
        dims = _layer_dims(in_dim, out_dim, depth, width)
        kw = {"device": device, "dtype": dtype}
        self.weights = nn.ParameterList(nn.Parameter(torch.empty(n_members, i, o, **kw)) for i, o in dims)
        self.biases = nn.ParameterList(nn.Parameter(torch.empty(n_members, o, **kw)) for _, o in dims)
        if init:
            self.reset_parameters()

    def _member_args(self) -> tuple:
        return self.in_dim, self.out_dim, self.depth, self.width, self.activation

    def reset_parameters(self) -> None:
        """Fresh default ``nn.Linear`` initialisation, member after member (draws from the global RNG)."""
        w = self.weights[0]
        self._load([MLP(*self._member_args(), device=w.device, dtype=w.dtype) for _ in range(self.n_members)])

    @torch.no_grad()
    def _load(self, members: list[MLP]) -> None:
        for k in range(self.depth + 1):
            self.weights[k].copy_(torch.stack([m.layers[k].weight.T for m in members]))
            self.biases[k].copy_(torch.stack([m.layers[k].bias for m in members]))

    @classmethod
    def from_members(cls, members: list[MLP]) -> "EnsembleMLP":
        """An ensemble whose member e has exactly ``members[e]``'s parameters (copied; same device and dtype)."""
        members = list(members)
        if not members or not all(isinstance(m, MLP) for m in members):
            raise ValueError("from_members needs a non-empty list of MLPs")
        args = (members[0].in_dim, members[0].out_dim, members[0].depth, members[0].width, members[0].activation)
        if any((m.in_dim, m.out_dim, m.depth, m.width, m.activation) != args for m in members):
            raise ValueError("from_members needs MLPs of one shape (in_dim, out_dim, depth, width, activation)")
        w = members[0].layers[0].weight
        ens = cls(len(members), *args, device=w.device, dtype=w.dtype, init=False)  # no RNG draws
        ens._load(members)
        return ens

    @torch.no_grad()
    def member(self, i: int) -> MLP:
        """A standalone MLP holding a copy of member ``i``'s parameters (negative ``i`` counts from the end)."""
        if not -self.n_members <= i < self.n_members:
            raise IndexError(f"member index {i} out of range for {self.n_members} members")
        w = self.weights[0]
        mlp = MLP(*self._member_args(), device="meta", dtype=w.dtype).to_empty(device=w.device)
        for k, layer in enumerate(mlp.layers):
            layer.weight.copy_(self.weights[k][i].T)
            layer.bias.copy_(self.biases[k][i])
        return mlp

    narrow = 0  # > 0: maps with fan_in or fan_out <= narrow as sums of products (see affine)

    def affine(self, k: int, h: torch.Tensor) -> torch.Tensor:
        """The k-th affine map of every member: ``h[e] @ weights[k][e] + biases[k][e]``, (E, B, ·) -> (E, B, ·).

        One ``torch.baddbmm``; with ``narrow`` = n > 0, a map with at most n inputs or n outputs (the 2-D nets'
        first and last layers) is written as sums of broadcast products instead, the same numbers to float
        rounding: torch.compile fuses those with the activation and the bias, while a batched matmul of such a
        shape runs far below the matmul rate (``ganscope.func_step`` sets it on the nets it compiles)."""
        w, b = self.weights[k], self.biases[k].unsqueeze(1)
        if self.narrow and w.shape[2] <= self.narrow:  # (E, B, i, 1) * (E, 1, i, o) summed over i
            return (h.unsqueeze(-1) * w.unsqueeze(1)).sum(-2) + b
        if self.narrow and w.shape[1] <= self.narrow:
            return sum((h[..., i:i + 1] * w[:, i:i + 1] for i in range(w.shape[1])), b)
        return torch.baddbmm(b, h, w)

    def forward_with_activations(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """``(out, [h_1, ..., h_depth])`` with ``out`` (E, B, out_dim) and each ``h_k`` (E, B, width), the
        tensors in the graph of ``out`` (usable with ``torch.autograd.grad`` or ``retain_grad``)."""
        if x.dim() != 3 or x.shape[0] != self.n_members or x.shape[2] != self.in_dim:
            raise ValueError(f"EnsembleMLP expects input (E={self.n_members}, B, in_dim={self.in_dim}), "
                             f"got {tuple(x.shape)}")
        act = get_activation(self.activation)
        hs = []
        h = x
        for k in range(self.depth):
            h = act(self.affine(k, h))
            hs.append(h)
        return self.affine(self.depth, h), hs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_with_activations(x)[0]

    def activations(self, x: torch.Tensor) -> list[torch.Tensor]:
        """``[h_1, ..., h_depth]``, each (E, B, width)."""
        return self.forward_with_activations(x)[1]

    def extra_repr(self) -> str:
        return (f"n_members={self.n_members}, in_dim={self.in_dim}, out_dim={self.out_dim}, "
                f"depth={self.depth}, width={self.width}, activation={self.activation!r}")


class Logit(nn.Module):
    """A critic head: (..., 1) -> (...), the logit of each input."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x):
        return self.net(x).squeeze(-1)
