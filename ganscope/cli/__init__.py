"""The ``ganscope`` command line: ``main.py`` builds the parser and runs a command; one module per command group
(``theory``, ``sweep``; the other commands still register from their library modules, ``main.REGISTERED``).

``from ganscope.cli import main, build_parser`` is the way in (``ganscope.cli:main`` is the console script).
Note that ``ganscope.cli.main`` as an attribute is the function; the module is ``sys.modules["ganscope.cli.main"]``.
"""
from ganscope.cli.main import COMMANDS, REGISTERED, _Parser, build_parser, main

__all__ = ["COMMANDS", "REGISTERED", "_Parser", "build_parser", "main"]
