"""The audit trail on Telegram, through a real Application and the recording Bot API: the next
page is a button; a button's data typed or pressed by a volunteer changes nothing and is refused."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from bot.services import Services
from models import AuditEntry, Person
from tests.channels.conftest import ADMIN_ID
from tests.channels.kit import Telegram, found_community, person_of, snapshot, texts

pytestmark = pytest.mark.db


async def test_the_next_page_is_a_button_for_the_worker_only(tg: Telegram, tg_services: Services) -> None:
    cast = await found_community(tg, ADMIN_ID)
    wang, worker = await person_of(tg_services, cast.volunteer), await person_of(tg_services, cast.worker)
    start = tg_services.clock.now()

    def adjust_many(session) -> None:
        community_id = session.get(Person, wang).community_id
        session.add_all(
            AuditEntry(
                community_id=community_id,
                actor_id=worker,
                person_id=wang,
                action="points.adjust",
                subject_type="person",
                subject_id=wang,
                details={"amount": n + 1},
                created_at=start + timedelta(minutes=n + 1),
            )
            for n in range(12)
        )

    await tg_services.db.run(tg_services.db.transaction, adjust_many)
    first = texts(await cast.worker.send("/audit 王芳"))
    assert re.findall(r"调整积分（(\d+) 分）", first) == [str(n) for n in range(12, 2, -1)], first
    data = cast.worker.button_data("下一页")
    assert re.fullmatch(rf"/audit #{wang} \d+ 2", data), data
    second = texts(await cast.worker.press("下一页"))
    second = second[second.index("👉") :]  # the pressed message keeps page one, marked as chosen
    assert "第 2 页" in second and re.findall(r"调整积分（(\d+) 分）", second) == ["2", "1"], second
    # The same button data from the volunteer: refused, nothing written.
    before = await snapshot(tg_services)
    refused = texts(await cast.volunteer.press_raw(data, None))
    assert "社区工作者" in refused and "调整积分" not in refused
    assert await snapshot(tg_services) == before


async def test_a_changed_notice_is_agreed_by_button_then_the_message_is_answered(
    tg: Telegram, tg_services: Services
) -> None:
    cast = await found_community(tg, ADMIN_ID)
    tg_services.settings.privacy_notice_version = "2027-01"
    asked = await cast.volunteer.send("/balance")
    assert "隐私告知已更新（第 2027-01 版）" in texts(asked) and "可用" not in texts(asked)  # asked first
    assert [b["text"] for b in cast.volunteer.keyboard_message("agree").buttons] == ["✅ 同意", "不同意"]
    agreed = texts(await cast.volunteer.press("agree"))
    assert "已记录您的同意" in agreed and "可用" in agreed  # and the balance it had asked for
    assert "隐私告知" not in texts(await cast.volunteer.send("/balance"))
