"""Parsing what people type: durations, dates, typed ids. Returns None when it does not parse."""

from __future__ import annotations

import re
from datetime import date, timedelta

_DURATION = re.compile(
    r"^(?:(?P<h>\d+(?:\.\d+)?)\s*(?:h|hr|hrs|hour|hours|小时|个小时|钟头))?\s*"
    r"(?:(?P<m>\d+)\s*(?:m|min|mins|minute|minutes|分钟|分))?$",
    re.IGNORECASE,
)
_RELATIVE = {"今天": 0, "today": 0, "昨天": 1, "yesterday": 1, "前天": 2}


def parse_duration(text: str) -> int | None:
    """'2h', '1.5h', '90m', '1h30m', '2小时', '90分钟' → minutes; a bare number means minutes."""
    text = text.strip().lower().replace("：", ":")
    if re.fullmatch(r"\d{1,4}", text):
        return int(text)
    match = _DURATION.match(text)
    if not text or match is None or not (match["h"] or match["m"]):
        return None
    minutes = float(match["h"] or 0) * 60 + int(match["m"] or 0)
    return int(minutes) if minutes == int(minutes) else None


def parse_date(text: str, today: date) -> date | None:
    """'2026-11-20', '11-20', '2026/11/20', '昨天', 'yesterday' → a date."""
    text = text.strip().lower()
    if text in _RELATIVE:
        return today - timedelta(days=_RELATIVE[text])
    match = re.fullmatch(r"(?:(\d{4})[-/.年])?(\d{1,2})[-/.月](\d{1,2})日?", text)
    if match is None:
        return None
    year = int(match[1]) if match[1] else today.year
    try:
        found = date(year, int(match[2]), int(match[3]))
    except ValueError:
        return None
    if not match[1] and found > today:  # "12-30" typed in January means last year
        found = found.replace(year=year - 1)
    return found


def parse_ref(text: str, prefix: str) -> int | None:
    """'H12' (or 'h12', or '12') → 12 for prefix 'H'."""
    match = re.fullmatch(rf"(?:{prefix})?(\d{{1,9}})", text.strip(), re.IGNORECASE)
    return int(match[1]) if match else None


def parse_amount(text: str) -> int | None:
    text = text.strip()
    return int(text) if re.fullmatch(r"\d{1,9}", text) and int(text) > 0 else None


_AHEAD = {"今天": 0, "today": 0, "明天": 1, "tomorrow": 1, "后天": 2}


def parse_future_date(text: str, today: date) -> date | None:
    """A day to come: '11-30', '2026-11-30', '明天', 'tomorrow' → a date. 'MM-DD' already past
    this year means next year (asking in December for January)."""
    text = text.strip().lower()
    if text in _AHEAD:
        return today + timedelta(days=_AHEAD[text])
    match = re.fullmatch(r"(?:(\d{4})[-/.年])?(\d{1,2})[-/.月](\d{1,2})日?", text)
    if match is None:
        return None
    year = int(match[1]) if match[1] else today.year
    try:
        found = date(year, int(match[2]), int(match[3]))
    except ValueError:
        return None
    if not match[1] and found < today:
        try:
            found = found.replace(year=year + 1)
        except ValueError:  # 02-29 with no leap day next year
            return None
    return found
