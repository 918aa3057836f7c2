"""What every channel, and every file a worker imports, lets in: text without control
characters or bidirectional overrides."""

from __future__ import annotations

import unicodedata

# Bidirectional overrides and isolates reorder what others see (U+202E makes "gpj.exe" read
# "exe.jpg"); zero-width joiners and the BOM hide text. Control characters break storage (a NUL
# is refused by PostgreSQL) and terminals.
_INVISIBLE = dict.fromkeys(map(ord, "\u061c\u200b\u200e\u200f\u202a\u202b\u202c\u202d\u202e"
                                    "\u2066\u2067\u2068\u2069\ufeff"))


def clean_text(text: str | None) -> str | None:
    """What a person typed, without control characters (a newline stays; a tab becomes a space)
    and without bidirectional overrides. Every channel's input passes through here."""
    if not text:
        return text
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\t", " ").translate(_INVISIBLE)
    return "".join(ch for ch in text if ch == "\n" or unicodedata.category(ch) != "Cc")
