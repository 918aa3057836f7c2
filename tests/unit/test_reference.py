"""Reference data kept in the process: fresh for its time to live, gone when this process changes
it, and another process's change shows once the entry is older than the TTL."""

from __future__ import annotations

from bot.services.reference import ReferenceCache


def test_kept_until_the_ttl_then_read_again() -> None:
    now = [100.0]
    cache = ReferenceCache(ttl=5.0, now=lambda: now[0])
    assert cache.get("categories", 1) is None
    cache.put("categories", 1, ("a",))
    now[0] += 4.9
    assert cache.get("categories", 1) == ("a",)
    now[0] += 0.2
    assert cache.get("categories", 1) is None  # another process may have changed it: read again


def test_forget_drops_one_community_or_all() -> None:
    cache = ReferenceCache(ttl=60.0)
    cache.put("categories", 1, ("a",))
    cache.put("timezone", 1, "Asia/Shanghai")
    cache.put("categories", 2, ("b",))
    cache.forget(1)
    assert cache.get("categories", 1) is None and cache.get("timezone", 1) is None
    assert cache.get("categories", 2) == ("b",)
    cache.forget()
    assert cache.get("categories", 2) is None
