"""What the image and text tasks share: one model (no ensemble), one random stream, uniform draws of training
examples, and fixed evaluation latents."""
from __future__ import annotations

import torch

from ganscope.game import MemberValues
from ganscope.rng import Streams
from ganscope.tasks.toy2d import DIAGNOSTIC_SAMPLES, EVAL_SEED_OFFSET


class SingleModelTask:
    size = 1
    centres = None
    member_values = MemberValues()

    def __init__(self, cfg):
        self.cfg = cfg
        self.streams = Streams([cfg.seed], members=False)
        self._diagnostic = None

    def draw(self, examples: torch.Tensor) -> torch.Tensor:
        """A batch of ``data.batch_size`` training examples drawn uniformly, with replacement, from the stream."""
        pick = torch.randint(len(examples), (self.cfg.data.batch_size,), generator=self.streams.generators[0])
        return examples[pick]

    def latent(self, n=None) -> torch.Tensor:
        return self.streams.randn((n or self.cfg.data.batch_size, self.cfg.model.latent_dim))

    def eval_latents(self, n: int, seed_offset: int = EVAL_SEED_OFFSET) -> torch.Tensor:
        """Fixed latents for evaluation, apart from the training stream (the same at every call)."""
        gen = torch.Generator().manual_seed(self.cfg.seed + seed_offset)
        return torch.randn(n, self.cfg.model.latent_dim, generator=gen)

    def diagnostic_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(real, z): n = min(256, data.eval_samples, held-out size) fixed held-out examples (``heldout_examples``,
        picked by a generator seeded ``seed + EVAL_SEED_OFFSET``) and the first n evaluation latents; the same
        at every call, no training stream touched. Computed once."""
        if self._diagnostic is None:
            held = self.heldout_examples()
            n = min(DIAGNOSTIC_SAMPLES, self.cfg.data.eval_samples, len(held))
            pick = torch.randperm(len(held), generator=torch.Generator().manual_seed(self.cfg.seed + EVAL_SEED_OFFSET))
            z = self.eval_latents(self.cfg.data.eval_samples)[:n]
            self._diagnostic = (self.as_input(held[pick[:n]]), z)
        return self._diagnostic

    @staticmethod
    def as_input(examples: torch.Tensor) -> torch.Tensor:
        """Stored examples as the critic reads them (the text task one-hot encodes them)."""
        return examples

    @staticmethod
    def g_loss_total(g_loss):
        """One loss, or RP-GAN's K losses: the generator minimises their mean (Neyshabur et al. 2017, eq. 2)."""
        return g_loss.mean()
