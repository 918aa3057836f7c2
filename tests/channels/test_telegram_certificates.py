"""A certificate on Telegram, through the webhook and the inbox as `lovebank serve` runs it, on the
recording Bot API: the
volunteer picks the period by button, the worker issues it from /pending by button and gets
the PDF as a document, the volunteer is told and has it as a document too."""

from __future__ import annotations

import re

import pytest

from bot.services import Services
from tests.channels.conftest import ADMIN_ID
from tests.channels.kit import Telegram, found_community, texts

pytestmark = pytest.mark.db


async def test_asked_by_button_issued_from_pending_delivered_as_documents(tg: Telegram, tg_services: Services) -> None:
    cast = await found_community(tg, ADMIN_ID)
    volunteer, worker = cast.volunteer, cast.worker
    await volunteer.send("/certificate")
    out = texts(await volunteer.press("今年"))
    assert "C1" in out
    await tg.deliver()
    assert "C1" in texts(tg.api.sent("sendMessage", chat_id=worker.id)[-1:])

    await worker.send("/pending")
    issued = [c for c in await worker.press("/approve C1") if c.method == "sendDocument"]
    assert len(issued) == 1 and issued[0].files == ["document"]
    number = re.search(r"LB\d{4}-\d{6}", issued[0].text)
    assert number is not None and "王芳" in issued[0].text

    await tg.deliver()
    told = tg.api.sent("sendMessage", chat_id=volunteer.id)[-1].text
    assert number[0] in told
    again = [c for c in await volunteer.send(f"/certificate get {number[0]}") if c.method == "sendDocument"]
    assert len(again) == 1 and number[0] in again[0].text
