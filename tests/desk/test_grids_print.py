"""The desk for grid coordinators and the door cards and statements on the print page.

volunteer1 coordinates 一网格 (tests.db.test_grid_coordinators' world): from the desk they get
their grids' hour logs, elders, calendar and door cards, nothing of 二网格 through any page or
forged form, and the workers' other pages refuse them. Door cards print only on a confirming
POST (each print makes the elder's next card); statements are the CLI's; both audited."""

from __future__ import annotations

import asyncio
import io
import re
from datetime import UTC, datetime

import pytest
from pypdf import PdfReader
from sqlalchemy import select, update

from bot.desk.service import COORDINATOR
from bot.dialogs.engine import Dialogs
from bot.kernel.access import RANK
from bot.kernel.clock import FixedClock
from bot.kernel.i18n import render
from bot.services import Services
from handlers.desk.core import PAGES
from models import AuditEntry, Community, Elder, Identity, ServiceLog
from tests.db.test_grid_coordinators import SECRETS, Grids, grids_world
from tests.desk.kit import client_for, csrf_of, log_in

pytestmark = pytest.mark.db

A6_MM = [105, 148]
A4_MM = [210, 297]


def generations(services: Services) -> dict[str, int]:
    with services.db.read() as session:
        return {name: gen for name, gen in session.execute(select(Elder.name, Elder.card_generation))}


def audits(services: Services, action: str) -> list[tuple[int | None, dict]]:
    with services.db.read() as session:
        rows = session.execute(
            select(AuditEntry.actor_id, AuditEntry.details).where(AuditEntry.action == action).order_by(AuditEntry.id)
        )
        return [(actor, details or {}) for actor, details in rows]


def status_of(services: Services, log_id: int) -> str:
    with services.db.read() as session:
        return str(session.scalar(select(ServiceLog.status).where(ServiceLog.id == log_id)))


def pdf_pages(content: bytes) -> tuple[list[str], list[int]]:
    """Each page's text without spaces and NULs, and the first page's size in millimetres."""
    reader = PdfReader(io.BytesIO(content))
    texts = [re.sub(r"[\s\x00]+", "", page.extract_text()) for page in reader.pages]
    return texts, [round(float(v) * 25.4 / 72) for v in reader.pages[0].mediabox[2:]]


