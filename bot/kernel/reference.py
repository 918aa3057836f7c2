"""Per-community reference data (service categories, the community's time zone) kept in the process.

Categories change rarely (a worker or an admin edits them), yet the step-by-step /log shows them
at three steps; reading them each time cost a hand-off to a database thread and a query.

Freshness across processes: a short time to live, not a version column. A stale list can only
offer a category another process has just changed, and every write re-checks the category inside
its own transaction (active, of this community), so the worst case is a friendly refusal for a
few seconds, not a wrong row. A version column would cost a migration and a read on every use,
which is what the cache is there to save. Nothing in the bot changes either once a community is
made (its categories come with it); a change by hand in the database shows within the TTL.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

TTL = 5.0  # seconds another process's change may take to show here


class ReferenceCache:
    """(kind, community id) → value, each kept for `ttl` seconds. Safe across the database
    threads and the event loop: a lookup is one dict read, a store one dict write."""

    def __init__(self, ttl: float = TTL, now: Callable[[], float] = time.monotonic) -> None:
        self.ttl, self._now = ttl, now
        self._kept: dict[tuple[str, int], tuple[float, Any]] = {}

    def get(self, kind: str, community_id: int) -> Any | None:
        found = self._kept.get((kind, community_id))
        if found is None or found[0] < self._now():
            return None
        return found[1]

    def put(self, kind: str, community_id: int, value: Any) -> Any:
        self._kept[(kind, community_id)] = (self._now() + self.ttl, value)
        return value
