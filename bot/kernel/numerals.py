"""Names in the order people count them: 一网格, 二网格, 三网格 (not the code-point order 一, 三,
二), and 2号楼 before 10号楼."""

from __future__ import annotations

import re

_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_UNITS = {"十": 10, "百": 100, "千": 1000}
_NUMBER = re.compile(r"\d+|[零〇一二三四五六七八九十百千]+")


def chinese_number(text: str) -> int:
    """十二 → 12, 二十 → 20, 一百零五 → 105."""
    total = current = 0
    for ch in text:
        if ch in _DIGITS:
            current = _DIGITS[ch]
        else:
            total += (current or 1) * _UNITS[ch]
            current = 0
    return total + current


def numeral_order(name: str) -> tuple[tuple[int, int, str], ...]:
    """A sort key: numbers (Arabic or Chinese) by value, the text between them as text, and a
    name that starts with a number before one that does not."""
    parts: list[tuple[int, int, str]] = []
    position = 0
    for match in _NUMBER.finditer(name):
        if match.start() > position:
            parts.append((1, 0, name[position : match.start()]))
        word = match.group(0)
        parts.append((0, int(word) if word.isdigit() else chinese_number(word), ""))
        position = match.end()
    if position < len(name):
        parts.append((1, 0, name[position:]))
    return tuple(parts)
