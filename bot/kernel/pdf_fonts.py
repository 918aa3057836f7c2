"""The CJK font for PDFs (certificates), fast. Noto Sans CJK SC holds 65,000 glyphs; fpdf2 parses
its character map for every document and fontTools reads the whole font again to cut the subset
it embeds: over a second a certificate. Here:

- the font is parsed once per process, and each document gets a copy with its own state;
- documents are drawn with a smaller base font, cut once from the full one: the characters of
  GB 2312 (the 6,763 common hanzi, punctuation, full-width forms, ★) and Latin, without the layout
  tables fpdf2 drops anyway. Cutting it takes seconds, so it is kept in a cache file (in the
  system's temporary directory, named after the font file's size and date) that every later
  process reads (the Docker image cuts it when built); where it cannot be written, the full font;
- a document with a character the base font lacks (a rare hanzi in a name) is drawn again with
  the full font, so nothing is ever printed as a blank box."""

from __future__ import annotations

import copy
import io
import logging
import os
import tempfile
import threading
from functools import lru_cache
from pathlib import Path
from typing import Any

from bot.kernel.charts import packaged_font

log = logging.getLogger(__name__)

VERSION = 1  # of the base font's character set: a new one makes a new cache file
EXTRA = (0x2014, 0x2026, 0x00B7, 0x2605, 0x2606, 0x3000)  # — … · ★ ☆ and the ideographic space
_lock = threading.Lock()


def full_path() -> Path:
    path = packaged_font()
    if path is None:  # the package is a dependency; without it no Chinese could be printed
        raise RuntimeError("the CJK font of mplfonts is missing")
    return path


def base_characters() -> set[int]:
    chars = set(range(0x20, 0x7F)) | set(range(0xA0, 0x100)) | set(EXTRA)
    for code in range(0x80, 0x10000):
        try:
            chr(code).encode("gb2312")
        except UnicodeEncodeError:
            continue
        chars.add(code)
    return chars


def cache_file(full: Path) -> Path:
    stat = full.stat()
    name = f"{full.stem}-gb2312-v{VERSION}-{stat.st_size}-{int(stat.st_mtime)}.otf"
    return Path(tempfile.gettempdir()) / "lovebank-fonts" / name


def _cut_base(full: Path) -> bytes:
    from fontTools import subset, ttLib  # type: ignore[import-untyped]  # fontTools ships no types or stubs

    font = ttLib.TTFont(str(full), recalcBBoxes=False, recalcTimestamp=False)
    options = subset.Options(
        notdef_outline=True, recommended_glyphs=True, name_IDs=["*"], name_languages=["*"], layout_features=[]
    )
    options.drop_tables += ["GSUB", "GPOS", "GDEF", "BASE", "JSTF", "MATH", "VORG", "vhea", "vmtx", "DSIG"]
    cutter = subset.Subsetter(options)
    cutter.populate(unicodes=base_characters())
    cutter.subset(font)
    out = io.BytesIO()
    font.save(out)
    return out.getvalue()


def base_path() -> Path | None:
    """The base font's cache file, cut now when there is none yet; None when it cannot be
    written (the full font is used then)."""
    full = full_path()
    path = cache_file(full)
    if path.exists():
        return path
    data = _cut_base(full)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Written whole under another name, then renamed: a reader never sees half a font.
        with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".part", delete=False) as part:
            part.write(data)
        os.replace(part.name, path)
    except OSError as exc:
        log.warning("the base CJK font could not be cached in %s (%s): using the full font", path.parent, exc)
        return None
    return path


@lru_cache(maxsize=2)
def _parsed(base: bool) -> tuple[Any, bytes]:
    """The font as fpdf2 parses it (character map, widths) and its bytes: once per process."""
    from fpdf import FPDF

    with _lock:  # two certificates at once in a fresh process: one cut, one parse
        path = (base_path() if base else None) or full_path()
        pdf = FPDF()
        pdf.add_font("font", "", str(path))
        return pdf.fonts["font"], path.read_bytes()


def add_cjk_font(pdf: Any, family: str, *, full: bool = False) -> None:
    """`pdf.add_font(family, "", …)` for the base font (or the full one): a copy of the parsed
    font with this document's own state, the glyphs it uses and a fresh fontTools object (the
    embedding cuts it in place). Bounding boxes are not recomputed on embedding (drawing every
    glyph for them took a fifth of the time); the font's own stay."""
    from fontTools import ttLib
    from fpdf.fonts import SubsetMap

    parsed, data = _parsed(not full)
    font = copy.copy(parsed)
    font.i = len(pdf.fonts) + 1
    font.fontkey = family
    font.ttfont = ttLib.TTFont(io.BytesIO(data), recalcTimestamp=False, recalcBBoxes=False, lazy=True)
    font.subset = SubsetMap(font)
    font.missing_glyphs = []
    font.biggest_size_pt = 0
    font._hbfont = None
    pdf.fonts[family] = font
    pdf._set_min_pdf_version("1.6")  # a CID-keyed CFF font, as add_font notes


def missing(pdf: Any, family: str) -> bool:
    """Whether the document asked the font for a character it does not have."""
    return bool(pdf.fonts[family].missing_glyphs)


def output(pdf: Any) -> bytes:
    from fpdf.fonts import SubsetMap

    try:
        return bytes(pdf.output())
    finally:
        # fpdf2 memoises glyph look-ups per subset map, which would keep every document's font alive.
        SubsetMap.get_glyph.cache_clear()
