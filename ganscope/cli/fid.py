"""``ganscope fid A B [--n N] [--extractor NAME_OR_PATH] [--seed S] [--kid] [--prdc] [--k K] [--device D] [--json]``:
FID and, with ``--kid``, KID, with ``--prdc``, precision/recall/density/coverage (``ganscope.metrics.images``,
docs/images_metrics.md); the extractor and a run's generator on ``--device``."""
from __future__ import annotations

import functools
import json
import sys

from ganscope.cli.args import add_device, resolve_device
from ganscope.metrics.extractors import DEFAULT
from ganscope.metrics.images import DEFAULT_N, K, compare


def register(subparsers):
    """Add ``ganscope fid A B [--n N] [--extractor NAME_OR_PATH] [--seed S] [--kid] [--prdc] [--k K] [--json]``."""
    p = subparsers.add_parser(
        "fid", help="FID (with --kid also KID, with --prdc precision/recall/density/coverage) of images A against "
                    "reference B",
        description="A and B: a data set (digits, fashion-mnist, mnist5k; add :train or :test, default test), "
                    "folder:PATH or a directory of PNG/JPEG images, or a run directory (samples of its EMA "
                    "generator). The same spec on both sides with the same seed gives the same images.")
    p.add_argument("a", metavar="A", help="the images under test, e.g. a run directory")
    p.add_argument("b", metavar="B", help="the reference, e.g. fashion-mnist:test")
    p.add_argument("--n", type=int, help=f"samples per side (default: the smaller side, at most {DEFAULT_N})")
    p.add_argument("--extractor", default=DEFAULT, metavar="NAME_OR_PATH",
                   help="fmnist-cnn (default), inception:WEIGHTS.pth, or a TorchScript .pt file")
    p.add_argument("--seed", type=int, default=0, help="seed of the subsets, run latents and KID subsets (default 0)")
    p.add_argument("--kid", action="store_true",
                   help="also KID over 100 subsets of min(1000, n) (off by default: its 300 float64 kernel "
                        "products take seconds, about as long as the rest of the command with a warm cache)")
    p.add_argument("--prdc", action="store_true",
                   help="also precision, recall, density and coverage (off by default: a quarter of the time "
                        "at n = 10,000)")
    p.add_argument("--k", type=int, default=K, help=f"nearest neighbours for PRDC (default {K})")
    add_device(p)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(run=run_cli)
    return p


def run_cli(args) -> int:
    from ganscope import rundir

    device = resolve_device(args)
    r = compare(args.a, args.b, extractor=args.extractor, n=args.n, seed=args.seed, k=args.k,
                runs=functools.partial(rundir.sample, device=device), device=device, prdc=args.prdc,
                kid=args.kid)
    if args.json:
        print(json.dumps(r, allow_nan=False))
        return 0
    print(f"{r['source']} vs {r['reference']}: n = {r['n']} each, extractor {r['extractor']} "
          f"({r['extractor_sha256']}), seed {r['seed']}")
    kid = (f"   KID {r['kid']:.5f} ± {r['kid_std']:.5f} ({r['kid_subsets']} subsets of {r['kid_subset_size']})"
           if args.kid else "")
    print(f"  FID {r['fid']:.4f}{kid}")
    if args.prdc:
        print(f"  precision {r['precision']:.4f}  recall {r['recall']:.4f}  density {r['density']:.4f}  "
              f"coverage {r['coverage']:.4f} (k = {r['k']})")
    sys.stdout.flush()
    return 0
