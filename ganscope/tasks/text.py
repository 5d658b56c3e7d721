"""The text task (ganscope.tasks protocol): WGAN-GP's character-level language model (Gulrajani et al. 2017,
§5.5, ``gan_language.py``; docs/references.md §G4), one generator against one critic.

Real batches are one-hot ``(B, V, L)`` lines drawn uniformly from the training split with the run's stream;
the generator emits a softmax per position of the same shape, which the critic reads directly
(``event_dims = 2``). Evaluation decodes ``data.eval_samples`` sequences from fixed latents (argmax per
position) and logs ``jsd1`` … ``jsd4``: the JS divergence (nats) between their character n-gram statistics and
those of the held-out lines (``ganscope.metrics.ngram``). Samples through training go to
``plots/samples.txt`` and ``plots/samples.png``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ganscope.data.text import load_text, one_hot
from ganscope.metrics.ngram import ORDERS, ngram_counts, ngram_jsds
from ganscope.nets.charcnn import make_char_nets
from ganscope.tasks.kinds import TextKind
from ganscope.tasks.single import SingleModelTask
from ganscope.tasks.toy2d import EVAL_SEED_OFFSET


class TextTask(TextKind, SingleModelTask):
    event_dims = 2
    progress_key = "jsd4"
    snapshot_samples = 32

    def __init__(self, cfg):
        super().__init__(cfg)
        m = cfg.model
        self.data = load_text(cfg.data.name, cfg.data.seq_len, cfg.data.vocab)
        self.vocab = self.data.vocab
        self.train_ids = self.resident(self.data.train)  # the training lines, on the device when they fit
        torch.manual_seed(cfg.seed)
        gen, disc = make_char_nets(len(self.vocab), cfg.data.seq_len, m.latent_dim, m.g_width, m.d_width,
                                   m.g_depth, m.d_depth)  # initialised on the CPU: the same weights everywhere
        self.gen, self.disc = gen.to(self.device), disc.to(self.device)
        self._reference = None

    def real(self) -> torch.Tensor:
        """(B, V, L) one-hot lines drawn uniformly (with replacement) from the training split."""
        return self.as_input(self.draw(self.train_ids))

    def as_input(self, ids: torch.Tensor) -> torch.Tensor:
        """(N, L) symbol indices -> the (N, V, L) one-hot lines the critic reads."""
        return one_hot(ids, len(self.vocab))

    def heldout_examples(self) -> torch.Tensor:
        """The held-out lines (M, L): what the diagnostic batch is drawn from."""
        return self.data.heldout

    # ---- evaluation ----------------------------------------------------------------------------------
    @torch.no_grad()
    def generate(self, gen, n: int, batch: int = 500) -> torch.Tensor:
        """(n, L) symbol indices on the CPU, argmax per position, from fixed latents (the same at every call)."""
        z = self.eval_latents(n)
        return torch.cat([gen(chunk).argmax(dim=1) for chunk in z.split(batch)]).cpu()

    def samples(self, gen, n=None) -> np.ndarray:
        return self.generate(gen, n or self.snapshot_samples).numpy()

    def reference_counts(self) -> dict:
        """n-gram counts of the held-out lines, n = 1..4 (computed once)."""
        if self._reference is None:
            held = self.vocab.segments(self.data.heldout)
            self._reference = {n: ngram_counts(held, n) for n in ORDERS}
        return self._reference

    def jsds(self, ids) -> dict[str, float]:
        """jsd1..jsd4 of the sequences ``ids`` (N, L) against the held-out lines."""
        return ngram_jsds(self.vocab.segments(ids), None, reference_counts=self.reference_counts())

    def evaluate(self, gen) -> list[dict]:
        return [self.jsds(self.generate(gen, self.cfg.data.eval_samples))]

    def floor(self) -> dict[str, float]:
        """The JSDs of ``data.eval_samples`` training lines (a perfect generator) at this sample size."""
        g = torch.Generator().manual_seed(self.cfg.seed + EVAL_SEED_OFFSET)
        pick = torch.randperm(len(self.data.train), generator=g)[: self.cfg.data.eval_samples]
        return self.jsds(self.data.train[pick])

    def plot_samples(self, snapshots: dict[int, np.ndarray], path, member=0):
        """The decoded snapshots: ``path`` with suffix .txt (all of them) and ``path`` (a figure)."""
        from ganscope import plots
        from ganscope.io import write_text

        texts = {step: self.vocab.decode(ids) for step, ids in sorted(snapshots.items())}
        path = Path(path)
        write_text(path.with_suffix(".txt"), "".join(f"== generator step {step}\n" + "".join(
            f"{line}\n" for line in lines) + "\n" for step, lines in texts.items()))
        return plots.save(plots.text_snapshots(texts, self.cfg.data.name), path)
