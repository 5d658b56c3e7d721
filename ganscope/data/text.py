"""Text for the character-level GAN (Gulrajani et al. 2017, §5.5; docs/references.md §G4), offline.

* ``fortunes``: the English quotations of Debian's ``fortunes`` package (``apt-get install fortunes``; with it
  comes ``fortunes-min``), plain text in ``/usr/share/games/fortunes/``, one quotation after another between
  ``%`` lines. We read the prose files listed in ``FORTUNE_FILES`` (every file of the two packages except the
  pictures ``art`` and ``ascii-art`` and ``translate-me``, Latin phrases): 50,625 non-empty lines of English,
  mostly under 80 characters, comparable to the Billion Word sentences the paper cut to 32 characters.
* ``text:PATH``: any UTF-8 text file, one sample per line. Undecodable bytes become U+FFFD, i.e. the unknown
  symbol (``errors="replace"``).

**Lines.** Each line is cleaned (terminal overstrikes ``x\\b`` resolved as a terminal would, other control
characters dropped, runs of whitespace made one space, ends stripped); empty lines and fortune's ``%``
separators are skipped. Line ``i`` (0-based, in reading order) is held out when ``i % 10 == 9``: every tenth
line, so that the held-out text spans every file and topic.

**Vocabulary** (from the training lines, after cutting them to ``seq_len``): symbol 0 is the pad, 1 the
unknown symbol, then the ``cap`` most frequent characters (ties by code point). Characters outside it, and
U+FFFD itself, map to unknown. ``V = min(cap, distinct characters) + 2``.

**Sequences.** A line becomes ``seq_len`` symbol indices: cut to ``seq_len`` characters, padded at the end.
One-hot, channels first: ``(B, V, L)``, what ``ganscope.nets.charcnn.CharCritic`` reads.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ganscope.data import TEXT_DATA
from ganscope.errors import UsageError

FORTUNES_DIR = Path("/usr/share/games/fortunes")
FORTUNE_FILES = (  # fortunes 1:1.99.1 and fortunes-min, less art, ascii-art and translate-me
    "computers", "cookie", "debian", "definitions", "disclaimer", "drugs", "education", "ethnic", "food",
    "fortunes", "goedel", "humorists", "kids", "knghtbrd", "law", "linux", "linuxcookie", "literature", "love",
    "magic", "medicine", "men-women", "miscellaneous", "news", "paradoxum", "people", "perl", "pets",
    "platitudes", "politics", "pratchett", "riddles", "science", "songs-poems", "sports", "startrek", "tao",
    "wisdom", "work", "zippy",
)
HELDOUT_EVERY = 10
PAD, UNK = 0, 1
UNK_CHAR = "\ufffd"
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_SPACE = re.compile(r"\s+")


def clean_line(line: str) -> str:
    """Overstrikes resolved (each backspace deletes the character before it), control characters dropped,
    whitespace runs made one space, ends stripped."""
    if "\b" in line:
        out = []
        for ch in line:
            if ch != "\b":
                out.append(ch)
            elif out:
                out.pop()
        line = "".join(out)
    return _SPACE.sub(" ", _CONTROL.sub("", line)).strip()


def read_lines(path) -> list[str]:
    """The non-empty cleaned lines of a text file (``%`` separator lines skipped)."""
    text = Path(path).read_text(encoding="utf-8", errors="replace")
    lines = (clean_line(ln) for ln in text.splitlines())
    return [ln for ln in lines if ln and ln != "%"]


def fortune_lines(directory=None) -> list[str]:
    """The lines of the fortunes corpus, files in ``FORTUNE_FILES`` order."""
    directory = Path(directory or FORTUNES_DIR)
    missing = [f for f in FORTUNE_FILES if not (directory / f).is_file()]
    if missing:
        raise UsageError(f"data.name: 'fortunes' needs Debian's fortunes package ({directory}/{missing[0]} is "
                         f"missing): apt-get install fortunes, or use text:PATH")
    return [ln for f in FORTUNE_FILES for ln in read_lines(directory / f)]


def corpus_lines(name: str) -> list[str]:
    """The lines of ``fortunes`` or ``text:PATH``."""
    if name == "fortunes":
        return fortune_lines()
    if name.startswith("text:"):
        path = Path(name[5:]).expanduser()
        if not path.is_file():
            raise UsageError(f"data.name: {name!r}: no such file {str(path)!r}")
        return read_lines(path)
    raise UsageError(f"data.name: {name!r} is not text data; allowed: {', '.join(TEXT_DATA)}, text:PATH")


def split(lines: list[str]) -> tuple[list[str], list[str]]:
    """(training, held-out): every ``HELDOUT_EVERY``-th line is held out."""
    train = [ln for i, ln in enumerate(lines) if i % HELDOUT_EVERY != HELDOUT_EVERY - 1]
    held = [ln for i, ln in enumerate(lines) if i % HELDOUT_EVERY == HELDOUT_EVERY - 1]
    return train, held


@dataclass(frozen=True)
class Vocab:
    """Symbol ``i`` is ``chars[i]``: 0 the pad (``""``), 1 unknown (U+FFFD), then characters by frequency."""

    chars: tuple[str, ...]

    @classmethod
    def build(cls, lines, cap: int) -> "Vocab":
        """The ``cap`` most frequent characters of ``lines`` (ties by code point), after pad and unknown."""
        counts = Counter("".join(lines))
        counts.pop(UNK_CHAR, None)
        kept = sorted(counts, key=lambda ch: (-counts[ch], ch))[:cap]
        return cls(("", UNK_CHAR, *kept))

    def __len__(self) -> int:
        return len(self.chars)

    @property
    def index(self) -> dict[str, int]:
        return {ch: i for i, ch in enumerate(self.chars) if i > UNK}

    def encode(self, lines, seq_len: int) -> torch.Tensor:
        """``(N, seq_len)`` int64 symbol indices: lines cut to ``seq_len``, padded with ``PAD``."""
        index, out = self.index, np.full((len(lines), seq_len), PAD, dtype=np.int64)
        for i, ln in enumerate(lines):
            ids = [index.get(ch, UNK) for ch in ln[:seq_len]]
            out[i, : len(ids)] = ids
        return torch.from_numpy(out)

    def segments(self, ids) -> list[str]:
        """The pad-free runs of each row of ``ids`` as strings (n-grams never cross a pad)."""
        out = []
        for row in _rows(ids):
            out += [s for s in "".join(self.chars[i] if i != PAD else "\0" for i in row).split("\0") if s]
        return out

    def decode(self, ids, pad: str = "\u00b7") -> list[str]:
        """Each row as text for reading: trailing pads dropped, inner pads shown as ``pad``."""
        out = []
        for row in _rows(ids):
            while row and row[-1] == PAD:
                row.pop()
            out.append("".join(self.chars[i] if i != PAD else pad for i in row))
        return out


def _rows(ids) -> list[list[int]]:
    ids = torch.as_tensor(ids)
    return ids.reshape(-1, ids.shape[-1]).tolist()


def one_hot(ids: torch.Tensor, vocab_size: int) -> torch.Tensor:
    """``(B, L)`` indices → ``(B, V, L)`` float one-hot (channels first)."""
    return F.one_hot(ids, vocab_size).permute(0, 2, 1).to(torch.float32)


@dataclass(frozen=True)
class TextData:
    """A text corpus as symbol indices: ``train`` ``(N, L)``, ``heldout`` ``(M, L)``, and its ``vocab``."""

    name: str
    vocab: Vocab
    train: torch.Tensor
    heldout: torch.Tensor


def load_text(name: str, seq_len: int = 32, cap: int = 96) -> TextData:
    """``fortunes`` or ``text:PATH`` as sequences of ``seq_len`` symbols over a vocabulary of ``cap`` + 2."""
    train, held = split(corpus_lines(name))
    if not train or not held:
        raise UsageError(f"data.name: {name!r} has {len(train) + len(held)} non-empty lines; at least "
                         f"{HELDOUT_EVERY} are needed (every {HELDOUT_EVERY}th is held out)")
    vocab = Vocab.build([ln[:seq_len] for ln in train], cap)
    return TextData(name, vocab, vocab.encode(train, seq_len), vocab.encode(held, seq_len))
