"""The whole journey on Telegram, through the webhook and the inbox as `lovebank serve` runs it, on
the recording Bot API:
invite → deep link → registration with the contact button → logging by buttons and by one-liner
→ the worker's coalesced notification → approval by button → the volunteer's balance."""

from __future__ import annotations

import pytest

from bot.services import Services
from tests.channels.conftest import ADMIN_ID
from tests.channels.kit import (
    Telegram,
    available,
    found_community,
    log_ids,
    person_of,
    texts,
)

pytestmark = pytest.mark.db


async def test_whole_journey(tg: Telegram, tg_services: Services) -> None:
    admin = tg.user(ADMIN_ID, "陈主任", "chen_admin")
    await admin.send("/newcommunity 阳光社区")
    worker = tg.user(2002, "张丽", "zhangli")
    await worker.send("/start")
    await admin.send("/appoint @zhangli")

    # The worker's invite carries the bot's deep link.
    out = texts(await worker.send("/invite"))
    assert "邀请码" in out and "https://t.me/lovebank_test_bot?start=" in out
    code = out.rsplit("start=", 1)[1].split()[0]

    # The newcomer opens the link: Telegram sends "/start CODE".
    volunteer = tg.user(3003, "王芳", "wangfang")
    out = texts(await volunteer.send(f"/start {code}"))
    assert "欢迎加入 阳光社区" in out and "真实姓名" in out
    [ask_phone] = await volunteer.send("王芳")
    keyboard = ask_phone.params["reply_markup"]
    assert keyboard["keyboard"][0][0]["request_contact"] is True and keyboard["one_time_keyboard"] is True
    [done] = await volunteer.share_contact("+8613800000001")
    assert "登记成功" in done.text
    assert done.params["reply_markup"] == {"remove_keyboard": True}  # the contact button goes away

    # The appointed worker was told where they are now a worker.
    assert await tg.deliver() == 1
    assert "阳光社区" in tg.api.sent("sendMessage", chat_id=worker.id)[-1].text

    # Logging by buttons: category → today → duration → skip the note → submit.
    [ask_category] = await volunteer.send("/log")
    assert len(ask_category.buttons) == 13 and all(
        len(row) <= 3 for row in ask_category.params["reply_markup"]["inline_keyboard"]
    )
    out = await volunteer.press("探访")
    assert [c.method for c in out] == ["answerCallbackQuery", "editMessageText", "sendMessage"]
    assert "已选：探访" in out[1].text and "reply_markup" not in out[1].params  # the buttons are spent
    await volunteer.press("today")
    await volunteer.press("120")
    out = texts(await volunteer.press("skip"))
    assert "探访" in out and "2 小时" in out and "20 分" in out
    out = await volunteer.press("yes")
    [first] = log_ids(out[-1:])
    assert "20 积分" in out[-1].text

    # And by one line.
    out = await volunteer.send("/log 1.5h 助餐 陪王奶奶吃饭")
    [second] = log_ids(out)
    assert "15 积分" in texts(out)

    # Workers hear once, not once per log.
    tg.api.clear()
    assert await tg.deliver() == 2  # the worker and the admin (also a worker here)
    to_worker = tg.api.sent("sendMessage", chat_id=worker.id)
    assert len(to_worker) == 1 and "/pending" in to_worker[0].text
    assert await tg.deliver() == 0

    # The worker approves the first by its button.
    out = await worker.send("/pending")
    assert log_ids(out[:2]) == [first, second]
    out = texts(await worker.press(f"/approve H{first}"))
    assert f"已通过 H{first}" in out and "20 积分" in out

    # The volunteer hears of it and sees the balance.
    tg.api.clear()
    await tg.deliver()
    [note] = tg.api.sent("sendMessage", chat_id=volunteer.id)
    assert f"H{first}（探访，2 小时）已通过" in note.text and "当前可用 20 分" in note.text
    out = texts(await volunteer.send("/balance"))
    assert "可用积分：20" in out and "累计服务：2 小时" in out
    assert await available(tg_services, volunteer) == 20


