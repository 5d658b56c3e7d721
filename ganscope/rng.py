"""Random streams: one ``torch.Generator`` per ensemble member, so that member i of an ensemble draws exactly
what the single run with seed i draws, whatever the ensemble size.

``Streams.randn(shape)`` / ``rand(shape)`` draw a tensor whose leading axis is the member axis (one draw per
member from its own generator) when ``members`` is true, or from the single generator otherwise. Penalties
and instance noise accept a ``Streams`` wherever they take a ``generator``.
"""
from __future__ import annotations

import math

import torch


class Streams:
    """Per-member random generators; their states are part of every checkpoint (the data stream position)."""

    def __init__(self, seeds, members: bool = True, device="cpu", dtype=torch.float32):
        self.seeds = [int(s) for s in seeds]
        self.generators = [torch.Generator(device).manual_seed(s) for s in self.seeds]
        self.members, self.device, self.dtype = members, torch.device(device), dtype
        if not members and len(self.generators) != 1:
            raise ValueError("a single model has one random stream")

    def _draw(self, fn, shape, dtype=None):
        """One draw of ``shape``; with members, member i's slice from generator i (one member: one draw of the
        whole shape, the same numbers as its slice's draw stacked)."""
        dtype = dtype or self.dtype
        if not self.members or len(self.generators) == 1:
            if self.members and shape[0] != 1:
                raise ValueError(f"leading axis {shape[0]} is not the number of members 1")
            return fn(*shape, generator=self.generators[0], device=self.device, dtype=dtype)
        if shape[0] != len(self.generators):
            raise ValueError(f"leading axis {shape[0]} is not the number of members {len(self.generators)}")
        return torch.stack([fn(*shape[1:], generator=g, device=self.device, dtype=dtype) for g in self.generators])

    def randn(self, shape, dtype=None) -> torch.Tensor:
        return self._draw(torch.randn, tuple(shape), dtype)

    def rand(self, shape, dtype=None) -> torch.Tensor:
        return self._draw(torch.rand, tuple(shape), dtype)

    def for_rank(self, rank: int) -> Streams:
        """Reseed these streams, in place, as data-parallel rank ``rank`` draws them (``rank_seed`` of each seed;
        rank 0 keeps its seeds); call it before the first draw. Returns ``self``."""
        self.seeds = [rank_seed(s, rank) for s in self.seeds]
        for g, s in zip(self.generators, self.seeds):
            g.manual_seed(s)
        return self

    def state(self) -> list[torch.Tensor]:
        return [g.get_state() for g in self.generators]

    def load_state(self, states):
        if len(states) != len(self.generators):
            raise ValueError(f"checkpoint holds {len(states)} random streams, the run has {len(self.generators)}")
        for g, s in zip(self.generators, states):
            g.set_state(s)

    def restart(self, step: int):
        """Reseed stream i with ``restart_seed(seeds[i], step)``. A generator's state is specific to its device
        type (a CUDA state is a seed and an offset, a CPU state the Mersenne Twister's), so a checkpoint taken on
        one device type resumes on another with restarted streams: reproducible, not the uninterrupted run."""
        for g, s in zip(self.generators, self.seeds):
            g.manual_seed(restart_seed(s, step))


def restart_seed(seed: int, step: int) -> int:
    """The seed of a stream restarted at generator step ``step`` (:meth:`Streams.restart`), below 2⁶³."""
    return (int(seed) * 1_000_003 + 7_919 * (int(step) + 1)) % (2 ** 63)


def rank_seed(seed: int, rank: int) -> int:
    """The seed of data-parallel rank ``rank``'s copy of a stream seeded ``seed``: ``seed`` itself on rank 0 (rank 0
    draws what a single process draws), else 63 bits of ``numpy.random.SeedSequence((seed, rank))``, a hash, so
    that ranks never share a stream with each other nor with the ``seed + i`` streams of ensemble members and
    evaluation (a collision has probability ~2⁻⁶³)."""
    if rank == 0:
        return int(seed)
    import numpy as np

    hi, lo = np.random.SeedSequence((int(seed), int(rank))).generate_state(2, np.uint32)
    return (int(hi) << 31) ^ int(lo)


class Given:
    """Fixed draws in place of a generator: each ``draw`` request takes the next of ``draws``, reshaped to the
    requested shape (same number of elements), in the dtype and device of the request. For a deterministic
    field on fixed draws (``ganscope.analysis.spectrum``) or quadrature nodes in place of random noise."""

    def __init__(self, *draws: torch.Tensor):
        self.draws = list(draws)

    def take(self, shape, like: torch.Tensor) -> torch.Tensor:
        if not self.draws or self.draws[0] is None:
            raise ValueError(f"no given draw left for a draw of shape {tuple(shape)}")
        x = self.draws.pop(0)
        if x.numel() != math.prod(shape):
            raise ValueError(f"a given draw of shape {tuple(x.shape)} cannot fill a draw of shape {tuple(shape)}")
        return x.reshape(shape).to(like)


def draw(kind: str, shape, generator, like: torch.Tensor) -> torch.Tensor:
    """``torch.rand``/``torch.randn`` of ``shape`` from a ``torch.Generator``, a ``Streams``, ``Given`` draws or
    None (the global RNG)."""
    if isinstance(generator, Given):
        return generator.take(shape, like)
    if isinstance(generator, Streams):
        return getattr(generator, kind)(shape, dtype=like.dtype)
    fn = torch.rand if kind == "rand" else torch.randn
    return fn(*shape, generator=generator, device=like.device, dtype=like.dtype)
