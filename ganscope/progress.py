"""Progress of a long loop, in one place: a tqdm bar when the stream is a terminal, plain lines otherwise.

A log file or a SLURM output file gets one line at least every ``fraction`` of the total (10 %) and at least
every ``every_s`` seconds (30 s), whichever comes first, plus one at the end:

    train: 1200/5000 steps (24 %), 212 steps/s, 0:00:05 elapsed, ETA 0:00:18; w1=0.0412

The rate and the ETA count only the work done since this bar was opened (a resumed run's earlier steps are
not part of the rate). ``update``, ``set_postfix_str`` and ``close`` are those of a tqdm bar, so a loop can
take either.
"""
from __future__ import annotations

import sys
import time

EVERY_S = 30.0  # a plain line at least this often
FRACTION = 0.1  # ... and at least every 10 % of the total


class Progress:
    """``Progress(total, initial=0, unit="step", desc="train")``; ``enabled=False`` prints nothing, ``bar``
    forces the tqdm bar (True) or plain lines (False), None picks by ``stream.isatty()`` (stream: stderr).
    ``n`` is the count so far: ``update`` adds to it (and may print), a caller may also set it and call
    ``print_line`` itself (the sweep does)."""

    def __init__(self, total: int, initial: int = 0, *, unit: str = "step", desc: str = "", enabled: bool = True,
                 bar: bool | None = None, stream=None, every_s: float = EVERY_S, fraction: float = FRACTION,
                 clock=time.monotonic):
        self.total, self.n, self.unit, self.desc = int(total), int(initial), unit, desc
        self.enabled, self.stream, self.clock = enabled, stream if stream is not None else sys.stderr, clock
        self.every_s, self.step_n = every_s, max(1, int(fraction * self.total)) if fraction > 0 else 1
        self.postfix, self._bar = "", None
        self._start_n, self._start_t = self.n, clock()
        self._last_n, self._last_t, self._last_postfix = self.n, self._start_t, ""
        if enabled and (bar if bar is not None else _isatty(self.stream)):
            from tqdm import tqdm

            self._bar = tqdm(total=self.total, initial=self.n, unit=unit, desc=desc or None, file=self.stream,
                             dynamic_ncols=True)

    # -- the tqdm interface -------------------------------------------------------------------------------------
    def update(self, n: int = 1) -> None:
        self.n += n
        if self._bar is not None:
            self._bar.update(n)
        elif self.enabled and (self.n - self._last_n >= self.step_n or self.clock() - self._last_t >= self.every_s):
            self.print_line()

    def set_postfix_str(self, text: str) -> None:
        """The key metric shown after the counts (``w1=0.0412``)."""
        self.postfix = text
        if self._bar is not None:
            self._bar.set_postfix_str(text)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        elif self.enabled and (self._last_n != self.n or self._last_postfix != self.postfix):
            self.print_line()  # the last count, or the metric computed after it

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- plain lines --------------------------------------------------------------------------------------------
    def tick(self) -> None:
        """A plain line if ``every_s`` passed since the last one, even without progress (a loop that waits)."""
        if self._bar is None and self.enabled and self.clock() - self._last_t >= self.every_s:
            self.print_line()

    def print_line(self) -> None:
        print(self.line(), file=self.stream, flush=True)
        self._last_n, self._last_t, self._last_postfix = self.n, self.clock(), self.postfix

    def line(self) -> str:
        """``desc: n/total units (pct %), rate, elapsed, ETA; postfix``."""
        elapsed = self.clock() - self._start_t
        done = self.n - self._start_n
        rate = done / elapsed if elapsed > 0 else 0.0
        left = max(self.total - self.n, 0)
        eta = hms(left / rate) if rate > 0 else ("0:00:00" if not left else "unknown")
        pct = 100.0 * self.n / self.total if self.total else 100.0
        head = f"{self.desc}: " if self.desc else ""
        tail = f"; {self.postfix}" if self.postfix else ""
        return (f"{head}{self.n}/{self.total} {self.unit}s ({pct:.0f} %), {_rate(rate, self.unit)}, "
                f"{hms(elapsed)} elapsed, ETA {eta}{tail}")


def hms(seconds: float) -> str:
    """``h:mm:ss`` of a duration in seconds."""
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def _rate(rate: float, unit: str) -> str:
    if rate >= 1 or rate == 0:
        return f"{rate:.3g} {unit}s/s"
    return f"{1 / rate:.3g} s/{unit}"


def _isatty(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # a closed or a file-like stream without isatty
        return False