async def test_typed_date_note_and_photo(tg: Telegram, tg_services: Services) -> None:
    cast = await found_community(tg, ADMIN_ID)
    v = cast.volunteer
    await v.send("/log")
    await v.press("助洁")
    assert "请输入日期" in texts(await v.press("other"))
    await v.send("11-19")
    await v.send("45m")
    out = texts(await v.send_photo("AgADphoto", caption="帮李大爷打扫"))
    assert "2026-11-19" in out and "0.75 小时" in out and "帮李大爷打扫" in out
    out = await v.press("yes")
    [log_id] = log_ids(out)
    log = await tg_services.run(tg_services.hours.get, await person_of(tg_services, v), log_id)
    assert log.minutes == 45 and log.note == "帮李大爷打扫"


async def test_someone_elses_contact_is_refused(tg: Telegram, tg_services: Services) -> None:
    cast = await found_community(tg, ADMIN_ID)
    out = await cast.worker.send("/invite")
    code = texts(out).rsplit("start=", 1)[1].split()[0]
    newcomer = tg.user(4004, "刘洋")
    await newcomer.send(f"/start {code}")
    await newcomer.send("刘洋")
    [refused] = await newcomer.share_contact("+8613900000000", owner=9999)
    assert "您自己的手机号" in refused.text and refused.params["reply_markup"]["keyboard"][0][0]["request_contact"]
    assert "需要先登记为志愿者" in texts(await newcomer.send("/log 1h 探访"))
    # Typing the number works too.
    assert "登记成功" in texts(await newcomer.send("13900000000"))


async def test_rejection_with_a_typed_reason(tg: Telegram, tg_services: Services) -> None:
    cast = await found_community(tg, ADMIN_ID)
    [log_id] = log_ids(await cast.volunteer.send("/log 2h 探访 陪聊"))
    await cast.worker.send("/pending")
    out = texts(await cast.worker.press(f"/reject H{log_id}"))
    assert f"驳回 H{log_id} 的理由" in out
    out = texts(await cast.worker.send("日期写错了，请重新提交"))
    assert f"已驳回 H{log_id}" in out
    assert (
        await tg_services.run(tg_services.hours.get, await person_of(tg_services, cast.worker), log_id)
    ).status == "rejected"
    tg.api.clear()
    await tg.deliver()
    [note] = tg.api.sent("sendMessage", chat_id=cast.volunteer.id)
    assert "未通过" in note.text and "日期写错了，请重新提交" in note.text
    assert await available(tg_services, cast.volunteer) == 0


async def test_batch_approve_by_one_button(tg: Telegram, tg_services: Services) -> None:
    cast = await found_community(tg, ADMIN_ID)
    ids = []
    for line in ("/log 1h 探访", "/log 2h 助餐", "/log 30m 咨询"):
        ids += log_ids(await cast.volunteer.send(line))
    [page] = await cast.worker.send("/pending")  # one message: the items, their buttons, approve all
    assert page.buttons[-1] == {"callback_data": "/approve all", "text": "全部通过（3 条服务记录）"}
    out = texts(await cast.worker.press("/approve all"))
    assert "已通过 3 条记录，共发放 35 积分" in out
    assert await available(tg_services, cast.volunteer) == 35
    assert "没有待审核" in texts(await cast.worker.send("/pending"))


async def test_english_speaker_gets_english_buttons_and_notifications(tg: Telegram, tg_services: Services) -> None:
    cast = await found_community(tg, ADMIN_ID)
    await cast.volunteer.send("/lang")
    out = texts(await cast.volunteer.press("en"))
    assert "English" in out
    [ask] = await cast.volunteer.send("/log")
    assert ask.buttons[0]["text"].startswith("Visit")
    await cast.volunteer.press("Visit")
    out = texts(await cast.volunteer.press("today"))
    assert "How long?" in out
    await cast.volunteer.send("/cancel")
    [log_id] = log_ids(await cast.volunteer.send("/log 1h Visit"))
    await cast.worker.send(f"/approve H{log_id}")
    tg.api.clear()
    await tg.deliver()
    [note] = tg.api.sent("sendMessage", chat_id=cast.volunteer.id)
    assert "approved" in note.text
