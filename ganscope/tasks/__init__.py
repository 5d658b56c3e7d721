"""Tasks: what a data domain brings to the engine (data stream, nets, metrics, sample plots).

The engine (``game.Game``, ``train.Run``) talks to a task only through this protocol:

* ``gen``, ``disc``: the two networks; ``streams``: a ``ganscope.rng.Streams`` (its state is the data
  stream's position, saved in every checkpoint); ``event_dims``: trailing axes of one sample;
  ``member_values``: per-member config values (ensembles); ``size``: number of ensemble members.
* ``real()``, ``latent()``: one training batch of real data and of latents.
* ``g_loss_total(g_loss)``: the generator's objective from per-member losses: a sum over independent
  ensemble members, a mean over the K discriminators of RP-GAN (Neyshabur et al. 2017).
* ``evaluate(gen) -> list[dict]`` (one dict of metrics per member), ``progress_key`` (the metric shown in
  the progress bar), ``samples(gen, n)`` (numpy snapshots), ``plot_samples(snapshots, path, member)``,
  ``centres`` (mixture modes for the mode-collapse flag, or None).
"""
from __future__ import annotations

from ganscope.data import task_kind
from ganscope.tasks.toy2d import Logit, Toy2DTask

__all__ = ["Logit", "Toy2DTask", "make_task", "task_kind"]


def make_task(cfg):
    kind = task_kind(cfg.data.name)
    if kind == "images":
        from ganscope.tasks.images import ImageTask

        return ImageTask(cfg)
    if kind == "text":
        from ganscope.tasks.text import TextTask

        return TextTask(cfg)
    return Toy2DTask(cfg)
