"""``ganscope lab``: the live lab in the browser (``ganscope.lab``, docs/lab.md)."""
from __future__ import annotations

from ganscope.cli.args import check_int
from ganscope.errors import UsageError


def register(sub):
    """Add ``ganscope lab [--port P] [--host H] [--no-browser] [--max-trainings N]``."""
    p = sub.add_parser("lab", help="the live lab: the Dirac-GAN and a 2-D training in the browser",
                       description="A local web application (127.0.0.1 by default): the Dirac-GAN's field, "
                                   "eigenvalues and convergence map, and a real 2-D GAN training streamed live.")
    p.add_argument("--port", type=int, default=8765, help="TCP port (default 8765; 0: any free port)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--no-browser", action="store_true", help="do not open a browser tab")
    p.add_argument("--max-trainings", type=int, default=4, help="trainings at once (default 4)")
    p.set_defaults(run=_run_lab)


def _run_lab(args):
    check_int(args.port, "--port", 0, 65535)
    check_int(args.max_trainings, "--max-trainings", 1, 64)
    try:
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as err:
        raise UsageError(f"lab: needs Starlette and uvicorn ({err.name} is missing): pip install starlette uvicorn") \
            from None
    from ganscope.lab.server import serve

    return serve(args.host, args.port, not args.no_browser, args.max_trainings)
