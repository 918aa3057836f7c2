"""ID numbers for certificates: asked with their own consent, checked (GB 11643), kept only as a
Fernet token under LOVEBANK_DATA_KEY, shown masked (the certificate too), refused without a key,
and re-encrypted under a new key."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import func, select

from bot.dialogs.engine import Dialogs
from bot.kernel.clock import FixedClock
from bot.kernel.db import Database
from bot.kernel.settings import Settings
from bot.privacy.idnumbers import check_digit, mask, normalise, reveal
from bot.services import Services
from models import IdDocument, InboxEntry
from tests.conftest import T0
from tests.dialogs.chat import Chat, flow_of
from tests.dialogs.test_certificates import document, pdf_text
from tests.dialogs.test_privacy_rights import every_text
from tests.world import World, make_world

pytestmark = pytest.mark.db

KEY = Fernet.generate_key().decode()
NUMBER = "11010519491231002X"
MASKED = "1101**********002X"
TODAY = date(2026, 12, 4)


def test_the_check_digit_and_the_birth_date_are_checked() -> None:
    assert check_digit("11010519491231002") == "X"
    assert normalise("110105 19491231 002x", TODAY) == NUMBER  # spaces and a small x are fine
    assert normalise("110105194912310021", TODAY) is None  # wrong check digit
    bad_month = "1101051949133100" + "2"
    assert normalise(bad_month + check_digit(bad_month), TODAY) is None  # a 13th month, though its check digit fits
    future = "11010520301231002"
    assert normalise(future + check_digit(future), TODAY) is None
    assert normalise("1101051949123100", TODAY) is None and normalise("abc", TODAY) is None
    assert mask(NUMBER) == MASKED


def key_settings(database_url: str, key: str | None) -> Settings:
    return Settings(
        _env_file=None,
        database_url=database_url,
        admins=["console:admin"],  # type: ignore[call-arg]
        data_key=key,
    )


@pytest.fixture
def settings(database_url: str) -> Settings:
    return key_settings(database_url, KEY)


@pytest.fixture
def chat(services: Services) -> Any:
    dialogs = Dialogs(services)
    return lambda handle: Chat(dialogs, handle)


@pytest.fixture
async def world(services: Services) -> World:
    return await make_world(services)


async def test_given_with_consent_kept_encrypted_and_printed_masked(
    services: Services, world: World, chat: Any
) -> None:
    volunteer = chat("volunteer1")
    asked = await volunteer.say("/idnumber")
    assert "仅用于开具志愿服务证明" in asked and "yes" in volunteer.options()
    assert "18 位" in await volunteer.press("yes")
    assert "不是有效" in await volunteer.say("110105194912310021")  # a wrong check digit: asked again
    assert await flow_of(services, "volunteer1") == ("idnumber", "number")
    assert MASKED in await volunteer.say(NUMBER.lower())
    assert await flow_of(services, "volunteer1") is None
    with services.db.read() as session:
        doc = session.scalars(select(IdDocument)).one()
    assert doc.person_id == world.volunteer and doc.masked == MASKED and NUMBER not in doc.encrypted
    assert reveal(services.settings, doc.encrypted) == NUMBER
    assert not [(t, c) for t, c, v in every_text(services) if NUMBER in v]  # nowhere in plain text

    # Shown masked: asked again, and on the certificate (with its type).
    assert MASKED in await volunteer.say("/idnumber")
    await volunteer.say("/cancel")
    await services.run(
        services.hours.record,
        world.worker,
        world.community_id,
        [world.volunteer],
        category_id=next(iter(world.categories.values())),
        service_date=T0.date(),
        minutes=60,
    )
    worker = chat("worker1")
    await worker.say("/certificate 志愿者1 all")
    text = pdf_text(document(worker))
    assert "居民身份证" in text and MASKED in text and NUMBER not in text

    # Withdrawn: the number goes; the certificate already issued keeps what it printed.
    assert "已删除" in await volunteer.say("/idnumber delete")
    with services.db.read() as session:
        assert session.scalar(select(func.count()).select_from(IdDocument)) == 0
    assert "没有登记" in await volunteer.say("/idnumber delete")


async def test_saying_no_keeps_nothing(services: Services, world: World, chat: Any) -> None:
    volunteer = chat("volunteer1")
    await volunteer.say("/idnumber")
    await volunteer.press("/cancel")
    assert await flow_of(services, "volunteer1") is None
    await volunteer.say("/idnumber")
    assert "不登记" in await volunteer.say("不")
    with services.db.read() as session:
        assert session.scalar(select(func.count()).select_from(IdDocument)) == 0


async def test_without_a_key_nothing_is_stored(
    database: Database, database_url: str, clock: FixedClock, caplog: pytest.LogCaptureFixture
) -> None:
    services = Services(database, key_settings(database_url, None), clock)
    await make_world(services)
    volunteer = Chat(Dialogs(services), "volunteer1")
    assert "LOVEBANK_DATA_KEY" in await volunteer.say("/idnumber")
    assert await flow_of(services, "volunteer1") is None
    assert "not set" in caplog.text
    with services.db.read() as session:
        assert session.scalar(select(func.count()).select_from(IdDocument)) == 0
    broken = Services(database, key_settings(database_url, "not-a-key"), clock)
    assert "LOVEBANK_DATA_KEY" in await Chat(Dialogs(broken), "volunteer1").say("/idnumber")


async def test_the_message_that_carried_it_is_masked_in_the_inbox(services: Services, world: World) -> None:
    await services.run(services.people.identify, "telegram", "3003", display_name="王芳")
    person, _ = await services.run(services.people.identify, "telegram", "3003", display_name="王芳")
    await services.run(services.inbox.store, "telegram", "77", "3003", {"message": {"text": f"我的号码 {NUMBER}"}})
    await services.run(services.idnumbers.save, person.id, NUMBER)
    with services.db.read() as session:
        payload = session.scalar(select(InboxEntry.payload).where(InboxEntry.platform_id == "77"))
    assert payload == {"message": {"text": f"我的号码 {MASKED}"}}


async def test_a_new_key_first_then_rotate_and_the_old_key_can_go(
    database: Database, database_url: str, clock: FixedClock, services: Services, world: World
) -> None:
    await services.run(services.idnumbers.save, world.volunteer, NUMBER)
    new = Fernet.generate_key().decode()
    both = Services(database, key_settings(database_url, f"{new},{KEY}"), clock)
    assert await both.run(both.idnumbers.rotate) == 1
    with services.db.read() as session:
        token = session.scalar(select(IdDocument.encrypted))
    assert token is not None
    assert reveal(key_settings(database_url, new), token) == NUMBER
    assert reveal(key_settings(database_url, KEY), token) is None


def test_the_cli_makes_a_key_and_refuses_to_rotate_without_one(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.kernel.settings import get_settings
    from bot.runtime import cli

    monkeypatch.delenv("LOVEBANK_DATA_KEY", raising=False)
    get_settings.cache_clear()
    try:
        assert cli.main(["data-key", "new"]) == 0
        Fernet(capsys.readouterr().out.strip().encode())  # a key Fernet takes
        assert cli.main(["data-key", "rotate"]) == 2
        assert "LOVEBANK_DATA_KEY" in capsys.readouterr().err
    finally:
        get_settings.cache_clear()
