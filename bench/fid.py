"""Benchmark: ``ganscope fid A B`` as a whole process against torchmetrics' FID with the same extractor.

(e) A = fashion-mnist:train (a seeded subset of n), B = fashion-mnist:test, n = 10,000 per side (1,000 with
    ``--quick``), each side a fresh Python process (imports, decoding, features, statistics all timed):
    ``python -m ganscope fid A B --n N`` (FID only: KID and PRDC are on request, ``--kid``, ``--prdc``) with an
    empty feature cache (cold) and with the cache filled by an untimed run beforehand (warm), against
    ``bench/_fid_torchmetrics.py`` (torchmetrics' ``FrechetInceptionDistance(feature=<the same extractor>)``,
    the same images, no cache). The three processes alternate; medians. Target: ganscope ≤ 1.0× torchmetrics'
    time, cold and warm. A last row times what ``--kid`` adds.
Run: .venv/bin/python bench/fid.py [--quick]
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from _harness import interleaved, row, thread_counts

A, B = "fashion-mnist:train", "fashion-mnist:test"
HERE = Path(__file__).resolve().parent


def _process(args: list[str], env: dict):
    def block():
        subprocess.run([sys.executable, *args], check=True, env=env, stdout=subprocess.DEVNULL)
    return block


def fid_rows(quick: bool) -> list[dict]:
    from ganscope.data.images import is_image_data

    n = 1000 if quick else 10_000
    repeats = 1 if quick else 3
    if not is_image_data("fashion-mnist"):
        return [row("ganscope fid vs torchmetrics", "ganscope time / torchmetrics time", None, None,
                    note="fashion-mnist not installed")]
    rows = []
    for t in thread_counts(quick)[-1:]:
        with tempfile.TemporaryDirectory() as tmp:
            base = {**os.environ, "OMP_NUM_THREADS": str(t), "MKL_NUM_THREADS": str(t),
                    "PYTHONPATH": os.pathsep.join([str(HERE.parent), os.environ.get("PYTHONPATH", "")])}
            warm_env, cold_dir = {**base, "GANSCOPE_CACHE": str(Path(tmp) / "warm")}, Path(tmp) / "cold"
            ours = ["-m", "ganscope", "fid", A, B, "--n", str(n)]
            _process(ours, warm_env)()  # fills the warm cache (untimed)

            def cold():
                shutil.rmtree(cold_dir, ignore_errors=True)
                _process(ours, {**base, "GANSCOPE_CACHE": str(cold_dir)})()
            res = interleaved({"cold": cold, "warm": _process(ours, warm_env),
                               "torchmetrics": _process([str(HERE / "_fid_torchmetrics.py"), A, B, str(n)], base)},
                              repeats, warmup=0)
        for side in ("cold", "warm"):
            rows.append(row(f"ganscope fid {n} vs {n} {side} cache t{t}", "ganscope time / torchmetrics time",
                            res[side] / res["torchmetrics"], "<= 1.0", threads=t, n=n,
                            ganscope_s=round(res[side], 2), torchmetrics_s=round(res["torchmetrics"], 2)))
    rows.append(kid_share_row(n))
    return rows


def kid_share_row(n: int) -> dict:
    """What ``--kid`` adds to the command (off by default; torchmetrics' FID does not compute KID either): KID over
    100 subsets of min(1,000, n), float64, timed in this process on random features of the extractor's width,
    against the FID of the same features."""
    import time

    import torch

    from ganscope.metrics.extractors import load_extractor
    from ganscope.metrics.images import KID_SUBSET_SIZE, KID_SUBSETS, frechet_distance, kernel_distance

    width = load_extractor().features(torch.zeros(2, 1, 28, 28)).shape[1]
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(n, width, generator=g), torch.randn(n, width, generator=g) + 0.1
    t0 = time.perf_counter()
    frechet_distance(a, b)
    t1 = time.perf_counter()
    kernel_distance(a, b, KID_SUBSETS, min(KID_SUBSET_SIZE, n))
    t2 = time.perf_counter()
    return row(f"ganscope fid {n} --kid: KID's cost (in-process)", "seconds of KID's 100 subsets", t2 - t1, None,
               n=n, features=width, fid_s=round(t1 - t0, 3), kid_s=round(t2 - t1, 2),
               note="KID is computed only with --kid; FID alone is what torchmetrics' FID is compared with")


def main(quick: bool = False) -> list[dict]:
    return fid_rows(quick)


if __name__ == "__main__":
    from _harness import print_rows

    print_rows(main("--quick" in sys.argv[1:]))
