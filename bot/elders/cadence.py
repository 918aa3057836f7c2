"""How often each elder is visited or phoned, per community.

Three kinds of elder: "intensive" (living alone and 70 or older, or high risk) are visited every
7 days; "alone" (living alone, under 70) every 14 days and phoned every 7; "other" every 30 days.
A community may change the numbers in Community.options["cadence"], e.g.
{"age": 75, "alone": {"visit": 10, "call": 5}, "other": {"call": 14}}.

Dates are the community's local dates. A contact made on day L with an interval of n days is due
again on day L + n; a visit counts as contact for the call cadence too, and a call is only listed
while no visit is due (the visit covers it). An elder nobody has visited yet is due at once (from
the day they were added), so only visited elders ever have a call due.
"not at home" is not a contact, so it never moves a due date.

`due_filter` is the same rule as SQL over the per-elder columns: it keeps an elder whose visit or
call is due on or before today, comparing timestamps with the UTC start of local days
(`due_params`), so the morning lists are one query with no date arithmetic in the database.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import BindParameter, ColumnElement, Integer, and_, bindparam, or_

from bot.kernel.clock import day_start, days_after, local_date
from bot.kernel.errors import InvalidInput
from models import Elder
from models.base import UTCDateTime

KINDS = ("intensive", "alone", "other")
MAX_INTERVAL = 366


@dataclass(frozen=True)
class Rule:
    visit: int
    call: int | None = None


@dataclass(frozen=True)
class VisitCadence:
    age: int = 70
    intensive: Rule = Rule(7)
    alone: Rule = Rule(14, 7)
    other: Rule = Rule(30)

    @classmethod
    def from_options(cls, options: dict[str, Any] | None) -> VisitCadence:
        """The community's cadence; unknown or malformed overrides fall back to the default
        rather than stopping the morning reminders."""
        raw = (options or {}).get("cadence") or {}
        try:
            return cls.parse(raw)
        except (InvalidInput, TypeError, ValueError, AttributeError):
            return cls()

    @classmethod
    def parse(cls, raw: dict[str, Any]) -> VisitCadence:
        """The default cadence with `raw`'s overrides; InvalidInput names a bad number."""
        cadence = cls()
        if "age" in raw:
            cadence = replace(cadence, age=_number(raw["age"], 50, 120))
        for kind in KINDS:
            if kind in raw:
                old: Rule = getattr(cadence, kind)
                given = raw[kind]
                visit = _number(given.get("visit", old.visit), 1, MAX_INTERVAL)
                call = given.get("call", old.call)
                call = None if call in (None, 0) else _number(call, 1, MAX_INTERVAL)
                changed: dict[str, Any] = {kind: Rule(visit, call)}
                cadence = replace(cadence, **changed)
        return cadence

    def kind_of(self, lives_alone: bool, risk: str, birth_year: int, today: date) -> str:
        if risk == "high" or (lives_alone and today.year - birth_year >= self.age):
            return "intensive"
        return "alone" if lives_alone else "other"

    def rule(self, kind: str) -> Rule:
        return getattr(self, kind)


def _number(value: Any, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidInput("visits.error.bad_cadence", low=low, high=high)
    return value


@dataclass(frozen=True)
class Due:
    """What an elder needs next and when."""

    kind: str  # intensive / alone / other
    next_visit: date
    next_call: date | None  # None when the elder has no call cadence
    interval: int  # days between visits

    def today(self, today: date) -> tuple[str, date, int] | None:
        """(visit or call, due date, days overdue) when something is due on or before today."""
        if self.next_visit <= today:
            return "visit", self.next_visit, (today - self.next_visit).days
        if self.next_call is not None and self.next_call <= today:
            return "call", self.next_call, (today - self.next_call).days
        return None


def due_of(
    cadence: VisitCadence,
    *,
    lives_alone: bool,
    risk: str,
    birth_year: int,
    added_at: datetime,
    last_visit_at: datetime | None,
    last_call_at: datetime | None,
    today: date,
    tz: ZoneInfo,
) -> Due:
    kind = cadence.kind_of(lives_alone, risk, birth_year, today)
    rule = cadence.rule(kind)
    seen = last_visit_at or added_at
    next_visit = days_after(local_date(seen, tz), rule.visit)
    if last_visit_at is None:
        next_visit = local_date(added_at, tz)  # nobody has seen them yet: go now
    next_call = None
    if rule.call is not None:
        contact = max((x for x in (last_visit_at, last_call_at) if x is not None), default=added_at)
        next_call = days_after(local_date(contact, tz), rule.call)
    return Due(kind, next_visit, next_call, rule.visit)


@lru_cache(maxsize=64)
def due_filter(cadence: VisitCadence) -> ColumnElement[bool]:
    """SQL: the elder's visit or call is due on or before the day `due_params` names (see the
    module docstring). Built once per cadence with bound parameters, so the lists that run every
    morning and on every /visits reuse one statement."""
    high = Elder.risk == "high"
    oldest_alone = bindparam("oldest_alone", type_=Integer())  # born then or before: old enough this year
    classes = {
        "intensive": or_(high, and_(Elder.lives_alone.is_(True), Elder.birth_year <= oldest_alone)),
        "alone": and_(~high, Elder.lives_alone.is_(True), Elder.birth_year > oldest_alone),
        "other": and_(~high, Elder.lives_alone.is_(False)),
    }
    conditions: list[ColumnElement[bool]] = [Elder.last_visit_at.is_(None)]
    for kind, in_class in classes.items():
        rule = cadence.rule(kind)
        conditions.append(and_(in_class, Elder.last_visit_at < _cut(rule.visit)))
        if rule.call is not None:
            no_recent_call = or_(Elder.last_call_at.is_(None), Elder.last_call_at < _cut(rule.call))
            conditions.append(and_(in_class, Elder.last_visit_at < _cut(rule.call), no_recent_call))
    return or_(*conditions)


def _cut(days: int) -> BindParameter[datetime]:
    return bindparam(f"cut_{days}", type_=UTCDateTime())


def due_params(cadence: VisitCadence, today: date, tz: ZoneInfo) -> dict[str, Any]:
    """The values for `due_filter` on `today`: a contact before the start of the local day
    (today - n + 1) makes the next one, n days on, due by today."""
    calls = (cadence.rule(k).call for k in KINDS)
    days = {cadence.rule(k).visit for k in KINDS} | {call for call in calls if call}
    return {
        "oldest_alone": today.year - cadence.age,
        **{f"cut_{n}": day_start(days_after(today, 1 - n), tz) for n in days},
    }
