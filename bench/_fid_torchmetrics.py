"""The reference side of bench/fid.py: FID of A against B by torchmetrics' ``FrechetInceptionDistance`` with the
same extractor (``ganscope.metrics.extractors``), the same images (``ganscope.data.images.load_images``, the
same seeded subsets of n) and no feature cache. Prints the FID.

Run: .venv/bin/python bench/_fid_torchmetrics.py A B N
"""
import sys

import torch


def main(a: str, b: str, n: int, seed: int = 0) -> float:
    from torchmetrics.image.fid import FrechetInceptionDistance

    from ganscope.data.images import load_images, parse_data_spec
    from ganscope.metrics.extractors import load_extractor

    ext = load_extractor()
    fid = FrechetInceptionDistance(feature=ext, normalize=True)
    for spec, real in ((b, True), (a, False)):
        name, split = parse_data_spec(spec)
        x = load_images(name, split=split or "test").x
        x = x[torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))[:n]]
        with torch.no_grad():
            for chunk in x.split(500):
                fid.update(chunk, real=real)
    return float(fid.compute())


if __name__ == "__main__":
    print(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
