"""The one ASGI app (Starlette, served by uvicorn) of `lovebank serve`: the webhooks, the health
checks, and whatever a channel adds.

    web = Web(services, pipeline)
    web.route("/wechat", endpoint, methods=["GET", "POST"])   # a channel adds its endpoint
    web.on_startup(coroutine_function)                        # …and what it needs at start
    web.on_shutdown(coroutine_function)
    app = web.app()                                           # a Starlette app

Built in: `GET /healthz` (200 while the process runs) and `GET /readyz`: JSON with the database
("ok": it answers and its schema is at every migration head) and each configured channel ("ok":
its credentials worked at the last check and it is not paused by an outage), e.g.
`{"database": "ok", "wechat": "invalid appsecret (40125)", "telegram": "ok"}`; 200 when all are
"ok", else 503. A channel registers its check with `web.check(name, probe)` (an async function
returning "ok" or the reason); checks run at start and every LOVEBANK_HEALTH_CHECK_SECONDS.
`web.metrics_app()` is a separate app with `GET /metrics` alone, for the internal port. The Telegram
webhook is added by `handlers.telegram.webhook.setup`, a channel's endpoints the same way. An
endpoint takes an update in with `services.inbox.store(...)` and answers the platform only
after it returned; then `pipeline.inbox.wake()` starts handling at once.

`await web.startup()` runs the startup hooks before the server listens; the pipeline (inbox
and outbox workers, the leader's scheduler) runs while the app does; on SIGTERM uvicorn stops
taking requests and lets those in flight finish, then
the pipeline finishes what it is handling and the process exits 0.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from bot.kernel import logs
from bot.kernel.migrate import current_revisions, head_revisions
from bot.runtime import metrics
from bot.runtime.pipeline import Pipeline
from bot.services import Services
from handlers.access_log import AccessLog

log = logging.getLogger(__name__)

Hook = Callable[[], Awaitable[None]]
Probe = Callable[[], Awaitable[str]]
PROBE_TIMEOUT = 20.0  # seconds a credentials check may take
Endpoint = Callable[[Request], Awaitable[Response]]


class Web:
    def __init__(self, services: Services, pipeline: Pipeline) -> None:
        self.services, self.pipeline = services, pipeline
        self._routes: list[Route] = [
            Route("/healthz", self.healthz, methods=["GET"]),
            Route("/readyz", self.readyz, methods=["GET"]),
        ]
        self._startup: list[Hook] = []
        self._shutdown: list[Hook] = []
        self._heads = head_revisions()
        self._probes: dict[str, Probe] = {}
        self.channel_health: dict[str, str] = {}  # channel → "ok" or why it cannot send

    def route(self, path: str, endpoint: Endpoint, methods: list[str]) -> None:
        self._routes.append(Route(path, endpoint, methods=methods))

    def on_startup(self, hook: Hook) -> None:
        self._startup.append(hook)

    def on_shutdown(self, hook: Hook) -> None:
        self._shutdown.append(hook)

    def check(self, channel: str, probe: Probe) -> None:
        """A configured channel's credentials check, for /readyz."""
        self._probes[channel] = probe
        self.channel_health[channel] = "not checked yet"

    async def check_channels(self) -> None:
        for channel, probe in self._probes.items():
            try:
                status = await asyncio.wait_for(probe(), PROBE_TIMEOUT)
            except Exception as exc:  # noqa: BLE001 - a check never stops the process
                status = f"check failed ({type(exc).__name__})"
            if status != self.channel_health.get(channel):
                if status == "ok":
                    log.info("%s: credentials check ok", channel)
                else:
                    log.warning("%s: cannot send: %s", channel, status)
            self.channel_health[channel] = status

    async def _keep_checking(self) -> None:
        while True:
            await asyncio.sleep(self.services.settings.health_check_seconds)
            await self.check_channels()

    async def startup(self) -> None:
        """The channels' start-up (before the server listens, so a bad setting stops the process
        with one line), then the first credentials checks."""
        for hook in self._startup:
            await hook()
        await self.check_channels()

    async def shutdown(self, *, dispose: bool = True) -> None:
        """The channels' shutdown hooks, then the database (unless the caller owns it: tests)."""
        for hook in reversed(self._shutdown):
            try:
                await hook()
            except Exception:
                log.exception("shutdown step failed")
        if dispose:
            await self.services.db.dispose()

    def app(self) -> Starlette:
        @asynccontextmanager
        async def lifespan(_: Starlette) -> AsyncIterator[None]:
            self.pipeline.start()
            checking = asyncio.create_task(self._keep_checking())
            try:
                yield
            finally:
                checking.cancel()
                with suppress(asyncio.CancelledError):
                    await checking
                await self.pipeline.stop()  # after the last request: finish what is in flight

        # The access log without query strings or path secrets (handlers.access_log); a request id
        # for every log line of the request (bot.kernel.logs).
        return Starlette(
            routes=list(self._routes), lifespan=lifespan, middleware=[Middleware(RequestId), Middleware(AccessLog)]
        )

    def metrics_app(self) -> Starlette:
        """`GET /metrics` alone, for the internal port (LOVEBANK_METRICS_PORT)."""
        return Starlette(routes=[Route("/metrics", self.metrics, methods=["GET"])])

    async def metrics(self, _: Request) -> Response:
        clock = self.services.clock

        def read() -> list[Any]:
            with self.services.db.read() as session:
                return metrics.database_figures(session, clock.now())

        try:
            figures = await self.services.db.run_read(read)
        except Exception as exc:  # noqa: BLE001 - the process's own counters still tell something
            log.warning("metrics: the database did not answer: %s", type(exc).__name__)
            figures = []
        return Response(metrics.exposition(figures), media_type=metrics.CONTENT_TYPE)

    # --- health -------------------------------------------------------------------------------

    def _current_heads(self) -> frozenset[str]:
        with self.services.db.read_engine.connect() as conn:
            return current_revisions(conn)

    async def healthz(self, _: Request) -> Response:
        return PlainTextResponse("ok")

    async def readyz(self, _: Request) -> Response:
        report = {"database": await self._database(), **self.channel_health}
        for channel, status in self.channel_health.items():
            breaker = self.pipeline.breakers.get(channel)
            if status == "ok" and breaker is not None and breaker.paused():
                report[channel] = f"paused by an outage: {breaker.reason}"
        ready = all(status == "ok" for status in report.values())
        return JSONResponse(report, status_code=200 if ready else 503)

    async def _database(self) -> str:
        try:
            current = await self.services.db.run_read(self._current_heads)
        except Exception as exc:  # noqa: BLE001 - whatever stops the database, readiness reports it
            return f"unreachable ({type(exc).__name__})"
        if current != self._heads:
            missing = ", ".join(sorted(self._heads - current)) or "-"
            return f"schema not at head (missing {missing})"
        return "ok"


