"""Check an HTML page the way a reader sees it: load it in headless Chromium over the DevTools protocol.

`check_page(path)` returns a list of problems (empty: the page is fine): every `<img>` must be a data URI that
decodes as an image and renders in the browser, the page must make no request besides its own file, and it must
log no JavaScript exception and no console error. The protocol runs over a pipe (`--remote-debugging-pipe`):
no port, no websocket, no extra dependency.
"""
from __future__ import annotations

import base64
import binascii
import fcntl
import io
import json
import os
import select
import shutil
import signal
import subprocess
import tempfile
import time
from html.parser import HTMLParser
from pathlib import Path

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome", "headless_shell")
# --no-sandbox: Chromium refuses to start as root (CI containers) without it; the page is our own local file.
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
         "--no-default-browser-check", "--disable-extensions", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--mute-audio", "--hide-scrollbars",
         "--window-size=1280,1600", "--remote-debugging-pipe")
RESOURCE_ATTRS = {"src", "srcset", "poster", "data", "background"}
IMAGES_JS = """JSON.stringify({title: document.title, text: document.body ? document.body.innerText : "",
  images: Array.from(document.images).map(i => ({src: (i.currentSrc || i.src).slice(0, 100), alt: i.alt,
    complete: i.complete, width: i.naturalWidth, height: i.naturalHeight}))})"""


class BrowserNotFound(RuntimeError):
    """No Chromium/Chrome binary: set GANSCOPE_CHROMIUM or install Debian's `chromium`."""


def find_browser() -> str | None:
    """$GANSCOPE_CHROMIUM, else the first Chromium/Chrome on PATH, else None."""
    env = os.environ.get("GANSCOPE_CHROMIUM")
    if env:
        return shutil.which(env)
    return next((b for b in map(shutil.which, BROWSERS) if b), None)


def check_page(path, timeout: float = 60.0) -> list[str]:
    """Problems of the page at ``path`` (static checks of its images and resources, then a browser load)."""
    problems = static_problems(Path(path).read_text(encoding="utf-8"))
    problems += load_page(path, timeout=timeout)["problems"]
    return list(dict.fromkeys(problems))


# ---------------------------------------------------------------- static checks (no browser)

