"""End to end: a day of a WeChat-only community on PostgreSQL. Two real `lovebank serve`
processes (no Telegram configured) share one database; 20 volunteers and 2 workers send 300
messages to either process (hours logged, /pending, approvals, balances, their logs), and WeChat's
API (the stand-in: 5 customer-service messages within 48 hours of a person's message, 45047 past
them; today's typed template fields, 47003) is down (503) for a stretch in the middle. Four
volunteers log a lot and then stay silent while their hours are approved one by one: their
budget runs out and the rest go by template. Every notification is delivered exactly once (by
customer-service message, by template, or folded into the answer to the person's next message),
none is parked, nobody gets more than 5 customer-service messages after one of their messages,
and each process's `/metrics` agrees with the database."""

from __future__ import annotations

import functools
import itertools
import re
import threading
import time
import urllib.request
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.processes import (
    ADMIN,
    CATEGORIES,
    PG_URL,
    Process,
    fresh_postgres,
    get,
    query,
    seed,
    start,
)
from tests.wechat.standin import (
    AES_KEY,
    APP_ID,
    APP_SECRET,
    TOKEN,
    APIServer,
    WeChatAPI,
    WeChatServer,
)

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not PG_URL, reason="needs LOVEBANK_TEST_DATABASE_URL")]

TOTAL = 300
BUSY, BUSY_LOGS, CALM_LOGS = 4, 8, 4
CS_BUDGET = 5
# Approved hours go by template once a person's budget is spent (the stand-in's TPL-REVIEW).
TEMPLATES = (
    '[hours_approved]\ntemplate_id = "TPL-REVIEW"\n'
    'fields = { character_string1 = "log", thing2 = "category", phrase3 = "status", thing4 = "summary" }\n'
)
APPROVED = re.compile(r"的服务记录 H(\d+)（")  # notify.log_approved, alone or folded
SETTLE = 30.0


def until(check: Callable[[], Any], what: str, timeout: float = SETTLE) -> Any:
    deadline = time.monotonic() + timeout
    while not (found := check()):
        assert time.monotonic() < deadline, f"timed out: {what}"
        time.sleep(0.1)
    return found


class Day:
    """WeChat's side: people's messages posted to either process (in turn), each person's in
    order; the passive answers and when each person wrote, for the checks."""

    def __init__(self, api: WeChatAPI, processes: list[Process]) -> None:
        self.api = api
        self.servers = [WeChatServer(f"http://127.0.0.1:{p.port}", api) for p in processes]
        self.msg_ids = itertools.count(20_000_000)
        self.lock = threading.Lock()
        self.count = 0
        self.wrote: dict[str, list[float]] = defaultdict(list)
        self.answers: dict[str, list[str]] = defaultdict(list)

    def say(self, openid: str, text: str) -> str:
        with self.lock:
            self.count += 1
            server = self.servers[self.count % len(self.servers)]
            self.wrote[openid].append(time.time())
        answer = server.post(server.text(openid, text, msg_id=next(self.msg_ids))[1])
        assert answer.status == 200, answer.body
        content = answer.message(server.crypto).get("Content", "")  # "" when the answer goes by the API
        with self.lock:
            self.answers[openid].append(content)
        return content

    def together(self, plans: dict[str, list[str]]) -> None:
        """Each person's messages in order, different people at once."""
        failures: list[BaseException] = []

        def person(openid: str, texts: list[str]) -> None:
            try:
                for text in texts:
                    self.say(openid, text)
            except (AssertionError, OSError) as exc:  # reported on the test's thread
                failures.append(exc)

        threads = [threading.Thread(target=person, args=item) for item in plans.items()]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if failures:
            raise failures[0]

    def approvals(self, openid: str) -> list[str]:
        """The log ids whose approval reached `openid`, however it went."""
        with self.api.lock:
            pushed = [s.content for s in self.api.sent if s.openid == openid and s.kind == "text"]
            templates = [
                s.fields["character_string1"][1:] for s in self.api.sent if s.openid == openid and s.kind == "template"
            ]
        with self.lock:
            answers = list(self.answers[openid])
        return [i for text in (*pushed, *answers) for i in APPROVED.findall(text)] + templates


def all_reached(day: Day, people: list[str], approvals: int) -> bool:
    return all(len(day.approvals(v)) >= approvals for v in people)


def pending_logs(url: str) -> dict[str, list[int]]:
    rows = query(
        url,
        "SELECT i.external_id, l.id FROM service_logs l JOIN identities i ON i.person_id = l.person_id "
        "AND i.channel = 'wechat' WHERE l.status = 'pending' ORDER BY l.id",
    )
    logs: dict[str, list[int]] = defaultdict(list)
    for openid, log_id in rows:
        logs[openid].append(log_id)
    return logs


