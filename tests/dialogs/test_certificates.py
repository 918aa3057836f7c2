"""Certificates of service hours (志愿服务证明) through the console chat: asked for, issued from
/pending, read back from the PDF (pypdf) against the approved hours in the database, verified on
`lovebank serve`'s page, revoked, and refused to the wrong people."""

from __future__ import annotations

import io
import re
from datetime import date, timedelta

import httpx
import pytest
from pypdf import PdfReader
from sqlalchemy import func, select

from bot.certificates.service import hours_text
from bot.dialogs.core import Document
from bot.kernel.settings import Settings
from bot.runtime.pipeline import Pipeline
from bot.services import Services
from handlers.verify import setup as setup_verify
from handlers.web import Web
from models import Certificate, Notification, ServiceLog
from tests.conftest import T0
from tests.dialogs.chat import Chat
from tests.world import World

pytestmark = pytest.mark.db

BASE = "https://bank.example.org"
TABLES = ("certificates", "notifications", "audit_log", "service_logs")


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(
        _env_file=None,
        database_url=database_url,
        admins=["console:admin"],  # type: ignore[call-arg]
        public_url=BASE,
    )


def pdf_text(doc: Document) -> str:
    """The PDF's one page as text, without spaces and NULs: fpdf2 encodes a CFF font's codes with
    an embedded CMap stream, which pypdf reads as one-byte codes, so each character comes out with
    a NUL beside it (poppler's pdftotext reads the same file cleanly)."""
    reader = PdfReader(io.BytesIO(doc.content))
    assert len(reader.pages) == 1
    return re.sub(r"[\s\x00]+", "", reader.pages[0].extract_text())


def document(chat: Chat) -> Document:
    assert chat.last is not None
    docs = [r.document for r in chat.last.replies if r.document is not None]
    assert len(docs) == 1, chat.keys()
    return docs[0]


async def approved_minutes(services: Services, person_id: int, start: date, end: date) -> int:
    with services.db.read() as session:
        return int(
            session.scalar(
                select(func.coalesce(func.sum(ServiceLog.minutes), 0)).where(
                    ServiceLog.person_id == person_id,
                    ServiceLog.status == "approved",
                    ServiceLog.service_date >= start,
                    ServiceLog.service_date <= end,
                )
            )
            or 0
        )


async def some_hours(services: Services, world: World) -> None:
    """Approved hours in two categories, a 代录 by a worker, and hours that must not count: one
    log still pending, one rejected, and another volunteer's."""
    cats = list(world.categories.values())
    today = T0.date()
    v, w = world.volunteer, world.worker
    for cat, minutes, days in ((cats[0], 90, 3), (cats[0], 60, 2), (cats[1], 45, 1)):
        log = await services.run(
            services.hours.submit,
            v,
            world.community_id,
            category_id=cat,
            service_date=today - timedelta(days=days),
            minutes=minutes,
        )
        await services.run(services.hours.approve, w, log.id)
    await services.run(
        services.hours.record, w, world.community_id, [v], category_id=cats[2], service_date=today, minutes=120
    )
    await services.run(
        services.hours.submit, v, world.community_id, category_id=cats[0], service_date=today, minutes=30
    )
    rejected = await services.run(
        services.hours.submit, v, world.community_id, category_id=cats[0], service_date=today, minutes=15
    )
    await services.run(services.hours.reject, w, rejected.id, "重复")
    other = await services.run(
        services.hours.submit,
        world.volunteers[1],
        world.community_id,
        category_id=cats[0],
        service_date=today,
        minutes=600,
    )
    await services.run(services.hours.approve, w, other.id)


