"""Random text and button data in every state of the request flows: always a reply in the
person's language, and nothing written when the input was refused."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from bot.services import Services
from models import Notification, ServiceRequest, Transfer
from tests.dialogs.chat import flow_of
from tests.dialogs.test_fuzz import CJK, _in_language, inputs, presses
from tests.world import World, stray_chinese

STATES = {
    "request/category": ["/request"],
    "request/date": ["/request", "1"],
    "request/slot": ["/request", "1", "1"],
    "request/duration": ["/request", "1", "1", "1"],
    "request/payer": ["/request", "1", "1", "1", "2"],
    "request/note": ["/request", "1", "1", "1", "2", "2"],
    "request/address": ["/request", "1", "1", "1", "2", "2", "skip"],
    "request/confirm": ["/request", "1", "1", "1", "2", "2", "skip", "skip"],
    "done/duration": ["/done Q1"],
    "dispute/reason": ["/dispute Q1"],
    "board": ["/requests"],
}
extra = st.sampled_from(
    [
        "/take Q1",
        "/accept Q1 5",
        "/settle Q1 void",
        "/done Q1 1.5h",
        "/request 助洁 2h 明天",
        "/requests 助洁 2",
        "明天",
        "11-31",
        "2026-02-30",
        "morning",
        "pool",
        "own",
        "Q1",
        "Q0",
    ]
)


async def _snapshot(services: Services) -> tuple:
    with services.db.read() as session:
        s = session
        return tuple(
            [s.scalar(select(func.count()).select_from(t)) for t in (Transfer, ServiceRequest, Notification)]
            + [tuple(s.scalars(select(ServiceRequest.status).order_by(ServiceRequest.id)))]
        )


async def _check(
    services: Services, world: World, chat, state: str, text: str | None, press: str | None, locale: str
) -> None:
    volunteer = await _in_language(services, world, chat, "volunteer1", locale)
    await volunteer.say("/cancel")
    for answer in STATES[state]:
        await volunteer.say(answer)
    if "/" in state:  # the named state was reached
        assert await flow_of(services, "volunteer1") == tuple(state.split("/")), (state, volunteer.keys())
    before = await _snapshot(services)
    rendered = await (volunteer.say(text) if text is not None else volunteer.press(press or ""))
    keys = volunteer.keys()
    if "lang.set" in keys:
        return
    assert keys, "every input gets a reply"
    assert volunteer.last is not None and volunteer.last.locale == locale
    given_text = text if text is not None else press or ""
    if locale == "en" and not CJK.search(given_text):
        assert await stray_chinese(services, rendered) is None, rendered
    if any(k.startswith("error.") for k in keys):
        assert await _snapshot(services) == before, keys


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(state=st.sampled_from(sorted(STATES)), text=st.one_of(inputs, extra), locale=st.sampled_from(["zh-CN", "en"]))
async def test_random_text_in_every_request_state(
    services: Services, world: World, chat, state: str, text: str, locale: str
) -> None:
    await _check(services, world, chat, state, text, None, locale)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(state=st.sampled_from(sorted(STATES)), press=st.one_of(presses, extra), locale=st.sampled_from(["zh-CN", "en"]))
async def test_random_button_data_in_every_request_state(
    services: Services, world: World, chat, state: str, press: str, locale: str
) -> None:
    await _check(services, world, chat, state, None, press, locale)