class RequestId:
    """ASGI middleware: each request's log lines carry one id (the proxy's X-Request-Id when
    it sends a plausible one)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            given = dict(scope.get("headers") or ()).get(b"x-request-id", b"").decode("latin-1")
            ok = 0 < len(given) <= 64 and given.replace("-", "").isalnum()
            logs.request_id.set(given if ok else secrets.token_hex(6))
        await self.app(scope, receive, send)


def client_error(status: int, text: str) -> Response:
    return PlainTextResponse(text, status_code=status)


def refused(logger: logging.Logger, platform: str, reason: str) -> Response:
    """403 for a webhook request that is not the platform's, logged at WARNING with the reason
    (never the query string or a secret: the reason is one of a few fixed phrases)."""
    logger.warning("%s request refused (403): %s", platform, reason)
    return client_error(403, "forbidden")


async def read_body(request: Request, limit: int) -> bytes | None:
    """The request's body, or None as soon as it is known to be longer than `limit` bytes (by its
    Content-Length, or while it streams in): the rest is never read, so a huge body costs nothing.
    None too when the client went away before the end (the answer then reaches no one)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return None
    chunks, size = [], 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                return None
            chunks.append(chunk)
    except ClientDisconnect:
        return None
    return b"".join(chunks)


MAX_JSON_DEPTH = 32  # well past what an update nests (a reply to a message with its entities, a keyboard)


def json_body(body: bytes) -> Any:
    """The request's JSON, or None when it is not JSON or nests deeper than MAX_JSON_DEPTH."""
    import json

    try:
        value = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    return value if _depth_within(value, MAX_JSON_DEPTH) else None


def _depth_within(value: Any, limit: int) -> bool:
    level: list[Any] = [value]  # the containers at one depth
    for _ in range(limit):
        level = [
            child
            for item in level
            if isinstance(item, (dict, list))
            for child in (item.values() if isinstance(item, dict) else item)
            if isinstance(child, (dict, list))
        ]
        if not level:
            return True
    return False
