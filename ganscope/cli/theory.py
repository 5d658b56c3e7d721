"""``ganscope theory ...``: the optimal-discriminator lab and Arjovsky & Bottou's fixed settings on the command line.

``ganscope theory optimal-d --real SPEC --fake SPEC [--steps N] [--seed S] [--held-out N]``
(``ganscope.analysis.theory``), ``ganscope theory jsd-saturation [--distances D,...]``, ``ganscope theory perfect-d
[--setting NAME|all] [--seeds K] [--max-steps N]``, ``ganscope theory theorem-2-5 [--theta0 X ...]``
(``ganscope.experiments.arjovsky2017``); each with ``--json`` (one object, null for nan/inf) and all but the last
with ``--plot FILE.png``. Distributions: ``ganscope.analysis.distributions``.
"""
from __future__ import annotations

import math

from ganscope.analysis.distributions import FORMS, LOG2, parse_density
from ganscope.analysis.theory import TRAIN, optimal_d_report, plot_optimal_d
from ganscope.cli.args import check_int, check_png, emit, print_json
from ganscope.errors import UsageError
from ganscope.experiments.arjovsky2017 import (SATURATION_DISTANCES, SETTINGS, jsd_saturation,
                                               perfect_discrimination, plot_jsd_saturation,
                                               plot_perfect_discrimination, theorem_2_5)


def register(subparsers) -> None:
    """Add the ``theory`` command group (optimal-d, jsd-saturation, perfect-d, theorem-2-5) to ``subparsers``."""
    p = subparsers.add_parser("theory", help="optimal discriminator, JSD and perfect discrimination "
                                             "(Arjovsky & Bottou 2017; Barnett 2018)",
                              description="Closed-form and trained checks of GAN theory on known distributions.")
    sub = p.add_subparsers(title="analyses", metavar="ANALYSIS", parser_class=type(p))
    p.set_defaults(run=lambda args: (p.print_help(), 2)[1])
    o = sub.add_parser("optimal-d", help="D* = p_r/(p_r+p_g), V(D*,G) = -log 4 + 2 JSD, against a trained D",
                       description=f"Distributions: {FORMS}")
    o.add_argument("--real", required=True, metavar="SPEC", help="e.g. normal:0,1")
    o.add_argument("--fake", required=True, metavar="SPEC", help="e.g. normal:2,1")
    o.add_argument("--steps", type=int, default=2000, help="discriminator training steps (default 2000)")
    o.add_argument("--seed", type=int, default=0, help="seed of D's initialisation and samples (default 0)")
    o.add_argument("--held-out", type=int, default=TRAIN["held_out"],
                   help=f"fresh samples of each distribution for value_trained (default {TRAIN['held_out']})")
    _output_flags(o)
    o.set_defaults(run=_run_optimal_d)
    s = sub.add_parser("jsd-saturation", help="JSD of shifted copies saturates at log 2 (Thm 2.3)")
    default = ",".join(f"{d:g}" for d in SATURATION_DISTANCES)
    s.add_argument("--distances", metavar="D1,D2,...", help=f"shifts (default {default})")
    _output_flags(s)
    s.set_defaults(run=_run_jsd_saturation)
    d = sub.add_parser("perfect-d", help="a fresh D reaches held-out accuracy 1 (Thms 2.1/2.2)",
                       description="Settings: " + "; ".join(f"{k}: {v[1]}" for k, v in SETTINGS.items()))
    d.add_argument("--setting", default="lines", help=f"one of {', '.join(SETTINGS)}, or all (default lines)")
    d.add_argument("--seeds", type=int, default=3, help="number of seeds 0..K-1 (default 3)")
    d.add_argument("--max-steps", type=int, default=2000, help="discriminator iterations at most (default 2000)")
    _output_flags(d)
    d.set_defaults(run=_run_perfect_d)
    t = sub.add_parser("theorem-2-5", help="the -log D cost's gradient = ∇[KL - 2 JSD] (Thm 2.5)")
    t.add_argument("--theta0", type=float, nargs="+", default=[0.5, 1.0, 2.0], help="θ0 values (default 0.5 1 2)")
    t.add_argument("--json", action="store_true", help="print one JSON object")
    t.set_defaults(run=_run_theorem_2_5)


