"""Tasks: what a data domain brings to the engine (data stream, nets, metrics, sample plots).

Which task serves a ``data.name``, and what it supports (ensembles, random projections, which nets, grouping
in sweeps, images), is declared in ``tasks/kinds.py`` and read through ``task_class(data_name)``, cheaply.
The engine (``game.Game``, ``train.Run``) talks to a task only through this protocol:

* ``gen``, ``disc``: the two networks; ``streams``: a ``ganscope.rng.Streams`` (its state is the data
  stream's position, saved in every checkpoint); ``event_dims``: trailing axes of one sample;
  ``member_values``: the ensemble's per-member values (a ``game.MemberValues``); ``size``: number of
  ensemble members.
* ``real()``, ``latent()``: one training batch of real data and of latents.
* ``g_loss_total(g_loss)``: the generator's objective from per-member losses: a sum over independent
  ensemble members, a mean over the K discriminators of RP-GAN (Neyshabur et al. 2017).
* ``evaluate(gen) -> list[dict]`` (one dict of metrics per member), ``progress_key`` (the metric shown in
  the progress bar), ``samples(gen, n)`` (numpy snapshots), ``plot_samples(snapshots, path, member)``,
  ``centres`` (mixture modes for the mode-collapse flag, or None).
* ``diagnostic_batch() -> (real, z)``: the fixed batch of the convergence diagnostics (up to 256 held-out
  samples and evaluation latents, per member for ensembles; the same at every call, no training stream used).
"""
from __future__ import annotations

from ganscope.data import task_kind
from ganscope.tasks.kinds import TASK_KINDS, TaskKind, task_class

__all__ = ["Logit", "TASK_KINDS", "TaskKind", "Toy2DTask", "make_task", "task_class", "task_kind"]


def make_task(cfg):
    """The task serving ``cfg.data.name``, built from the config."""
    return task_class(cfg.data.name).load()(cfg)


def __getattr__(name):
    """``Logit`` and ``Toy2DTask`` on first use: importing this package stays free of torch."""
    if name in ("Logit", "Toy2DTask"):
        from ganscope.tasks import toy2d

        return getattr(toy2d, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
