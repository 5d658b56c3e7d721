"""What the image and text tasks share: one model (no ensemble), one random stream, uniform draws of training
examples, and fixed evaluation latents.

On ``cfg.device`` the random stream is a generator there; training examples live there when they fit
(:meth:`SingleModelTask.resident`, up to ``DEVICE_DATA_BYTES``; a larger set stays in host memory and each
batch is copied over); evaluation latents and the diagnostic batch are drawn on the CPU (the same on every
device) and moved there."""
from __future__ import annotations

import torch

from ganscope.device import resolve as resolve_device
from ganscope.game import MemberValues
from ganscope.rng import Streams
from ganscope.tasks.toy2d import DIAGNOSTIC_SAMPLES, EVAL_SEED_OFFSET

DEVICE_DATA_BYTES = 4 << 30  # training examples up to 4 GiB live on an accelerator (Fashion-MNIST: 188 MB)


class SingleModelTask:
    size = 1
    centres = None
    member_values = MemberValues()

    def __init__(self, cfg):
        self.cfg = cfg
        self.device = resolve_device(cfg.device)
        self.streams = Streams([cfg.seed], members=False, device=self.device)
        self._diagnostic = None

    def resident(self, examples: torch.Tensor) -> torch.Tensor:
        """The training examples where batches are drawn from: on the run's device when they take at most
        ``DEVICE_DATA_BYTES``, else where they are (host memory)."""
        if examples.element_size() * examples.nelement() <= DEVICE_DATA_BYTES:
            return examples.to(self.device)
        return examples

    def draw(self, examples: torch.Tensor) -> torch.Tensor:
        """A batch of ``data.batch_size`` training examples drawn uniformly, with replacement, from the stream
        (the indices drawn on the stream's device), on the run's device."""
        g = self.streams.generators[0]
        pick = torch.randint(len(examples), (self.cfg.data.batch_size,), generator=g, device=g.device)
        return examples[pick.to(examples.device)].to(self.device, non_blocking=True)

    def latent(self, n=None) -> torch.Tensor:
        return self.streams.randn((n or self.cfg.data.batch_size, self.cfg.model.latent_dim))

    def eval_latents(self, n: int, seed_offset: int = EVAL_SEED_OFFSET) -> torch.Tensor:
        """Fixed latents for evaluation, apart from the training stream (the same at every call), drawn on the
        CPU and moved to the run's device."""
        gen = torch.Generator().manual_seed(self.cfg.seed + seed_offset)
        return torch.randn(n, self.cfg.model.latent_dim, generator=gen).to(self.device)

    def diagnostic_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(real, z): n = min(256, data.eval_samples, held-out size) fixed held-out examples (``heldout_examples``,
        picked by a generator seeded ``seed + EVAL_SEED_OFFSET``) and the first n evaluation latents; the same
        at every call, no training stream touched. Computed once."""
        if self._diagnostic is None:
            held = self.heldout_examples()
            n = min(DIAGNOSTIC_SAMPLES, self.cfg.data.eval_samples, len(held))
            pick = torch.randperm(len(held), generator=torch.Generator().manual_seed(self.cfg.seed + EVAL_SEED_OFFSET))
            z = self.eval_latents(self.cfg.data.eval_samples)[:n]
            self._diagnostic = (self.as_input(held[pick[:n]].to(self.device)), z)
        return self._diagnostic

    @staticmethod
    def as_input(examples: torch.Tensor) -> torch.Tensor:
        """Stored examples as the critic reads them (the text task one-hot encodes them)."""
        return examples

    @staticmethod
    def g_loss_total(g_loss):
        """One loss, or RP-GAN's K losses: the generator minimises their mean (Neyshabur et al. 2017, eq. 2)."""
        return g_loss.mean()
