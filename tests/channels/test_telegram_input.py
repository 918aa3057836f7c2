"""The input boundary: control characters and bidirectional overrides never get past the
channel (a NUL would break PostgreSQL, U+202E would make a name read backwards to others)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.services import Services
from models import Identity, Person, ServiceLog
from tests.channels.conftest import ADMIN_ID
from tests.channels.kit import Telegram, found_community, person_of, texts

pytestmark = pytest.mark.db


async def test_control_characters_and_bidi_overrides_are_stripped(tg: Telegram, tg_services: Services) -> None:
    cast = await found_community(tg, ADMIN_ID)
    out = texts(await cast.volunteer.send("/log 1h 探访 陪\x00王奶奶\u202e聊天\x1b[31m"))
    assert "H" in out and "出了点问题" not in out
    with tg_services.db.read() as session:
        note = session.scalar(select(ServiceLog.note))
    assert note == "陪王奶奶聊天[31m"

    # A newcomer whose Telegram name and handle carry them, registering a name that does too.
    sneaky = tg.user(4004, "Eve\u202egnp.exe\x00", "eve\u2066")
    await sneaky.send(f"/start {cast.code}")
    await sneaky.send("李\x00四\u202e")
    assert "登记成功" in texts(await sneaky.share_contact("13900000002"))
    person_id = await person_of(tg_services, sneaky)
    with tg_services.db.read() as session:
        person = session.get(Person, person_id)
        handle = session.scalar(select(Identity.handle).where(Identity.person_id == person_id))
    assert (person.real_name, person.display_name, handle) == ("李四", "李四", "eve")
    # The worker sees the clean name.
    assert "李四" in texts(await cast.worker.send("/confirm 李四"))
