"""Small things people hit on Telegram, through the inbox pipeline (`lovebank serve`/`run`)."""

from __future__ import annotations

import pytest

from bot.services import Services
from tests.channels.conftest import ADMIN_ID
from tests.channels.kit import Telegram, found_community

pytestmark = pytest.mark.db


async def test_a_typed_phone_number_takes_the_share_phone_keyboard_away(tg: Telegram, tg_services: Services) -> None:
    cast = await found_community(tg, ADMIN_ID)
    newcomer = tg.user(4004, "李娜", "lina")
    await tg.feed(newcomer.message_update(text=f"/start {cast.code}"))
    [ask] = [c for c in await tg.feed(newcomer.message_update(text="李娜")) if c.method == "sendMessage"]
    assert ask.params["reply_markup"]["keyboard"][0][0]["request_contact"] is True
    [done] = [c for c in await tg.feed(newcomer.message_update(text="13900000009")) if c.method == "sendMessage"]
    assert "登记成功" in done.text and done.params["reply_markup"] == {"remove_keyboard": True}
    # And the next answer is a plain one again.
    [balance] = [c for c in await tg.feed(newcomer.message_update(text="/balance")) if c.method == "sendMessage"]
    assert "reply_markup" not in balance.params or "remove_keyboard" not in balance.params["reply_markup"]
