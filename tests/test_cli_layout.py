"""The command line's layout: one module per command under ganscope/cli/, no argparse anywhere else."""
import re
import types
from pathlib import Path

import ganscope
from ganscope import cli

ROOT = Path(ganscope.__file__).parent


def test_library_modules_hold_no_argparse():
    offenders = []
    for path in ROOT.rglob("*.py"):
        if path.relative_to(ROOT).parts[0] == "cli":
            continue
        text = path.read_text(encoding="utf-8")
        if re.search(r"\bargparse\b|add_argument|add_parser|add_subparsers", text):
            offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []


def test_commands_are_modules_each_with_register():
    assert isinstance(cli.COMMANDS, tuple) and all(isinstance(m, types.ModuleType) for m in cli.COMMANDS)
    assert all(m.__name__.startswith("ganscope.cli.") and callable(m.register) for m in cli.COMMANDS)
    names = list(cli.build_parser()._subparsers._group_actions[0].choices)
    assert names == ["dirac", "train", "toy2d", "theory", "spectrum", "probe", "report", "reproduce", "sweep", "fid",
                     "doctor", "sample", "lab"]
    assert [m.__name__.rsplit(".", 1)[1] for m in cli.COMMANDS] == names
    assert not hasattr(cli, "REGISTERED")


def test_the_old_entry_points_keep_working():
    from ganscope.cli import build_parser, main  # noqa: F401

    assert callable(main) and main(["dirac", "--steps", "5", "--json"]) == 0
