"""The Bot API client's HTTP transport for what the workers send: python-telegram-bot's
`BaseRequest` as plain HTTP/1.1 POSTs over asyncio streams, on kept-alive connections, with the
body HTTPXRequest sends (the parameters form-encoded, each JSON-encoded).

`python -m bench sender` measured a call through python-telegram-bot's HTTPXRequest at about
0.8 ms of CPU, nearly all of it httpx (a bare httpx POST costs the same), against 0.18 ms through
this transport and 0.08 ms for a bare POST over asyncio streams. Everything above the transport
stays python-telegram-bot's: the request
building, the status codes read as its errors (429 → RetryAfter with retry_after, 403 →
Forbidden, 400 → BadRequest, 401/404 → InvalidToken/EndPointNotFound), and the timeouts given to
each call; here, as in HTTPXRequest, a timeout is TimedOut (a full pool too: the request was not
sent) and no connection is NetworkError, worded "transport: …" so the channel counts Telegram as
down. Uploads (a document, a chart) go through HTTPXRequest, which writes multipart bodies.
"""

from __future__ import annotations

import asyncio
import ssl
from contextlib import suppress
from typing import Any
from urllib.parse import urlsplit

from telegram._utils.defaultvalue import DefaultValue
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, HTTPXRequest, RequestData

Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]
ERROR_PREFIX = "transport: "  # handlers.telegram.inbound reads a NetworkError worded so as Telegram down
MAX_HEAD = 64 * 1024  # bytes of status line and headers


def _tls() -> ssl.SSLContext:
    try:
        import certifi  # httpx's CA bundle, the one HTTPXRequest trusts

        return ssl.create_default_context(cafile=certifi.where())
    except ImportError:
        return ssl.create_default_context()


class StreamRequest(BaseRequest):
    """Up to `pool_size` connections to the Bot API at once; a call waits at most `pool_timeout`
    for one. The defaults are HTTPXRequest's."""

    def __init__(
        self,
        pool_size: int = 1,
        *,
        connect_timeout: float | None = 5.0,
        read_timeout: float | None = 5.0,
        write_timeout: float | None = 5.0,
        pool_timeout: float | None = 1.0,
        media_write_timeout: float | None = 20.0,
    ) -> None:
        self._connect, self._read, self._write, self._pool_wait = (
            connect_timeout,
            read_timeout,
            write_timeout,
            pool_timeout,
        )
        self._slots = asyncio.Semaphore(pool_size)
        self._idle: dict[tuple[str, str, int], list[Connection]] = {}
        self._tls: ssl.SSLContext | None = None
        self._uploads = HTTPXRequest(
            connection_pool_size=pool_size,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            write_timeout=write_timeout,
            pool_timeout=pool_timeout,
            media_write_timeout=media_write_timeout,
        )

    @property
    def read_timeout(self) -> float | None:
        return self._read

    async def initialize(self) -> None:
        await self._uploads.initialize()

    async def shutdown(self) -> None:
        for connections in self._idle.values():
            for _, writer in connections:
                writer.close()
        self._idle.clear()
        await self._uploads.shutdown()

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = BaseRequest.DEFAULT_NONE,
        write_timeout: Any = BaseRequest.DEFAULT_NONE,
        connect_timeout: Any = BaseRequest.DEFAULT_NONE,
        pool_timeout: Any = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        if request_data is not None and request_data.contains_files:
            return await self._uploads.do_request(
                url, method, request_data, read_timeout, write_timeout, connect_timeout, pool_timeout
            )
        timeouts = (
            self._given(connect_timeout, self._connect),
            self._given(read_timeout, self._read),
            self._given(write_timeout, self._write),
        )
        try:
            await asyncio.wait_for(self._slots.acquire(), self._given(pool_timeout, self._pool_wait))
        except TimeoutError:
            raise TimedOut("Pool timeout: all connections are in use; the request was not sent") from None
        try:
            body = request_data.url_encoded_parameters().encode() if request_data else b""
            return await self._exchange(url, method, body, *timeouts)
        finally:
            self._slots.release()

    @staticmethod
    def _given(value: Any, default: float | None) -> float | None:
        return default if isinstance(value, DefaultValue) else value

    async def _exchange(
        self, url: str, method: str, body: bytes, connect: float | None, read: float | None, write: float | None
    ) -> tuple[int, bytes]:
        parts = urlsplit(url)
        secure = parts.scheme == "https"
        host = parts.hostname or ""
        key = (parts.scheme, host, parts.port or (443 if secure else 80))
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        request = (
            f"{method} {target} HTTP/1.1\r\nHost: {parts.netloc}\r\nUser-Agent: {self.USER_AGENT}\r\n"
            f"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode() + body
        idle = self._idle.setdefault(key, [])
        while True:
            reused = bool(idle)
            reader, writer = idle.pop() if reused else await self._connect_to(key, connect)
            try:
                writer.write(request)
                await asyncio.wait_for(writer.drain(), write)
                status, payload, keep = await asyncio.wait_for(self._response(reader), read)
            except TimeoutError:
                writer.close()
                raise TimedOut from None
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
                writer.close()
                # A kept-alive connection the server closed meanwhile: nothing reached Telegram.
                if (
                    reused
                    and isinstance(exc, (ConnectionError, asyncio.IncompleteReadError))
                    and not getattr(exc, "partial", b"")
                ):
                    continue
                raise NetworkError(f"{ERROR_PREFIX}{type(exc).__name__}: {exc}") from exc
            except asyncio.CancelledError:  # the worker stopping: the answer may be half read
                writer.close()
                raise
            if keep:
                idle.append((reader, writer))
            else:
                writer.close()
            return status, payload

    async def _connect_to(self, key: tuple[str, str, int], timeout: float | None) -> Connection:
        scheme, host, port = key
        if scheme == "https" and self._tls is None:
            self._tls = _tls()
        try:
            return await asyncio.wait_for(
                asyncio.open_connection(host, port, ssl=self._tls if scheme == "https" else None, limit=MAX_HEAD),
                timeout,
            )
        except TimeoutError:
            raise TimedOut("Timed out connecting to the Bot API") from None
        except OSError as exc:
            raise NetworkError(f"{ERROR_PREFIX}cannot connect to {host}:{port}: {exc}") from exc

    @staticmethod
    async def _response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
        """(status, body, whether the connection may carry the next request)."""
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        version, status = head[0].split(" ", 2)[:2]
        headers = {
            name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in head[1:] if line)
        }
        keep = version == "HTTP/1.1" and headers.get("connection", "").lower() != "close"
        if "chunked" in headers.get("transfer-encoding", "").lower():
            chunks = []
            while True:
                size = int((await reader.readuntil(b"\r\n")).split(b";", 1)[0], 16)
                if size == 0:
                    while (await reader.readuntil(b"\r\n")) != b"\r\n":  # trailers
                        pass
                    break
                chunks.append(await reader.readexactly(size))
                await reader.readexactly(2)
            return int(status), b"".join(chunks), keep
        if "content-length" in headers:
            return int(status), await reader.readexactly(int(headers["content-length"])), keep
        with suppress(asyncio.IncompleteReadError):
            return int(status), await reader.read(), False
        return int(status), b"", False