def _output_flags(p):
    p.add_argument("--json", action="store_true", help="print one JSON object (null where undefined)")
    p.add_argument("--plot", metavar="FILE.png", help="write a figure")


def _run_optimal_d(args):
    check_png(args.plot)
    p, q = parse_density(args.real, "--real"), parse_density(args.fake, "--fake")
    r = optimal_d_report(p, q, args.steps, args.seed, args.held_out)

    def summary():
        print(f"P_r = {r['real']}, P_g = {r['fake']} ({r['dim']}-D, {r['relation']})")
        print(f"  JSD(P_r‖P_g)        {r['jsd']:.6f} nats   (log 2 = {LOG2:.6f})")
        print(f"  V(D*, G)            {r['value_at_optimum']:.6f}   (-log 4 + 2 JSD, gap {r['identity_gap']:.1e})")
        print(f"  trained D           V = {r['value_trained']:.6f}, JSD ≈ {r['jsd_trained']:.6f} "
              f"(gap {r['gap_jsd']:+.4f}; {r['steps']} steps, seed {r['seed']}, {r['held_out']} held-out pairs)")
        for note in r["notes"]:
            print(f"  note: {note}")
    return emit(args, r, summary, lambda: plot_optimal_d(r))


def _parse_distances(text):
    if text is None:
        return SATURATION_DISTANCES
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise UsageError(f"--distances: expected comma-separated numbers, got {text!r}") from None
    if not all(math.isfinite(v) and v >= 0 for v in values):
        raise UsageError(f"--distances: shifts must be finite and >= 0, got {text!r}")
    return values


def _run_jsd_saturation(args):
    check_png(args.plot)
    rows = jsd_saturation(_parse_distances(args.distances))

    def summary():
        print(f"JSD (nats) of a distribution and its copy shifted by d; log 2 = {LOG2:.6f}")
        print(f"  {'d':>8}  {'U[0,1] vs U[d,d+1]':>19}  {'δ_0 vs δ_d':>11}  {'N(0,.25²) vs N(d,.25²)':>22}  {'W1':>8}")
        for r in rows:
            print(f"  {r['distance']:8g}  {r['uniform']:19.6f}  {r['point']:11.6f}  {r['normal']:22.6f}  {r['w1']:8g}")
    return emit(args, {"rows": rows, "log2": LOG2}, summary, lambda: plot_jsd_saturation(rows))


def _run_perfect_d(args):
    check_png(args.plot)
    check_int(args.seeds, "--seeds", 1)
    if args.setting != "all" and args.setting not in SETTINGS:
        raise UsageError(f"--setting: unknown setting {args.setting!r}; allowed: {', '.join(SETTINGS)}, all")
    names = list(SETTINGS) if args.setting == "all" else [args.setting]
    results = [perfect_discrimination(n, args.seeds, args.max_steps) for n in names]

    def summary():
        print(f"first D iteration with held-out accuracy exactly 1 (max {args.max_steps}; None = never)")
        for r in results:
            print(f"  {r['setting']:<18} median {r['median_first_perfect']}, per seed {r['first_perfect']}")
    out = results[0] if len(results) == 1 else {"settings": results}
    return emit(args, out, summary, lambda: plot_perfect_discrimination(results))


def _run_theorem_2_5(args):
    rows = [theorem_2_5(t) for t in args.theta0]
    if args.json:
        print_json({"rows": rows})
        return 0
    print("Thm 2.5, P_r = N(0,1), g_θ(z) = z + θ: E[-∂θ log D*(g_θ(z))] vs ∂θ[KL(P_gθ‖P_r) - 2 JSD(P_gθ‖P_r)]")
    for r in rows:
        print(f"  θ0 = {r['theta0']:g}: lhs {r['lhs']:.10f}, rhs {r['rhs']:.10f}, |diff| {r['abs_diff']:.1e}")
    return 0