class _Resources(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.refs, self.images = [], []

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if value is None:
                continue
            if name in RESOURCE_ATTRS or (tag == "link" and name == "href"):
                self.refs.append((tag, name, value))
            if tag == "img" and name == "src":
                self.images.append(value)


def static_problems(html_text: str) -> list[str]:
    """Resources that are not data URIs, and image data URIs that do not decode."""
    parser = _Resources()
    parser.feed(html_text)
    problems = [f"external resource: <{tag} {name}={value[:80]!r}>" for tag, name, value in parser.refs
                if not value.startswith("data:")]
    if "url(http" in html_text.replace(" ", "") or "@import" in html_text:
        problems.append("external resource in CSS (url(http...) or @import)")
    problems += [p for src in parser.images if src.startswith("data:") for p in _image_problem(src)]
    return problems


def _image_problem(uri: str) -> list[str]:
    from PIL import Image

    head, _, payload = uri.partition(",")
    if not head.startswith("data:image/") or not head.endswith(";base64"):
        return [f"image data URI is not base64 image data: {head[:60]!r}"]
    if head.startswith("data:image/svg"):
        return []
    try:
        with Image.open(io.BytesIO(base64.b64decode(payload, validate=True))) as img:
            img.verify()
    except (binascii.Error, ValueError, OSError) as err:
        return [f"image data URI does not decode ({head[5:]}): {err}"]
    return []


# ---------------------------------------------------------------- the browser

def load_page(path, screenshot=None, timeout: float = 60.0) -> dict:
    """Load ``path`` in headless Chromium; return title, text, images and problems (+ a PNG at ``screenshot``).

    Raises BrowserNotFound when no Chromium/Chrome binary is found.
    """
    binary = find_browser()
    if binary is None:
        env = os.environ.get("GANSCOPE_CHROMIUM")
        raise BrowserNotFound(f"GANSCOPE_CHROMIUM={env}: not found" if env else "no Chromium/Chrome binary found "
                              "(install Debian's chromium or set GANSCOPE_CHROMIUM)")
    url = Path(path).resolve().as_uri()
    with tempfile.TemporaryDirectory(prefix="ganscope-chromium-") as profile, _Chromium(binary, profile) as cdp:
        try:
            return _visit(cdp, url, screenshot, time.monotonic() + timeout)
        except (TimeoutError, EOFError, OSError) as err:
            return {"title": "", "text": "", "images": [],
                    "problems": [f"browser did not load the page: {type(err).__name__}: {err} {cdp.stderr_tail()}"]}


def _visit(cdp, url, screenshot, deadline) -> dict:
    target = cdp.call("Target.createTarget", {"url": "about:blank"}, deadline=deadline)["targetId"]
    cdp.session = cdp.call("Target.attachToTarget", {"targetId": target, "flatten": True},
                           deadline=deadline)["sessionId"]
    for domain in ("Page", "Runtime", "Log", "Network"):
        cdp.call(f"{domain}.enable", deadline=deadline)
    cdp.events.clear()
    cdp.call("Page.navigate", {"url": url}, deadline=deadline)
    cdp.wait_for("Page.loadEventFired", deadline)
    state = json.loads(cdp.call("Runtime.evaluate", {"expression": IMAGES_JS, "returnByValue": True},
                                deadline=deadline)["result"]["value"])
    if screenshot:
        shot = cdp.call("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True}, deadline=deadline)
        Path(screenshot).write_bytes(base64.b64decode(shot["data"]))
    state["problems"] = _event_problems(cdp.events, url) + [
        f"image did not render: {img['alt'] or img['src'][:60]!r}" for img in state["images"]
        if not img["complete"] or img["width"] == 0]
    return state


def _event_problems(events, url) -> list[str]:
    out = []
    for ev in events:
        method, p = ev.get("method"), ev.get("params", {})
        if method == "Network.requestWillBeSent":
            req = p["request"]["url"]
            if req != url and not req.startswith("data:"):
                out.append(f"request besides the page itself: {req[:120]}")
        elif method == "Network.loadingFailed":
            out.append(f"failed to load a resource: {p.get('errorText', '')}")
        elif method == "Runtime.exceptionThrown":
            d = p["exceptionDetails"]
            text = d.get("exception", {}).get("description", d.get("text", ""))
            out.append("JavaScript error: " + text.split("\n")[0])
        elif method == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
            out.append("console error: " + " ".join(str(a.get("value", a.get("description", ""))) for a in p["args"]))
        elif method == "Log.entryAdded" and p["entry"].get("level") == "error":
            out.append(f"console error: {p['entry'].get('text', '')} {p['entry'].get('url', '')}".strip())
    return out


class _Chromium:
    """A headless Chromium speaking the DevTools protocol on fds 3 (commands in) and 4 (replies out)."""

    def __init__(self, binary, profile):
        self.argv = [binary, *FLAGS, f"--user-data-dir={profile}", "about:blank"]
        self.events, self.session, self._id, self._buf = [], None, 0, b""

    def __enter__(self):
        cmd_r, self._cmd_w = os.pipe()
        self._out_r, out_w = os.pipe()
        hi_r, hi_w = (fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10) for fd in (cmd_r, out_w))

        def child_fds():  # dup2 clears close-on-exec on fds 3 and 4; the parent's other fds stay close-on-exec
            os.dup2(hi_r, 3)
            os.dup2(hi_w, 4)

        self._stderr = tempfile.TemporaryFile()
        try:
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                         stderr=self._stderr, close_fds=False, preexec_fn=child_fds,
                                         start_new_session=True)
        finally:
            for fd in (cmd_r, out_w, hi_r, hi_w):
                os.close(fd)
        return self

    def __exit__(self, *exc):
        try:
            self.send("Browser.close", session=False)
            self.proc.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            os.killpg(self.proc.pid, signal.SIGKILL)  # its own session: the renderers go too
            self.proc.wait()
        finally:
            os.close(self._cmd_w)
            os.close(self._out_r)
            self._stderr.close()

    def stderr_tail(self) -> str:
        self._stderr.seek(0)
        tail = self._stderr.read().decode(errors="replace").strip()[-300:]
        return f"(chromium stderr: {tail})" if tail else ""

    def send(self, method, params=None, session=True) -> int:
        self._id += 1
        msg = {"id": self._id, "method": method, "params": params or {}}
        if session and self.session:
            msg["sessionId"] = self.session
        data = json.dumps(msg).encode() + b"\0"
        while data:
            data = data[os.write(self._cmd_w, data):]
        return self._id

    def call(self, method, params=None, deadline=None) -> dict:
        """Send a command and return its result; events that arrive meanwhile are kept in ``self.events``."""
        msg_id = self.send(method, params, session=not method.startswith(("Target.", "Browser.")))
        while True:
            msg = self._recv(deadline)
            if msg.get("id") == msg_id:
                if "error" in msg:
                    raise OSError(f"{method}: {msg['error'].get('message')}")
                return msg.get("result", {})
            if "method" in msg:
                self.events.append(msg)

    def wait_for(self, method, deadline):
        while not any(e["method"] == method for e in self.events):
            msg = self._recv(deadline)
            if "method" in msg:
                self.events.append(msg)

    def _recv(self, deadline) -> dict:
        while b"\0" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._out_r], [], [], left)[0]:
                raise TimeoutError("no reply from the browser in time")
            chunk = os.read(self._out_r, 1 << 16)
            if not chunk:
                raise EOFError(f"the browser exited (status {self.proc.poll()})")
            self._buf += chunk
        msg, self._buf = self._buf.split(b"\0", 1)
        return json.loads(msg)
