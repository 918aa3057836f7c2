"""What must never happen twice or at all: cancelled flows that write, redelivered updates and
double presses that credit twice, forged callback data that acts."""

from __future__ import annotations

import time

import pytest

from bot.services import Services
from tests.channels.conftest import ADMIN_ID
from tests.channels.kit import (
    Cast,
    Telegram,
    available,
    dialog_state,
    found_community,
    log_ids,
    person_of,
    snapshot,
    texts,
)

pytestmark = pytest.mark.db

# The presses that lead to each step of the log flow, and the step they reach.
LOG_STEPS = [
    ((), "category"),
    (("探访",), "date"),
    (("探访", "today"), "duration"),
    (("探访", "today", "120"), "note"),
    (("探访", "today", "120", "skip"), "confirm"),
]


async def test_cancel_at_every_step_leaves_nothing(tg: Telegram, tg_services: Services) -> None:
    cast = await found_community(tg, ADMIN_ID)
    v = cast.volunteer
    for presses, step in LOG_STEPS:
        before = await snapshot(tg_services)
        await v.send("/log")
        for choice in presses:
            await v.press(choice)
        assert await dialog_state(tg_services, v) == ("log", step)
        assert "已取消" in texts(await v.send("/cancel"))
        assert await dialog_state(tg_services, v) is None
        # A button of the cancelled flow pressed afterwards is stale and writes nothing.
        out = texts(await v.press(presses[-1] if presses else "探访"))
        assert "过期" in out
        await v.send("/cancel")
        assert await snapshot(tg_services) == before, step


async def test_cancel_while_typing_a_date_and_by_the_confirm_button(tg: Telegram, tg_services: Services) -> None:
    cast = await found_community(tg, ADMIN_ID)
    v = cast.volunteer
    before = await snapshot(tg_services)
    await v.send("/log")
    await v.press("探访")
    await v.press("other")
    assert "已取消" in texts(await v.send("/cancel"))
    await v.send("/log")
    for choice in ("探访", "today", "120", "skip"):
        await v.press(choice)
    assert "已取消" in texts(await v.press("/cancel"))  # the confirm message's "取消" button
    assert await dialog_state(tg_services, v) is None
    assert await snapshot(tg_services) == before


async def test_cancel_a_rejection_before_the_reason(tg: Telegram, tg_services: Services) -> None:
    cast = await found_community(tg, ADMIN_ID)
    [log_id] = log_ids(await cast.volunteer.send("/log 1h 探访"))
    await cast.worker.send("/pending")
    before = await snapshot(tg_services)
    await cast.worker.press(f"/reject H{log_id}")
    assert await dialog_state(tg_services, cast.worker) == ("reject", "reason")
    await cast.worker.send("/cancel")
    assert await dialog_state(tg_services, cast.worker) is None
    assert await snapshot(tg_services) == before
    assert (
        await tg_services.run(tg_services.hours.get, await person_of(tg_services, cast.worker), log_id)
    ).status == "pending"


async def test_a_redelivered_update_acts_once(tg: Telegram, tg_services: Services) -> None:
    cast = await found_community(tg, ADMIN_ID)
    update = cast.volunteer.message_update(text="/log 2h 探访 陪王奶奶")
    first = await tg.feed(update)
    again = await tg.feed(update)  # Telegram (or a restart) delivers it again: the inbox has it already
    assert len(log_ids(first)) == 1 and again == []
    assert len(await tg_services.run(tg_services.hours.logs_of, await person_of(tg_services, cast.volunteer), 1)) == 1

    [log_id] = log_ids(first)
    await cast.worker.send("/pending")
    message = cast.worker.keyboard_message(f"/approve H{log_id}")
    press = cast.worker.press_update(f"/approve H{log_id}", message.result)
    assert "已通过" in texts(await tg.feed(press))
    before = await snapshot(tg_services)
    assert await tg.feed(press) == []
    assert await snapshot(tg_services) == before
    assert await available(tg_services, cast.volunteer) == 20


async def test_a_double_press_of_approve_credits_once(tg: Telegram, tg_services: Services) -> None:
    cast = await found_community(tg, ADMIN_ID)
    [log_id] = log_ids(await cast.volunteer.send("/log 3h 助餐"))
    await cast.worker.send("/pending")
    message = cast.worker.keyboard_message(f"/approve H{log_id}").result
    # Two taps before the keyboard disappears: two updates, two callback queries.
    first = await cast.worker.press_raw(f"/approve H{log_id}", message)
    before = await snapshot(tg_services)
    second = await cast.worker.press_raw(f"/approve H{log_id}", message)
    assert "已通过" in texts(first) and "没有重复记分" in texts(second)
    assert [c.method for c in second].count("answerCallbackQuery") == 1
    assert await snapshot(tg_services) == before
    assert await available(tg_services, cast.volunteer) == 30


async def test_a_double_press_of_submit_logs_once(tg: Telegram, tg_services: Services) -> None:
    cast = await found_community(tg, ADMIN_ID)
    v = cast.volunteer
    await v.send("/log")
    for choice in ("探访", "today", "60", "skip"):
        await v.press(choice)
    message = v.keyboard_message("yes").result
    [log_id] = log_ids(await v.press_raw("yes", message))
    before = await snapshot(tg_services)
    again = texts(await v.press_raw("yes", message))  # not "expired": it says what became of it
    assert f"已经提交过了（H{log_id}）" in again and "过期" not in again
    assert await snapshot(tg_services) == before


