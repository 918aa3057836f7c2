"""The access log of `lovebank serve`: one INFO line a request on the `lovebank.access` logger,

    127.0.0.1 POST /wechat 200 41ms
    127.0.0.1 GET /download/{secret} 200 12ms

without query strings (WeChat's signature, timestamp and nonce; a check value) and with each
path parameter replaced by its name (a download link's secret), so the log gives no request
away. Headers (the Telegram secret token) are never logged. uvicorn's own access log, which
prints the whole URL, stays off."""

from __future__ import annotations

import logging
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("lovebank.access")
MAX_PATH = 200


def logged_path(scope: Scope) -> str:
    path = str(scope.get("path", ""))
    names = {str(value): "{" + name + "}" for name, value in (scope.get("path_params") or {}).items() if str(value)}
    if names:
        path = "/".join(names.get(segment, segment) for segment in path.split("/"))
        for value, name in names.items():  # a parameter spanning segments ({name:path})
            path = path.replace(value, name) if "/" in value else path
    return path[:MAX_PATH].encode("unicode_escape").decode("ascii")  # no line breaks forged into the log


class AccessLog:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started, status = time.perf_counter(), [500]

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            client: Any = scope.get("client") or ("-",)
            log.info(
                "%s %s %s %d %.0fms",
                client[0],
                scope.get("method", "-"),
                logged_path(scope),
                status[0],
                (time.perf_counter() - started) * 1000,
            )
