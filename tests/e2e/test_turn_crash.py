"""A turn is one unit of work: a real `lovebank serve` on PostgreSQL is killed (SIGKILL, as
`kill -9`) at random points of its turns, round after round, while two workers approve logs and
reject others in two steps (`/reject H12`, then the reason). After every kill, before the restart,
each update is either wholly absent (not handled: the log undecided, no earn, no notification, no
reply, the dialog state not moved) or wholly present (all of them), never half; after the last
restart every update is answered as the first time ("approved", never "approved already").

The kill points (`bot/kernel/crash.py`, `LOVEBANK_TEST_CRASH`), one a round in turn, at a random turn:
after the flow's service writes, after the reply is stored and the entry marked (both before the
commit), after the commit before the reply is sent, and after the reply is sent before it is
marked sent."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.processes import PG_URL, Community, Process, fresh_postgres, message, post, query, seed, start
from tests.e2e.standin import BotAPI

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not PG_URL, reason="needs LOVEBANK_TEST_DATABASE_URL")]

APPROVALS, REJECTIONS = 16, 8
# Each round's process dies at one of these points (in turn), with this chance a turn.
POINTS = ("turn.dispatched", "turn.settled", "turn.committed", "reply.sent")
CHANCE = "0.4"  # high enough that the 32 turns take many rounds: at 0.25 a run once ended after 4 self-kills
MAX_ROUNDS = 60
STARTUP = 120.0  # seconds a process may take to listen on a busy machine


def pending_logs(url: str, community: Community, count: int) -> list[int]:
    """`count` logs waiting for a worker, from the volunteers in turn."""
    from bot.kernel.db import Database
    from bot.kernel.settings import Settings
    from bot.services import Services

    [(category,)] = query(
        url, "SELECT id FROM service_categories WHERE community_id = :c AND name = '探访'", c=community.community_id
    )
    people = [
        query(url, "SELECT person_id FROM identities WHERE external_id = :e", e=str(uid))[0][0]
        for uid in community.volunteers
    ]

    async def build() -> list[int]:
        settings = Settings(_env_file=None, database_url=url)  # type: ignore[call-arg]
        services = Services(Database(url), settings)
        try:
            ids = []
            for n in range(count):
                person = people[n % len(people)]
                log = await services.run(
                    services.hours.submit,
                    person,
                    community.community_id,
                    category_id=category,
                    service_date=date.today(),
                    minutes=60,
                    request_key=f"crash:{n}",
                )
                ids.append(log.id)
            return ids
        finally:
            await services.db.dispose()

    return asyncio.run(build())


class Script:
    """Each worker's updates in order; what each one is about."""

    def __init__(self, community: Community, logs: list[int]) -> None:
        approver, rejecter = community.workers[:2]
        self.updates: list[tuple[int, dict[str, Any]]] = []  # (worker, payload), in sending order
        self.about: dict[str, tuple[str, int]] = {}  # platform id → (approve | ask | reason, log id)
        next_id = 50_000
        approvals, rejections = logs[:APPROVALS], logs[APPROVALS:]
        for n in range(max(len(approvals), len(rejections))):
            turns: list[tuple[int, str, str, int]] = []
            if n < len(approvals):
                turns.append((approver, f"/approve H{approvals[n]}", "approve", approvals[n]))
            if n < len(rejections):
                turns.append((rejecter, f"/reject H{rejections[n]}", "ask", rejections[n]))
                turns.append((rejecter, f"不符合要求{rejections[n]}", "reason", rejections[n]))
            for worker, text, kind, log_id in turns:
                next_id += 1
                self.updates.append((worker, message(next_id, worker, text)))
                self.about[str(next_id)] = (kind, log_id)
        self.rejecter = rejecter


