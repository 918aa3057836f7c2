"""People's rights over their data, through the chat of the demo community: /mydata has every
table's rows of the person and nobody else's; /forget, approved by a worker from /pending, leaves
no trace of the name or phone in any text column of any table while the ledger balances and the
community's figures stay; old visit records are anonymised by their job."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import JSON, String, Text, func, or_, select, text, update

from bot import demo, jobs
from bot.dialogs.engine import Dialogs
from bot.kernel.settings import Settings
from bot.privacy.mydata import covered_tables, is_actor, person_columns
from bot.services import Services
from models import (
    Account,
    Base,
    Certificate,
    ElderVolunteer,
    ErasureRequest,
    Identity,
    Person,
    ServiceLog,
    VisitRecord,
)
from tests.conftest import T0
from tests.dialogs.chat import Chat
from tests.ledger import ledger_invariants

pytestmark = pytest.mark.db

KEY = Fernet.generate_key().decode()
ID_NUMBER = "11010519491231002X"


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(
        _env_file=None,
        database_url=database_url,
        admins=["console:admin"],  # type: ignore[call-arg]
        data_key=KEY,
    )


async def person_of(services: Services, handle: str) -> Person:
    with services.db.read() as session:
        return session.scalars(
            select(Person).join(Identity, Identity.person_id == Person.id).where(Identity.external_id == handle)
        ).one()


def every_text(services: Services) -> list[tuple[str, str, str]]:
    """(table, column, value) for every text and JSON value in the database, JSON as its text
    with nothing escaped."""
    found = []
    with services.db.read() as session:
        for table in Base.metadata.sorted_tables:
            columns = [c for c in table.columns if isinstance(c.type, String | Text | JSON)]
            if not columns:
                continue
            for row in session.execute(select(*columns)):
                for column, value in zip(columns, row):
                    if value is not None:
                        shown = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
                        found.append((table.name, column.name, shown))
    return found


async def some_of_everything(services: Services, chat: Any) -> None:
    """王芳 (volunteer1) with a note on a log, an ID number and a certificate, beside the demo's
    hours, points, requests, redemptions, visits and teams."""
    volunteer, worker = chat("volunteer1"), chat("worker1")
    await volunteer.say("/idnumber")
    await volunteer.press("yes")
    assert "1101**********002X" in await volunteer.say(ID_NUMBER)
    await volunteer.say("/certificate all")
    await worker.say("/approve C1")
    me = await person_of(services, "volunteer1")
    with services.db.uow() as session:
        session.execute(update(ServiceLog).where(ServiceLog.person_id == me.id).values(note="王芳的备注 13912340000"))
        session.commit()


@pytest.fixture
def chat(services: Services) -> Any:
    dialogs = Dialogs(services)
    return lambda handle: Chat(dialogs, handle)


async def test_mydata_has_every_table_of_the_person_and_nobody_elses(services: Services, chat: Any) -> None:
    await demo.seed(services)
    await some_of_everything(services, chat)
    me, other = await person_of(services, "volunteer1"), await person_of(services, "volunteer2")
    # What names the person directly, table by table, as the export must have it.
    with services.db.read() as session:
        expected = {
            t.name: {
                tuple(r)
                for r in session.execute(
                    select(*t.primary_key.columns).where(or_(*(c == me.id for c in person_columns(t))))
                )
            }
            for t in Base.metadata.sorted_tables
            if person_columns(t)
        }
    volunteer = chat("volunteer1")
    await volunteer.say("/mydata json")
    assert volunteer.last is not None
    doc = next(r.document for r in volunteer.last.replies if r.document is not None)
    export = json.loads(doc.content)["tables"]
    assert doc.filename.endswith(".json") and "张丽" not in doc.filename

    # Every table with a foreign key to people is in it, with each row naming the person.
    assert set(expected) | {"people"} <= set(export), set(expected) - set(export)
    derived = {t.name for t in covered_tables() if not any(not is_actor(c) for c in person_columns(t))}
    for table in Base.metadata.sorted_tables:
        cols = person_columns(table)
        if not cols:
            continue
        pk = [c.name for c in table.primary_key.columns]
        got = {tuple(r[k] for k in pk) for r in export[table.name]}
        assert expected[table.name] <= got, (table.name, expected[table.name] - got)
        for row in export[table.name]:  # nothing that neither names the person nor hangs on their rows
            if not any(row.get(c.name) == me.id for c in cols):
                assert table.name in derived or table.name == "visit_records", (table.name, row)
    with services.db.read() as session:
        accounts = set(session.scalars(select(Account.id).where(Account.person_id == me.id)))
    assert {r["id"] for r in export["people"]} == {me.id}
    # A transfer is theirs by account, or one they made for someone else (then only its id and actor).
    assert all(
        r.get("debit_account_id") in accounts or r.get("credit_account_id") in accounts or r.get("actor_id") == me.id
        for r in export["transfers"]
    )
    assert export["transfers"] and export["service_logs"] and export["memberships"] and export["certificates"]
    assert sum(1 for rows in export.values() if rows) >= 10

    # Nobody else's data: 刘洋's name, phone and notes appear nowhere; the ID number only masked.
    dump = doc.content.decode()
    assert other.real_name and other.phone
    assert other.real_name not in dump and other.phone not in dump
    assert ID_NUMBER not in dump and "1101**********002X" in dump
    assert me.real_name in dump and me.phone in dump

    # The XLSX (the default) has the same tables, one sheet each with rows.
    await volunteer.say("/mydata")
    assert volunteer.last is not None
    xlsx = next(r.document for r in volunteer.last.replies if r.document is not None)
    import io

    from openpyxl import load_workbook

    book = load_workbook(io.BytesIO(xlsx.content))
    assert xlsx.filename.endswith(".xlsx")
    assert {name for name, rows in export.items() if rows} <= set(book.sheetnames)


async def figures(services: Services, community_id: int) -> tuple[int, int, int]:
    with services.db.read() as session:
        return (
            int(
                session.scalar(
                    select(func.sum(ServiceLog.minutes)).where(
                        ServiceLog.community_id == community_id, ServiceLog.status == "approved"
                    )
                )
                or 0
            ),
            int(session.scalar(select(func.count()).select_from(ServiceLog)) or 0),
            int(session.scalar(select(func.sum(Account.posted)).where(Account.kind == "person")) or 0),
        )


async def test_forget_approved_by_a_worker_leaves_no_name_or_phone_and_the_books_balance(
    services: Services, chat: Any
) -> None:
    world = await demo.seed(services)
    assert world is not None
    await some_of_everything(services, chat)
    me = await person_of(services, "volunteer1")
    name, phone = me.real_name, me.phone
    assert name == "王芳" and phone and any(name in v for _, _, v in every_text(services))
    before = await figures(services, world.community_id)
    with services.db.read() as session:
        balance = session.scalar(select(Account.posted).where(Account.person_id == me.id))
        assert session.scalar(select(func.count()).select_from(ElderVolunteer).where(ElderVolunteer.person_id == me.id))

    volunteer, worker = chat("volunteer1"), chat("worker1")
    asked = await volunteer.say("/certificate 2025")  # still waiting when they are forgotten
    waiting = int(re.search(r"C(\d+)", asked)[1])
    explained = await volunteer.say("/forget")
    assert "无法恢复" in explained and "/forget confirm" in volunteer.options()
    assert "F1" in await volunteer.press("/forget confirm")
    assert "已在等待" in await volunteer.say("/forget confirm")
    pages = [(await worker.say(f"/pending {page}"), worker.options()) for page in range(1, 6)]
    listed, options = next((text, opts) for text, opts in pages if "F1" in text)
    assert "申请注销" in listed and "应于" in listed and "/approve F1" in options  # with its deadline
    done = await worker.say("/approve F1")
    assert f"已注销用户#{me.id}" in done, done

    # No trace of the name or the phone in any text column of any table.
    traces = [(t, c) for t, c, v in every_text(services) if name in v or phone in v]
    assert traces == []
    assert [(t, c, v) for t, c, v in every_text(services) if ID_NUMBER in v or "1101**********002X" in v] == []
    with services.db.read() as session:
        gone = session.get(Person, me.id)
        assert gone is not None and gone.display_name == f"已注销用户#{me.id}" and gone.forgotten_at is not None
        assert gone.phone is None and gone.real_name is None
        assert session.scalar(select(func.count()).select_from(Identity).where(Identity.person_id == me.id)) == 0
        assert session.scalar(select(ErasureRequest.status)) == "done"
        assert session.scalar(select(Certificate.status).where(Certificate.id == waiting)) == "refused"
        assert session.scalar(select(Account.posted).where(Account.person_id == me.id)) == balance
    assert await figures(services, world.community_id) == before
    with services.db.read() as session:  # nothing waits for them any more
        assert (
            session.scalar(select(func.count()).select_from(ElderVolunteer).where(ElderVolunteer.person_id == me.id))
            == 0
        )
    await ledger_invariants(services)

    # The chat no longer knows them: the same account is a stranger now.
    await volunteer.say("/balance")
    assert (await person_of(services, "volunteer1")).id != me.id
    assert "F1" in await worker.say("/approve F1")  # a second approval changes nothing


async def test_a_worker_refuses_with_a_reason_and_nobody_decides_their_own(services: Services, chat: Any) -> None:
    await demo.seed(services)
    worker, other = chat("worker1"), chat("worker2")
    await worker.say("/forget confirm")
    assert "F1" not in await worker.say("/pending")
    assert "自己" in await worker.say("/approve F1")
    asked = await other.say("/reject F1")
    assert "理由" in asked
    assert "F1" in await other.say("还有未结清的事项")
    me = await person_of(services, "worker1")
    with services.db.read() as session:
        assert session.scalar(select(ErasureRequest.status)) == "refused"
        assert session.get(Person, me.id).display_name == "张丽"  # type: ignore[union-attr]
    assert "已经处理" in await other.say("/approve F1")


async def test_visit_records_past_the_retention_lose_note_photo_and_place(services: Services) -> None:
    await demo.seed(services)
    with services.db.uow() as session:
        ids = list(session.scalars(select(VisitRecord.id).order_by(VisitRecord.id)))
        assert len(ids) >= 2
        old, recent = ids[0], ids[1]
        session.execute(
            update(VisitRecord)
            .where(VisitRecord.id == old)
            .values(at=T0 - timedelta(days=3 * 366), note="老人住院了", lat=31.2, lon=121.4, photo="file-1")
        )
        session.execute(
            update(VisitRecord).where(VisitRecord.id == recent).values(at=T0 - timedelta(days=2 * 365), note="精神不错")
        )
        session.commit()
    retention = jobs.load()["visit-retention"]
    summary = await retention.run(services, T0, {})
    assert "1 visit records" in summary
    with services.db.read() as session:
        gone, kept = session.get(VisitRecord, old), session.get(VisitRecord, recent)
        assert gone is not None and kept is not None
        assert (gone.note, gone.lat, gone.lon, gone.photo) == (None, None, None, None) and gone.anonymised_at
        assert gone.elder_id and gone.person_id  # the visit still counts
        assert kept.note == "精神不错" and kept.anonymised_at is None
    assert "0 visit records" in await retention.run(services, T0, {})  # the day is claimed
    with services.db.read() as session:
        assert session.scalar(text("SELECT count(*) FROM job_runs WHERE job = 'visit-retention'")) >= 1


def test_text_in_the_xlsx_is_never_a_formula() -> None:
    import io
    from datetime import datetime

    from openpyxl import load_workbook

    from bot.privacy.mydata import Export, to_xlsx

    rows = [{"id": 1, "note": '=HYPERLINK("http://x")'}, {"id": 2, "note": "+cmd|' /C calc'!A0"}]
    book = load_workbook(io.BytesIO(to_xlsx(Export(1, datetime(2026, 1, 1), {"service_logs": rows}, {}), "t")))
    cells = [book["service_logs"][f"B{r}"] for r in (2, 3)]
    assert [(c.value, c.data_type) for c in cells] == [('=HYPERLINK("http://x")', "s"), ("+cmd|' /C calc'!A0", "s")]


async def test_a_table_another_feature_adds_is_exported_and_forgotten_without_listing_it(
    services: Services, chat: Any
) -> None:
    """A table this code has never heard of (as another branch's `consents` would be): its rows of
    the person are in /mydata, the rows they only recorded for someone else show only that, and
    /forget clears the free text of their own."""
    from sqlalchemy import Column, ForeignKey, Integer, Table

    from bot.privacy.mydata import collect

    world = await demo.seed(services)
    assert world is not None
    me, other = world.volunteers[0], world.volunteers[1]
    probe = Table(
        "probe_consents",
        Base.metadata,
        Column("id", Integer, primary_key=True),
        Column("person_id", ForeignKey("people.id")),
        Column("recorded_by_id", ForeignKey("people.id")),
        Column("note", Text, nullable=True),
    )
    try:
        with services.db.uow() as session:
            probe.create(session.connection())
            session.execute(
                probe.insert(),
                [
                    {"id": 1, "person_id": me, "recorded_by_id": world.workers[0], "note": "王芳本人同意"},
                    {"id": 2, "person_id": other, "recorded_by_id": me, "note": "刘洋的家属代为同意"},
                    {"id": 3, "person_id": other, "recorded_by_id": world.workers[0], "note": "刘洋"},
                ],
            )
            session.commit()
        with services.db.read() as session:
            rows = collect(session, me).tables["probe_consents"]
        assert rows[0] == {"id": 1, "person_id": me, "recorded_by_id": world.workers[0], "note": "王芳本人同意"}
        assert rows[1:] == [{"id": 2, "recorded_by_id": me}]  # what they did, not 刘洋's note
        await chat("volunteer1").say("/forget confirm")
        await chat("worker1").say("/approve F1")
        with services.db.read() as session:
            notes = dict(session.execute(select(probe.c.id, probe.c.note)).all())
        assert notes == {1: None, 2: "刘洋的家属代为同意", 3: "刘洋"}
    finally:
        with services.db.uow() as session:
            probe.drop(session.connection(), checkfirst=True)
            session.commit()
        Base.metadata.remove(probe)
