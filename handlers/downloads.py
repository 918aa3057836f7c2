"""`GET /download/<secret>` on `lovebank serve`: files offered as links to channels that cannot
carry files (a WeChat worker's monthly report). Valid 24 hours; every download is audited by the
service. A wrong or expired link gets 404 and a line saying so."""

from __future__ import annotations

import asyncio
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from bot.kernel.later import is_placeholder
from bot.messages.downloads import ROUTE
from handlers.web import Web

MAKING_POLL, MAKING_WAITS = 0.2, 100  # up to 20 s for a file still being drawn
TYPES = {
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".csv": "text/csv",
    ".png": "image/png",
    ".zip": "application/zip",
    ".pdf": "application/pdf",
    ".json": "application/json",
}


def setup(web: Web) -> None:
    services = web.services

    async def download(request: Request) -> Response:
        # The address uvicorn reports: the client's own, or behind the local reverse proxy the
        # one it forwards (X-Forwarded-For from 127.0.0.1, uvicorn's default trust).
        client = request.client.host if request.client is not None else None
        secret = request.path_params["secret"]
        found = await services.run(services.downloads.take, secret, client)
        for _ in range(MAKING_WAITS):  # a file offered by a turn a moment ago may still be being made
            if found is None or not is_placeholder(found.content):
                break
            await asyncio.sleep(MAKING_POLL)
            found = await services.run(services.downloads.take, secret, client)
        if found is None or is_placeholder(found.content):
            return PlainTextResponse(
                "This link is wrong or has expired (links last 24 hours). / 链接无效或已过期。", status_code=404
            )
        suffix = found.filename[found.filename.rfind(".") :].lower() if "." in found.filename else ""
        return Response(
            found.content,
            media_type=TYPES.get(suffix, "application/octet-stream"),
            headers={
                "Content-Disposition": f"attachment; filename*=UTF-8''{quote(found.filename)}",
                "Cache-Control": "no-store",
            },
        )

    web.route(ROUTE + "{secret}", download, methods=["GET"])