async def test_a_coordinator_gets_their_grids_on_the_desk_and_nothing_of_another(services: Services) -> None:
    g: Grids = await grids_world(services)
    dialogs = Dialogs(services)
    worker_calendar_mark = render("zh-CN", "desk.elders.visits_n", {"count": 1})
    async with client_for(services) as worker:
        await log_in(worker, dialogs, "worker1")
        assert worker_calendar_mark in (await worker.get("/desk/elders")).text  # 李建国's visit, in 二网格
    async with client_for(services) as client:
        first = await log_in(client, dialogs, "volunteer1")  # /desk in the chat gives a coordinator the link
        assert first.status_code == 303 and first.headers["location"] == "/desk/waiting"
        # Every page: those for coordinators and the member's open, the workers' refuse.
        for p in PAGES:
            if "{" in p.path or "GET" not in p.methods:
                continue
            allowed = p.role == COORDINATOR or RANK[p.role] <= RANK["volunteer"]
            answer = await client.get(p.path)
            assert answer.status_code == (200 if allowed else 403), p.path
        refused = await client.get("/desk/people")
        assert "只有本社区的社区工作者可以这样做" in refused.text
        assert (await client.get(f"/desk/people/{g.r.volunteers[2]}")).status_code == 403

        # Waiting: their grid's hour log, not 二网格's, and a forged form deciding it is refused.
        waiting = await client.get("/desk/waiting")
        # (By the ref as the list shows it: a form's random id may hold "H5" anywhere.)
        assert f'value="H{g.mine_log}"' in waiting.text and f" H{g.mine_log}</span>" in waiting.text
        assert f'value="H{g.log}"' not in waiting.text and f" H{g.log}</span>" not in waiting.text
        assert "志愿者3" not in waiting.text
        assert 'href="/desk/people"' not in waiting.text and 'href="/desk/month"' not in waiting.text
        csrf = csrf_of(waiting.text)
        forged = await client.post("/desk/waiting", data={"csrf": csrf, "action": "approve", "ref": f"H{g.log}"})
        assert forged.status_code == 200 and "这不在您负责的网格内" in forged.text and "志愿者3" not in forged.text
        forged = await client.post(
            "/desk/waiting", data={"csrf": csrf, "action": "reject", "ref": f"H{g.log}", "reason": "不对"}
        )
        assert "这不在您负责的网格内" in forged.text and "志愿者3" not in forged.text
        assert status_of(services, g.log) == "pending"
        done = await client.post("/desk/waiting", data={"csrf": csrf, "action": "approve", "ref": f"H{g.mine_log}"})
        assert done.status_code == 200 and status_of(services, g.mine_log) == "approved"

        # Elders: their grid's roster and calendar; no import or export, and those refused.
        elders = await client.get("/desk/elders")
        assert "王秀英" in elders.text and "张桂兰" in elders.text
        assert not any(s in elders.text for s in SECRETS)
        assert worker_calendar_mark not in elders.text  # the calendar counts their grid's visits only
        assert "/desk/elders/import" not in elders.text and "/desk/elders/export" not in elders.text
        for path in ("/desk/elders/export.csv", "/desk/elders/export.xlsx"):
            assert (await client.get(path)).status_code == 403, path
        upload = await client.post(
            "/desk/elders/import", data={"csrf": csrf}, files={"roster": ("r.csv", b"x", "text/csv")}
        )
        assert upload.status_code == 403

        # Print: their grids' door cards only; the workers' prints refused.
        page = await client.get("/desk/print")
        assert '<option value="一网格">' in page.text and "二网格" not in page.text
        assert "/desk/print/statements" not in page.text and "/desk/print/poster" not in page.text
        before = generations(services)
        other = await client.post("/desk/print/cards", data={"csrf": csrf, "grid": "二网格", "confirm": "yes"})
        assert other.status_code == 404 and "没有叫“二网格”的网格" in other.text
        assert generations(services) == before
        cards = await client.post("/desk/print/cards", data={"csrf": csrf, "grid": "", "confirm": "yes"})
        assert cards.status_code == 200 and cards.headers["content-type"] == "application/pdf"
        texts, size = pdf_pages(cards.content)
        assert size == A6_MM and len(texts) == 2 and "李建国" not in "".join(texts)
        after = generations(services)
        assert after["李建国"] == before["李建国"] and after["王秀英"] == before["王秀英"] + 1
        assert audits(services, "elder.cards")[-1][0] == g.r.volunteers[0]
        for path in ("/desk/print/statements", "/desk/print/poster"):
            answer = await client.post(path, data={"csrf": csrf, "month": "2026-11"})
            assert answer.status_code == 403, path

    # Where the community has its workers decide hours, the coordinator's waiting page says so.
    await services.run(services.grids.set_coordinators_approve, g.r.worker, g.r.community_id, False)
    async with client_for(services) as client:
        await log_in(client, dialogs, "volunteer1")
        off = await client.get("/desk/waiting")
        assert off.status_code == 403 and render("zh-CN", "grids.error.approve_off", {}) in off.text
    # A volunteer coordinating nothing has the member's page only.
    async with client_for(services) as plain:
        await log_in(plain, dialogs, "volunteer2", "/my")
        assert (await plain.get("/desk/print")).status_code == 403


async def test_door_cards_print_after_confirming_for_a_grid_or_the_community(services: Services) -> None:
    g = await grids_world(services)
    dialogs = Dialogs(services)
    async with client_for(services) as client:
        await log_in(client, dialogs, "worker1")
        page = await client.get("/desk/print")
        assert "原来的卡立即失效" in page.text and '<option value="二网格">' in page.text
        csrf = csrf_of(page.text)
        before = generations(services)
        unconfirmed = await client.post("/desk/print/cards", data={"csrf": csrf, "grid": "一网格"})
        assert unconfirmed.status_code == 400 and "请勾选" in unconfirmed.text
        forged = await client.post("/desk/print/cards", data={"csrf": "0" * 64, "grid": "一网格", "confirm": "yes"})
        assert forged.status_code == 403
        unknown = await client.post("/desk/print/cards", data={"csrf": csrf, "grid": "九网格", "confirm": "yes"})
        assert unknown.status_code == 404 and "没有叫“九网格”的网格" in unknown.text
        assert generations(services) == before and audits(services, "elder.cards") == []

        grid = await client.post("/desk/print/cards", data={"csrf": csrf, "grid": "二网格", "confirm": "yes"})
        assert grid.status_code == 200 and "attachment" in grid.headers["content-disposition"]
        texts, size = pdf_pages(grid.content)
        assert size == A6_MM and len(texts) == 1 and "李建国" in texts[0]
        whole = await client.post("/desk/print/cards", data={"csrf": csrf, "confirm": "yes"})
        texts, _ = pdf_pages(whole.content)
        assert len(texts) == 3
        after = generations(services)
        assert after["李建国"] == before["李建国"] + 2 and after["王秀英"] == before["王秀英"] + 1
        assert [(actor, d["count"]) for actor, d in audits(services, "elder.cards")] == [
            (g.r.worker, 1),
            (g.r.worker, 3),
        ]
    # Another community's worker: the grid is not theirs to name.
    async with client_for(services) as other:
        await log_in(other, dialogs, "otherworker")
        csrf = csrf_of((await other.get("/desk/print")).text)
        answer = await other.post("/desk/print/cards", data={"csrf": csrf, "grid": "二网格", "confirm": "yes"})
        assert answer.status_code == 404 and generations(services) == after


