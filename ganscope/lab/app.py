"""The lab's ASGI application (Starlette): the page, its assets, and a JSON API.

Routes: ``/`` the page; ``/static/*`` its script and style (package data, ``ganscope/lab/static``);
``GET /api/dirac?...`` pane 1 (``dirac_api.answer``); ``GET /api/options`` the data sets, presets and limits;
``POST /api/train`` a new training (JSON settings → ``{"id"}``, 429 at the cap); ``GET /api/train/{id}/stream``
its frames as server-sent events (the training stops when the stream goes away); ``POST /api/train/{id}``
``{"action": play|pause|step|reset|set, "settings": {...}}``; ``DELETE /api/train/{id}``.

Every response carries a content-security policy that allows nothing but this origin; bad input is a 4xx answer
``{"error": "<field>: <what is allowed>"}`` (``UsageError``), never a traceback.
"""
from __future__ import annotations

import asyncio
import json
import logging
from contextlib import asynccontextmanager
from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ganscope.errors import UsageError
from ganscope.io import json_safe
from ganscope.lab import dirac_api, training

STATIC = Path(__file__).parent / "static"
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
BODY_MAX = 1_000_000  # bytes of a POST body (a drawn data set of POINTS_MAX points is ~50 kB)
POLL_S = 0.02  # how often a stream looks for a new frame
STOP_WAIT_S = 30.0  # DELETE waits this long for the thread (a first step may still be importing torch parts)
HEARTBEAT_S = 2.0  # a comment line while paused, so that a closed stream is noticed
log = logging.getLogger("ganscope.lab")


def _json(obj, status=200) -> JSONResponse:
    return JSONResponse(json_safe(obj), status_code=status)


def _error(err: Exception, status=400) -> JSONResponse:
    return _json({"error": str(err)}, status)


class SecurityHeaders:
    """ASGI middleware: the content-security policy (and no sniffing, no referrer) on every HTTP response."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [(b"content-security-policy", CSP.encode()), (b"x-content-type-options", b"nosniff"),
                            (b"referrer-policy", b"no-referrer"), (b"cache-control", b"no-store")]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


async def _body(request: Request):
    """The JSON body of a POST. Only ``application/json`` is read: a page elsewhere cannot send that to 127.0.0.1
    without a CORS preflight, which this server never grants, so it cannot start or steer a training."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/json":
        raise UnsupportedBody(f"content-type: expected application/json, got {kind or 'none'!r}")
    raw = await request.body()
    if len(raw) > BODY_MAX:
        raise UsageError(f"body: at most {BODY_MAX} bytes, got {len(raw)}")
    if not raw:
        return {}
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise UsageError("body: expected a JSON object") from None


class UnsupportedBody(UsageError):
    """A POST body that is not declared as JSON (HTTP 415)."""


def _lifespan(trainings):
    @asynccontextmanager
    async def lifespan(app):
        yield
        trainings.stop_all()  # the server stops: so does every training thread
    return lifespan


def create_app(cap: int = training.MAX_TRAININGS, fps: float = training.FPS,
               idle_s: float = training.IDLE_S, allowed_hosts=None) -> Starlette:
    """The lab's application; ``cap`` trainings at once, ``fps`` frames a second, ``idle_s`` before an
    unwatched training stops; ``allowed_hosts``: the Host headers answered (None: any), so that a page elsewhere
    cannot reach a lab on 127.0.0.1 through a rebound DNS name (``server.serve`` passes the loopback names)."""
    trainings = training.Trainings(cap, fps, idle_s)

    async def index(request):
        return FileResponse(STATIC / "index.html", media_type="text/html")

    async def dirac(request):
        payload = await asyncio.to_thread(dirac_api.answer, dict(request.query_params))
        return _json(payload)

    async def options(request):
        return _json({"data": training.DATA_SETS, "presets": training.preset_defaults(),
                      "view": training.VIEW, "points": [training.POINTS_MIN, training.POINTS_MAX],
                      "cap": trainings.cap, "fps": trainings.fps,
                      "dirac": {"keys": dirac_api.KEYS, "defaults": dirac_api.DEFAULTS,
                                "losses": dirac_api.dirac.LOSSES, "regs": list(dirac_api.dirac.REGULARISERS),
                                "params": {k: v.params for k, v in dirac_api.dirac.REGULARISERS.items()},
                                "orders": ["g-first", "d-first"]}})

    async def create(request):
        settings = await _body(request)
        session = await asyncio.to_thread(trainings.create, settings)
        return _json({"id": session.id, "settings": {k: v for k, v in session.settings.items() if k != "points"}},
                     201)

    async def control(request):
        session = trainings.get(request.path_params["sid"])
        body = await _body(request)
        if not isinstance(body, dict):
            raise UsageError("body: expected a JSON object {\"action\": ..., \"settings\": {...}}")
        kind = session.control(body.get("action"), body.get("settings"))
        return _json({"ok": True, "applied": kind})

    async def stop(request):
        session = trainings.get(request.path_params["sid"])
        await asyncio.to_thread(session.stop, STOP_WAIT_S)
        return _json({"ok": True})

    async def stream(request):
        session = trainings.get(request.path_params["sid"])
        if session.streamed:
            return _error(UsageError(f"id: training {session.id!r} is already streamed to a page"), 409)
        session.streamed = True
        return StreamingResponse(_frames(request, session), media_type="text/event-stream",
                                 headers={"x-accel-buffering": "no"})

    async def _frames(request, session):
        sent, quiet = 0, 0.0
        try:
            while session.alive:
                number, frame = session.latest()
                if number != sent and frame is not None:
                    sent, quiet = number, 0.0
                    yield f"event: frame\ndata: {json.dumps(json_safe(frame), allow_nan=False)}\n\n"
                elif quiet >= HEARTBEAT_S:
                    quiet = 0.0
                    yield ": alive\n\n"
                await asyncio.sleep(POLL_S)
                quiet += POLL_S
            yield f"event: end\ndata: {json.dumps({'error': session.error})}\n\n"
        finally:
            session.stop(wait=0)  # the client went away (or the training ended): nothing keeps running

    async def usage_error(request, err):
        status = {training.Full: 429, training.UnknownSession: 404, UnsupportedBody: 415}.get(type(err), 400)
        return _error(err, status)

    async def server_error(request, err):
        log.error("ganscope lab: %s on %s: %s", type(err).__name__, request.url.path, err)
        return _json({"error": f"internal error ({type(err).__name__}); the server log has the details"}, 500)

    async def not_found(request, err):
        return _json({"error": f"{request.url.path}: no such page"}, getattr(err, "status_code", 404))

    routes = [
        Route("/", index),
        Route("/api/dirac", dirac),
        Route("/api/options", options),
        Route("/api/train", create, methods=["POST"]),
        Route("/api/train/{sid}", control, methods=["POST"]),
        Route("/api/train/{sid}", stop, methods=["DELETE"]),
        Route("/api/train/{sid}/stream", stream),
        Route("/favicon.ico", lambda request: Response(status_code=204)),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    middleware = [Middleware(SecurityHeaders)]
    if allowed_hosts is not None:
        middleware.append(Middleware(TrustedHostMiddleware, allowed_hosts=list(allowed_hosts)))
    app = Starlette(routes=routes, middleware=middleware,
                    exception_handlers={UsageError: usage_error, Exception: server_error, 404: not_found,
                                        405: not_found},
                    lifespan=_lifespan(trainings))
    app.state.trainings = trainings
    return app
