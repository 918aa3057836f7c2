"""Random text, button data and commands in every dialog state: never an unhandled exception,
always a reply in the person's language, and nothing written when the input was refused."""

from __future__ import annotations

import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from bot.dialogs.flows import TABLE
from bot.services import Services
from models import Membership, Notification, Person, ServiceLog, Transfer
from tests.dialogs.chat import Chat, flow_of
from tests.world import World, stray_chinese

# How to reach each state from idle: who, what they say, and the state it must be in then (the
# flow and step, or outside any flow the reply that names it), asserted before fuzzing it.
STATES = {
    "idle": ("volunteer1", [], None),
    "log/category": ("volunteer1", ["/log"], ("log", "category")),
    "log/date": ("volunteer1", ["/log", "1"], ("log", "date")),
    "log/other-date": ("volunteer1", ["/log", "1", "3"], ("log", "date", "log.type_date")),
    "log/duration": ("volunteer1", ["/log", "1", "1"], ("log", "duration")),
    "log/note": ("volunteer1", ["/log", "1", "1", "2"], ("log", "note")),
    "log/confirm": ("volunteer1", ["/log", "1", "1", "2", "1"], ("log", "confirm")),
    "lang/choose": ("volunteer1", ["/lang"], ("lang", "choose")),
    "register/name": ("resident1", ["/volunteer"], ("register", "name")),
    "history": ("volunteer1", ["/history"], "history.empty"),
}
CJK = re.compile(r"[\u4e00-\u9fff]")

inputs = st.one_of(
    st.text(max_size=40),
    st.builds(lambda c, a: f"/{c} {a}", st.sampled_from(sorted(TABLE.commands)), st.text(max_size=20)),
    st.sampled_from(
        ["1", "2", "99", "0", "-1", "²", "c²", "٣", "yes", "skip", "other", "today", "c1", "/cancel", "H1", "2h", "25h"]
    ),
)
presses = st.text(max_size=30).filter(lambda v: len(v.encode()) <= 64)


async def _snapshot(services: Services) -> tuple:
    with services.db.uow() as session:
        s = session
        return tuple(
            [s.scalar(select(func.count()).select_from(t)) for t in (Transfer, ServiceLog, Notification, Membership)]
            + [tuple(s.scalars(select(ServiceLog.status).order_by(ServiceLog.id)))]
        )


async def _check(services: Services, chat: Chat, state: str, text: str | None, press: str | None, locale: str) -> None:
    await chat.say("/cancel")
    for answer in STATES[state][1]:
        await chat.say(answer)
    await _assert_reached(services, chat, state)
    before = await _snapshot(services)
    rendered = await (chat.say(text) if text is not None else chat.press(press or ""))
    keys = chat.keys()
    if "lang.set" in keys:
        return  # a valid switch of language (a command, or an answer in the language step)
    assert chat.last is not None and chat.last.locale == locale
    given_text = text if text is not None else press or ""
    assert keys, "every input gets a reply"
    if locale == "en" and not CJK.search(given_text):
        assert await stray_chinese(services, rendered) is None, rendered
    if any(k.startswith("error.") for k in keys):
        assert await _snapshot(services) == before, keys


async def _assert_reached(services: Services, chat: Chat, state: str) -> None:
    """The state a test names is the state it fuzzes: a flow's step, or the reply outside one."""
    expected = STATES[state][2]
    flow = await flow_of(services, chat.handle)
    if expected is None:
        assert flow is None, (state, flow)
    elif isinstance(expected, str):
        assert flow is None and chat.keys() == [expected], (state, flow, chat.keys())
    else:
        assert flow == expected[:2], (state, flow)
        if len(expected) > 2:
            assert chat.keys()[-1] == expected[2], (state, chat.keys())


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(state=st.sampled_from(sorted(STATES)), text=inputs, locale=st.sampled_from(["zh-CN", "en"]))
async def test_random_text_in_every_state(
    services: Services, world: World, chat, state: str, text: str, locale: str
) -> None:
    person = await _in_language(services, world, chat, STATES[state][0], locale)
    await _check(services, person, state, text, None, locale)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(state=st.sampled_from(sorted(STATES)), press=presses, locale=st.sampled_from(["zh-CN", "en"]))
async def test_random_button_data_in_every_state(
    services: Services, world: World, chat, state: str, press: str, locale: str
) -> None:
    person = await _in_language(services, world, chat, STATES[state][0], locale)
    await _check(services, person, state, None, press, locale)


async def test_every_state_is_reached(services: Services, world: World, chat) -> None:
    """Each state is reachable as written (the fuzzing above asserts it too, for the states drawn)."""
    for state, (who, _, _) in STATES.items():
        person = await _in_language(services, world, chat, who, "zh-CN")
        await person.say("/cancel")
        for answer in STATES[state][1]:
            await person.say(answer)
        await _assert_reached(services, person, state)


async def _in_language(services: Services, world: World, chat, handle: str, locale: str) -> Chat:
    """The person with an ASCII name, in the wanted language (so stray Chinese is a defect)."""
    person_id = {"volunteer1": world.volunteer, "resident1": world.resident}[handle]
    with services.db.uow() as session:
        person = session.get(Person, person_id)
        person.display_name, person.real_name, person.locale = "Vol One", "Vol One", locale
        session.commit()
    return chat(handle)
