"""Data sets: ``toy2d`` holds the 2-D distributions (mixtures, Swiss roll, Mescheder's manifolds, a Dirac);
``images`` the image sets (digits, Fashion-MNIST, MNIST-5k, folders) as tensors in [−1, 1]; ``text`` the
character corpora. The names below are the cheap catalogue of them (config validation imports none of the
modules); ``ganscope.tasks.task_class`` maps a ``data.name`` to the task that serves it."""
from __future__ import annotations

TOY2D_DATA = ("8gaussians", "25gaussians", "swissroll", "gaussian", "line", "circle", "four-lines", "point")
IMAGE_DATA = ("digits", "fashion-mnist", "mnist5k")  # and folder:PATH
TEXT_DATA = ("fortunes",)  # and text:PATH


def task_kind(data_name: str) -> str:
    """``toy2d``, ``images`` or ``text`` from the data set's name (a ``:split`` suffix is allowed).

    Superseded by the capabilities of ``ganscope.tasks.task_class(data_name)``; kept for one release."""
    base = data_name.split(":", 1)[0]
    if base in IMAGE_DATA or base == "folder":
        return "images"
    if base in TEXT_DATA or base == "text":
        return "text"
    return "toy2d"
