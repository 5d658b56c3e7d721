"""Train the shipped FID/KID/PRDC feature extractor, ``fmnist-cnn``, deterministically on one CPU thread.

    OMP_NUM_THREADS=1 python scripts/train_extractor.py            # writes ganscope/assets/fmnist_cnn.{pt,json}

Fashion-MNIST train (60,000 images) → :class:`ganscope.metrics.extractors.FashionCNN`; Adam (lr 1e-3,
β = (0.9, 0.999)), batch 128, cross-entropy, ``--epochs`` passes over a seeded shuffle; accuracy on the
10,000 test images. Same seed and torch version → the same weights file, byte for byte (its SHA-256 is
recorded in the JSON).
"""
from __future__ import annotations

import argparse
import io
import json
import platform
import shlex
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from ganscope.data.images import load_images
from ganscope.io import atomic_path, write_json
from ganscope.metrics.extractors import FMNIST_INFO, FMNIST_WEIGHTS, FashionCNN, file_digest

COMMAND = "OMP_NUM_THREADS=1 python scripts/train_extractor.py"


@torch.no_grad()
def accuracy(net: FashionCNN, x: torch.Tensor, y: torch.Tensor, batch: int = 1000) -> float:
    net.eval()
    correct = sum(int((net(xb).argmax(1) == yb).sum()) for xb, yb in zip(x.split(batch), y.split(batch)))
    return correct / len(y)


def train(epochs: int, seed: int, batch: int = 128, lr: float = 1e-3, limit: int | None = None,
          log=print) -> tuple[FashionCNN, float]:
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    torch.manual_seed(seed)
    train_set, test_set = load_images("fashion-mnist:train"), load_images("fashion-mnist:test")
    x, y = train_set.x[:limit], train_set.labels[:limit]
    net = FashionCNN()
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    order = torch.Generator().manual_seed(seed)
    for epoch in range(epochs):
        net.train()
        start, total = time.time(), 0.0
        for idx in torch.randperm(len(x), generator=order).split(batch):
            loss = F.cross_entropy(net(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
        log(f"epoch {epoch + 1}/{epochs}: loss {total / len(x):.4f} ({time.time() - start:.0f} s)")
    return net, accuracy(net, test_set.x, test_set.labels)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--limit", type=int, help="train on the first N images only (a quick check)")
    p.add_argument("--out", type=Path, default=FMNIST_WEIGHTS, help=f"weights file (default {FMNIST_WEIGHTS})")
    args = p.parse_args(argv)
    start = time.time()
    net, acc = train(args.epochs, args.seed, limit=args.limit)
    buffer = io.BytesIO()  # a file target would put its (random) temporary name into the archive
    torch.save(net.state_dict(), buffer)
    with atomic_path(args.out) as tmp:
        tmp.write_bytes(buffer.getvalue())
    argv_given = sys.argv[1:] if argv is None else argv
    info = {"extractor": "fmnist-cnn", "test_accuracy": acc, "test_images": 10000,
            "epochs": args.epochs, "seed": args.seed, "batch": 128, "lr": 1e-3,
            "train_images": args.limit or 60000,
            "parameters": sum(t.numel() for t in net.parameters()),
            "sha256_16": file_digest(args.out), "torch": torch.__version__, "python": platform.python_version(),
            "train_seconds": round(time.time() - start, 1),
            "command": " ".join([COMMAND, *map(shlex.quote, argv_given)])}
    write_json(args.out.with_suffix(".json") if args.out != FMNIST_WEIGHTS else FMNIST_INFO, info)
    print(json.dumps(info))
    return 0


if __name__ == "__main__":
    sys.exit(main())
