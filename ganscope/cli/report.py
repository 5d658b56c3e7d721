"""``ganscope report DIR [--strict] [--check]``: rebuild the reproduction pages from report.json
(``ganscope.report``, docs/report.md); ``--check`` loads each page in headless Chromium (``ganscope.pagecheck``)."""
from __future__ import annotations

import sys
from pathlib import Path

from ganscope.errors import UsageError
from ganscope.pagecheck import BrowserNotFound, check_page
from ganscope.report import build


def register(subparsers) -> None:
    """Add `ganscope report DIR [--strict] [--check]`."""
    p = subparsers.add_parser("report", help="rebuild the HTML/Markdown reproduction report from report.json",
                              description="Render DIR/report.json (from `ganscope reproduce`) to DIR/index.html and "
                                          "DIR/REPORT.md, or every PAPER/report.json under DIR plus DIR/index.html. "
                                          "Nothing is retrained.")
    p.add_argument("dir", metavar="DIR", help="a reproduce output directory, or a directory of them")
    p.add_argument("--strict", action="store_true", help="exit 2 on any problem (missing figure, failed --check)")
    p.add_argument("--check", action="store_true", help="also load each page in headless Chromium and report "
                                                        "broken images, console errors and external requests")
    p.set_defaults(run=_run_report)


def _run_report(args) -> int:
    done = build(args.dir)
    problems = list(done["problems"])
    pages = done["pages"] + ([done["index"]] if done["index"] else [])
    if args.check:
        problems += _check_pages(pages)
    for page in pages:
        print(f"wrote {page} and {Path(page).with_name('REPORT.md')}")
    for prob in problems:
        print(f"warning: {prob}", file=sys.stderr)
    if problems and args.strict:
        raise UsageError(f"--strict: {len(problems)} problem(s), first: {problems[0]}")
    return 0


def _check_pages(pages) -> list[str]:
    try:
        return [f"{page}: {prob}" for page in pages for prob in check_page(page)]
    except BrowserNotFound as err:
        raise UsageError(f"--check: {err}") from None