async def _pending_log(cast: Cast) -> int:
    [log_id] = log_ids(await cast.volunteer.send("/log 1h 探访"))
    await cast.worker.send("/pending")
    return log_id


def forged_message(chat_id: int, data: str, *, accessible: bool = True) -> dict:
    """A message as if the bot had offered `data` (a client can send any data for any message);
    date 0 is how Telegram marks a message it no longer shows the bot."""
    return {
        "message_id": 999,
        "date": int(time.time()) if accessible else 0,
        "chat": {"id": chat_id, "type": "private"},
        "text": "…",
        "reply_markup": {"inline_keyboard": [[{"text": "✅", "callback_data": data}]]},
    }


async def test_data_that_is_not_on_the_message_is_refused(tg: Telegram, tg_services: Services) -> None:
    cast = await found_community(tg, ADMIN_ID)
    log_id = await _pending_log(cast)
    real = cast.worker.keyboard_message(f"/approve H{log_id}").result
    before = await snapshot(tg_services)
    for data in ("xx:1", "/approve H999999", f"/approve H{log_id} H{log_id + 1}", "x" * 65):
        out = await cast.worker.press_raw(data, real)
        assert [c.method for c in out] == ["answerCallbackQuery"]
        assert "过期" in out[0].text
    assert await snapshot(tg_services) == before


async def test_forged_actions_are_refused_by_the_services(tg: Telegram, tg_services: Services) -> None:
    """Past the keyboard check (a forged message), the engine and the services still refuse."""
    cast = await found_community(tg, ADMIN_ID)
    log_id = await _pending_log(cast)

    # A log of another community, created there through the services.
    other = await tg_services.run(tg_services.people.create_community, "和谐社区")
    outsider, _ = await tg_services.run(tg_services.people.identify, "console", "outsider", display_name="外人")
    boss, _ = await tg_services.run(tg_services.people.identify, "console", "boss", display_name="外社工")
    await tg_services.run(tg_services.people.appoint_worker, None, other.id, boss.id)
    code = await tg_services.run(tg_services.people.create_invite, boss.id, other.id)
    await tg_services.run(tg_services.people.join, outsider.id, code)
    await tg_services.run(tg_services.people.register_volunteer, outsider.id, other.id, "外人", "13700000000")
    categories = await tg_services.run(tg_services.hours.categories, other.id)
    today = tg_services.clock.community("Asia/Shanghai").today()
    foreign = await tg_services.run(
        tg_services.hours.submit, outsider.id, other.id, category_id=categories[0].id, service_date=today, minutes=60
    )

    before = await snapshot(tg_services)
    cases = [
        (cast.worker, f"/approve H{foreign.id}", "工作者"),  # another community's log
        (cast.worker, f"/reject H{foreign.id} 不行", "工作者"),
        (cast.worker, "/approve H999999", "没有找到服务记录"),  # a made-up log
        (cast.worker, "xx:1", "过期"),  # a made-up action
        (cast.volunteer, f"/approve H{log_id}", "工作者"),  # not a worker (and their own log)
        (cast.volunteer, f"/approve H{foreign.id}", "工作者"),
    ]
    for user, data, refusal in cases:
        for accessible in (True, False):
            out = texts(await user.press_raw(data, forged_message(user.id, data, accessible=accessible)))
            assert refusal in out, (data, out)
    assert await snapshot(tg_services) == before
    assert (await tg_services.run(tg_services.hours.get, outsider.id, foreign.id)).status == "pending"
    assert (
        await tg_services.run(tg_services.hours.get, await person_of(tg_services, cast.worker), log_id)
    ).status == "pending"


async def test_a_step_answer_that_was_never_offered_changes_nothing(tg: Telegram, tg_services: Services) -> None:
    cast = await found_community(tg, ADMIN_ID)
    v = cast.volunteer
    await v.send("/log")
    before = await snapshot(tg_services)
    for data in ("c999999", "xx:1", "yes"):
        out = await v.press_raw(data, forged_message(v.id, data))
        assert [c.method for c in out] == ["answerCallbackQuery"] and "已经用过了" in texts(out)  # refused
    assert await dialog_state(tg_services, v) == ("log", "category")
    assert await snapshot(tg_services) == before


async def test_group_chats_hear_only_commands_meant_for_us(tg: Telegram, tg_services: Services) -> None:
    cast = await found_community(tg, ADMIN_ID)
    group = {"id": -100200, "type": "supergroup", "title": "阳光社区志愿者群"}
    stranger = tg.user(5005, "路人")
    before = await snapshot(tg_services)
    assert await stranger.send("大家好", chat=group) == []
    assert await stranger.send("/help@some_other_bot", chat=group) == []
    assert await snapshot(tg_services) == before  # nobody was enrolled for chatting

    out = await cast.volunteer.send("/help@lovebank_test_bot", chat=group)
    assert out and all(c.chat_id == "-100200" for c in out) and "/help" in texts(out)
    out = await cast.volunteer.send("/log 1h 探访", chat=group)
    assert "私聊" in texts(out)
    assert await snapshot(tg_services) == before


async def test_a_bad_deep_link_says_so(tg: Telegram, tg_services: Services) -> None:
    newcomer = tg.user(6006, "赵敏")
    assert "邀请码无效" in texts(await newcomer.send("/start NOTACODE"))