async def test_a_volunteer_asks_a_worker_issues_and_the_pdf_has_the_approved_hours(
    services: Services, world: World, chat
) -> None:
    await some_hours(services, world)
    volunteer, worker = chat("volunteer1"), chat("worker1")
    await volunteer.say("/certificate")
    assert "/certificate 2026" in volunteer.options() and "/certificate all" in volunteer.options()
    answer = await volunteer.press("/certificate 2026")
    assert "C1" in answer and "2026-01-01" in answer
    assert "已在等待" in await volunteer.say("开证明 2026")  # the same period again: the same request
    with services.db.read() as session:
        assert session.scalar(select(func.count()).select_from(Certificate)) == 1
        told = session.scalars(select(Notification.key).where(Notification.person_id == world.worker)).all()
    assert "certificate.worker_asked" in told

    listed = await worker.say("/pending")
    assert "C1" in listed and "志愿者1" in listed and "/approve C1" in worker.options()
    await worker.press("/approve C1")
    text = pdf_text(document(worker))
    expected = await approved_minutes(services, world.volunteer, date(2026, 1, 1), T0.date())
    assert expected == 90 + 60 + 45 + 120
    assert f"累计志愿服务时长{hours_text(expected)}小时" in text
    assert "志愿者1" in text and "经办人：张社工" in text and "出具组织：幸福社区" in text
    assert "证件号码：" not in text and "证件号码—" in text  # none on record: a dash, nothing made up
    with services.db.read() as session:
        cert = session.scalars(select(Certificate)).one()
        told = session.scalars(select(Notification.key).where(Notification.person_id == world.volunteer)).all()
    assert cert.status == "issued" and cert.handler_id == world.worker and cert.minutes == expected
    assert cert.number and cert.number in text and "certificate.issued" in told
    by_category = dict(cert.content)
    assert sum(by_category.values()) == expected and len(by_category) == 3

    # The volunteer has it again, with the same figures; asked again, the same period counts the same.
    await volunteer.say("/certificate")
    assert f"/certificate get {cert.number}" in volunteer.options()
    await volunteer.press(f"/certificate get {cert.number}")
    assert pdf_text(document(volunteer)) == text
    await volunteer.say("/certificate 2026")
    worker2 = chat("worker2")
    await worker2.say("/approve C2")
    assert "经办人：李社工" in pdf_text(document(worker2))
    with services.db.read() as session:
        again = session.get(Certificate, 2)
    assert again.minutes == cert.minutes and again.content == cert.content and again.number != cert.number
    assert "已开具过" in await worker.say("/approve C1")  # issued once; the original again


async def test_the_verification_page_answers_refuses_forgeries_and_shows_a_revocation(
    services: Services, world: World, chat, settings: Settings
) -> None:
    await some_hours(services, world)
    worker = chat("worker1")
    await worker.say("/certificate issuer XX街道幸福社区居民委员会")
    await worker.say("/certificate head 王主任")
    asked = await worker.say("/certificate 志愿者1")  # a member without a phone: the worker issues
    assert "/certificate #" in " ".join(worker.options())
    await worker.press(next(o for o in worker.options() if o.endswith(" all")))
    text = pdf_text(document(worker))
    assert "XX街道幸福社区居民委员会" in text and "负责人：王主任" in text and asked
    with services.db.read() as session:
        cert = session.scalars(select(Certificate)).one()
    assert cert.requested_by_id == world.worker and cert.period_start is None
    url = re.search(r"https://bank\.example\.org(/verify/\S+)", text)
    assert url is not None, text
    path = url.group(1)

    web = Web(services, Pipeline(services, {}, concurrency=1, lease=30))
    setup_verify(web)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=web.app()), base_url="http://bot") as client:
        page = await client.get(path)
        assert page.status_code == 200 and 'name="viewport"' in page.text
        assert cert.number in page.text and "志**" in page.text and "志愿者1" not in page.text
        assert f"{hours_text(cert.minutes)} 小时" in page.text and "XX街道幸福社区居民委员会" in page.text
        assert "有效" in page.text
        number, check = cert.number, path.rsplit("k=", 1)[1]
        tampered = check[:-1] + ("0" if check[-1] != "0" else "1")
        for wrong in (
            f"/verify/{number}?k={tampered}",
            f"/verify/{number}",
            f"/verify/LB2026-999999?k={check}",
            f"/verify/{number}x?k={check}",
        ):
            refused = await client.get(wrong)
            assert refused.status_code == 404 and "不正确" in refused.text
            assert number not in refused.text and "志" not in refused.text.split("<main>")[1].split("</h1>")[1]

        assert "用法" not in await worker.say(f"/certificate revoke {number} 信息有误")
        revoked = await client.get(path)
        assert revoked.status_code == 200 and "已作废" in revoked.text and "有效" not in revoked.text
        english = await client.get(path, headers={"Accept-Language": "en-GB,en;q=0.9"})
        assert "Revoked" in english.text
    with services.db.read() as session:
        assert session.get(Certificate, cert.id).revoke_reason == "信息有误"
        told = session.scalars(select(Notification.key).where(Notification.person_id == world.volunteer)).all()
    assert "certificate.revoked" in told


