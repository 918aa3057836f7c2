"""What every channel, and every file a worker imports, lets in: text without control
characters or bidirectional overrides."""

from __future__ import annotations

import unicodedata

# Bidirectional overrides and isolates reorder what others see (U+202E makes "gpj.exe" read
# "exe.jpg"); zero-width joiners and the BOM hide text. Control characters break storage (a NUL
# is refused by PostgreSQL) and terminals.
_INVISIBLE = dict.fromkeys(
    map(ord, "\u061c\u200b\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\ufeff")
)


def clean_text(text: str | None) -> str | None:
    """What a person typed, without control characters (a newline stays; a tab becomes a space)
    and without bidirectional overrides. Every channel's input passes through here."""
    if not text:
        return text
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\t", " ").translate(_INVISIBLE)
    return "".join(ch for ch in text if ch == "\n" or unicodedata.category(ch) != "Cc")


# What a Chinese input method types full-width (ＡＢＣ１２３／＠, the ideographic space) and the
# half-width katakana of Japanese keyboards: Unicode's NFKC mapping for exactly these <wide> and
# <narrow> forms. Not NFKC's other mappings: a superscript ² is not a 2, ① is not 1, so a reader
# that is strict stays strict. The punctuation of Chinese prose stays as typed so a note or a name
# reads as written; every parser takes these as separators or ends already.
_PROSE = frozenset("，！？：；（）～")
_WIDTHS = {
    cp: unicodedata.normalize("NFKC", chr(cp))
    for cp in (0x3000, *range(0xFF00, 0xFFF0))
    if unicodedata.decomposition(chr(cp)).startswith(("<wide>", "<narrow>")) and chr(cp) not in _PROSE
}


def fold_width(text: str | None) -> str | None:
    """Full-width letters, digits and signs as their ASCII twins (`／ｐｉｃｋｕｐ　６４８６６Ｕ` →
    `/pickup 64866U`); Chinese text and its punctuation unchanged."""
    return text.translate(_WIDTHS) if text else text
