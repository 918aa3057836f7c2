"""End to end: two real `lovebank serve` processes on one PostgreSQL database, with Telegram
updates POSTed to both and a Bot API stand-in recording what they send.

- a wrong or missing secret gets 403 and nothing is stored;
- the same update sent to both processes is handled once;
- 300 updates from 30 people, spread over both: each handled exactly once, each person's replies
  in the order sent;
- `kill -9` of one process while workers approve those 300 logs: every update still handled
  exactly once, every notification delivered at least once (duplicates counted and reported);
- SIGTERM: in-flight work finishes and the process exits 0.
"""

from __future__ import annotations

import re
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.processes import (
    CATEGORIES,
    PG_URL,
    Process,
    fresh_postgres,
    get,
    message,
    post,
    query,
    seed,
    start,
)
from tests.e2e.standin import BotAPI

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not PG_URL, reason="needs LOVEBANK_TEST_DATABASE_URL")]

SETTLE = 60.0  # seconds the whole load may take to be handled


def wait_until(check: Any, what: str, timeout: float = SETTLE) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out: {what}")
        time.sleep(0.2)


class Updates:
    """Telegram's side of the webhook: ids in order, and a retry of what a process did not take."""

    def __init__(self) -> None:
        self.next_id = 10_000
        self.lock = threading.Lock()

    def new_id(self) -> int:
        with self.lock:
            self.next_id += 1
            return self.next_id

    def deliver(self, payload: dict[str, Any], first: Process, fallback: Process | None) -> int:
        """POST to `first`; when it does not answer 200, Telegram tries again (here: `fallback`)."""
        for target in (first, fallback or first, fallback or first):
            status = post(target.port, payload) if target.popen.poll() is None else None
            if status == 200:
                return 200
            time.sleep(0.2)
        raise AssertionError(f"update {payload['update_id']} was never taken")


def send_all(plan: dict[int, list[tuple[dict[str, Any], Process, Process | None]]]) -> None:
    """Each person's updates in order, one after the other (the next once the last got its 200),
    and different people side by side, as Telegram delivers them."""
    updates = Updates()

    def person(items: list[tuple[dict[str, Any], Process, Process | None]]) -> None:
        for payload, first, fallback in items:
            updates.deliver(payload, first, fallback)

    threads = [threading.Thread(target=person, args=(items,)) for items in plan.values()]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


@pytest.fixture
def world(bot_api: Any, tmp_path: Path) -> Any:
    api, port = bot_api
    url = fresh_postgres()
    community = seed(url, workers=3, volunteers=30)
    processes = [start("serve", tmp_path, name, port, url) for name in ("a", "b")]
    try:
        for p in processes:
            assert p.port
        yield api, url, community, processes
    finally:
        for p in processes:
            if p.popen.poll() is None:
                p.popen.kill()
                p.popen.wait()


def replies_to(api: BotAPI, chat: int, pattern: str) -> list[str]:
    return [c.text for c in api.delivered() if c.chat_id == str(chat) and re.search(pattern, c.text)]


