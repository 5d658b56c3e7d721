"""The image task (ganscope.tasks protocol): one generator against one discriminator, or against the K
random-projection discriminators of RP-GAN (Neyshabur et al. 2017) when ``rp.k > 1``.

Real batches are drawn uniformly from the training split with the run's stream (optionally dequantised
as GAN_stability does); evaluation compares ``data.eval_samples`` images from fixed latents with the
reference set (``metrics.reference``, default the data set's test split) by FID, KID and PRDC.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import torch

from ganscope.data.images import dequantize, load_images, parse_data_spec
from ganscope.nets.conv import channels_last, in_memory_format
from ganscope.nets.rp import run_image_nets
from ganscope.tasks.kinds import ImageKind
from ganscope.tasks.single import SingleModelTask
from ganscope.tasks.toy2d import EVAL_SEED_OFFSET


METRICS = ("fid", "kid", "kid_std", "precision", "recall", "density", "coverage")


class ImageTask(ImageKind, SingleModelTask):
    event_dims = 3
    progress_key = "fid"
    snapshot_samples = 64
    metrics_info: dict | None = None  # extractor, its digest, sample count and reference set of the metrics

    def __init__(self, cfg):
        super().__init__(cfg)
        self.data = load_images(cfg.data.name, split="train", image_size=cfg.data.image_size or None,
                                skip_bad=cfg.data.skip_bad)
        last = channels_last(cfg.model.memory_format)  # the batches in the nets' layout, converted once
        self.data = dataclasses.replace(self.data, x=in_memory_format(self.data.x, last))
        self.examples = self.resident(self.data.x)  # the training split, on the device when it fits
        channels, size = self.data.x.shape[1], self.data.x.shape[-1]
        torch.manual_seed(cfg.seed)
        gen, disc = run_image_nets(cfg, size, channels)  # initialised on the CPU: the same weights everywhere
        self.gen, self.disc = gen.to(self.device), disc.to(self.device)

    @property
    def reference(self) -> str:
        """The reference set of the metrics: ``metrics.reference`` or the data set's test split."""
        if self.cfg.metrics.reference:
            return self.cfg.metrics.reference
        name, _ = parse_data_spec(self.cfg.data.name)
        return name if name.startswith("folder:") else f"{name}:test"

    def heldout_examples(self) -> torch.Tensor:
        """The images of the diagnostic batch are drawn from: the data set's test split at the training size
        (a ``folder:`` source has no split: its own images)."""
        name, split = parse_data_spec(self.cfg.data.name)
        if name.startswith("folder:"):
            return self.data.x
        return load_images(name, split="test", image_size=self.data.x.shape[-1]).x

    def real(self) -> torch.Tensor:
        x = self.draw(self.examples)
        return dequantize(x, self.streams.generators[0]) if self.cfg.data.dequantize else x

    # ---- evaluation ----------------------------------------------------------------------------------
    @torch.no_grad()
    def generate(self, gen, n: int, seed_offset: int = EVAL_SEED_OFFSET, batch: int = 500) -> torch.Tensor:
        """n images from fixed latents (the same at every call), the generator in eval mode (BatchNorm stats),
        on the run's device."""
        from ganscope.rundir import generate

        return generate(gen, self.eval_latents(n, seed_offset), batch)

    def samples(self, gen, n=None) -> np.ndarray:
        return self.generate(gen, n or self.snapshot_samples).cpu().numpy()

    def evaluate(self, gen) -> list[dict]:
        from ganscope.metrics.images import compare

        fake = self.generate(gen, self.cfg.data.eval_samples)
        result = compare(fake, self.reference, extractor=self.cfg.metrics.extractor, device=self.device)
        self.metrics_info = {k: result[k] for k in ("extractor", "extractor_sha256", "n", "reference")}
        return [{k: result[k] for k in METRICS}]

    def plot_samples(self, snapshots: dict[int, np.ndarray], path, member=0):
        """``plots/samples.png`` (grids side by side) and one grid per snapshot in ``samples/step_NNNNNN.png``."""
        from ganscope import plots
        from ganscope.imageio import save_grid

        for step, images in snapshots.items():
            save_grid(torch.as_tensor(images), path.parent.parent / "samples" / f"step_{step:06d}.png")
        return plots.save(plots.image_snapshots(snapshots, self.cfg.data.name), path)
