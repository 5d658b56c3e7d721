"""``ganscope doctor --generator MODULE:FACTORY --critic MODULE:FACTORY --checkpoint FILE [--keys G,D] --data SOURCE
[--loss NAME] [--penalty NAME=WEIGHT] [--latent N] [--samples N] [--metrics LIST] [--probe-iterations N]
--out DIR``: the monitor's diagnostic page for one training point of a user's own nets (``ganscope.monitor.doctor``,
docs/monitor.md)."""
from __future__ import annotations

import math

from ganscope.cli.args import check_int, check_out_dir
from ganscope.errors import UsageError
from ganscope.objectives import OBJECTIVES


def register(subparsers):
    """Add ``ganscope doctor ...``."""
    p = subparsers.add_parser(
        "doctor", help="diagnose one checkpoint of your own GAN (nets from your code, weights from your file)",
        description="Build the generator and the critic by calling your factories without arguments (MODULE:NAME "
                    "as for `python -m`, or path/to/file.py:NAME), load their state dicts from a checkpoint with "
                    "torch.load(weights_only=True), and write the monitor's page for that point: convergence "
                    "diagnostics, FID or mode statistics, the Jacobian's leading eigenvalues and the frozen-"
                    "generator probe, each with a plain-language reading. Importing the factories runs your code.")
    p.add_argument("--generator", required=True, metavar="MODULE:FACTORY", help="the generator's factory")
    p.add_argument("--critic", required=True, metavar="MODULE:FACTORY", help="the critic's factory (logits, shape (B,))")
    p.add_argument("--checkpoint", required=True, metavar="FILE", help="a dict of state dicts (torch.save)")
    p.add_argument("--keys", default="generator,critic", metavar="G,D",
                   help="the checkpoint's keys of the two state dicts (default generator,critic)")
    p.add_argument("--data", required=True, metavar="SOURCE",
                   help="real data: digits, fashion-mnist, mnist5k (:train/:test), folder:PATH, or a 2-D data set "
                        "(8gaussians, 25gaussians, ...)")
    p.add_argument("--loss", default="nonsaturating", help=f"the objective you train with ({', '.join(OBJECTIVES)})")
    p.add_argument("--penalty", metavar="NAME=WEIGHT", help="a penalty for the spectrum's field, e.g. r1=10")
    p.add_argument("--latent", type=int, metavar="N", help="latent size (default: the generator's latent_dim or its "
                                                           "first Linear layer's in_features)")
    p.add_argument("--samples", type=int, default=1000, help="samples for FID / modes (default 1000)")
    p.add_argument("--metrics", metavar="LIST",
                   help="comma-separated subset of diagnostics,fid,modes,spectrum,probe (default: diagnostics, fid "
                        "for images or modes for a mixture, spectrum, probe; the spectrum of a large model takes "
                        "minutes on a CPU)")
    p.add_argument("--probe-iterations", type=int, default=200,
                   help="iterations of the probe's fresh critic (default 200)")
    p.add_argument("--out", required=True, metavar="DIR", help="output directory (summary.json, plots/, index.html)")
    p.set_defaults(run=run_cli)
    return p


def parse_keys(text: str) -> tuple[str, str]:
    keys = [k.strip() for k in text.split(",")]
    if len(keys) != 2 or not all(keys):
        raise UsageError(f"--keys: expected two comma-separated keys G,D, got {text!r}")
    return keys[0], keys[1]


def parse_penalty(text):
    if text is None:
        return None
    name, _, weight = text.partition("=")
    if not weight:
        return name
    try:
        value = float(weight)
    except ValueError:
        raise UsageError(f"--penalty: expected NAME=WEIGHT with a number, got {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise UsageError(f"--penalty: the weight must be a finite number >= 0, got {text!r}")
    return name, value


def run_cli(args) -> int:
    from ganscope.monitor import doctor

    if args.loss not in OBJECTIVES:
        raise UsageError(f"--loss: unknown loss {args.loss!r}; allowed: {', '.join(OBJECTIVES)}")
    check_int(args.latent, "--latent", 1)
    check_int(args.samples, "--samples", 10)
    check_int(args.probe_iterations, "--probe-iterations", 1)
    check_out_dir(args.out)
    summary = doctor(args.generator, args.critic, args.checkpoint, args.data, args.out, keys=parse_keys(args.keys),
                     loss=args.loss, penalty=parse_penalty(args.penalty), latent=args.latent, samples=args.samples,
                     probe_iterations=args.probe_iterations,
                     metrics=None if args.metrics is None else tuple(m.strip() for m in args.metrics.split(",")))
    for r in summary["readings"]:
        print(f"{r['diagnostic']:<14} {r['verdict']:<8} {r['text']}")
    print(f"wrote {args.out}/index.html (rebuild: ganscope report {args.out})")
    return 0
