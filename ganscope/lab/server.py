"""Serving the lab: bind the address first (a port in use is refused in one line), then run uvicorn on it.

The default host is 127.0.0.1: only this machine can reach the lab. The process uses one torch thread
(``torch.set_num_threads(1)``), so each training thread takes one core and two side-by-side runs fit 2 cores.
"""
from __future__ import annotations

import errno
import socket
import threading
import time
import webbrowser
from contextlib import contextmanager

from ganscope.errors import UsageError

DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 8765
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1", "[::1]")


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on (host, port); UsageError naming --port (or --host) when that cannot be had."""
    try:
        info = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as err:
        raise UsageError(f"--host: cannot resolve {host!r} ({err.strerror})") from None
    sock = socket.socket(info[0], socket.SOCK_STREAM)
    try:
        sock.bind(info[4])
        sock.listen(64)
    except OSError as err:
        sock.close()
        if err.errno == errno.EADDRINUSE:
            raise UsageError(f"--port: port {port} on {host} is in use; choose another with --port") from None
        raise UsageError(f"--host/--port: cannot listen on {host}:{port} ({err.strerror})") from None
    sock.setblocking(False)
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://{f'[{host}]' if ':' in host else host}:{port}/"


def serve(host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, open_browser: bool = True, cap=None,
          announce=None) -> int:
    """Run the lab until interrupted; ``announce`` gets the line saying where it listens (default: stdout)."""
    sock = bind(host, port)  # first: a port in use is refused before anything heavy is imported
    import torch
    import uvicorn

    from ganscope.lab.app import create_app
    from ganscope.lab.training import MAX_TRAININGS, warm_up

    torch.set_num_threads(1)
    threading.Thread(target=warm_up, name="ganscope-lab-warm-up", daemon=True).start()
    url = url_of(sock)
    where = "this machine only" if host in LOOPBACK_NAMES else "every machine that can reach it"
    (announce or (lambda line: print(line, flush=True)))(
        f"ganscope lab on {url} (bound to {host}: {where}); Ctrl-C stops it")
    hosts = LOOPBACK_NAMES if host in LOOPBACK_NAMES else None  # beyond loopback the user chose who may connect
    config = uvicorn.Config(create_app(cap or MAX_TRAININGS, allowed_hosts=hosts), log_level="warning",
                            access_log=False,
                            timeout_graceful_shutdown=2)
    server = uvicorn.Server(config)
    if open_browser:
        threading.Timer(0.5, webbrowser.open, args=(url,)).start()
    server.run(sockets=[sock])
    return 0


@contextmanager
def running(app=None, host: str = DEFAULT_HOST, port: int = 0):
    """Serve ``app`` (default: a new lab app) in a background thread; yields its URL, stops it on exit
    (for the tests, the measurements and the screenshots)."""
    import uvicorn

    from ganscope.lab.app import create_app

    app = app or create_app()
    sock = bind(host, port)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on",
                                           timeout_graceful_shutdown=1))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="ganscope-lab-server", daemon=True)
    thread.start()
    try:
        while not server.started and thread.is_alive():
            time.sleep(0.02)
        yield url_of(sock)
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
