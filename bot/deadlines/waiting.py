"""What waits for a worker, as the deadline rule (bot.deadlines.service) sees it: one item type
and the list of sources each part adds its kind to (hour logs, redemptions, requests, family
links, certificates …). Apart from the rule so that the parts can add their source without
importing the rule's figures and reports."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session


@dataclass(frozen=True)
class Item:
    """Something that waits, or waited, for a worker."""

    ref: str  # H12, R7
    community_id: int
    person_id: int  # whom it is about: they never decide it themselves
    person_name: str
    submitted_at: datetime
    ended_at: datetime | None = None  # decided (or withdrawn); None while it waits
    decided_by: int | None = None  # None while it waits, or when withdrawn rather than decided


# (session, community ids, start, end) → items. Without a range: those waiting now. With one:
# those that came in before `end` and were still waiting at `start` or later (decided in the
# range, or still open), which is what the month's figures need.
Source = Callable[[Session, list[int], datetime | None, datetime | None], list[Item]]

WAITING_SOURCES: list[Source] = []  # each part appends its own when imported
