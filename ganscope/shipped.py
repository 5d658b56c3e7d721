"""The configs and sweep specs shipped inside the package (``ganscope/configs/NAME.yaml`` and
``ganscope/configs/sweeps/NAME.yaml``), read through ``importlib.resources`` so that they are found the same way
in a source checkout and in an installed wheel. This module is the one owner of shipped names: ``train``,
``sweep`` (and a spec's ``base:``) and ``reproduce`` look names up here.
"""
from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from ganscope.errors import UsageError


def _root() -> Path:
    """``ganscope/configs`` as a file-system path (ganscope is a regular package, never imported from a zip)."""
    return Path(str(files("ganscope") / "configs"))


def configs() -> list[Path]:
    """The shipped run configs, sorted by name."""
    return sorted(_root().glob("*.yaml"))


def sweeps() -> list[Path]:
    """The shipped sweep specs, sorted by name."""
    return sorted((_root() / "sweeps").glob("*.yaml"))


def find_config(name) -> Path:
    """An existing file ``name`` as is, else the shipped config ``name`` (``toy2d`` or ``toy2d.yaml``)."""
    return _find(name, configs(), "config", "config")


def find_sweep(name) -> Path:
    """An existing file ``name`` as is, else the shipped sweep spec ``name`` (``toy2d_methods[.yaml]``)."""
    return _find(name, sweeps(), "spec", "sweep spec")


def _find(name, shipped: list[Path], field: str, what: str) -> Path:
    path = Path(name)
    if path.is_file():
        return path
    stem = path.name[:-len(".yaml")] if path.name.endswith(".yaml") else path.name
    if str(name) in (stem, f"{stem}.yaml"):  # a bare name, not a path to somewhere else
        for found in shipped:
            if found.stem == stem:
                return found
    names = ", ".join(p.stem for p in shipped)
    raise UsageError(f"{field}: no such file or shipped {what} {str(name)!r}; shipped: {names}")
