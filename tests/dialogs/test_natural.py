"""Durations as people type them, in a /log line or a sentence: whatever is saved is whole
quarter hours within the rules (15 minutes to 12 hours), and anything else is refused."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from bot.services import Services
from models import ServiceLog
from tests.world import World

numbers = st.one_of(
    st.integers(0, 2000).map(str),
    st.floats(0, 30, allow_nan=False).map(lambda f: f"{f:.2f}"),
    st.sampled_from(["一", "两", "三", "十二", "十三", "二十", "一百"]),
)
durations = st.one_of(
    st.builds(
        lambda n, unit: f"{n}{unit}",
        numbers,
        st.sampled_from(["h", "小时", "个小时", "个半小时", "分钟", "m", "min", ""]),
    ),
    st.sampled_from(["半小时", "一刻钟", "三刻钟", "1h30m", "7分钟", "0.1h", "2小时半", "两个半小时"]),
)


def _minutes(services: Services, person_id: int) -> list[int]:
    with services.db.read() as session:
        return list(
            session.scalars(select(ServiceLog.minutes).where(ServiceLog.person_id == person_id).order_by(ServiceLog.id))
        )


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(typed=durations, sentence=st.booleans())
async def test_a_duration_saved_is_whole_quarter_hours_within_the_rules(
    services: Services,
    world: World,
    chat,
    typed: str,
    sentence: bool,
) -> None:
    volunteer = chat("volunteer1")
    await volunteer.say("/cancel")
    before = _minutes(services, world.volunteer)
    await volunteer.say(f"我今天探访了王奶奶{typed}" if sentence else f"/log {typed} 探访")
    said = volunteer.keys()  # the catalogue keys of the replies (a Chat, not a dict)
    if "log.confirm" in said:  # read from a sentence, or a bare number guessed: confirm
        await volunteer.say("提交")
    saved = _minutes(services, world.volunteer)[len(before) :]
    assert len(saved) <= 1
    for minutes in saved:
        assert minutes % 15 == 0 and 15 <= minutes <= 12 * 60, (typed, minutes)
    if not saved:  # refused, asked about (a category, again?) or not a duration: always a reply
        assert volunteer.keys(), typed
