"""The ``ganscope`` command line: ``main.py`` builds the parser from ``main.COMMANDS`` (a tuple of modules, one per
command: ``dirac``, ``train``, ``toy2d``, ``theory``, ``spectrum``, ``probe``, ``report``, ``reproduce``, ``sweep``,
``fid``), each with ``register(subparsers)`` and its run function; ``args.py`` holds the argument checks and the
``--json``/``--plot`` output they share. Library modules hold no argparse.

``from ganscope.cli import main, build_parser`` is the way in (``ganscope.cli:main`` is the console script).
Note that ``ganscope.cli.main`` as an attribute is the function; the module is ``sys.modules["ganscope.cli.main"]``.
"""
from ganscope.cli.main import COMMANDS, _Parser, build_parser, main

__all__ = ["COMMANDS", "_Parser", "build_parser", "main"]