def check_whole(url: str, script: Script) -> Counter[str]:
    """Every update either wholly absent or wholly present; what was found, counted."""
    handled = {
        pid: (status, reply)
        for pid, status, reply in query(url, "SELECT platform_id, status, reply FROM inbox WHERE channel = 'telegram'")
    }
    logs = dict(query(url, "SELECT id, status FROM service_logs"))
    earned = {
        int(key.split("H")[1])
        for (key,) in query(url, "SELECT idempotency_key FROM transfers WHERE idempotency_key LIKE 'earn:H%'")
    }
    notes: Counter[tuple[str, int]] = Counter()
    for key, params in query(
        url, "SELECT key, params FROM notifications WHERE key IN ('notify.log_approved', 'notify.log_rejected')"
    ):
        params = params if isinstance(params, dict) else json.loads(params)
        notes[(key, int(params["log"]))] += 1
    states = query(
        url,
        "SELECT d.flow, d.step, d.data FROM dialog_states d JOIN identities i "
        "ON i.id = d.identity_id WHERE i.external_id = :e",
        e=str(script.rejecter),
    )
    waiting = None
    if states and states[0][0] == "reject":
        data = states[0][2] if isinstance(states[0][2], dict) else json.loads(states[0][2])
        waiting = data.get("ref_id")
    seen: Counter[str] = Counter()
    for pid, (kind, log_id) in script.about.items():
        status, reply = handled.get(pid, ("absent", None))
        done = status in ("handled", "done")
        text = json.dumps(reply, ensure_ascii=False) if reply else ""
        where = f"update {pid} ({kind} H{log_id}, inbox {status})"
        seen[f"{kind}:{'present' if done else 'absent'}"] += 1
        if kind == "approve":
            assert (logs[log_id] == "approved") == done, f"{where}: the log is {logs[log_id]}"
            assert (log_id in earned) == done, f"{where}: earn written {log_id in earned}"
            assert notes[("notify.log_approved", log_id)] == int(done), f"{where}: notifications"
            assert (f"已通过 H{log_id}：" in text) == done, f"{where}: reply {text[:200]}"
        elif kind == "reason":
            assert (logs[log_id] == "rejected") == done, f"{where}: the log is {logs[log_id]}"
            assert notes[("notify.log_rejected", log_id)] == int(done), f"{where}: notifications"
            assert (f"已驳回 H{log_id}" in text) == done, f"{where}: reply {text[:200]}"
        else:  # the question: its state waits for the reason until the reason's turn is done
            assert (f"驳回 H{log_id} 的理由" in text) == done, f"{where}: reply {text[:200]}"
            reason_pid = str(int(pid) + 1)
            reason_done = handled.get(reason_pid, ("absent", None))[0] in ("handled", "done")
            assert (waiting == log_id) == (done and not reason_done), f"{where}: state waits for {waiting}"
        assert "之前已经" not in text, f"{where}: a turn ran twice: {text[:200]}"
    return seen


def test_every_turn_is_whole_or_absent_across_kills(bot_api: Any, tmp_path: Path) -> None:
    api: BotAPI
    api, port = bot_api
    url = fresh_postgres()
    community = seed(url, workers=2, volunteers=6)
    logs = pending_logs(url, community, APPROVALS + REJECTIONS)
    script = Script(community, logs)

    kills, points = 0, Counter[str]()
    process: Process | None = None
    sent = 0
    for round_ in range(MAX_ROUNDS):
        at = POINTS[round_ % len(POINTS)]
        process = start("serve", tmp_path, f"r{round_}", port, url, test_crash=f"{CHANCE}@{at}")
        try:
            process.wait_log(r"listening on http://", timeout=STARTUP)
        except AssertionError:
            # Its hook may kill it before it says where it listens: the workers start on what the
            # last round left while the server comes up. That is a round like any other.
            if process.popen.poll() is None:
                raise
        while sent < len(script.updates) and process.popen.poll() is None:
            _, payload = script.updates[sent]
            if post(process.port, payload) == 200:
                sent += 1
            else:
                time.sleep(0.05)
        deadline = time.monotonic() + 30
        while process.popen.poll() is None and time.monotonic() < deadline:
            if query(url, "SELECT count(*) FROM inbox WHERE status <> 'done'") == [(0,)] and sent == len(
                script.updates
            ):
                break
            time.sleep(0.1)
        if process.popen.poll() is None:
            process.kill9()  # alive at the end of a round: killed from outside, wherever it is
        kills += 1
        points.update(re.findall(r"test crash at ([\w.]+)", process.log()))
        check_whole(url, script)  # the process is dead: what the database holds now
        if sent == len(script.updates) and query(url, "SELECT count(*) FROM inbox WHERE status <> 'done'") == [(0,)]:
            break
    else:
        pytest.fail(f"not finished after {MAX_ROUNDS} rounds")

    # A last process without the hook answers what is still waiting.
    final = start("serve", tmp_path, "final", port, url)
    final.wait_log(r"listening on http://", timeout=STARTUP)
    try:
        deadline = time.monotonic() + 60
        while query(url, "SELECT count(*) FROM inbox WHERE status <> 'done'") != [(0,)]:
            assert time.monotonic() < deadline, "updates left unanswered"
            time.sleep(0.2)
        seen = check_whole(url, script)
        assert final.stop() == 0
    finally:
        if final.popen.poll() is None:
            final.popen.kill()
    assert seen == Counter({"approve:present": APPROVALS, "ask:present": REJECTIONS, "reason:present": REJECTIONS})
    texts = [c.text for c in api.delivered()]
    assert not [t for t in texts if "之前已经" in t], "a turn cut off by a kill ran again"
    for log_id in logs[:APPROVALS]:
        assert any(f"已通过 H{log_id}：" in t for t in texts), f"no reply for H{log_id}"
    print(f"\n{kills} kills over {len(script.updates)} updates; self-kills at {dict(points)}")
    assert sum(points.values()) >= 5 and len(points) >= 3  # the kills landed at several points
