"""Where a run's tensors live: the ``device`` of a config or a command, ``auto | cpu | cuda | cuda:N | mps``.

``check(spec)`` validates the spelling only (no torch, no hardware: a config naming cuda validates anywhere);
``resolve(spec)`` gives the ``torch.device`` (auto: cuda if available, then mps, then cpu) or a one-line
``UsageError`` for a device this machine lacks; ``describe(device)`` is what a run directory records (device,
torch, CUDA and cuDNN versions, GPU name); ``set_deterministic`` is ``train.deterministic`` (docs/scale.md,
"Devices").
"""
from __future__ import annotations

import os
import re

from ganscope.errors import UsageError

CHOICES = "auto, cpu, cuda, cuda:N, mps"
CUBLAS_WORKSPACE = ":4096:8"  # the cuBLAS workspace setting PyTorch's reproducibility notes ask for
_SPEC = re.compile(r"^(auto|cpu|cuda|cuda:\d+|mps)$")


def check(spec, flag: str = "device") -> str:
    """``spec`` if it is spelled as a device (``auto``, ``cpu``, ``cuda``, ``cuda:N``, ``mps``), else UsageError."""
    if not isinstance(spec, str) or not _SPEC.match(spec):
        raise UsageError(f"{flag}: {spec!r} is not a device; allowed: {CHOICES}")
    return spec


def _hint(flag: str) -> str:
    return f"use {flag} cpu or auto" if flag.startswith("--") else f"use {flag}=cpu or auto"


def _mps_available() -> bool:
    import torch

    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def _no_cuda_reason() -> str:
    import torch

    if torch.version.cuda is None:
        return f"torch {torch.__version__}, no CUDA"
    return f"torch {torch.__version__} with CUDA {torch.version.cuda}, no CUDA GPU found"


def resolve(spec: str = "auto", flag: str = "device"):
    """The ``torch.device`` of ``spec``; UsageError (one line, naming ``flag``) when this machine lacks it."""
    import torch

    check(spec, flag)
    if spec == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps" if _mps_available() else "cpu")
    dev = torch.device(spec)
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise UsageError(f"{flag}: {spec} is not available on this machine ({_no_cuda_reason()}); {_hint(flag)}")
        count = torch.cuda.device_count()
        if dev.index is not None and dev.index >= count:
            raise UsageError(f"{flag}: {spec} is not available on this machine ({count} CUDA device"
                             f"{'s' if count != 1 else ''}: cuda:0 to cuda:{count - 1}); {_hint(flag)}")
    if dev.type == "mps" and not _mps_available():
        raise UsageError(f"{flag}: mps is not available on this machine (torch {torch.__version__}, no MPS); "
                         f"{_hint(flag)}")
    return dev


def describe(device) -> dict:
    """What a run records about where it ran: ``device``, ``torch``, ``cuda`` and ``cudnn`` (versions, None
    without CUDA), ``gpu`` (the GPU's name, None off CUDA) and ``cpu_threads``."""
    import torch

    dev = torch.device(device)
    on_cuda = dev.type == "cuda"
    if on_cuda and dev.index is None:
        dev = torch.device("cuda", torch.cuda.current_device())  # record which GPU "cuda" was
    return {
        "device": str(dev),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if on_cuda else None,
        "gpu": torch.cuda.get_device_name(dev) if on_cuda else None,
        "cpu_threads": torch.get_num_threads(),
    }


def set_deterministic(device, on: bool) -> bool:
    """``train.deterministic`` on ``device``: on CUDA, PyTorch's deterministic algorithms
    (``torch.use_deterministic_algorithms``, cuDNN deterministic, no cuDNN benchmarking) and, when ``on``, the
    cuBLAS workspace ``CUBLAS_WORKSPACE_CONFIG=:4096:8`` (kept if already set), which must be in the
    environment before the process's first cuBLAS call. Off CUDA nothing is changed (a CPU run is deterministic
    already). Returns whether the deterministic settings are in force."""
    import torch

    if torch.device(device).type != "cuda":
        return False
    if on:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS_WORKSPACE)
    torch.use_deterministic_algorithms(bool(on))
    torch.backends.cudnn.deterministic = bool(on)
    if on:
        torch.backends.cudnn.benchmark = False
    return bool(on)
