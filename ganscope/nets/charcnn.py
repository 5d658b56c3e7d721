"""The character-level convolutional nets of WGAN-GP's language model (Gulrajani et al. 2017, §5.5 and
``gan_language.py``; docs/references.md §G4).

A sequence is a ``(B, V, L)`` tensor: for each of the ``L`` positions a vector on the probability simplex over
the ``V`` symbols (channels first, as ``conv1d`` wants). Real text is one-hot; the generator emits a softmax
per position, so the critic reads probability vectors and no gradient has to pass through sampling.

* ``ResBlock``: ``x + 0.3·conv₅(relu(conv₅(relu(x))))``, two kernel-5 convolutions (padding 2, length kept),
  ``width`` channels, residual scale 0.3, no normalisation.
* ``CharGenerator``: z ``(B, latent_dim)`` → Linear → ``(B, width, L)`` → ``depth`` ResBlocks → 1×1 conv to V →
  softmax over V → ``(B, V, L)``.
* ``CharCritic`` (the mirror): ``(B, V, L)`` → 1×1 conv to ``width`` → ``depth`` ResBlocks → flatten → Linear →
  a logit ``(B,)``, high on real text.

The paper: ``width`` 512, 5 blocks, latent 128, L 32. PyTorch's default initialisation.
"""
from __future__ import annotations

import torch
from torch import nn

from ganscope.errors import UsageError

RESIDUAL_SCALE = 0.3  # gan_language.py: inputs + 0.3·output
KERNEL = 5


def _check(field: str, value, least: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise UsageError(f"{field}: must be an integer >= {least}, got {value!r}")


class ResBlock(nn.Module):
    """x + 0.3·conv₅(relu(conv₅(relu(x)))) on ``(B, width, L)``."""

    def __init__(self, width: int):
        super().__init__()
        self.conv1 = nn.Conv1d(width, width, KERNEL, padding=KERNEL // 2)
        self.conv2 = nn.Conv1d(width, width, KERNEL, padding=KERNEL // 2)

    def forward(self, x):
        return x + RESIDUAL_SCALE * self.conv2(torch.relu(self.conv1(torch.relu(x))))


class CharGenerator(nn.Module):
    """z ``(B, latent_dim)`` → per-position softmax over the vocabulary ``(B, V, L)``."""

    def __init__(self, latent_dim: int, vocab: int, seq_len: int, width: int = 512, depth: int = 5):
        super().__init__()
        for field, value, least in (("model.latent_dim", latent_dim, 1), ("data.vocab", vocab, 2),
                                    ("data.seq_len", seq_len, 1), ("model.g_width", width, 1),
                                    ("model.g_depth", depth, 0)):
            _check(field, value, least)
        self.width, self.seq_len = width, seq_len
        self.input = nn.Linear(latent_dim, width * seq_len)
        self.blocks = nn.Sequential(*[ResBlock(width) for _ in range(depth)])
        self.output = nn.Conv1d(width, vocab, 1)

    def logits(self, z):
        """The pre-softmax scores ``(B, V, L)``."""
        h = self.input(z).view(-1, self.width, self.seq_len)
        return self.output(self.blocks(h))

    def forward(self, z):
        return torch.softmax(self.logits(z), dim=1)


class CharCritic(nn.Module):
    """``(B, V, L)`` sequences of simplex vectors → a logit ``(B,)``."""

    def __init__(self, vocab: int, seq_len: int, width: int = 512, depth: int = 5):
        super().__init__()
        for field, value, least in (("data.vocab", vocab, 2), ("data.seq_len", seq_len, 1),
                                    ("model.d_width", width, 1), ("model.d_depth", depth, 0)):
            _check(field, value, least)
        self.vocab, self.seq_len = vocab, seq_len
        self.input = nn.Conv1d(vocab, width, 1)
        self.blocks = nn.Sequential(*[ResBlock(width) for _ in range(depth)])
        self.output = nn.Linear(width * seq_len, 1)

    def forward(self, x):
        if x.ndim != 3 or x.shape[1:] != (self.vocab, self.seq_len):
            raise ValueError(f"critic input: expected (B, {self.vocab}, {self.seq_len}), got {tuple(x.shape)}")
        return self.output(self.blocks(self.input(x)).flatten(1)).squeeze(-1)


def make_char_nets(vocab: int, seq_len: int, latent_dim: int, g_width: int, d_width: int,
                   g_depth: int = 5, d_depth: int = 5) -> tuple[CharGenerator, CharCritic]:
    """The generator and its mirrored critic (built from the global RNG: seed before calling)."""
    return (CharGenerator(latent_dim, vocab, seq_len, g_width, g_depth),
            CharCritic(vocab, seq_len, d_width, d_depth))
