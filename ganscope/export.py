"""Samples of a stored run for external tools, and latent interpolations (``ganscope sample``).

``export_samples`` writes n samples of a run's generator (at last.pt or a kept step; the training generator, or
its EMA with ``ema=True``) from latents ``torch.randn`` of a generator seeded ``seed``: images as one PNG each
(``sample_000000.png``, ...; C = 1 greyscale, C = 3 RGB, [−1, 1] → 0..255 as ``imageio.to_uint8``), 2-D runs as
``samples.npy`` of shape (n, 2) ((E, n, 2) for an ensemble), text runs as ``samples.npy`` of symbol indices
(n, L) (argmax per position, as the engine decodes).

``export_interpolations`` walks between K pairs of latents (z₀, z₁) in T steps t = 0, 1/(T−1), ..., 1:

    linear:     z(t) = (1 − t) z₀ + t z₁
    spherical:  z(t) = sin((1 − t)Ω)/sin Ω · z₀ + sin(tΩ)/sin Ω · z₁,   cos Ω = ⟨z₀, z₁⟩ / (‖z₀‖‖z₁‖)

(Shoemake 1985; White 2016 for GAN latents: a Gaussian latent's norm concentrates, and slerp keeps the path at
that norm where the straight line cuts through the low-density centre). Images: one grid per kind, a row per
pair (``interpolate_linear.png``, ``interpolate_slerp.png``), as RP-GAN's interpolation figure; other runs:
``interpolate_linear.npy``, ``interpolate_slerp.npy`` of shape (K, T, *sample).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ganscope import rundir
from ganscope.errors import UsageError
from ganscope.imageio import save_grid, to_uint8
from ganscope.io import atomic_path
from ganscope.tasks.kinds import task_class

INTERPOLATION_STEPS = 8
KINDS = ("linear", "slerp")


def lerp(z0: torch.Tensor, z1: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """(1 − t) z₀ + t z₁ for pairs z₀, z₁ (K, d) and steps t (T,): shape (K, T, d)."""
    t = t[None, :, None]
    return (1 - t) * z0[:, None] + t * z1[:, None]


def slerp(z0: torch.Tensor, z1: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation (module docstring) per pair, shape (K, T, d); where Ω ≈ 0 (parallel latents) the
    linear one, its limit."""
    cos = (z0 * z1).sum(-1) / (z0.norm(dim=-1) * z1.norm(dim=-1)).clamp_min(1e-12)
    omega = torch.arccos(cos.clamp(-1.0, 1.0))[:, None, None]
    t = t[None, :, None]
    sin = torch.sin(omega)
    near = sin.abs() < 1e-6
    safe = torch.where(near, torch.ones_like(sin), sin)
    out = torch.sin((1 - t) * omega) / safe * z0[:, None] + torch.sin(t * omega) / safe * z1[:, None]
    return torch.where(near, lerp(z0, z1, t[0, :, 0]), out)


def _generator(run: rundir.StoredRun, ema: bool):
    if not ema:
        return run.gen
    if run.ema is None:
        raise UsageError(f"--ema: {run.dir} keeps no EMA generator (game.ema was 0); leave --ema out")
    return run.ema


def _latents(run: rundir.StoredRun, n: int, seed: int) -> torch.Tensor:
    return torch.randn(n, run.cfg.model.latent_dim, generator=torch.Generator().manual_seed(seed))


def _run_on(run: rundir.StoredRun, gen, z: torch.Tensor) -> np.ndarray:
    """The generator's samples of latents z (N, d), in the run's own format (module docstring)."""
    kind = task_class(run.cfg.data.name).kind
    if kind == "toy2d":
        out = rundir.generate(gen, z.expand(run.cfg.ensemble, *z.shape))  # (E, N, 2)
        return (out[0] if run.cfg.ensemble == 1 else out).numpy()
    out = rundir.generate(gen, z)
    return (out.argmax(dim=1) if kind == "text" else out).numpy()


def _check(n, name, low=1):
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < low:
        raise UsageError(f"{name}: must be an integer >= {low}, got {n!r}")


def _save_png(path: Path, chw: np.ndarray) -> Path:
    """One image (C, H, W) in [−1, 1] as a PNG of H × W pixels, no frame (greyscale for C = 1, RGB for C = 3)."""
    from PIL import Image

    hwc = to_uint8(chw).transpose(1, 2, 0)
    with atomic_path(path) as tmp:
        Image.fromarray(hwc[..., 0] if hwc.shape[-1] == 1 else hwc).save(tmp, format="PNG")
    return path


def _save_npy(path: Path, array: np.ndarray) -> Path:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.save(fh, array)
    return path


def export_samples(run_dir, n: int, out, step: int | None = None, ema: bool = False, seed: int = 0) -> list[Path]:
    """Write n samples of the stored run (module docstring) into ``out``; returns the files written."""
    _check(n, "--n")
    _check(seed, "--seed", 0)
    run = rundir.open_run(run_dir, step)
    gen = _generator(run, ema)
    samples = _run_on(run, gen, _latents(run, n, seed))
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if task_class(run.cfg.data.name).gives_images:
        return [_save_png(out / f"sample_{i:06d}.png", samples[i]) for i in range(n)]
    return [_save_npy(out / "samples.npy", samples)]


def export_interpolations(run_dir, pairs: int, out, step: int | None = None, ema: bool = False, seed: int = 0,
                          steps: int = INTERPOLATION_STEPS) -> list[Path]:
    """Write the linear and spherical interpolations between ``pairs`` pairs of latents (drawn after the samples'
    stream: seed + 1) into ``out``; returns the files written."""
    _check(pairs, "--interpolate")
    _check(steps, "--steps", 2)
    _check(seed, "--seed", 0)
    run = rundir.open_run(run_dir, step)
    gen = _generator(run, ema)
    z = _latents(run, 2 * pairs, seed + 1)
    z0, z1 = z[:pairs], z[pairs:]
    t = torch.linspace(0, 1, steps)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    images = task_class(run.cfg.data.name).gives_images
    written = []
    for kind, path in zip(KINDS, (lerp, slerp)):
        walk = path(z0, z1, t).reshape(pairs * steps, -1)
        samples = _run_on(run, gen, walk)
        if images:
            written.append(save_grid(samples, out / f"interpolate_{kind}.png", nrow=steps))
        else:
            members = samples.shape[:-2] if samples.ndim == 3 else ()  # (E,) of a 2-D ensemble
            grid = samples.reshape(*members, pairs, steps, samples.shape[-1])
            written.append(_save_npy(out / f"interpolate_{kind}.npy", grid))
    return written
