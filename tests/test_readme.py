"""Every command in README.md's shell code blocks runs as written from an empty directory, in order.

Long ones run with small step overrides (``SMALL``); the few that take minutes or a whole reproduction are
skipped with their reason (``SKIP``). The commands run in-process (one torch import) in a temporary directory.
"""
import re
import shlex
from pathlib import Path

import pytest

from ganscope.cli import main

README = Path(__file__).resolve().parents[1] / "README.md"

SKIP = {  # a command's start -> why it does not run here
    "make demo": "bootstraps .venv and runs every reproduction (about 13 minutes)",
    "make test": "the test suite itself",
    "ganscope train images": "image GANs: a ResNet/DCGAN step and the FID evaluation take minutes on a CPU "
                             "(tests/test_images_train.py trains a tiny one)",
    "ganscope reproduce": "minutes even with --quick (tests/test_reproduce.py; make demo)",
    "ganscope report": "renders the reproduction above (tests/test_report.py)",
}
SMALL = [  # (a command's start, arguments added): the first that matches applies
    ("ganscope train --", ()),
    ("ganscope train charlm", ("train.steps=2", "train.eval_every=2")),  # its evaluation dominates
    ("ganscope train", ("train.steps=20", "train.eval_every=20", "checkpoint.keep=[0,20]")),  # after CONFIG
    ("ganscope dirac --all", ("--steps", "50")),
    ("ganscope spectrum runs/", ("--batch", "16", "--k", "2")),
    ("ganscope toy2d", ("--steps", "2")),
    ("ganscope theory optimal-d", ("--steps", "50")),
    ("ganscope theory perfect-d", ("--seeds", "1", "--max-steps", "20")),
    ("ganscope probe", ("--steps", "5", "--seeds", "1")),
    ("ganscope fid", ("--n", "100")),
    ("ganscope sweep", ("--dry-run",)),
]


def commands() -> list[str]:
    """The lines of README.md's ```bash blocks, comments removed."""
    blocks = re.findall(r"^```bash\n(.*?)^```", README.read_text(encoding="utf-8"), flags=re.S | re.M)
    return [" ".join(shlex.split(line, comments=True)) for block in blocks for line in block.splitlines()
            if shlex.split(line, comments=True)]


def sized(command: str) -> list[str]:
    argv = shlex.split(command)[1:]
    for start, extra in SMALL:
        if command.startswith(start):
            if start.startswith("ganscope train") and extra:  # key=value overrides go right after CONFIG
                return argv[:2] + list(extra) + argv[2:]
            return argv + list(extra)
    return argv


def test_readme_lines_are_commands_not_alternatives():
    lines = commands()
    assert len(lines) >= 20
    for line in lines:
        assert "|" not in line and " or " not in line, f"{line!r}: the shell would run this as a pipe"
        assert line.startswith(("ganscope ", "make ")), line
        assert "configs/" not in line, f"{line!r}: name a shipped config, not a repository path"


def test_readme_commands_run_from_an_empty_directory(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    ran = []
    for command in commands():
        if any(command.startswith(s) for s in SKIP):
            continue
        if command.startswith("ganscope fid") and not Path("/usr/share/datasets/fashion-mnist").is_dir():
            continue  # Debian's dataset-fashion-mnist is not installed here
        argv = sized(command)
        try:
            rc = main(argv)
        except SystemExit as exit_:  # --help, --version
            rc = exit_.code
        err = capsys.readouterr().err
        assert rc == 0, f"{command!r} (run as {argv}) exited {rc}: {err[-500:]}"
        ran.append(command)
    assert sum(c.startswith("ganscope train") for c in ran) >= 4 and any(c.startswith("ganscope probe") for c in ran)
