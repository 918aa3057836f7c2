"""People's rights over their data on Telegram, through a real Application and the recording Bot
API: /mydata arrives as a document; /forget is confirmed and approved by buttons; an ID number is
given by pressing the consent button."""

from __future__ import annotations

import json

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select

from bot.kernel.settings import Settings
from bot.services import Services
from models import IdDocument, Identity, Person
from tests.channels.conftest import ADMIN_ID
from tests.channels.kit import Telegram, found_community, person_of, texts

pytestmark = pytest.mark.db


@pytest.fixture
def tg_settings(database_url: str) -> Settings:
    return Settings(  # type: ignore[call-arg]
        _env_file=None,
        database_url=database_url,
        admins=[f"telegram:{ADMIN_ID}"],
        telegram_token="123:abc",
        data_key=Fernet.generate_key().decode(),
    )


async def test_mydata_as_a_document_and_forget_by_buttons(tg: Telegram, tg_services: Services) -> None:
    cast = await found_community(tg, ADMIN_ID)
    volunteer, worker = cast.volunteer, cast.worker
    me = await person_of(tg_services, volunteer)

    sent = [c for c in await volunteer.send("/mydata json") if c.method == "sendDocument"]
    assert len(sent) == 1 and sent[0].files == ["document"]

    # The ID number, by the consent button.
    assert "仅用于开具志愿服务证明" in texts(await volunteer.send("/idnumber"))
    assert "18 位" in texts(await volunteer.press("同意"))
    assert "1101**********002X" in texts(await volunteer.send("11010519491231002X"))

    assert "无法恢复" in texts(await volunteer.send("/forget"))
    assert "F1" in texts(await volunteer.press("确认注销"))
    assert "F1" in texts(await worker.send("/pending"))
    assert f"已注销用户#{me}" in texts(await worker.press("同意注销 F1"))
    with tg_services.db.read() as session:
        person = session.get(Person, me)
        assert person is not None and person.real_name is None and person.phone is None
        assert session.scalar(select(Identity.id).where(Identity.person_id == me)) is None
        assert session.scalar(select(IdDocument.id)) is None
    # Writing again, the same Telegram account is a stranger with nothing of the old data.
    again = [c for c in await volunteer.send("/mydata json") if c.method == "sendDocument"]
    assert len(again) == 1 and "王芳" not in json.dumps(again[0].text or "")
    assert await person_of(tg_services, volunteer) != me
