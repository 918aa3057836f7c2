"""The member's page (/desk/my, 我的): the balance, the chat's /history, /orders and /myrequests
line for line (and /visits for a volunteer), in the person's language; the large version (长辈版)
by default for people over 60 on the elders' roster, with a switch that works without JavaScript;
and every `t(...)` key the templates use exists in both catalogues."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import update

from bot.dialogs.engine import Dialogs
from bot.dialogs.flows import TABLE
from bot.kernel.clock import FixedClock
from bot.kernel.i18n import LOCALES, catalogue
from bot.services import Services
from models import Elder, Person
from tests.desk.kit import client_for, log_in, submit_logs
from tests.world import World

pytestmark = pytest.mark.db
TEMPLATES = Path(__file__).resolve().parents[2] / "handlers" / "desk" / "templates"


async def test_a_volunteer_sees_balance_history_and_visits(
    services: Services, dialogs: Dialogs, world: World, clock: FixedClock
) -> None:
    ids = await submit_logs(services, clock, world.volunteers[:1], world.community_id, world.categories["助餐"])
    await services.run(services.hours.approve, world.worker, ids[0])
    async with client_for(services) as client:
        opened = await log_in(client, dialogs, "volunteer1", "/my")
        assert opened.headers["location"] == "/desk/my"
        page = await client.get("/desk/my")
    assert page.status_code == 200
    text = page.text
    assert re.search(r'<span class="number">10</span>', text)  # an hour of 助餐 is 10 points
    assert "最近明细" in text and "助餐" in text and "+10" in text
    assert "您还没有兑换记录" in text and "您还没有求助或接单" in text and "待探访" in text
    assert '<body class="normal">' in text and 'href="/desk/my?size=large"' in text
    assert "待办" not in text  # the worker's pages are not offered to a volunteer


async def test_a_resident_sees_no_visits_and_english_speakers_read_english(
    services: Services, dialogs: Dialogs, world: World
) -> None:
    with services.db.uow() as session:
        session.execute(update(Person).where(Person.id == world.resident).values(locale="en"))
        session.commit()
    async with client_for(services) as client:
        await log_in(client, dialogs, "resident1", "/my")
        text = (await client.get("/desk/my")).text
    assert '<html lang="en">' in text and "My page" in text and "Latest entries" in text
    assert "Visits due" not in text


async def test_the_large_version_is_the_default_over_60_and_can_be_switched(
    services: Services, dialogs: Dialogs, world: World, clock: FixedClock
) -> None:
    with services.db.uow() as session:
        session.add(
            Elder(
                community_id=world.community_id,
                name="居民甲",
                birth_year=clock.now().year - 75,
                import_key="居民甲|1951",
                address="3栋501",
                lives_alone=True,
                added_at=clock.now(),
                person_id=world.resident,
            )
        )
        session.commit()
    async with client_for(services) as client:
        await log_in(client, dialogs, "resident1", "/my")
        assert '<body class="large">' in (await client.get("/desk/my")).text
        switched = await client.get("/desk/my", params={"size": "normal"})
        assert '<body class="normal">' in switched.text and "lovebank_size=normal" in switched.headers["set-cookie"]
        assert '<body class="normal">' in (await client.get("/desk/my")).text  # remembered
        assert '<body class="large">' in (await client.get("/desk/my", params={"size": "large"})).text


def test_every_text_key_of_the_templates_is_in_both_catalogues() -> None:
    used = set()
    for template in TEMPLATES.glob("*.html"):
        used |= set(re.findall(r"""\bt\(\s*["']([a-z_][a-z0-9_.]*)["']""", template.read_text(encoding="utf-8")))
    kinds = {f"desk.kind.{prefix}" for prefix in TABLE.deciders}  # "desk.kind." ~ item.kind
    used = {key for key in used if not key.endswith(".")} | kinds
    assert len(used) > 20
    for locale in LOCALES:
        assert used - set(catalogue(locale)) == set(), locale
