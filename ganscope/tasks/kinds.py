"""What each task supports, declared as class attributes, and which task serves a ``data.name``.

The declarations import no torch, so that config validation and sweep planning can read them cheaply; each
task's implementation subclasses its declaration (``Toy2DTask(Toy2DKind)``), so the same attributes are on it.
"""
from __future__ import annotations

import importlib

from ganscope.data import IMAGE_DATA, TEXT_DATA, TOY2D_DATA
from ganscope.errors import UsageError


class TaskKind:
    """A task's declared capabilities.

    ``sources``: the ``data.name`` values it serves; ``paths``: the ``PREFIX:PATH`` forms it also serves;
    ``splits``: whether ``NAME:SPLIT`` is accepted; ``nets``: the allowed ``net`` values; ``supports_ensemble``:
    ``ensemble > 1`` (E runs as one batched model); ``supports_rp``: RP-GAN's ``rp.k > 1``;
    ``groupable_in_sweeps``: a sweep may batch runs that differ by seed into one ensemble; ``gives_images``:
    its generator's samples are images; ``supports_spectrum``: ``train.spectrum_at`` (the leading Jacobian
    eigenvalues of each member during training); ``implementation``: ``module:Class`` of the task.
    """

    kind: str = ""
    sources: tuple[str, ...] = ()
    paths: tuple[str, ...] = ()
    splits: bool = False
    nets: tuple[str, ...] = ()
    supports_ensemble: bool = False
    supports_rp: bool = False
    groupable_in_sweeps: bool = False
    gives_images: bool = False
    supports_spectrum: bool = False
    implementation: str = ""

    @classmethod
    def serves(cls, data_name: str) -> bool:
        """True when ``data_name`` is one of this task's sources (with a split, if allowed) or paths."""
        prefix, colon, _ = data_name.partition(":")
        if colon and prefix in cls.paths:
            return True  # an empty or missing PATH is the loader's one-line error
        return data_name in cls.sources or (cls.splits and bool(colon) and prefix in cls.sources)

    @classmethod
    def load(cls) -> type:
        """The task's class (imports its module: torch, nets, metrics)."""
        module, name = cls.implementation.split(":")
        return getattr(importlib.import_module(module), name)

    @classmethod
    def describe_sources(cls) -> str:
        """The sources as a user writes them, e.g. ``digits, mnist5k (NAME:train, NAME:test), folder:PATH``."""
        names = ", ".join(cls.sources) + (" (NAME:train, NAME:test)" if cls.splits else "")
        return ", ".join([names, *(f"{p}:PATH" for p in cls.paths)])


class Toy2DKind(TaskKind):
    kind = "toy2d"
    sources = TOY2D_DATA
    nets = ("mlp",)
    supports_ensemble = True
    groupable_in_sweeps = True
    supports_spectrum = True
    implementation = "ganscope.tasks.toy2d:Toy2DTask"


class ImageKind(TaskKind):
    kind = "images"
    sources = IMAGE_DATA
    paths = ("folder",)
    splits = True
    nets = ("dcgan", "resnet", "wgangp-resnet")
    supports_rp = True
    gives_images = True
    implementation = "ganscope.tasks.images:ImageTask"


class TextKind(TaskKind):
    kind = "text"
    sources = TEXT_DATA
    paths = ("text",)
    nets = ("charcnn",)
    implementation = "ganscope.tasks.text:TextTask"


TASK_KINDS: tuple[type[TaskKind], ...] = (Toy2DKind, ImageKind, TextKind)
LABELS = {"toy2d": "2-D", "images": "images", "text": "text"}


def task_class(data_name) -> type[TaskKind]:
    """The declared task class serving ``data_name`` (cheap; ``.load()`` gives the implementation, a subclass).

    UsageError naming ``data.name`` and listing every data source when no task serves it."""
    if isinstance(data_name, str):
        for kind in TASK_KINDS:
            if kind.serves(data_name):
                return kind
    allowed = "; ".join(f"{LABELS[k.kind]}: {k.describe_sources()}" for k in TASK_KINDS)
    raise UsageError(f"data.name: unknown data source {data_name!r}; allowed: {allowed}")
