"""Star levels (星级志愿者): 一星 to 五星 at 100, 300, 600, 1,000 and 1,500 service hours, the levels
street offices use, or the thresholds a community sets (`communities.options["star_levels"]`).

Hours are service hours as bot.hours.service_hours defines them (the same sums a certificate
prints), all time, in the community. The approval that carries a person over a threshold calls
`on_counted` in its own transaction: the congratulation and the workers' notice are written to
the outbox with it, and the level is claimed once (job_runs: star-level, community:person, L3),
so a retried or concurrent approval never congratulates twice."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.hours import service_hours
from bot.kernel.access import get_community, require_role
from bot.kernel.audit import audit
from bot.kernel.clock import Clock
from bot.kernel.db import Database, claim, reads
from bot.kernel.errors import InvalidInput
from bot.kernel.i18n import hours
from bot.messages.notify import notify, notify_workers
from models import Community, Person

DEFAULT_HOURS = (100, 300, 600, 1000, 1500)
OPTION = "star_levels"
JOB = "star-level"
MAX_HOURS = 100_000
ZH = ("", "一", "二", "三", "四", "五")  # 一星 … 五星: how a certificate and a Chinese message say it


@dataclass(frozen=True)
class Standing:
    level: int  # 0: none yet
    minutes: int  # service minutes, all time, in the community
    to_next: int | None  # minutes to the next level; None at the top
    thresholds: tuple[int, ...]  # hours

    @property
    def next_level(self) -> int | None:
        return None if self.to_next is None else self.level + 1


def level_name(level: int) -> dict[str, str]:
    """三星 / 3-star, as a message parameter each language picks its own from (JSON-safe, so it
    travels in the outbox)."""
    zh = ZH[level] if 0 <= level < len(ZH) else str(level)
    return {"zh-CN": f"{zh}星", "en": f"{level}-star"}


def level_params(level: int) -> dict[str, Any]:
    """What a message needs to name a level in either language, and its ★★★."""
    return {"level": level_name(level), "stars": "★" * level}


def thresholds(community: Community) -> tuple[int, ...]:
    return thresholds_in(community.options)


def thresholds_in(options: dict | None) -> tuple[int, ...]:
    """The thresholds a community's options hold (the defaults when none or nonsense)."""
    found = (options or {}).get(OPTION)
    try:
        return check_thresholds([int(h) for h in found]) if found else DEFAULT_HOURS
    except (InvalidInput, TypeError, ValueError):  # a hand-edited option that makes no sense: the defaults
        return DEFAULT_HOURS


def check_thresholds(values: list[int]) -> tuple[int, ...]:
    """Five whole numbers of hours, each above the one before."""
    if len(values) != 5 or not all(a < b for a, b in zip([0, *values], values, strict=False)) or values[-1] > MAX_HOURS:
        raise InvalidInput("levels.bad_thresholds")
    return tuple(values)


def parse_thresholds(text: str) -> tuple[int, ...]:
    words = text.replace(",", " ").replace("，", " ").replace("、", " ").split()
    if not all(w.isascii() and w.isdecimal() for w in words):
        raise InvalidInput("levels.bad_thresholds")
    return check_thresholds([int(w) for w in words])


def level_of(minutes: int, hours_: tuple[int, ...]) -> int:
    return sum(minutes >= h * 60 for h in hours_)


def standing_of(minutes: int, hours_: tuple[int, ...]) -> Standing:
    level = level_of(minutes, hours_)
    return Standing(level, minutes, hours_[level] * 60 - minutes if level < len(hours_) else None, hours_)


def standing(session: Session, person_id: int, community_id: int) -> Standing:
    community = get_community(session, community_id)
    return standing_of(service_hours.total(session, person_id, community_id), thresholds(community))


def levels(session: Session, community_id: int, person_ids: set[int]) -> dict[int, int]:
    """The star level of each of these people in the community (0 when none): for lists."""
    hours_ = thresholds(get_community(session, community_id))
    return {p: level_of(m, hours_) for p, m in service_hours.totals(session, person_ids, community_id).items()}


def levels_of(
    session: Session, pairs: set[tuple[int, int]], known: dict[int, tuple[int, ...]] | None = None
) -> dict[tuple[int, int], int]:
    """(community, person) → star level there, for many communities at once (the weekly lists of
    every community): one query for the hours, and one for the thresholds of the communities
    whose thresholds are not `known` already."""
    if not pairs:
        return {}
    hours_ = dict(known or {})
    wanted = sorted({c for c, _ in pairs} - set(hours_))
    if wanted:
        hours_.update((c.id, thresholds(c)) for c in session.scalars(select(Community).where(Community.id.in_(wanted))))
    minutes = service_hours.totals_in(session, pairs)
    return {(c, p): level_of(m, hours_.get(c, DEFAULT_HOURS)) for (c, p), m in minutes.items()}


def on_counted(session: Session, clock: Clock, community_id: int, person_id: int, added: int) -> int | None:
    """After `added` minutes of a person's service became approved in this transaction (and the
    person's account row was updated, which serialises approvals for one person): the level
    newly reached, congratulated and announced to the workers, or None."""
    if added <= 0:
        return None
    hours_ = thresholds(get_community(session, community_id))
    after = service_hours.total(session, person_id, community_id)
    crossed = range(level_of(after - added, hours_) + 1, level_of(after, hours_) + 1)
    # Every level crossed is claimed (an approval worth two levels), the highest is the news.
    new = [lv for lv in crossed if claim(session, JOB, f"{community_id}:{person_id}", f"L{lv}", clock.now())]
    if not new:
        return None
    level = max(new)
    nxt = standing_of(after, hours_)
    name = session.scalar(select(Person.display_name).where(Person.id == person_id)) or ""
    params: dict[str, Any] = {**level_params(level), "hours": hours(after)}
    if nxt.to_next is None:
        notify(session, clock, person_id, "levels.reached_top", **params)
    else:
        notify(
            session,
            clock,
            person_id,
            "levels.reached",
            **params,
            to_next=hours(nxt.to_next),
            next=level_name(level + 1),
        )
    notify_workers(session, clock, community_id, "levels.worker_reached", exclude=person_id, name=name, **params)
    audit(session, clock, "star.level", None, community_id, "person", person_id, details={"level": level})
    return level


class StarLevelsService:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db, self.clock = db, clock

    @reads
    def standing(self, person_id: int, community_id: int) -> Standing:
        with self.db.read() as session:
            return standing(session, person_id, community_id)

    @reads
    def thresholds(self, community_id: int) -> tuple[int, ...]:
        with self.db.read() as session:
            return thresholds(get_community(session, community_id))

    def set_thresholds(self, actor_id: int | None, community_id: int, text: str | None) -> tuple[int, ...]:
        """A worker (or the operator's CLI, actor None) sets the five thresholds in hours; None or
        an empty text restores the defaults. Levels already congratulated stay congratulated."""
        values = parse_thresholds(text) if text and text.strip() else None

        def work(session: Session) -> tuple[int, ...]:
            if actor_id is not None:
                require_role(session, actor_id, community_id, "worker")
            community = get_community(session, community_id)
            options = dict(community.options or {})
            if values is None:
                options.pop(OPTION, None)
            else:
                options[OPTION] = list(values)
            community.options = options
            audit(
                session,
                self.clock,
                "star.thresholds",
                actor_id,
                community_id,
                details={"hours": list(values) if values else None},
            )
            return values or DEFAULT_HOURS

        return self.db.transaction(work)