def test_two_processes_share_the_work_exactly_once(world: Any) -> None:
    api, url, community, (a, b) = world
    assert get(a.port, "/healthz") == (200, "ok")
    assert get(b.port, "/readyz") == (200, '{"database":"ok","telegram":"ok"}')

    # A wrong or missing secret: 403, nothing stored.
    stray = message(1, community.volunteers[0], "/balance")
    assert post(a.port, stray, secret="wrong") == 403
    assert post(b.port, stray, secret=None) == 403
    assert post(a.port, {"not": "an update"}) == 400
    assert query(url, "SELECT count(*) FROM inbox") == [(0,)]

    # The same update to both processes at once: stored once, answered once.
    same = message(5000, community.volunteers[0], "/balance")
    statuses: list[int | None] = []
    threads = [threading.Thread(target=lambda p=p: statuses.append(post(p.port, same))) for p in (a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses == [200, 200]
    wait_until(lambda: replies_to(api, community.volunteers[0], "可用积分"), "the balance reply")
    time.sleep(1)
    assert len(replies_to(api, community.volunteers[0], "可用积分")) == 1
    assert query(url, "SELECT count(*), min(status) FROM inbox") == [(1, "done")]

    # 300 updates from 30 people, each person's alternating between the two processes.
    updates = Updates()
    sent: dict[int, list[int]] = defaultdict(list)  # person → update ids in the order sent
    plan: dict[int, list[Any]] = defaultdict(list)
    for k in range(10):
        for uid in community.volunteers:
            update_id = updates.new_id()
            sent[uid].append(update_id)
            first, other = (a, b) if (k + uid) % 2 else (b, a)
            plan[uid].append((message(update_id, uid, f"/log 1h {CATEGORIES[k]} u{uid}-{k}"), first, other))
    started = time.monotonic()
    send_all(plan)
    wait_until(lambda: len([c for c in api.delivered() if "已提交服务记录" in c.text]) >= 300, "300 replies")
    elapsed = time.monotonic() - started
    logs = query(url, "SELECT request_key, id FROM service_logs")
    log_of_update = {int(key.rsplit(":", 1)[1]): log_id for key, log_id in logs}
    assert len(logs) == 300 and set(log_of_update) == {u for ids in sent.values() for u in ids}
    time.sleep(1)  # a late duplicate would show up now
    for uid, update_ids in sent.items():
        got = [int(m) for t in replies_to(api, uid, "已提交服务记录") for m in re.findall(r"H(\d+)", t)]
        assert got == [log_of_update[u] for u in update_ids], f"person {uid}: replies out of order or twice"
    # The lease token is "host:pid/claim": who handled each entry.
    handled_by = Counter(row[0].rsplit("/", 1)[0] for row in query(url, "SELECT leased_by FROM inbox"))
    print(f"\n300 updates over two processes in {elapsed:.1f}s; handled by {dict(handled_by)}")
    assert len(handled_by) == 2  # both processes did their share

    # Workers approve the 300 logs one update each, spread over both; one process is killed -9
    # a third of the way through. Telegram retries what the dead process did not answer.
    by_worker: dict[int, list[Any]] = defaultdict(list)
    ids = sorted(log_of_update.values())
    for n, log_id in enumerate(ids):
        worker = community.workers[n % len(community.workers)]
        first, other = (a, b) if n % 2 else (b, a)
        by_worker[worker].append((message(updates.new_id(), worker, f"/approve H{log_id}"), first, other))
    killer = threading.Timer(1.0, a.kill9)
    killer.start()
    send_all(by_worker)
    killer.join()
    assert a.popen.returncode == -9

    def all_approved() -> bool:
        return query(url, "SELECT count(*) FROM service_logs WHERE status = 'approved'") == [(300,)]

    wait_until(all_approved, "every log approved after the kill")
    wait_until(
        lambda: query(url, "SELECT count(*) FROM inbox WHERE status <> 'done'") == [(0,)], "every update handled"
    )
    wait_until(
        lambda: query(url, "SELECT count(*) FROM notifications WHERE delivered_at IS NULL") == [(0,)],
        "every notification delivered",
    )
    # Exactly once where it counts: one earn transfer per log, one approval reply per update.
    assert query(url, "SELECT count(*), count(DISTINCT idempotency_key) FROM transfers WHERE kind = 'earn'") == [
        (300, 300)
    ]
    notes = Counter(m for c in api.delivered() for m in re.findall(r"的服务记录 H(\d+)（[^）]*）已通过", c.text))
    assert set(notes) == {str(i) for i in ids}  # every approval notice arrived at least once
    # An approval the killed process committed but did not finish is handled again by the other:
    # the ledger replays it (no second earn) and the answer says it was approved already.
    answers = [
        (a or b, bool(b))
        for c in api.delivered()
        for a, b in re.findall(r"已通过 H(\d+)：|H(\d+) 之前已经通过了", c.text)
    ]
    replies = Counter(log_id for log_id, _ in answers)
    replayed = sum(again for _, again in answers)
    assert set(replies) == {str(i) for i in ids}
    duplicate_notes = sum(n - 1 for n in notes.values())
    duplicate_replies = sum(n - 1 for n in replies.values())
    print(
        f"after kill -9: {duplicate_notes} duplicate notifications, {duplicate_replies} duplicate replies "
        f"(possible only for what the killed process had sent but not yet marked); {replayed} approvals "
        "cut off by the kill were handled again and answered 'approved already'"
    )
    assert duplicate_notes + duplicate_replies <= 16  # at most what one process had in flight

    # SIGTERM: the survivor finishes and exits 0, with no traceback in its log.
    assert b.stop() == 0
    assert "Traceback" not in b.log(), b.log()[-3000:]
