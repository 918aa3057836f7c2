"""The cadence over a simulated calendar: what is due and overdue each morning for a month, the
edges of local days in Asia/Shanghai, and the SQL filter agreeing with the rule it encodes."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from sqlalchemy import insert, select

from bot.elders.cadence import Rule, VisitCadence, day_start, due_filter, due_of, due_params
from bot.kernel.clock import FixedClock
from bot.services import Services
from models import Elder
from tests.visits_world import roster_world

SHANGHAI = ZoneInfo("Asia/Shanghai")
MORNING = datetime(2026, 11, 20, 0, 30, tzinfo=UTC)  # 08:30 in Shanghai
ROWS = (
    "甲奶奶,1940,一号楼,一网格,是,普通,,,worker1,",  # living alone, 86: a visit every 7 days
    "乙阿姨,1960,二号楼,一网格,是,普通,,,worker1,",  # living alone, 66: visit 14, call 7
    "丙大爷,1950,三号楼,二网格,否,普通,,,worker1,",  # not alone: a visit every 30 days
    "丁叔叔,1965,四号楼,二网格,否,高,,,worker1,",  # high risk: a visit every 7 days
)
RULES = {"甲奶奶": (7, None), "乙阿姨": (14, 7), "丙大爷": (30, None), "丁叔叔": (7, None)}
# What happens on each day, after the morning list: (elder, visit or call, outcome).
DIARY = {
    0: [(name, "visit", "well") for name in RULES],
    7: [("乙阿姨", "call", "well"), ("丁叔叔", "visit", "not_home")],
    8: [("丁叔叔", "visit", "not_home")],
    9: [("甲奶奶", "visit", "well")],
    10: [("丁叔叔", "visit", "well")],
    15: [("乙阿姨", "visit", "well")],
    20: [("丙大爷", "call", "well")],  # a call does not stand in for a visit
    24: [("甲奶奶", "visit", "needs_help")],  # seen, though in need: that is contact
}
# Mornings worth stating outright: {elder: (visit or call, days overdue)}.
ANCHORS = {
    0: {name: ("visit", 0) for name in RULES},  # nobody visited yet
    7: {"甲奶奶": ("visit", 0), "乙阿姨": ("call", 0), "丁叔叔": ("visit", 0)},
    8: {"甲奶奶": ("visit", 1), "丁叔叔": ("visit", 1)},
    14: {"乙阿姨": ("visit", 0)},
    16: {"甲奶奶": ("visit", 0)},
    22: {"甲奶奶": ("visit", 6), "乙阿姨": ("call", 0), "丁叔叔": ("visit", 5)},
    30: {"丙大爷": ("visit", 0), "乙阿姨": ("visit", 1), "丁叔叔": ("visit", 13)},
}


def oracle(day: int, visited: dict[str, int], called: dict[str, int]) -> dict[str, tuple[str, int]]:
    """The rule in day numbers, written plainly: a visit due `v` days after the last visit, else
    a call due `c` days after the last visit or call."""
    due = {}
    for name, (v, c) in RULES.items():
        if name not in visited:
            due[name] = ("visit", day)
        elif visited[name] + v <= day:
            due[name] = ("visit", day - visited[name] - v)
        elif c and max(visited[name], called.get(name, -1)) + c <= day:
            due[name] = ("call", day - max(visited[name], called.get(name, -1)) - c)
    return due


async def test_a_month_of_mornings(services: Services, clock: FixedClock) -> None:
    r = await roster_world(services, *ROWS)
    visited: dict[str, int] = {}
    called: dict[str, int] = {}
    for day in range(31):
        clock.at = MORNING + timedelta(days=day)
        due = await services.run(services.visits.due_for, r.worker, r.community_id)
        assert due.today == (MORNING + timedelta(days=day)).astimezone(SHANGHAI).date()
        seen = {i.name: (i.kind, i.overdue_days) for i in due.items}
        assert seen == oracle(day, visited, called), f"day {day}"
        if day in ANCHORS:
            assert seen == ANCHORS[day], f"day {day}"
        flagged = {i.name for i in due.items if i.flagged}
        assert flagged == ({"丁叔叔"} if day in (9, 10) else set()), f"day {day}"
        if day == 30:
            assert {i.name for i in due.items if i.long_overdue} == {"丁叔叔"}
        clock.advance(hours=1)
        for name, kind, outcome in DIARY.get(day, []):
            await services.run(services.visits.record, r.worker, r.elders[name], kind=kind, outcome=outcome)
            if outcome != "not_home":
                (visited if kind == "visit" else called)[name] = day


async def test_the_day_turns_at_midnight_in_shanghai(services: Services, clock: FixedClock) -> None:
    r = await roster_world(services, "晚归,1940,一号楼,,是,普通,,,worker1,", "早起,1941,二号楼,,是,普通,,,worker1,")
    # 23:59 and 00:01 in Shanghai, a week before.
    await services.run(
        services.visits.record,
        r.worker,
        r.elders["晚归"],
        kind="visit",
        outcome="well",
        at=datetime(2026, 11, 13, 15, 59, tzinfo=UTC),
    )
    await services.run(
        services.visits.record,
        r.worker,
        r.elders["早起"],
        kind="visit",
        outcome="well",
        at=datetime(2026, 11, 13, 16, 1, tzinfo=UTC),
    )

    async def due_at(moment: datetime) -> dict[str, int]:
        clock.at = moment
        return {
            i.name: i.overdue_days
            for i in (await services.run(services.visits.due_for, r.worker, r.community_id)).items
        }

    assert await due_at(datetime(2026, 11, 20, 15, 59, tzinfo=UTC)) == {"晚归": 0}
    assert await due_at(datetime(2026, 11, 20, 16, 1, tzinfo=UTC)) == {"晚归": 1, "早起": 0}


async def test_turning_seventy_at_new_year_changes_the_cadence(services: Services, clock: FixedClock) -> None:
    clock.at = datetime(2026, 12, 20, 2, 0, tzinfo=UTC)
    r = await roster_world(services, "跨年,1957,一号楼,,是,普通,,,worker1,")
    await services.run(services.visits.record, r.worker, r.elders["跨年"], kind="visit", outcome="well")
    clock.at = datetime(2026, 12, 31, 15, 59, tzinfo=UTC)  # 69 on New Year's Eve: call overdue
    assert [
        (i.kind, i.overdue_days, i.age)
        for i in (await services.run(services.visits.due_for, r.worker, r.community_id)).items
    ] == [("call", 4, 69)]
    clock.at = datetime(2026, 12, 31, 16, 1, tzinfo=UTC)  # 70 on New Year's Day: weekly visits
    assert [
        (i.kind, i.overdue_days, i.age)
        for i in (await services.run(services.visits.due_for, r.worker, r.community_id)).items
    ] == [("visit", 5, 70)]


async def test_a_community_cadence_applies_to_its_lists(services: Services, clock: FixedClock) -> None:
    r = await roster_world(services, *ROWS)
    for name in RULES:
        await services.run(services.visits.record, r.worker, r.elders[name], kind="visit", outcome="well")
    await services.run(
        services.visits.set_cadence, r.worker, r.community_id, {"other": {"visit": 3}, "alone": {"call": None}}
    )
    clock.advance(days=3)
    due = await services.run(services.visits.due_for, r.worker, r.community_id)
    assert {i.name: (i.kind, i.overdue_days) for i in due.items} == {"丙大爷": ("visit", 0)}
    clock.advance(days=4)
    due = await services.run(services.visits.due_for, r.worker, r.community_id)
    # 乙阿姨 has no calls any more; her visit comes at 14 days.
    assert {i.name: i.kind for i in due.items} == {"丙大爷": "visit", "甲奶奶": "visit", "丁叔叔": "visit"}


async def test_the_sql_filter_at_the_exact_edges(services: Services) -> None:
    """Each cycle's last instant and the next one: one second makes the difference."""
    today = date(2026, 11, 20)
    community = await services.run(services.people.create_community, "边界")

    def start(days_ago: int) -> datetime:
        return day_start(today - timedelta(days=days_ago), SHANGHAI)

    second = timedelta(seconds=1)
    # name: (lives alone, risk, birth year, last visit, last call, due today?)
    cases = {
        "weekly just due": (True, "normal", 1950, start(6) - second, None, True),
        "weekly not yet": (True, "normal", 1950, start(6), None, False),
        "high risk just due": (False, "high", 1980, start(6) - second, None, True),
        "fortnightly just due": (True, "normal", 1960, start(13) - second, start(1), True),
        "fortnightly not yet": (True, "normal", 1960, start(13), start(1), False),
        "monthly just due": (False, "normal", 1950, start(29) - second, None, True),
        "monthly not yet": (False, "normal", 1950, start(29), None, False),
        "call just due": (True, "normal", 1960, start(10), start(6) - second, True),
        "call not yet": (True, "normal", 1960, start(10), start(6), False),
        "visit stands for the call": (True, "normal", 1960, start(6), None, False),
        "seventy this year": (True, "normal", 1956, start(7), None, True),
        "sixty-nine this year": (True, "normal", 1957, start(7), start(1), False),
        "never visited": (False, "normal", 1950, None, None, True),
    }
    values = [
        dict(
            community_id=community.id,
            name=name,
            birth_year=year,
            import_key=name,
            address="x",
            lives_alone=alone,
            risk=risk,
            active=True,
            flagged=False,
            not_home_streak=0,
            last_visit_at=visit,
            last_call_at=call,
            added_at=start(0),
        )
        for name, (alone, risk, year, visit, call, _) in cases.items()
    ]

    def load(session):
        session.execute(insert(Elder), values)
        return set(
            session.scalars(
                select(Elder.name).where(Elder.community_id == community.id, due_filter(VisitCadence())),
                due_params(VisitCadence(), today, SHANGHAI),
            )
        )

    expected = {name for name, case in cases.items() if case[-1]}
    assert await services.db.run(services.db.transaction, load) == expected
    assert {
        v["name"]
        for v in values
        if due_of(
            VisitCadence(),
            lives_alone=v["lives_alone"],
            risk=v["risk"],
            birth_year=v["birth_year"],
            added_at=v["added_at"],
            last_visit_at=v["last_visit_at"],
            last_call_at=v["last_call_at"],
            today=today,
            tz=SHANGHAI,
        ).today(today)
    } == expected


