"""Time source. Services take a clock so tests can walk a simulated calendar."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

_FULL_WIDTH_DIGITS = {0xFF10 + i: 0x30 + i for i in range(10)} | {0xFF0D: 0x2D, 0xFF0F: 0x2F, 0xFF0E: 0x2E}
_MONTH = re.compile(r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*月?", re.ASCII)


def parse_month(text: str | None) -> date | None:
    """'2026-11', '2026/11', '2026年11月' → the first of that month. Years 2000–2999: a month
    must have a next month for its bounds, and nothing in a love bank is older than 2000."""
    match = _MONTH.fullmatch((text or "").translate(_FULL_WIDTH_DIGITS).strip())
    if match is None or not 1 <= int(match[2]) <= 12 or not 2000 <= int(match[1]) <= 2999:
        return None
    return date(int(match[1]), int(match[2]), 1)


class Clock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FixedClock(Clock):
    """A clock that stands still until moved; for tests and the demo's history."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at

    def advance(self, **delta: float) -> None:
        self.at += timedelta(**delta)
