"""``ganscope train CONFIG [key=value ...] --out DIR | --resume DIR | --list``: the training engine
(``ganscope.train``, docs/engine.md) on a YAML config or a shipped name (``ganscope.shipped``); ``train.start``
refuses an ``--out`` that is a file (``rundir.check_out``) before anything is written."""
from __future__ import annotations

from ganscope.errors import UsageError


def register(sub):
    """Add ``ganscope train CONFIG [key=value ...] --out DIR | --resume DIR | --list``."""
    p = sub.add_parser("train", help="train a GAN from a YAML config (2-D experiments)",
                       description="ganscope train CONFIG [key=value ...] --out DIR | --resume DIR [device=D] | --list")
    p.add_argument("config", nargs="?", help="a shipped config name such as toy2d (see --list), or a YAML file")
    p.add_argument("overrides", nargs="*", help="key.sub=value overrides, e.g. method=r1 train.steps=500")
    p.add_argument("--out", metavar="DIR", help="run directory to create")
    p.add_argument("--resume", metavar="DIR", help="continue an interrupted run")
    p.add_argument("--list", action="store_true", help="list the shipped configs, sweep specs and methods")
    p.set_defaults(run=_run_train)


def _run_train(args):
    from ganscope import train

    if args.list:
        return _list_configs()
    if args.resume:
        return train.resume(args.resume, spectrum=_run_spectrum, device=_resume_device(args))
    if not args.config:
        raise UsageError("config: give a YAML config (ganscope train --list shows the shipped ones)")
    if not args.out:
        raise UsageError("--out: give the run directory to create")
    return train.start(_find_config(args.config), args.overrides, args.out, spectrum=_run_spectrum)


def _resume_device(args):
    """``--resume DIR`` takes the run directory and at most a ``device=D`` override (resuming elsewhere)."""
    given = ([args.config] if args.config else []) + list(args.overrides)
    if args.out or len(given) > 1 or (given and not given[0].startswith("device=")):
        raise UsageError("--resume: takes only the run directory (its config.yaml is reused) and optionally "
                         "device=D to resume on another device")
    return given[0].split("=", 1)[1] if given else None


def _run_spectrum(run, member):
    """The engine's ``train.spectrum_at`` hook, imported only when a run asks for it."""
    from ganscope.analysis.diagnostics import run_spectrum

    return run_spectrum(run, member)


def _find_config(name):
    """A path, or the name of a shipped config (toy2d or toy2d.yaml)."""
    from ganscope.shipped import find_config

    return find_config(name)


def _list_configs():
    import yaml

    from ganscope.presets import PRESETS
    from ganscope.shipped import configs, sweeps

    for title, paths in (("configs:", configs()), ("sweep specs (ganscope sweep NAME):", sweeps())):
        print(title)
        for path in paths:
            first = path.read_text().splitlines()[0].lstrip("# ").strip()
            print(f"  {path.stem:<22} {first}")
    print("methods (method=NAME):")
    for name, spec in PRESETS.items():
        print(f"  {name:<22} {yaml.safe_dump(spec, default_flow_style=True, width=1000).strip()}")
    return 0
