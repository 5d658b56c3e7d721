"""Data sets: ``toy2d`` holds the 2-D distributions (mixtures, Swiss roll, Mescheder's manifolds, a Dirac);
``images`` the image sets (digits, Fashion-MNIST, MNIST-5k, folders) as tensors in [−1, 1]; ``text`` the
character corpora. ``task_kind`` tells them apart by name, cheaply (config validation imports none of them)."""
from __future__ import annotations

IMAGE_DATA = ("digits", "fashion-mnist", "mnist5k")  # and folder:PATH
TEXT_DATA = ("fortunes",)  # and text:PATH


def task_kind(data_name: str) -> str:
    """``toy2d``, ``images`` or ``text`` from the data set's name (a ``:split`` suffix is allowed)."""
    base = data_name.split(":", 1)[0]
    if base in IMAGE_DATA or base == "folder":
        return "images"
    if base in TEXT_DATA or base == "text":
        return "text"
    return "toy2d"
