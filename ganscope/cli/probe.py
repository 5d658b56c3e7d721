"""``ganscope probe RUN_DIR [--steps N] [--sigma S] [--seeds K] [--member I] [--lr LR] [--views K] --out DIR``: the
frozen-generator gradient probe (``ganscope.analysis.probe``, docs/theory.md)."""
from __future__ import annotations

from pathlib import Path

from ganscope.analysis.probe import DEFAULTS, run_probe
from ganscope.cli.args import add_device, check_out_dir, resolve_device
from ganscope.errors import UsageError


def register(subparsers):
    """Add ``ganscope probe RUN_DIR [--steps N] [--sigma S] [--seeds K] [--member I] [--lr LR] [--views K]
    [--view-width W] --out DIR``."""
    p = subparsers.add_parser(
        "probe", help="frozen-generator gradient probe (Arjovsky & Bottou 2017, Figs. 1-3)",
        description="Freeze the generator of each kept checkpoint of a run, train a fresh discriminator alone, and "
                    "record its loss and accuracy and the generator's gradient norm under the original and the "
                    "-log D costs, with and without instance noise. Writes probe.png and probe.json.")
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run directory (ganscope train ... --out RUN_DIR)")
    p.add_argument("--steps", type=int, default=DEFAULTS["steps"],
                   help=f"discriminator iterations (default {DEFAULTS['steps']})")
    p.add_argument("--sigma", type=float, default=DEFAULTS["sigma"],
                   help=f"instance-noise σ of the noisy row; 0 for none (default {DEFAULTS['sigma']})")
    p.add_argument("--seeds", type=int, default=DEFAULTS["seeds"],
                   help=f"fresh discriminators per checkpoint (default {DEFAULTS['seeds']})")
    p.add_argument("--member", type=int, default=0, help="generator member of an ensemble run (default 0)")
    p.add_argument("--lr", type=float, default=DEFAULTS["lr"], help="Adam learning rate of D (default 1e-4)")
    p.add_argument("--views", type=int, default=1,
                   help="image runs: the fresh discriminator is K discriminators on K random projections, RP-GAN's "
                        "(default 1: the full-view discriminator)")
    p.add_argument("--view-width", type=int, default=0,
                   help="with --views: channels of each view's widest layer (default 0: 12 views together as large "
                        "as the full-view discriminator)")
    p.add_argument("--out", metavar="DIR", help="output directory for probe.png and probe.json")
    add_device(p)
    p.set_defaults(run=_run_cli)
    return p


def _run_cli(args) -> int:
    if not args.out:
        raise UsageError("--out: give the output directory for probe.png and probe.json")
    check_out_dir(args.out)
    result = run_probe(args.run_dir, args.out, steps=args.steps, sigma=args.sigma, seeds=args.seeds,
                       member=args.member, lr=args.lr, progress=True, device=resolve_device(args), views=args.views,
                       view_width=args.view_width)
    for step, entry in sorted(result["checkpoints"].items()):
        for setting, e in entry.items():
            s = e["summary"]
            g, h = s["grad_norm_original"], s["grad_norm_minus_log_d"]
            print(f"G step {step:>6} {setting:<11} accuracy {s['accuracy']['end']:.3f}  rejected "
                  f"{s['rejected']['end']:.3f}  ‖∇‖ original "
                  f"{g['start']:.3g} -> peak {g['peak']:.3g} -> {g['end']:.3g}  "
                  f"−log D {h['start']:.3g} -> {h['end']:.3g}")
    print(f"probe written to {Path(args.out) / 'probe.png'} and probe.json")
    return 0
