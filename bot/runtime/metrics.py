"""What `GET /metrics` reports (Prometheus's text format), served on the internal port only
(LOVEBANK_METRICS_PORT; `handlers.web.Web.metrics_app`).

Two kinds of figures:
- Read from the database at scrape time, so every process of a deployment reports the same:
  the inbox's backlog and the age of its oldest open entry, parked updates, the outbox's
  notifications per channel, kind and state, and access-token refreshes (`database_figures`).
- Counted by this process, for what the database does not keep: call these where it happens.

    metrics.turn_finished(channel, seconds)     # one update's turn, handled (the inbox worker)
    metrics.breaker_changed(channel, state)     # a channel's circuit breaker: "closed", "open"
                                                # or "half-open" (probing)
    metrics.budget_refused(channel)             # a message the platform's budget refused (45047)
                                                # or the plan held back for it

Counters of several processes add up in Prometheus (scrape each process; `sum by (channel)`).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import case, func, literal, select
from sqlalchemy.orm import Session

from models import AccessToken, Identity, InboxEntry, Notification
from models.inbox import OPEN

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
BREAKER_STATES = ("closed", "half-open", "open")

REGISTRY = CollectorRegistry()
_TURN = Histogram(
    "lovebank_turn_seconds",
    "Time to handle one update's turn (dialog and its writes), per channel.",
    ["channel"],
    registry=REGISTRY,
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
_BREAKER = Gauge(
    "lovebank_breaker_state",
    "A channel's circuit breaker: 1 for its current state, 0 for the others.",
    ["channel", "state"],
    registry=REGISTRY,
)
_BUDGET = Counter(
    "lovebank_budget_refused",
    "Messages the platform's per-person budget refused or held back.",
    ["channel"],
    registry=REGISTRY,
)


def turn_finished(channel: str, seconds: float) -> None:
    _TURN.labels(channel).observe(seconds)


def breaker_changed(channel: str, state: str) -> None:
    if state not in BREAKER_STATES:
        raise ValueError(f"breaker state {state!r} is not one of {BREAKER_STATES}")
    for each in BREAKER_STATES:
        _BREAKER.labels(channel, each).set(1 if each == state else 0)


def budget_refused(channel: str) -> None:
    _BUDGET.labels(channel).inc()


# --- from the database ----------------------------------------------------------------------


def database_figures(session: Session, now: datetime) -> list[Metric]:
    """The figures every process agrees on, read in one short read session."""
    backlog = GaugeMetricFamily(
        "lovebank_inbox_backlog",
        "Inbox entries not yet finished, per channel and state (new: to handle; handled: the reply is still to send).",
        labels=["channel", "state"],
    )
    oldest = GaugeMetricFamily(
        "lovebank_inbox_oldest_age_seconds",
        "Age of the oldest inbox entry not yet finished, per channel.",
        labels=["channel"],
    )
    parked = GaugeMetricFamily("lovebank_inbox_parked", "Inbox entries set aside after failing.", labels=["channel"])
    t = InboxEntry.__table__.c
    rows = session.execute(
        select(t.channel, t.status, func.count(), func.min(t.received_at))
        .where(t.status.in_((*OPEN, "parked")))
        .group_by(t.channel, t.status)
    ).all()
    firsts: dict[str, datetime] = {}
    for channel, status, count, first in rows:
        if status == "parked":
            parked.add_metric([channel], count)
            continue
        backlog.add_metric([channel, status], count)
        if first is not None and (channel not in firsts or first < firsts[channel]):
            firsts[channel] = first
    for channel, first in sorted(firsts.items()):
        oldest.add_metric([channel], max((now - first).total_seconds(), 0.0))

    outbox = GaugeMetricFamily(
        "lovebank_outbox_notifications",
        "Notifications per channel, kind (catalogue key) and state: waiting (not tried yet), retrying "
        "(failed, to try again), sent, parked (kept failing).",
        labels=["channel", "kind", "state"],
    )
    n = Notification.__table__.c
    # A group post names its channel; a person's goes to their identity's (the first by name
    # when they have several).
    reach = (
        select(Identity.person_id, func.min(Identity.channel).label("channel")).group_by(Identity.person_id).subquery()
    )
    channel = func.coalesce(
        case((n.chat.is_not(None), _chat_channel(session, n.chat))), reach.c.channel, literal("none")
    )
    state = case(
        (n.parked_at.is_not(None), "parked"),
        (n.delivered_at.is_not(None), "sent"),
        (n.attempts > 0, "retrying"),
        else_="waiting",
    )
    for ch, kind, st, count in session.execute(
        select(channel, n.key, state, func.count())
        .select_from(Notification.__table__.outerjoin(reach, reach.c.person_id == n.person_id))
        .group_by(channel, n.key, state)
    ):
        outbox.add_metric([ch, kind, st], count)

    tokens = CounterMetricFamily(
        "lovebank_token_refreshes", "Access tokens fetched from the platform, per app.", labels=["app"]
    )
    for app, fetches in session.execute(select(AccessToken.app, AccessToken.fetches)):
        tokens.add_metric([app], fetches or 0)
    return [backlog, oldest, parked, outbox, tokens]


def _chat_channel(session: Session, chat: object) -> object:
    """The channel part of a group chat's "channel:id" in SQL (the two dialects spell it apart)."""
    if session.get_bind().dialect.name == "postgresql":
        return func.split_part(chat, ":", 1)
    return func.substr(chat, 1, func.instr(chat, ":") - 1)


class _Figures(Collector):
    def __init__(self, figures: Iterable[Metric]) -> None:
        self.figures = list(figures)

    def collect(self) -> Iterable[Metric]:
        return self.figures


def exposition(figures: Iterable[Metric]) -> bytes:
    """This process's counters and the database's figures, in Prometheus's text format."""
    scrape = CollectorRegistry()
    scrape.register(_Figures(figures))
    return generate_latest(REGISTRY) + generate_latest(scrape)
