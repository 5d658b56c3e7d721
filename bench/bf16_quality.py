"""bf16 training quality: the same R1 image recipe at ``train.precision`` fp32 and bf16, the same seeds, final FID.

The protocol is fixed in docs/performance.md ("bf16: training quality"), written before the first run:

* ``digits`` (default): ``reproduce mescheder2018``'s "R1 on images" section at its --quick size
  (``reproduce.r1_images.QUICK``): shipped config ``images``, ``method=r1 net=resnet penalty.name=r1``,
  sklearn digits 8×8, ResNet widths 32, latent 64, batch 64, RMSProp 1e-4, γ = 20, EMA 0.99, 600 generator
  steps, evaluation every 100 steps; the final FID (the last evaluation, on the EMA generator, ganscope's
  ``fmnist-cnn`` extractor against the digits test split).
* ``fashion`` (shorter budget): the same recipe on Fashion-MNIST 28×28 grey (Debian's dataset-fashion-mnist),
  widths 32, EMA 0.99, 400 generator steps, evaluation every 200 steps, 1,000 evaluation samples.

Seeds 0..N−1 (default N = 5) at both precisions, one thread each, one run after another. Criterion: bf16 agrees
iff its mean final FID lies inside the fp32 runs' Student-t 95 % interval (mean ± t₀.₉₇₅,ₙ₋₁·s/√n). Reported
besides: both intervals and the per-seed paired differences bf16 − fp32 (mean and interval).

    OMP_NUM_THREADS=1 nice -n 10 python bench/bf16_quality.py [digits|fashion] [--seeds N] [--out DIR]
    python bench/run.py --long bf16_quality      # the same (digits), as a bench row (skipped without --long)

Each run is ``python -m ganscope train images ... --out DIR/<protocol>/<precision>-s<seed>``; a run whose
``summary.json`` exists is not run again (resume after an interruption). The table goes to DIR/<protocol>.json.
"""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from ganscope.reproduce.criteria import interval  # noqa: E402

LONG = True  # bench/run.py runs this module only with --long
BASE = ["method=r1", "net=resnet", "penalty.name=r1", "train.threads=1"]
PROTOCOLS = {
    "digits": ["train.steps=600", "data.name=digits", "model.g_width=32", "model.d_width=32",
               "train.eval_every=100", "game.ema=0.99"],
    "fashion": ["train.steps=400", "data.name=fashion-mnist", "model.g_width=32", "model.d_width=32",
                "train.eval_every=200", "game.ema=0.99", "data.eval_samples=1000"],
}
PRECISIONS = ("fp32", "bf16")


def train(out: Path, overrides: list[str]) -> dict:
    """One training run in a fresh process (one thread), or its existing summary; the summary.json."""
    summary = out / "summary.json"
    if not summary.is_file():
        env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
        cmd = [sys.executable, "-m", "ganscope", "train", "images", *overrides, "--out", str(out)]
        out.parent.mkdir(parents=True, exist_ok=True)
        with open(out.parent / f"{out.name}.log", "w") as log:
            subprocess.run(cmd, check=True, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    return json.loads(summary.read_text())


def final_fid(run_dir: Path) -> float:
    """The last evaluation's FID (metrics.jsonl), as ``reproduce.r1_images.run_stats`` reads it."""
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line.strip()]
    return float([r for r in rows if "fid" in r][-1]["fid"])


def compare(fids: dict) -> dict:
    """The criterion and its numbers from {precision: [final FID per seed]} (the same seeds, in order)."""
    (m32, h32), (m16, h16) = interval(fids["fp32"]), interval(fids["bf16"])
    diffs = [b - a for a, b in zip(fids["fp32"], fids["bf16"])]
    md, hd = interval(diffs)
    inside = math.isfinite(h32) and abs(m16 - m32) <= h32
    return {"fp32": {"mean": m32, "half_width": h32, "interval": [m32 - h32, m32 + h32]},
            "bf16": {"mean": m16, "half_width": h16, "interval": [m16 - h16, m16 + h16]},
            "paired_diff_bf16_minus_fp32": {"per_seed": diffs, "mean": md, "half_width": hd},
            "criterion": "bf16 mean final FID inside the fp32 runs' Student-t 95 % interval",
            "agrees": bool(inside)}


def run_protocol(name: str, seeds: int, out: Path) -> dict:
    out = out.resolve()
    fids = {p: [] for p in PRECISIONS}
    for seed in range(seeds):
        for prec in PRECISIONS:  # the two precisions alternate, so that a load change hits both alike
            run_dir = out / name / f"{prec}-s{seed}"
            train(run_dir, [*BASE, *PROTOCOLS[name], f"seed={seed}", f"train.precision={prec}"])
            fids[prec].append(final_fid(run_dir))
            print(f"{name} seed {seed} {prec}: final FID {fids[prec][-1]:.3f}", file=sys.stderr, flush=True)
    result = {"protocol": name, "overrides": [*BASE, *PROTOCOLS[name]], "seeds": list(range(seeds)),
              "final_fid": fids, **compare(fids)}
    (out / f"{name}.json").write_text(json.dumps(result, indent=1))
    return result


def main(quick: bool = False) -> list[dict]:
    """bench/run.py's row: the digits protocol (5 seeds); under --quick nothing is trained (an info row)."""
    from _harness import row

    if quick:
        return [row("bf16 training quality (digits R1)", "skipped under --quick (a training comparison)", None, None)]
    res = run_protocol("digits", 5, Path(os.environ.get("BF16_QUALITY_OUT", "runs/bf16_quality")))
    d = res["paired_diff_bf16_minus_fp32"]
    r = row("bf16 training quality (digits R1, 5 seeds)", "bf16 mean final FID − fp32 mean",
            res["bf16"]["mean"] - res["fp32"]["mean"], None, fp32=res["fp32"], bf16=res["bf16"],
            paired_mean=d["mean"], paired_half_width=d["half_width"], agrees=res["agrees"])
    r["verdict"] = "met" if res["agrees"] else "missed"
    return [r]


def cli(argv: list[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser(description="bf16 against fp32 training quality (final FID over seeds)")
    parser.add_argument("protocol", nargs="?", default="digits", choices=sorted(PROTOCOLS))
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--out", default="runs/bf16_quality")
    args = parser.parse_args(argv)
    res = run_protocol(args.protocol, args.seeds, Path(args.out))
    print(json.dumps({k: res[k] for k in ("final_fid", "fp32", "bf16", "paired_diff_bf16_minus_fp32", "agrees")},
                     indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(cli(sys.argv[1:]))
