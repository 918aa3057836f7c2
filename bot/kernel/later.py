"""Files a turn attaches but makes after its commit (a PDF, a chart, a poster): until made, a
placeholder stands for each, in the turn's replies and in whatever a channel stores of them (a
reply's JSON, a download). `fill` puts the files in; a placeholder left (the process stopped
between the commit and the drawing) is a file never made, and senders leave it out."""

from __future__ import annotations

import base64
from typing import Any

LATER_MARK = b"\0later:"


def is_placeholder(content: bytes) -> bool:
    """A file that was never made (the process stopped between a turn's commit and its drawing)."""
    return content.startswith(LATER_MARK)


def fill(stored: Any, drawn: dict[bytes, bytes | None]) -> Any:
    """`stored` (a channel's JSON of a reply) with each placeholder's base64 replaced by its file's;
    a list item carrying a file that came out empty (no picture) is left out."""
    codes = {
        base64.b64encode(token).decode(): None if content is None else base64.b64encode(content).decode()
        for token, content in drawn.items()
    }

    def walk(value: Any) -> tuple[Any, bool]:  # (the value, whether it carried an empty file)
        if isinstance(value, str) and value in codes:
            made = codes[value]
            return (value, True) if made is None else (made, False)
        if isinstance(value, dict):
            out, empty = {}, False
            for k, v in value.items():
                out[k], gone = walk(v)
                empty = empty or gone
            return out, empty
        if isinstance(value, list):
            kept = [w for w, gone in map(walk, value) if not gone]
            return kept, False
        return value, False

    return walk(stored)[0]


def is_placeholder_b64(code: str) -> bool:
    """`is_placeholder` of a file as stored in a reply's JSON (base64)."""
    return len(code) >= 12 and base64.b64decode(code[:12]).startswith(LATER_MARK)
