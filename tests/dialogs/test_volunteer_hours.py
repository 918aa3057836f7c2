"""The month's hours for the national volunteer system from the chat (`/report hours`): XLSX and
CSV, one row per volunteer, activity and day, the certificate's service hours and nothing else;
the ID type and the full number of a volunteer who gave one, when the data key decrypts it."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta

import pytest
from cryptography.fernet import Fernet
from openpyxl import load_workbook
from sqlalchemy import func, select

from bot.dialogs.engine import Dialogs
from bot.kernel.clock import FixedClock
from bot.kernel.db import Database
from bot.kernel.settings import Settings
from bot.requests.service import NewRequest
from bot.services import Services
from models import AuditEntry
from tests.conftest import T0
from tests.dialogs.chat import Chat
from tests.dialogs.test_id_numbers import KEY, MASKED, NUMBER, key_settings
from tests.shop_helpers import fund
from tests.world import World, table_contents

pytestmark = pytest.mark.db

HEADERS = ["姓名", "证件类型", "证件号码", "服务项目", "服务日期", "服务时长（小时）", "记录组织"]


@pytest.fixture
def settings(database_url: str) -> Settings:
    return key_settings(database_url, KEY)  # ID numbers can be kept (and exported) in this module


async def hours_files(worker: Chat, month: str) -> tuple[list[list[object]], list[list[str]]]:
    """`/report hours MONTH` as a worker gets it: the XLSX sheet's rows and the CSV's lines."""
    await worker.say(f"/report hours {month}")
    xlsx, csv_file = [r.document for r in worker.last.replies if r.document is not None]
    sheet = load_workbook(io.BytesIO(xlsx.content))["志愿服务时长"]
    return (
        [[c.value for c in row] for row in sheet.iter_rows()],
        list(csv.reader(io.StringIO(csv_file.content.decode("utf-8-sig")))),
    )


async def test_a_worker_gets_the_months_hours_as_xlsx_and_csv(services: Services, world: World, chat) -> None:
    cats, today, w = world.categories, T0.date(), world.worker
    v1, v2 = world.volunteers[0], world.volunteers[1]
    day = today - timedelta(days=2)
    for person, category, minutes, when in (
        (v1, "探访", 60, day),
        (v1, "探访", 30, day),
        (v1, "助餐", 45, day),
        (v2, "探访", 120, today),
        (v1, "探访", 60, date(2026, 10, 31)),
    ):
        await services.run(
            services.hours.record,
            w,
            world.community_id,
            [person],
            category_id=cats[category],
            service_date=when,
            minutes=minutes,
        )
    pending = await services.run(
        services.hours.submit, v2, world.community_id, category_id=cats["助餐"], service_date=day, minutes=90
    )
    rejected = await services.run(
        services.hours.submit, v2, world.community_id, category_id=cats["助洁"], service_date=day, minutes=15
    )
    await services.run(services.hours.reject, w, rejected.id, "重复")
    assert pending.status == "pending"
    # A paid service request is service too.
    await fund(services, world, world.resident, 50)
    asked = await services.run(
        services.requests.post,
        NewRequest(
            requester_id=world.resident,
            poster_id=world.resident,
            community_id=world.community_id,
            category_id=cats["助洁"],
            service_date=date(2026, 11, 22),
            slot="morning",
            minutes=60,
            payer="own",
        ),
    )
    await services.run(services.requests.take, v2, asked.request.id)
    await services.run(services.requests.done, v2, asked.request.id, 60)
    await services.run(services.requests.accept, world.resident, asked.request.id)

    worker = chat("worker1")
    await worker.say("/certificate issuer XX街道幸福社区居民委员会")
    await worker.say("/report 2026-11")
    assert "/report hours 2026-11" in worker.options()
    await worker.press("/report hours 2026-11")
    docs = [r.document for r in worker.last.replies if r.document is not None]
    assert [d.filename.rsplit(".", 1)[1] for d in docs] == ["xlsx", "csv"]
    book = load_workbook(io.BytesIO(docs[0].content))
    rows = [[c.value for c in row] for row in book["志愿服务时长"].iter_rows()]
    assert rows[0] == HEADERS
    table = rows[1:]
    served = {(r[0], r[3], r[4].date().isoformat(), round(r[5], 2)) for r in table}
    org = "XX街道幸福社区居民委员会"
    assert served == {
        ("志愿者1", "探访", day.isoformat(), 1.5),  # two logs that day in one activity: one row
        ("志愿者1", "助餐", day.isoformat(), 0.75),
        ("志愿者2", "探访", today.isoformat(), 2.0),
        ("志愿者2", "助洁", today.isoformat(), 1.0),  # the request's hours, on the day they were done
    }
    assert all(r[1] is None and r[2] is None and r[6] == org for r in table)  # no ID number is on record
    assert docs[1].content.startswith(b"\xef\xbb\xbf")
    lines = list(csv.reader(io.StringIO(docs[1].content.decode("utf-8-sig"))))
    assert lines[0] == HEADERS and len(lines) == len(rows)
    assert sorted(float(line[5]) for line in lines[1:]) == sorted(round(r[5], 2) for r in table)
    with services.db.read() as session:
        exported = session.scalar(
            select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "export.volunteer_hours")
        )
    assert exported == 1

    # A volunteer may not; a month to come is refused; neither writes anything.
    before = await table_contents(services, ("audit_log",))
    volunteer = chat("volunteer1")
    await volunteer.say("/report hours 2026-11")
    assert volunteer.keys() == ["error.need_worker"]
    await worker.say("/report hours 2027-01")
    assert worker.keys() == ["error.month_future"]
    assert await table_contents(services, ("audit_log",)) == before
    await worker.say("/report 时长")
    assert "/report hours 2026-11" in worker.options() and "/report hours 2026-10" in worker.options()


async def test_a_volunteers_id_type_and_full_number_are_written_and_only_theirs(
    database: Database, database_url: str, clock: FixedClock, services: Services, world: World, chat
) -> None:
    v1, v2, month = world.volunteers[0], world.volunteers[1], T0.date().isoformat()[:7]
    volunteer = chat("volunteer1")  # the consent asked names this record, since it needs the whole number
    assert "全国志愿服务信息系统" in await volunteer.say("/idnumber") and "yes" in volunteer.options()
    await volunteer.press("yes")
    assert MASKED in await volunteer.say(NUMBER)
    for person, category in ((v1, "探访"), (v1, "助餐"), (v2, "探访")):
        await services.run(
            services.hours.record,
            world.worker,
            world.community_id,
            [person],
            category_id=world.categories[category],
            service_date=T0.date(),
            minutes=60,
        )

    rows, lines = await hours_files(chat("worker1"), month)
    assert rows[0] == HEADERS and lines[0] == HEADERS
    assert sorted((r[0], r[1], r[2], r[3]) for r in rows[1:]) == [
        ("志愿者1", "居民身份证", NUMBER, "助餐"),
        ("志愿者1", "居民身份证", NUMBER, "探访"),
        ("志愿者2", None, None, "探访"),  # no ID on record: both cells empty
    ]
    assert sorted(line[:4] for line in lines[1:]) == [
        ["志愿者1", "居民身份证", NUMBER, "助餐"],
        ["志愿者1", "居民身份证", NUMBER, "探访"],
        ["志愿者2", "", "", "探访"],
    ]
    assert not [r for r in rows[1:] if MASKED in r] and not [line for line in lines if MASKED in line]
    with services.db.read() as session:
        details = session.scalars(select(AuditEntry.details).where(AuditEntry.action == "export.volunteer_hours")).one()
    assert details["id_numbers"] == 1 and NUMBER not in str(details)  # the audit counts, it does not copy

    # No key, or a key the number was not stored under: both cells empty, never the masked number.
    for key in (None, Fernet.generate_key().decode()):
        keyless = Chat(Dialogs(Services(database, key_settings(database_url, key), clock)), "worker1")
        rows, lines = await hours_files(keyless, month)
        assert [(r[1], r[2]) for r in rows[1:]] == [(None, None)] * 3, key
        assert [line[1:3] for line in lines[1:]] == [["", ""]] * 3, key
