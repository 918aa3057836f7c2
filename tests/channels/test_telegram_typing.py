"""What people type on Telegram, read the way they mean it: full-width characters from a Chinese
input method, and command words typed in the middle of a step."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.services import Services
from models import Person, ServiceLog
from tests.channels.conftest import ADMIN_ID
from tests.channels.kit import Telegram, dialog_state, found_community, texts
from tests.console.test_console_typing import wide

pytestmark = pytest.mark.db


async def test_full_width_answers_and_phone_numbers(tg: Telegram, tg_services: Services) -> None:
    cast = await found_community(tg, ADMIN_ID)
    await cast.volunteer.send("/log")
    assert "哪天" in texts(await cast.volunteer.send(wide("1")))  # the first category, typed full-width
    assert await dialog_state(tg_services, cast.volunteer) == ("log", "date")
    newcomer = tg.user(4004, "李四", "lisi")
    await newcomer.send(f"/start {cast.code}")
    await newcomer.send("李四")
    assert "登记成功" in texts(await newcomer.send(wide("13900000002")))
    with tg_services.db.read() as session:
        assert session.scalar(select(Person.phone).where(Person.real_name == "李四")) == "13900000002"


async def test_a_command_word_in_the_middle_of_a_step_runs_and_leaves_it(tg: Telegram, tg_services: Services) -> None:
    cast = await found_community(tg, ADMIN_ID)
    await cast.volunteer.send("/log")
    await cast.volunteer.send("探望")
    assert await dialog_state(tg_services, cast.volunteer) == ("log", "category")
    out = texts(await cast.volunteer.send("余额"))
    assert "可用积分" in out and "已取消" in out and "服务类别" not in out
    assert await dialog_state(tg_services, cast.volunteer) is None
    await cast.volunteer.send("/log")
    assert "您可以这样用" in texts(await cast.volunteer.send("帮助"))
    assert await dialog_state(tg_services, cast.volunteer) is None


async def test_a_sentence_about_hours_is_confirmed_by_button_first(tg: Telegram, tg_services: Services) -> None:
    cast = await found_community(tg, ADMIN_ID)
    out = texts(await cast.volunteer.send("我今天探访了王奶奶两个小时"))
    assert "类别：探访" in out and "时长：2 小时" in out
    with tg_services.db.read() as session:
        assert session.scalar(select(ServiceLog.id)) is None
    assert "已提交服务记录" in texts(await cast.volunteer.press("yes"))
    refused = texts(await cast.volunteer.send("/log 1h 探访 明天"))
    assert "还没到" in refused
    with tg_services.db.read() as session:
        assert list(session.execute(select(ServiceLog.minutes, ServiceLog.note))) == [
            (120, "我今天探访了王奶奶两个小时")
        ]
    assert "可用积分" in texts(await cast.volunteer.send("帮我看看积分"))
