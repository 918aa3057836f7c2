"""The desk's month and print pages: the report's figures, /chart's picture and /report's XLSX
(audited as the chat's export), the star lists; an invite poster made by /invite and the
community's certificates printed again, as A4 PDFs; refused for members, for a forged form and
for another community's certificate."""

from __future__ import annotations

import io

import pytest
from openpyxl import load_workbook
from pydantic import SecretStr
from sqlalchemy import func, select

from bot.dialogs.engine import Dialogs
from bot.kernel.clock import FixedClock
from bot.services import Services
from models import AuditEntry, Certificate, InviteCode
from tests.desk.kit import client_for, csrf_of, log_in, submit_logs
from tests.dialogs.chat import Chat
from tests.wechat.standin import APP_ID, APP_SECRET, APIServer
from tests.world import World

pytestmark = pytest.mark.db


def count(services: Services, model: type, *where: object) -> int:
    with services.db.read() as session:
        return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


async def test_the_month_shows_the_reports_figures_chart_file_and_star_lists(
    services: Services, dialogs: Dialogs, world: World, clock: FixedClock
) -> None:
    logs = await submit_logs(services, clock, world.volunteers[:2], world.community_id, world.categories["探访"])
    await Chat(dialogs, "worker1").say(f"/approve H{logs[0]} H{logs[1]}")
    async with client_for(services) as client:
        await log_in(client, dialogs, "worker1")
        page = await client.get("/desk/month")
        assert page.status_code == 200
        assert "志愿者1" in page.text and "志愿者2" in page.text  # the volunteers' sheet and the star lists
        assert page.text.count("🥇") >= 1 and 'src="/desk/month/chart.png?month=' in page.text
        assert "按周统计" in page.text and "按类别" in page.text
        png = await client.get("/desk/month/chart.png")
        assert png.status_code == 200 and png.headers["content-type"] == "image/png" and png.content[:4] == b"\x89PNG"
        book = await client.get("/desk/month/report.xlsx")
        assert book.status_code == 200 and "attachment" in book.headers["content-disposition"]
        assert len(load_workbook(io.BytesIO(book.content)).sheetnames) >= 3
        assert (await client.get("/desk/month", params={"month": "2099-01"})).status_code == 400
        assert (await client.get("/desk/month/report.xlsx", params={"month": "nonsense"})).status_code == 400
    assert count(services, AuditEntry, AuditEntry.action == "export.report") == 1  # the download, not the views
    async with client_for(services) as member:
        await log_in(member, dialogs, "volunteer1", "/my")
        for path in ("/desk/month", "/desk/month/chart.png", "/desk/month/report.xlsx", "/desk/print"):
            assert (await member.get(path)).status_code == 403, path


async def test_an_invite_poster_is_a_new_code_on_an_a4_pdf(services: Services, dialogs: Dialogs, world: World) -> None:
    before = count(services, InviteCode)
    async with client_for(services) as client:
        await log_in(client, dialogs, "worker1")
        page = await client.get("/desk/print")
        assert page.status_code == 200
        forged = await client.post("/desk/print/poster", data={"role": "volunteer", "csrf": "f" * 64})
        assert forged.status_code == 403 and count(services, InviteCode) == before
        poster = await client.post("/desk/print/poster", data={"role": "resident", "csrf": csrf_of(page.text)})
        assert poster.status_code == 200 and poster.headers["content-type"] == "application/pdf"
        assert poster.content[:5] == b"%PDF-" and b"/MediaBox [ 0 0 595.2 841.92 ]" in poster.content  # A4 in points
    with services.db.read() as session:
        made = session.scalars(select(InviteCode).order_by(InviteCode.id.desc())).first()
    assert count(services, InviteCode) == before + 1 and made is not None
    assert made.role == "resident" and made.created_by_id == world.worker


async def test_issued_certificates_print_again_only_in_their_community(
    services: Services, dialogs: Dialogs, world: World, clock: FixedClock
) -> None:
    logs = await submit_logs(services, clock, [world.volunteer], world.community_id, world.categories["探访"])
    await Chat(dialogs, "worker1").say(f"/approve H{logs[0]}")
    await Chat(dialogs, "volunteer1").say("/certificate all")
    await Chat(dialogs, "worker1").say("/approve C1")
    with services.db.read() as session:
        number = session.scalar(select(Certificate.number))
    assert number
    async with client_for(services) as client:
        await log_in(client, dialogs, "worker1")
        listed = await client.get("/desk/print")
        assert number in listed.text and "志愿者1" in listed.text
        pdf = await client.get(f"/desk/print/certificate/{number}")
        assert pdf.status_code == 200 and pdf.content[:5] == b"%PDF-"
        assert (await client.get("/desk/print/certificate/LB2026-999999")).status_code == 404
    async with client_for(services) as other:
        await log_in(other, dialogs, "otherworker")
        assert number not in (await other.get("/desk/print")).text
        assert (await other.get(f"/desk/print/certificate/{number}")).status_code == 404


async def test_a_poster_carries_wechats_join_code_and_a_platform_failure_is_a_friendly_page(
    services: Services, dialogs: Dialogs, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With WeChat configured the poster carries the account's permanent QR code whose scene is
    the new invite, as `lovebank invite-poster`'s does; WeChat refusing gives the friendly page."""
    with APIServer() as server:
        configured = services.settings.model_copy(
            update={"wechat_app_id": APP_ID, "wechat_app_secret": SecretStr(APP_SECRET), "wechat_api_url": server.url}
        )
        monkeypatch.setattr(services, "settings", configured)
        async with client_for(services) as client:
            await log_in(client, dialogs, "worker1")
            csrf = csrf_of((await client.get("/desk/print")).text)
            poster = await client.post("/desk/print/poster", data={"role": "volunteer", "csrf": csrf})
            assert poster.status_code == 200 and poster.content[:5] == b"%PDF-"
            with services.db.read() as session:
                code = session.scalars(select(InviteCode.code).order_by(InviteCode.id.desc())).first()
            assert list(server.api.qr.values()) == [code]
            server.api.fail_next.append(45009)  # WeChat refuses the next QR code
            refused = await client.post("/desk/print/poster", data={"role": "volunteer", "csrf": csrf})
            assert refused.status_code == 502 and "二维码" in refused.text
