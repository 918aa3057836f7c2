"""The desk's Elders page: the roster with cadence and overdue marks, the month's visits as a
calendar, an uploaded roster previewed (a dry run of the CLI's import: nothing written) and
applied only on a confirmation that carries a server-held token and the CSRF token; what the
desk imported is in the chat's /elders and the audit as the CLI's import; the XLSX export."""

from __future__ import annotations

import io
import re
from datetime import timedelta

import httpx
import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from bot.dialogs.engine import Dialogs
from bot.kernel.clock import FixedClock
from bot.services import Services
from models import AuditEntry, Elder, VisitRecord
from tests.desk.kit import client_for, csrf_of, log_in
from tests.dialogs.chat import Chat
from tests.visits_world import GOOD, csv_bytes
from tests.world import World

pytestmark = pytest.mark.db


def token_of(page: str) -> str:
    found = re.search(r'name="token" value="([A-Za-z0-9_-]+)"', page)
    assert found, page[:800]
    return found[1]


async def upload(client: httpx.AsyncClient, content: bytes, name: str = "roster.csv") -> httpx.Response:
    page = await client.get("/desk/elders")
    return await client.post(
        "/desk/elders/import", data={"csrf": csrf_of(page.text)}, files={"roster": (name, content, "text/csv")}
    )


def counted(services: Services, model: type, *where: object) -> int:
    with services.db.read() as session:
        return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


async def test_an_upload_is_previewed_then_applied_as_the_cli_imports(
    services: Services, dialogs: Dialogs, world: World
) -> None:
    async with client_for(services) as client:
        await log_in(client, dialogs, "worker1")
        preview = await upload(client, csv_bytes(*GOOD))
        assert preview.status_code == 200 and "预览" in preview.text and "新增 3 位" in preview.text
        assert "新增：王秀英 (1942)" in preview.text
        assert (
            counted(services, Elder) == 0 and counted(services, AuditEntry, AuditEntry.action == "roster.import") == 0
        )
        token = token_of(preview.text)
        forged = await client.post("/desk/elders/import/apply", data={"token": token})
        assert forged.status_code == 403 and counted(services, Elder) == 0
        applied = await client.post("/desk/elders/import/apply", data={"csrf": csrf_of(preview.text), "token": token})
        assert applied.status_code == 200 and "花名册已导入：新增 3 位" in applied.text
        again = await client.post("/desk/elders/import/apply", data={"csrf": csrf_of(preview.text), "token": token})
        assert again.status_code == 400 and counted(services, Elder) == 3  # a token is used once
    with services.db.read() as session:
        actors = list(session.scalars(select(AuditEntry.actor_id).where(AuditEntry.action == "roster.import")))
    assert actors == [world.worker]  # audited once, as the worker's import
    said = await Chat(dialogs, "worker2").say("/elders")
    assert "王秀英" in said and "李建国" in said  # the chat sees what the desk imported


async def test_a_file_with_problems_is_shown_and_cannot_be_applied(
    services: Services, dialogs: Dialogs, world: World
) -> None:
    async with client_for(services) as client:
        await log_in(client, dialogs, "worker1")
        bad = await upload(client, csv_bytes("王秀英,19x2,幸福里,一网格,是,高,,,worker1,"))
        assert bad.status_code == 200 and "什么都没有导入" in bad.text and 'name="token"' not in bad.text
        nothing = await client.post(
            "/desk/elders/import", data={"csrf": csrf_of(bad.text)}, files={"roster": ("x.csv", b"", "text/csv")}
        )
        assert "请先选择" in nothing.text
        assert counted(services, Elder) == 0


async def test_a_held_upload_is_only_for_who_uploaded_it(services: Services, dialogs: Dialogs, world: World) -> None:
    async with client_for(services) as first:
        await log_in(first, dialogs, "worker1")
        token = token_of((await upload(first, csv_bytes(*GOOD))).text)
    async with client_for(services) as second:
        await log_in(second, dialogs, "worker2")
        page = await second.get("/desk/elders")
        taken = await second.post("/desk/elders/import/apply", data={"csrf": csrf_of(page.text), "token": token})
        assert taken.status_code == 400 and "已过期" in taken.text
        made_up = await second.post("/desk/elders/import/apply", data={"csrf": csrf_of(page.text), "token": "A" * 32})
        assert made_up.status_code == 400
    assert counted(services, Elder) == 0
    async with client_for(services) as member:
        await log_in(member, dialogs, "volunteer1", "/my")
        assert (await member.get("/desk/elders")).status_code == 403
        refused = await member.post("/desk/elders/import/apply", data={"token": token})
        assert refused.status_code == 403
        assert (await member.get("/desk/elders/export.xlsx")).status_code == 403


async def test_the_roster_calendar_and_the_xlsx_export(
    services: Services, dialogs: Dialogs, world: World, clock: FixedClock
) -> None:
    report = await services.run(
        services.visits.roster.import_roster, world.worker, world.community_id, "roster.csv", csv_bytes(*GOOD)
    )
    assert report.ok
    now = clock.now()
    with services.db.uow() as session:
        elder = session.scalar(select(Elder).where(Elder.name == "王秀英"))
        assert elder is not None
        for days in (0, 0, 1):
            session.add(
                VisitRecord(
                    community_id=world.community_id,
                    elder_id=elder.id,
                    person_id=world.volunteer,
                    kind="visit",
                    at=now - timedelta(days=days),
                    outcome="well",
                    created_at=now,
                )
            )
        session.commit()
    async with client_for(services) as client:
        await log_in(client, dialogs, "worker1")
        page = await client.get("/desk/elders")
        assert page.status_code == 200
        assert "王秀英" in page.text and "张桂兰" in page.text and "该探访了" in page.text  # never visited: due
        assert "探访 2 次" in page.text and "探访 1 次" in page.text
        assert (await client.get("/desk/elders", params={"month": "2026-13"})).status_code == 400
        later = await client.get("/desk/elders", params={"after": str(elder.id)})  # a keyset page
        assert "王秀英" not in later.text and "张桂兰" in later.text and "第一页" in later.text
        xlsx = await client.get("/desk/elders/export.xlsx")
        assert xlsx.status_code == 200 and "attachment" in xlsx.headers["content-disposition"]
        sheet = load_workbook(io.BytesIO(xlsx.content)).active
        assert sheet is not None
        rows = list(sheet.iter_rows(values_only=True))
        assert rows[0][:3] == ("name", "birth_year", "address") and {r[0] for r in rows[1:]} == {
            "王秀英",
            "李建国",
            "张桂兰",
        }
        back = await upload(client, xlsx.content, "elders.xlsx")  # the export imports back unchanged
        assert "无变化 3 位" in back.text
    assert counted(services, AuditEntry, AuditEntry.action == "roster.export") == 1
