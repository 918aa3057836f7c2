"""A request body for the webhooks' size caps (Telegram's and WeChat's tests alike)."""

from __future__ import annotations

from collections.abc import AsyncIterator


class Flood:
    """A body sent in chunks as the server asks for them, counting how many it asked for."""

    def __init__(self, chunk: bytes, chunks: int) -> None:
        self.chunk, self.chunks, self.sent = chunk, chunks, 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for _ in range(self.chunks):
            self.sent += 1
            yield self.chunk
