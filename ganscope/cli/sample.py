"""``ganscope sample RUN_DIR --n N --out DIR [--step S] [--ema] [--seed S] [--interpolate K [--steps T]]``: a
stored run's samples as files for external tools, and latent interpolations (``ganscope.export``)."""
from __future__ import annotations

from ganscope.cli.args import check_int, check_out_dir
from ganscope.errors import UsageError
from ganscope.export import INTERPOLATION_STEPS, export_interpolations, export_samples


def register(sub):
    """Add ``ganscope sample`` to an argparse subparsers action."""
    p = sub.add_parser("sample", help="write a stored run's samples (PNGs, or .npy for 2-D/text) and interpolations",
                       description="N samples of a run's generator for external evaluation tools: one PNG each "
                                   "for image runs, samples.npy for 2-D and text runs; --interpolate K adds "
                                   "linear and spherical (slerp) latent interpolations between K pairs.")
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run directory (ganscope train --out)")
    p.add_argument("--n", type=int, help="number of samples (required unless --interpolate is given)")
    p.add_argument("--out", required=True, help="output directory (created if missing)")
    p.add_argument("--step", type=int, help="a kept checkpoint (checkpoints/step_NNNNNN.pt) instead of last.pt")
    p.add_argument("--ema", action="store_true", help="the EMA generator (the run must keep one) instead of the "
                                                      "training generator")
    p.add_argument("--seed", type=int, default=0, help="seed of the latents (default 0)")
    p.add_argument("--interpolate", type=int, metavar="K", help="also write interpolations between K latent pairs")
    p.add_argument("--steps", type=int, default=INTERPOLATION_STEPS,
                   help=f"points per interpolation, ends included (default {INTERPOLATION_STEPS})")
    p.set_defaults(run=run_command)
    return p


def run_command(args) -> int:
    """``ganscope sample RUN_DIR ...``: prints what it wrote."""
    if args.n is None and args.interpolate is None:
        raise UsageError("--n: give the number of samples (or --interpolate K)")
    check_int(args.n, "--n", 1)
    check_int(args.interpolate, "--interpolate", 1)
    check_int(args.steps, "--steps", 2)
    check_int(args.seed, "--seed", 0)
    check_out_dir(args.out)
    written = []
    if args.n is not None:
        written += export_samples(args.run_dir, args.n, args.out, args.step, args.ema, args.seed)
    if args.interpolate is not None:
        written += export_interpolations(args.run_dir, args.interpolate, args.out, args.step, args.ema, args.seed,
                                         args.steps)
    print(f"wrote {len(written)} file(s) to {args.out}" + (f": {written[0].name} ... {written[-1].name}"
                                                         if len(written) > 1 else f": {written[0].name}"))
    return 0