CADENCES = (VisitCadence(), VisitCadence(age=75, intensive=Rule(5, 2), alone=Rule(10, 5), other=Rule(30, 14)))
# Drawn often right at the edges: a day's first and last minute, a cycle's last and first day,
# the birth years that are 69, 70, 74 and 75 this year.
EDGE_DAYS = sorted({d for rule in (2, 5, 7, 10, 14, 30) for d in (rule - 1, rule)})
moments = st.tuples(
    st.one_of(st.sampled_from(EDGE_DAYS), st.integers(0, 40)),
    st.one_of(st.sampled_from((0, 1, 24 * 60 - 1)), st.integers(0, 24 * 60 - 1)),
)
years = st.one_of(st.sampled_from((1951, 1952, 1956, 1957)), st.integers(1940, 1975))
elders = st.lists(
    st.tuples(
        st.booleans(),
        st.sampled_from(("high", "normal")),
        years,
        st.one_of(st.none(), moments),
        st.one_of(st.none(), moments),
        moments,  # last visit, last call, added
    ),
    min_size=1,
    max_size=25,
)
counter = itertools.count()


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink],
)
@given(rows=elders, cadence=st.sampled_from(CADENCES))
async def test_the_sql_filter_keeps_exactly_the_elders_the_rule_says_are_due(
    services: Services,
    rows: list[tuple],
    cadence: VisitCadence,
) -> None:
    today = date(2026, 11, 20)
    community = await services.run(services.people.create_community, f"属性{next(counter)}")

    def ago(moment: tuple[int, int] | None) -> datetime | None:
        if moment is None:
            return None
        days, minute = moment
        return (
            datetime.combine(today - timedelta(days=days), time(0), SHANGHAI) + timedelta(minutes=minute)
        ).astimezone(UTC)

    values = [
        dict(
            community_id=community.id,
            name=f"e{n}",
            birth_year=year,
            import_key=f"e{n}|{year}",
            address="x",
            lives_alone=alone,
            risk=risk,
            active=True,
            flagged=False,
            not_home_streak=0,
            last_visit_at=ago(visit),
            last_call_at=ago(call),
            added_at=ago(added),
        )
        for n, (alone, risk, year, visit, call, added) in enumerate(rows)
    ]

    def load(session):
        session.execute(insert(Elder), values)
        return set(
            session.scalars(
                select(Elder.name).where(Elder.community_id == community.id, due_filter(cadence)),
                due_params(cadence, today, SHANGHAI),
            )
        )

    in_sql = await services.db.run(services.db.transaction, load)
    in_python = {
        v["name"]
        for v in values
        if due_of(
            cadence,
            lives_alone=v["lives_alone"],
            risk=v["risk"],
            birth_year=v["birth_year"],
            added_at=v["added_at"],
            last_visit_at=v["last_visit_at"],
            last_call_at=v["last_call_at"],
            today=today,
            tz=SHANGHAI,
        ).today(today)
        is not None
    }
    assert in_sql == in_python
