"""The `ganscope` command line: the parser, its commands (one module each, ``COMMANDS``), and `main`. Bad input
gives one line on stderr and exit status 2."""
from __future__ import annotations

import argparse
import sys

from ganscope.cli import (dirac, doctor, fid, lab, probe, report, reproduce, sample, spectrum, sweep, theory, toy2d,
                          train)
from ganscope.errors import UsageError


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad argument in one line (no usage dump) with exit status 2."""

    def error(self, message):
        raise UsageError(f"{self.prog}: {message}")


# One module per command, each with ``register(subparsers)``; ``ganscope --help`` lists them in this order.
COMMANDS = (dirac, train, toy2d, theory, spectrum, probe, report, reproduce, sweep, fid, doctor, sample, lab)


def build_parser() -> argparse.ArgumentParser:
    from ganscope import __version__

    parser = _Parser(prog="ganscope", description="Train GANs that converge, and see why they don't.")
    parser.add_argument("--version", action="version", version=f"ganscope {__version__}")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND", parser_class=_Parser)
    for command in COMMANDS:
        command.register(sub)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if not hasattr(args, "run"):
            parser.print_help()
            return 2
        return args.run(args) or 0
    except UsageError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