def log_lines(first: int, count: int) -> list[str]:
    return [f"/log 1h {CATEGORIES[(first + k) % len(CATEGORIES)]} 陪老人聊天" for k in range(count)]


def scrape(process: Process) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    port = int(process.wait_log(r"metrics on http://[\d.]+:(\d+)/metrics")[1])
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        exposition = response.read().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(exposition)
        for s in family.samples
    }


def figure(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return sum(v for (n, ls), v in samples.items() if n == name and labels.items() <= dict(ls).items())


def test_a_wechat_day_on_two_processes_with_an_outage(tmp_path: Path) -> None:
    url = fresh_postgres()
    community = seed(url, workers=2, volunteers=20, channel="wechat")
    workers = [str(w) for w in community.workers]
    volunteers = [str(v) for v in community.volunteers]
    busy, calm = volunteers[:BUSY], volunteers[BUSY:]
    (tmp_path / "templates.toml").write_text(TEMPLATES)
    with APIServer() as wechat_api:
        api = wechat_api.api
        processes = [
            start(
                "serve",
                tmp_path,
                name,
                1,
                url,
                telegram_token="",
                admins=f"wechat:{ADMIN}",
                wechat_token=TOKEN,
                wechat_aes_key=AES_KEY,
                wechat_app_id=APP_ID,
                wechat_app_secret=APP_SECRET,
                wechat_api_url=wechat_api.url,
                wechat_templates=str(tmp_path / "templates.toml"),
                wechat_cs_budget=str(CS_BUDGET),
                metrics_port="0",
                outage_probe_seconds="0.5",
                outage_probe_max_seconds="2",
            )
            for name in ("a", "b")
        ]
        try:
            day = Day(api, processes)
            the_day(day, url, workers, busy, calm, processes)
            metrics = [scrape(p) for p in processes]
        finally:
            codes = [p.stop() for p in processes]
    for process, code in zip(processes, codes, strict=True):
        log = process.log()
        assert code == 0, log
        assert "Traceback" not in log, log
        assert not re.search(r"\bparked: ", log), log
    assert any(re.search(r"wechat: platform down \(.*HTTP 503\): sending paused", p.log()) for p in processes)
    check_deliveries(day, url, workers, volunteers)
    check_metrics(metrics, url, day, api)


def the_day(day: Day, url: str, workers: list[str], busy: list[str], calm: list[str], processes: list[Process]) -> None:
    for process in processes:  # WeChat only: no Telegram to wait for
        assert get(process.port, "/readyz") == (200, '{"database":"ok","wechat":"ok"}')
    # Morning: everyone writes, the volunteers log their hours, the workers look at what waits.
    plans = {
        v: ["/balance", *log_lines(n, BUSY_LOGS if v in busy else CALM_LOGS)] for n, v in enumerate([*busy, *calm])
    }
    day.together({**plans, **{w: ["/pending"] for w in workers}})
    logs = pending_logs(url)
    assert sum(map(len, logs.values())) == BUSY * BUSY_LOGS + len(calm) * CALM_LOGS, logs

    # The calm volunteers' hours approved at once; the busy ones' one at a time, each delivered
    # before the next: separate pushes, until their budget is spent and templates take over.
    day.together({w: [f"/approve H{i}" for v in calm[n::2] for i in logs[v]] for n, w in enumerate(workers)})
    for round_ in range(BUSY_LOGS):
        day.together({w: [f"/approve H{logs[v][round_]}" for v in busy[n::2]] for n, w in enumerate(workers)})
        until(functools.partial(all_reached, day, busy, round_ + 1), f"round {round_} of approvals")

    # WeChat's API goes down: the calm volunteers log once more, the workers approve, half of the
    # volunteers write again (their approval comes in the answer), and nothing is parked.
    api = day.api
    api.down = 503
    down_at = time.monotonic()
    day.together({v: log_lines(BUSY + n + CALM_LOGS, 1) for n, v in enumerate(calm)})  # a category of their own
    late = pending_logs(url)
    day.together({w: [f"/approve H{i}" for v in calm[n::2] for i in late[v]] for n, w in enumerate(workers)})
    until(lambda: any(re.search(r"wechat: platform down", p.log()) for p in processes), "the breaker did not open")
    day.together({v: ["/balance"] for v in calm[::2]})  # (checked at the end: delivered by reply)
    time.sleep(max(0.0, 3.0 - (time.monotonic() - down_at)))  # a stretch of the outage
    assert query(url, "SELECT count(*) FROM notifications WHERE parked_at IS NOT NULL") == [(0,)]
    assert query(url, "SELECT count(*) FROM notifications WHERE delivered_at IS NULL") != [(0,)]

    # Back: everything that waited goes out; the evening's messages bring the day to 300.
    api.down = None
    until(
        lambda: (
            query(url, "SELECT count(*) FROM notifications WHERE delivered_at IS NULL AND held_at IS NULL") == [(0,)]
        ),
        "notifications still waiting after the outage",
    )
    rest = TOTAL - day.count - len(workers)
    evening = [[v, "/balance" if k % 2 else "/mylogs"] for k, v in zip(range(rest), itertools.cycle(calm[1::2] + busy))]
    evening_plans: dict[str, list[str]] = defaultdict(list)
    for v, text in evening:
        evening_plans[v].append(text)
    day.together(evening_plans)
    day.together({w: ["/pending"] for w in workers})  # the workers' last look: what waited comes with it
    assert day.count == TOTAL
    until(
        lambda: query(url, "SELECT count(*) FROM notifications WHERE delivered_at IS NULL") == [(0,)],
        "notifications never delivered",
    )


def check_deliveries(day: Day, url: str, workers: list[str], volunteers: list[str]) -> None:
    api = day.api
    # Every approval reached its volunteer exactly once.
    approved = query(
        url,
        "SELECT i.external_id, l.id FROM service_logs l JOIN identities i ON i.person_id = "
        "l.person_id AND i.channel = 'wechat' WHERE l.status = 'approved'",
    )
    assert len(approved) == BUSY * BUSY_LOGS + (len(volunteers) - BUSY) * (CALM_LOGS + 1)
    for openid, log_id in approved:
        assert Counter(day.approvals(openid))[str(log_id)] == 1, (openid, log_id, day.approvals(openid))
    assert query(url, "SELECT count(*) FROM notifications WHERE parked_at IS NOT NULL OR delivered_at IS NULL") == [
        (0,)
    ]
    via = dict(query(url, "SELECT delivered_via, count(*) FROM notifications GROUP BY delivered_via"))
    assert via.get("message") and via.get("template") and via.get("reply"), via
    # Nobody over the budget: WeChat never had to refuse, and counted from what each person
    # wrote, no window carried more than 5 customer-service messages.
    assert not [code for code, _ in api.refused if code in (45047, 45015)], api.refused
    for openid in [*workers, *volunteers]:
        wrote = sorted(day.wrote[openid])
        pushes = [s.at for s in api.sent if s.openid == openid and s.kind in ("text", "image")]
        for opened, end in zip(wrote, [*wrote[1:], float("inf")], strict=True):
            assert sum(opened <= at < end for at in pushes) <= CS_BUDGET, (openid, opened)


def check_metrics(metrics: list[dict[Any, float]], url: str, day: Day, api: WeChatAPI) -> None:
    first, second = metrics
    # What each process reads from the database: the same figures, and the database's.
    for samples in metrics:
        for kind, sent in query(url, "SELECT key, count(*) FROM notifications GROUP BY key"):
            assert figure(samples, "lovebank_outbox_notifications", channel="wechat", kind=kind, state="sent") == sent
        for state in ("waiting", "retrying", "parked"):
            assert figure(samples, "lovebank_outbox_notifications", state=state) == 0
        assert figure(samples, "lovebank_inbox_backlog") == 0 and figure(samples, "lovebank_inbox_parked") == 0
        assert figure(samples, "lovebank_token_refreshes_total", app=f"wechat:{APP_ID}") == api.token_fetches
    # What each process counted: together, the database's.
    turns = figure(first, "lovebank_turn_seconds_count", channel="wechat") + figure(
        second, "lovebank_turn_seconds_count", channel="wechat"
    )
    assert turns == TOTAL == query(url, "SELECT count(*) FROM inbox WHERE channel = 'wechat'")[0][0]
    assert figure(first, "lovebank_turn_seconds_count") and figure(second, "lovebank_turn_seconds_count")
    refused = figure(first, "lovebank_budget_refused_total") + figure(second, "lovebank_budget_refused_total")
    by_template = query(url, "SELECT count(*) FROM notifications WHERE delivered_via = 'template'")[0][0]
    # Each message the budget held back is counted: every template sent, and every message held
    # (one may stand for several notifications of its kind, "3 new logs"; one held again later,
    # with more of its kind, keeps only its last moment in the database, so at least these).
    held = query(
        url,
        "SELECT count(*) FROM (SELECT DISTINCT person_id, coalesce(coalesce_key, id::text), held_at "
        "FROM notifications WHERE held_at IS NOT NULL) AS messages",
    )[0][0]
    assert by_template and refused >= by_template + held, (refused, by_template, held)