async def test_statements_print_for_a_month_and_a_grid_as_the_cli_does(services: Services) -> None:
    g = await grids_world(services)
    dialogs = Dialogs(services)
    # 志愿者3 (二网格) blocked the bot: nothing in the chat reaches them, so paper does.
    await services.run(
        services.db.transaction,
        lambda session: session.execute(
            update(Identity).where(Identity.person_id == g.r.volunteers[2]).values(unreachable_at=services.clock.now())
        ),
    )
    month = f"{services.clock.community('Asia/Shanghai').today():%Y-%m}"
    async with client_for(services) as client:
        await log_in(client, dialogs, "worker1")
        csrf = csrf_of((await client.get("/desk/print")).text)
        for data, said in (
            ({"month": "2026-13"}, render("zh-CN", "error.bad_month", {})),
            ({"month": ""}, render("zh-CN", "error.bad_month", {})),
            ({"month": month, "grid": "九网格"}, "这个社区没有“九网格”这个网格"),
        ):
            answer = await client.post("/desk/print/statements", data={"csrf": csrf, **data})
            assert answer.status_code == 400 and said in answer.text, data
        assert (await client.post("/desk/print/statements", data={"month": month})).status_code == 403
        assert audits(services, "export.statements") == []
        book = await client.post("/desk/print/statements", data={"csrf": csrf, "month": month, "grid": "二网格"})
        assert book.status_code == 200 and book.headers["content-type"] == "application/pdf"
        texts, size = pdf_pages(book.content)
        assert size == A4_MM and len(texts) == 1 and "志愿者3" in texts[0]
        nobody = await client.post("/desk/print/statements", data={"csrf": csrf, "month": month, "grid": "一网格"})
        texts, _ = pdf_pages(nobody.content)
        assert len(texts) == 1 and "本月没有需要纸质对账单的成员" in texts[0]
    assert [(actor, d["grid"], d["pages"], d["via"]) for actor, d in audits(services, "export.statements")] == [
        (g.r.worker, "二网格", 1, "desk"),
        (g.r.worker, "一网格", 0, "desk"),
    ]


async def test_a_door_card_form_sent_twice_prints_one_generation(services: Services) -> None:
    """A double click (or the browser's resend) posts the same form twice: one new card each,
    the same cards in both files, one audit entry."""
    await grids_world(services)
    dialogs = Dialogs(services)
    async with client_for(services) as client:
        await log_in(client, dialogs, "worker1")
        page = (await client.get("/desk/print")).text
        form = {"csrf": csrf_of(page), "form_id": form_id_of(page, "/desk/print/cards"), "confirm": "yes"}
        before = generations(services)
        first = await client.post("/desk/print/cards", data={**form, "grid": "二网格"})
        again = await client.post("/desk/print/cards", data={**form, "grid": "二网格"})
        assert first.status_code == again.status_code == 200
        assert pdf_pages(first.content)[0] == pdf_pages(again.content)[0]
        assert generations(services)["李建国"] == before["李建国"] + 1
        assert len(audits(services, "elder.cards")) == 1
        # A double click: both at once, still one print.
        both = await asyncio.gather(
            *(client.post("/desk/print/cards", data={**form, "grid": "一网格"}) for _ in range(2))
        )
        assert [r.status_code for r in both] == [200, 200] and len(audits(services, "elder.cards")) == 2
        # The same form changed and sent again is a new print.
        assert (await client.post("/desk/print/cards", data=form)).status_code == 200
        assert generations(services)["李建国"] == before["李建国"] + 2
        # A new form (the page opened again) prints the next card.
        page = (await client.get("/desk/print")).text
        form = {**form, "form_id": form_id_of(page, "/desk/print/cards")}
        assert (await client.post("/desk/print/cards", data={**form, "grid": "二网格"})).status_code == 200
        assert generations(services)["李建国"] == before["李建国"] + 3


async def test_the_statements_form_offers_the_communitys_last_month(services: Services, clock: FixedClock) -> None:
    """In New York it is still November when Shanghai (the server's zone) is in December."""
    g = await grids_world(services)
    with services.db.uow() as session:
        session.execute(update(Community).where(Community.id == g.r.community_id).values(timezone="America/New_York"))
        session.commit()
    clock.at = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
    async with client_for(services) as client:
        await log_in(client, Dialogs(services), "worker1")
        page = (await client.get("/desk/print")).text
    assert 'name="month" value="2026-10"' in page


def form_id_of(page: str, action: str) -> str:
    form = page[page.index(f'action="{action}"') :]
    return re.search(r'name="form_id" value="([^"]+)"', form[: form.index("</form>")])[1]  # type: ignore[index]
