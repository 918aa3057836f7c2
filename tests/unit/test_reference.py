"""Reference data kept in the process: fresh for its time to live; a change made anywhere shows
once the entry is older than the TTL."""

from __future__ import annotations

from bot.kernel.reference import ReferenceCache


def test_kept_until_the_ttl_then_read_again() -> None:
    now = [100.0]
    cache = ReferenceCache(ttl=5.0, now=lambda: now[0])
    assert cache.get("categories", 1) is None
    cache.put("categories", 1, ("a",))
    now[0] += 4.9
    assert cache.get("categories", 1) == ("a",)
    now[0] += 0.2
    assert cache.get("categories", 1) is None  # another process may have changed it: read again
