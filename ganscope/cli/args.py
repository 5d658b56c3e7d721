"""The argument checks and output helpers every command shares, once.

Each check raises ``UsageError`` with one line that names the flag and what is allowed (the CLI turns it into
exit status 2), and runs before anything is computed or written, so a refused command leaves nothing behind.
"""
from __future__ import annotations

import json
import math
from numbers import Integral, Real
from pathlib import Path

from ganscope.errors import UsageError, check_int as _check_int_least


def check_int(value, flag: str, least: int = 0, most: int | None = None):
    """``value`` if it is an integer in [least, most] (``most`` None: no upper bound), else UsageError naming
    ``flag``; ``None`` passes through (an option not given)."""
    if value is None:
        return None
    if most is None:
        _check_int_least(value, flag, least)
        return value
    if isinstance(value, bool) or not isinstance(value, Integral) or not least <= value <= most:
        raise UsageError(f"{flag}: must be an integer in [{least}, {most}], got {value!r}")
    return value


def check_float(value, flag: str, low: float, high: float, low_open: bool = False):
    """``value`` if it is a finite number in [low, high] (``(low, high]`` with ``low_open``), else UsageError
    naming ``flag`` ("--h: must be a finite number in (0, 10], got 1e+308"); ``None`` passes through."""
    if value is None:
        return None
    ok = isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or not (low < value if low_open else low <= value) or value > high:
        interval = f"{'(' if low_open else '['}{low:g}, {high:g}]"
        raise UsageError(f"{flag}: must be a finite number in {interval}, got {value!r}")
    return value


def check_png(path, flag: str = "--plot"):
    """``path`` if it names a ``.png`` file in a directory that exists (not created: a typo in the directory is
    refused instead of silently making a new tree); ``None`` passes through."""
    if path is None:
        return None
    p = Path(path)
    if not p.name.lower().endswith(".png"):
        raise UsageError(f"{flag}: expected a .png file name, got {str(path)!r}")
    parent = p.parent
    if not parent.is_dir():
        raise UsageError(f"{flag}: directory {str(parent)!r} does not exist (create it first)")
    if p.is_dir():
        raise UsageError(f"{flag}: {str(path)!r} is a directory, expected a .png file name")
    return path


def check_out_dir(path, flag: str = "--out"):
    """``path`` if it is a directory or can be created as one (``rundir.check_out``: refused when it, or the nearest
    existing folder above it, is a file). ``None`` passes through (the command says whether it needs one)."""
    if path is None:
        return None
    from ganscope.rundir import check_out

    check_out(path, flag)
    return path


def print_json(obj) -> None:
    """One JSON object on stdout: nan/inf become null (``io.json_safe``), never a bare NaN."""
    from ganscope.io import json_safe

    print(json.dumps(json_safe(obj), allow_nan=False))


def emit(args, result, summary, figure=None) -> int:
    """The ``--json``/``--plot`` tail of a command: write ``figure()`` to ``args.plot`` when given (checked with
    ``check_png`` beforehand), then print ``result`` as JSON with ``--json`` or call ``summary()``; returns 0."""
    if getattr(args, "plot", None) and figure is not None:
        from ganscope.plots import save

        save(figure(), args.plot)
    if args.json:
        print_json(result)
    else:
        summary()
    return 0


def add_device(parser) -> None:
    """``--device auto|cpu|cuda|cuda:N|mps`` (default auto: cuda if available, then mps, then cpu)."""
    parser.add_argument("--device", default="auto", metavar="DEVICE",
                        help="auto (default: cuda if available, then mps, then cpu), cpu, cuda, cuda:N or mps")


def resolve_device(args):
    """The ``torch.device`` of ``--device`` (UsageError, one line, when this machine lacks it)."""
    from ganscope.device import resolve

    return resolve(args.device, "--device")
