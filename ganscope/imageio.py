"""Image grids without torchvision: ``(N, C, H, W)`` in [−1, 1] → one uint8 mosaic → PNG (PIL).

Cell (r, c) holds image ``r·nrow + c`` (row-major, ``nrow`` images per row) at pixel
``(1 + r·(H + 1), 1 + c·(W + 1))``: a 1-px border of ``pad_value`` around and between the cells; cells
without an image are ``pad_value`` too. Pixel value ``round((x + 1)/2 · 255)`` after clamping x to [−1, 1].
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ganscope.errors import UsageError
from ganscope.io import atomic_path

PAD = 1


def _as_array(images) -> np.ndarray:
    if torch.is_tensor(images):
        images = images.detach().cpu().float().numpy()
    a = np.asarray(images, dtype=np.float64)
    if a.ndim != 4 or a.shape[1] not in (1, 3) or a.shape[0] < 1:
        raise UsageError(f"images: must have shape (N >= 1, C in {{1, 3}}, H, W), got {a.shape}")
    if np.isnan(a).any():
        raise UsageError("images: contain NaN")
    return a


def to_uint8(x) -> np.ndarray:
    """[−1, 1] → {0, …, 255}: round((x + 1)/2·255), clamped."""
    return np.rint((np.clip(x, -1.0, 1.0) + 1.0) * 127.5).astype(np.uint8)


def grid_array(images, nrow: int | None = None, pad_value: float = 1.0) -> np.ndarray:
    """The grid as a uint8 array ``(rows·(H+1)+1, nrow·(W+1)+1, C)``; ``nrow`` defaults to ⌈√N⌉."""
    a = _as_array(images)
    n, c, h, w = a.shape
    if nrow is None:
        nrow = math.ceil(math.sqrt(n))
    if isinstance(nrow, bool) or not isinstance(nrow, int) or nrow < 1:
        raise UsageError(f"nrow: must be an integer >= 1, got {nrow!r}")
    if not (isinstance(pad_value, (int, float)) and -1.0 <= pad_value <= 1.0):
        raise UsageError(f"pad_value: must be a number in [-1, 1], got {pad_value!r}")
    nrow = min(nrow, n)
    rows = math.ceil(n / nrow)
    grid = np.full((rows * (h + PAD) + PAD, nrow * (w + PAD) + PAD, c), to_uint8(pad_value), dtype=np.uint8)
    cells = to_uint8(a).transpose(0, 2, 3, 1)  # (N, H, W, C)
    for i in range(n):
        r, col = divmod(i, nrow)
        y, x = PAD + r * (h + PAD), PAD + col * (w + PAD)
        grid[y:y + h, x:x + w] = cells[i]
    return grid


def save_grid(images, path, nrow: int | None = None, pad_value: float = 1.0):
    """Write ``grid_array(images, nrow, pad_value)`` as a PNG (greyscale for C = 1, RGB for C = 3), atomically."""
    grid = grid_array(images, nrow, pad_value)
    img = Image.fromarray(grid[..., 0] if grid.shape[-1] == 1 else grid)
    with atomic_path(path) as tmp:
        img.save(tmp, format="PNG")
    return Path(path)
