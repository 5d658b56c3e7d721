"""Sanity figures of the image metrics: one half of a data set's split against itself, the other half, the
other half blurred, and uniform noise (docs/images_metrics.md).

    OMP_NUM_THREADS=1 python scripts/fid_sanity.py --data fashion-mnist:test --n 5000 [--json]

The split is permuted with ``--seed``; A = its first n images, B = the next n (disjoint). Rows compare
X (under test) against A (the reference): X = A, B, Gaussian-blurred B (σ = ``--sigma`` px), U[−1, 1] noise.
"""
from __future__ import annotations

import argparse
import json
import sys

import torch

from ganscope.data.images import load_images
from ganscope.metrics.images import KEYS, blur, compare


def sanity(data: str, n: int, seed: int = 0, sigma: float = 1.0, extractor: str = "fmnist-cnn") -> dict:
    g = torch.Generator().manual_seed(seed)
    x = load_images(data).x
    if 2 * n > len(x):
        raise SystemExit(f"--n: two disjoint halves of {n} need {2 * n} images; {data} has {len(x)}")
    x = x[torch.randperm(len(x), generator=g)[:2 * n]]
    a, b = x[:n], x[n:]
    rows = {"identical (A vs A)": a, "disjoint halves (B vs A)": b, f"blurred B, σ = {sigma:g} px": blur(b, sigma),
            "uniform noise U[−1, 1]": torch.rand(b.shape, generator=g) * 2 - 1}
    return {"data": data, "n": n, "seed": seed, "extractor": extractor,
            "rows": {name: compare(other, a, extractor=extractor, seed=seed) for name, other in rows.items()}}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="fashion-mnist:test")
    p.add_argument("--n", type=int, default=5000, help="images per half (default 5000)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--sigma", type=float, default=1.0, help="blur standard deviation in pixels (default 1)")
    p.add_argument("--extractor", default="fmnist-cnn")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    result = sanity(args.data, args.n, args.seed, args.sigma, args.extractor)
    if args.json:
        print(json.dumps(result, allow_nan=False))
        return 0
    print(f"{args.data}, n = {args.n} per side, extractor {args.extractor}, seed {args.seed}")
    print("| X vs A | " + " | ".join(KEYS) + " |")
    print("|---|" + "---:|" * len(KEYS))
    for name, r in result["rows"].items():
        print(f"| {name} | " + " | ".join(f"{r[k]:.4g}" for k in KEYS) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
