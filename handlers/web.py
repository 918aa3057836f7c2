"""The one ASGI app (Starlette, served by uvicorn) of `lovebank serve`: the webhooks, the health
checks, and whatever a channel adds.

    web = Web(services, pipeline)
    web.route("/wechat", endpoint, methods=["GET", "POST"])   # a channel adds its endpoint
    web.on_startup(coroutine_function)                        # …and what it needs at start
    web.on_shutdown(coroutine_function)
    app = web.app()                                           # a Starlette app

Built in: `GET /healthz` (200 while the process runs) and `GET /readyz` (200 when the database
answers and its schema is at every migration head; 503 with the reason otherwise).
`web.metrics_app()` is a separate app with `GET /metrics` alone, for the internal port. The Telegram
webhook is added by `handlers.telegram.webhook.setup`, a channel's endpoints the same way. An
endpoint takes an update in with `services.inbox.store(...)` and answers the platform only
after it returned; then `pipeline.inbox.wake()` starts handling at once.

`await web.startup()` runs the startup hooks before the server listens; the pipeline (inbox
and outbox workers, the leader's scheduler) runs while the app does; on SIGTERM uvicorn stops taking requests and lets those in flight finish, then
the pipeline finishes what it is handling and the process exits 0.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from bot import logs, metrics
from bot.migrate import current_revisions, head_revisions
from bot.pipeline import Pipeline
from bot.services import Services

log = logging.getLogger(__name__)

Hook = Callable[[], Awaitable[None]]
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

    def route(self, path: str, endpoint: Endpoint, methods: list[str]) -> None:
        self._routes.append(Route(path, endpoint, methods=methods))

    def on_startup(self, hook: Hook) -> None:
        self._startup.append(hook)

    def on_shutdown(self, hook: Hook) -> None:
        self._shutdown.append(hook)

    async def startup(self) -> None:
        """The channels' start-up (before the server listens, so a bad token stops the process
        with one line)."""
        for hook in self._startup:
            await hook()

    async def shutdown(self) -> None:
        for hook in reversed(self._shutdown):
            try:
                await hook()
            except Exception:
                log.exception("shutdown step failed")
        await self.services.db.dispose()

    def app(self) -> Starlette:
        @asynccontextmanager
        async def lifespan(_: Starlette) -> AsyncIterator[None]:
            self.pipeline.start()
            try:
                yield
            finally:
                await self.pipeline.stop()  # after the last request: finish what is in flight

        return Starlette(routes=list(self._routes), lifespan=lifespan, middleware=[Middleware(RequestId)])

    def metrics_app(self) -> Starlette:
        """`GET /metrics` alone, for the internal port (LOVEBANK_METRICS_PORT)."""
        return Starlette(routes=[Route("/metrics", self.metrics, methods=["GET"])])

    async def metrics(self, _: Request) -> Response:
        clock = self.services.clock

        def read() -> list[Any]:
            with self.services.db.read() as session:
                return metrics.database_figures(session, clock.now())

        try:
            figures = await self.services.db.run(read, reads=True)
        except Exception as exc:  # the process's own counters still tell something
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
        try:
            current = await self.services.db.run(self._current_heads, reads=True)
        except Exception as exc:
            return PlainTextResponse(f"database unreachable: {type(exc).__name__}", status_code=503)
        if current != self._heads:
            missing = ", ".join(sorted(self._heads - current)) or "-"
            return PlainTextResponse(f"schema not at head (missing {missing})", status_code=503)
        return PlainTextResponse("ready")


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


def json_body(body: bytes) -> Any:
    """The request's JSON, or None when it is not JSON."""
    import json

    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