async def test_only_another_worker_of_the_community_issues(services: Services, world: World, chat) -> None:
    from tests.world import table_contents

    volunteer, worker, outsider = chat("volunteer1"), chat("worker1"), chat("otherworker")
    await volunteer.say("/certificate 2026")
    before = await table_contents(services, TABLES)
    await volunteer.say("/approve C1")
    assert volunteer.keys() == ["error.need_worker"]
    await outsider.say("/approve C1")
    assert outsider.keys() == ["certificate.no_such"]
    await outsider.say("/reject C1 不行")
    assert outsider.keys() == ["certificate.no_such"]
    await outsider.say("/certificate 志愿者1 2026")
    assert outsider.keys() == ["error.no_such_person"]
    await outsider.say("/certificate get LB2026-000001")
    assert outsider.keys() == ["certificate.no_such"]
    assert await table_contents(services, TABLES) == before

    # A worker asks for their own (they volunteer too): another worker must issue it.
    await worker.say("/certificate 2026")
    assert worker.keys() == ["certificate.asked"]
    before = await table_contents(services, TABLES)
    await worker.say("/approve C2")
    assert worker.keys() == ["certificate.not_own"]
    await worker.say("/certificate 张社工 2026")
    assert worker.keys() == ["certificate.not_own"]
    assert "C2" not in await worker.say("/pending")
    assert await table_contents(services, TABLES) == before

    for bad in ("/certificate 2099", "/certificate 2026-05-01 2026-01-01", "/certificate 1999"):
        await volunteer.say(bad)
        assert volunteer.keys() == ["certificate.bad_period"]
    resident = chat("resident1")
    await resident.say("/certificate")
    assert resident.keys() == ["error.need_volunteer"]
    await volunteer.say("/certificate revoke LB2026-000001 x")
    assert volunteer.keys() == ["error.need_worker"]
    assert await table_contents(services, TABLES) == before

    # Refused with a reason asked for; the volunteer is told.
    worker2 = chat("worker2")
    assert "理由" in await worker2.say("/reject C1")
    await worker2.say("没有服务记录")
    assert worker2.keys() == ["certificate.refused_done"]
    with services.db.read() as session:
        assert session.get(Certificate, 1).status == "refused"


async def test_two_dates_and_english(services: Services, world: World, chat) -> None:
    await some_hours(services, world)
    volunteer = chat("volunteer1")
    await volunteer.say("/lang en")
    start, end = (T0.date() - timedelta(days=2)).isoformat(), T0.date().isoformat()
    answer = await volunteer.say(f"/certificate {start} {end}")
    assert f"{start} to {end}" in answer
    worker = chat("worker1")
    await worker.say("/approve C1")
    text = pdf_text(document(worker))
    expected = await approved_minutes(services, world.volunteer, date.fromisoformat(start), T0.date())
    assert expected == 60 + 45 + 120 and f"累计志愿服务时长{hours_text(expected)}小时" in text


async def test_a_request_waits_with_the_deadlines(services: Services, world: World, chat, clock) -> None:
    """Asked at noon (Shanghai), it is due by the evening deadline: /pending says so, and the
    workers are reminded in the hour before it like any other item."""
    await chat("volunteer1").say("/certificate 2026")
    listed = await chat("worker1").say("/pending")
    assert "C1" in listed and "应于 11-20 21:00 前处理" in listed
    clock.advance(hours=8, minutes=30)  # 20:30 in Shanghai: the hour before the deadline
    summary = await services.run(services.deadlines.run)
    assert summary.nudges == 2  # both workers of the community
    with services.db.read() as session:
        nudges = session.scalars(select(Notification.params).where(Notification.key == "deadline.nudge")).all()
    assert {n["oldest"] for n in nudges} == {"C1"}


async def test_two_workers_issuing_at_once_issue_once(services: Services, world: World) -> None:
    """Two workers press 开具 together: one certificate, one number, one notification; the
    other is told it was issued already (the row is locked while it is issued)."""
    import asyncio

    asked = await services.run(services.certificates.request, world.volunteer, world.community_id, "all")
    both = await asyncio.gather(
        services.run(services.certificates.issue, world.worker, asked.id),
        services.run(services.certificates.issue, world.worker2, asked.id),
    )
    assert sorted(i.changed for i in both) == [False, True]
    assert both[0].facts.number == both[1].facts.number
    with services.db.read() as session:
        assert (
            session.scalar(
                select(func.count()).select_from(Notification).where(Notification.key == "certificate.issued")
            )
            == 1
        )
