"""Consent to the privacy notice (issue 22, item 5) in the console chat: registering shows the
notice and records the consent with its version; a changed notice asks a volunteer again at
their next message, before anything else, and then carries on with that message."""

from __future__ import annotations

import io
import re

from sqlalchemy import select

from bot import demo
from bot.services import Services
from handlers.console import chat
from models import AuditEntry, Consent, Person


async def say(services: Services, handle: str, *lines: str) -> str:
    out = io.StringIO()
    await chat(services, handle, io.StringIO("".join(f"{line}\n" for line in lines)), out)
    return out.getvalue()


async def _consents(services: Services, name: str) -> list[tuple[str, str, str]]:
    with services.db.read() as session:
        return [
            tuple(r)
            for r in session.execute(  # type: ignore[misc]
                select(Consent.kind, Consent.notice_version, Consent.obtained)
                .join(Person, Person.id == Consent.person_id)
                .where(Person.real_name == name)
                .order_by(Consent.id)
            )
        ]


async def test_registering_shows_the_notice_and_records_consent(services: Services) -> None:
    await demo.seed(services)
    code = re.search(r"[A-Z2-9]{8}", await say(services, "worker1", "/invite")).group(0)
    joined = await say(services, "anna", f"/start {code}")
    assert "隐私告知（第 2026-12 版）" in joined and "张丽" in joined and "阳光社区" in joined
    assert joined.index("隐私告知") < joined.index("姓名")
    assert await _consents(services, "Anna Lee") == []
    assert "登记成功" in await say(services, "anna", "Anna Lee", "13912345678")
    assert await _consents(services, "Anna Lee") == [("volunteer", "2026-12", "chat")]
    # Registered: no question at the next message.
    assert "隐私告知" not in await say(services, "anna", "/balance")


async def test_a_changed_notice_asks_again_first_then_carries_on(services: Services) -> None:
    await demo.seed(services)
    services.settings.privacy_notice_version = "2027-01"
    asked = await say(services, "volunteer1", "/balance")
    assert "隐私告知已更新（第 2027-01 版）" in asked and "1. ✅ 同意" in asked and "可用" not in asked  # asked first
    assert await _consents(services, "王芳") == [("volunteer", "2026-12", "chat")]
    # Declining records nothing and asks again next time.
    declined = await say(services, "volunteer1", "/balance", "2")
    assert "没有记录同意" in declined
    assert "隐私告知已更新" in await say(services, "volunteer1", "/mylogs")
    agreed = await say(services, "volunteer1", "/mylogs", "1")
    agreed = agreed[agreed.rindex("已记录您的同意") :]
    assert "H" in agreed and "服务记录" in agreed, agreed  # carried on with /mylogs
    assert await _consents(services, "王芳") == [("volunteer", "2026-12", "chat"), ("volunteer", "2027-01", "chat")]
    assert "隐私告知" not in await say(services, "volunteer1", "/balance")
    # Residents and workers are not volunteers' notice: not asked.
    assert "隐私告知" not in await say(services, "worker1", "/pending")
    assert "隐私告知" not in await say(services, "resident1", "/balance")
    with services.db.read() as session:
        assert session.scalar(
            select(AuditEntry.details)
            .where(AuditEntry.action == "consent.volunteer")
            .order_by(AuditEntry.id.desc())
            .limit(1)
        ) == {"version": "2027-01"}
