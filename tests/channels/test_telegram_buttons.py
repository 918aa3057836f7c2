"""Buttons on Telegram as people really press them: twice, or on someone else's message in a
group; /pending with many items; confirming a waiting volunteer; the first "new logs" notice at
once, later ones folded."""

from __future__ import annotations

from datetime import date

import pytest

from bot.kernel.clock import FixedClock
from bot.services import Services
from tests.channels.kit import Telegram, dialog_state, found_community, person_of, texts

pytestmark = pytest.mark.db
GROUP = {"id": -100300, "type": "supergroup", "title": "阳光社区志愿者群"}


async def test_a_double_tap_on_a_category_is_taken_once(tg: Telegram, tg_services: Services) -> None:
    cast = await found_community(tg, 1001)
    [ask] = await cast.volunteer.send("/log")
    data = cast.volunteer.button_data("探访")
    first = await cast.volunteer.press_raw(data, ask.result)
    assert "哪天" in texts(first)
    # The second tap of the same button arrives before the client saw the edit.
    second = await cast.volunteer.press_raw(data, ask.result)
    assert [c.method for c in second] == ["answerCallbackQuery"]  # a toast, no message, no edit
    assert "已经用过了" in second[0].params["text"]
    assert await dialog_state(tg_services, cast.volunteer) == ("log", "date")
    assert "服务了多长时间" in texts(await cast.volunteer.press("today"))


async def test_in_a_group_only_the_asker_presses_their_top_buttons(tg: Telegram, tg_services: Services) -> None:
    cast = await found_community(tg, 1001)
    asked = await cast.volunteer.send("/top@lovebank_test_bot", chat=GROUP)
    assert "王芳" in texts(asked)  # the rank names whose it is, not "您"
    keyboard = next(c for c in asked if c.buttons)
    tg.api.clear()
    other = await cast.worker.press_raw("/top month", keyboard.result)
    assert [c.method for c in other] == ["answerCallbackQuery"] and "提问的人" in other[0].params["text"]
    own = await cast.volunteer.press_raw("/top month", keyboard.result)
    assert "本月" in texts(own) and "王芳" in texts(own)


async def test_many_pending_logs_are_one_page_with_a_true_total(tg: Telegram, tg_services: Services) -> None:
    cast = await found_community(tg, 1001)
    volunteer = await person_of(tg_services, cast.volunteer)
    for i in range(64):
        await tg_services.run(
            tg_services.hours.submit,
            volunteer,
            1,
            category_id=1 + i % 13,
            service_date=date(2026, 11, 20 - i // 13),
            minutes=15,
        )
    tg.api.clear()
    out = await cast.worker.send("/pending")
    assert [c.method for c in out] == ["sendMessage"]
    [page] = out
    assert "共 64 项（第 1/13 页）" in page.text
    data = [b["callback_data"] for b in page.buttons]
    assert len([d for d in data if d.startswith("/approve H")]) == 5 and "/pending 2" in data and "/approve all" in data
    out = await cast.worker.press("/pending 2")
    assert "（第 2/13 页）" in texts(out)
    out = texts(await cast.worker.press("/approve all"))
    assert "已通过 64 条记录" in out


async def test_the_first_new_log_notice_goes_at_once_later_ones_fold(
    tg: Telegram,
    tg_services: Services,
    clock: FixedClock,
) -> None:
    cast = await found_community(tg, 1001)
    await tg.deliver()  # set-up chatter
    tg.api.clear()
    await cast.volunteer.send("/log 1h 探访")
    assert await tg.deliver() >= 1
    [first] = tg.api.sent("sendMessage", chat_id=cast.worker.id)
    assert "有 1 条新的服务记录" in first.text
    tg.api.clear()
    clock.advance(seconds=10)
    await cast.volunteer.send("/log 1h 助餐")
    await cast.volunteer.send("/log 1h 助洁")
    await tg.deliver()
    assert tg.api.sent("sendMessage", chat_id=cast.worker.id) == []  # within the minute: held back
    clock.advance(seconds=51)
    await tg.deliver()
    [folded] = tg.api.sent("sendMessage", chat_id=cast.worker.id)
    assert "有 2 条新的服务记录" in folded.text


async def test_confirming_a_waiting_volunteer_by_button(tg: Telegram, tg_services: Services) -> None:
    cast = await found_community(tg, 1001)
    await cast.worker.send("/confirmnew on")
    newcomer = tg.user(4004, "钱", "qian")
    await newcomer.send(f"/start {cast.code}")
    await newcomer.send("钱阿姨")
    assert "确认后" in texts(await newcomer.share_contact("+8613800000002"))
    assert "等社区工作者确认" in texts(await newcomer.send("/log 1h 助餐 送饭"))
    await tg.deliver()
    assert any("钱阿姨" in c.text for c in tg.api.sent("sendMessage", chat_id=cast.worker.id))
    listing = texts(await cast.worker.send("/pending"))
    assert "钱阿姨" in listing
    assert "已确认 钱阿姨" in texts(await cast.worker.press("✅ 确认"))
    assert "已提交服务记录" in texts(await newcomer.send("/log 1h 助餐 送饭"))


async def test_a_numbered_list_shown_by_a_read_only_command_answers_the_next_message(
    tg: Telegram, tg_services: Services
) -> None:
    """/pending only reads: its list is saved with the mark that its reply went out, and the
    number typed next picks from it as a button would."""
    cast = await found_community(tg, 1001)
    await cast.worker.send("/confirmnew on")
    newcomer = tg.user(4004, "钱", "qian")
    await newcomer.send(f"/start {cast.code}")
    await newcomer.send("钱阿姨")
    await newcomer.share_contact("+8613800000002")
    listing = await cast.worker.send("/pending")
    assert "钱阿姨" in texts(listing)
    first = cast.worker.keyboard_message("✅ 确认").buttons[0]
    assert "✅ 确认" in first["text"]
    assert "已确认 钱阿姨" in texts(await cast.worker.send("1"))
