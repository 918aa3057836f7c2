"""The Waiting page (待办): what /pending lists, deadlines and overdue marks, filters, approving
or rejecting many at once through the chat's own /approve and /reject — the same audit entries
and notifications as a decision typed in the chat — and every way a form can be wrong."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select, update

from bot.dialogs.engine import Dialogs
from bot.kernel.clock import FixedClock
from bot.services import Services
from models import AuditEntry, Community, Membership, Notification, ServiceLog
from tests.desk.kit import client_for, csrf_of, log_in, submit_logs
from tests.dialogs.chat import Chat
from tests.world import World

pytestmark = pytest.mark.db


async def logs(services: Services, clock: FixedClock, world: World) -> list[int]:
    return await submit_logs(services, clock, world.volunteers, world.community_id, world.categories["助餐"])


def statuses(services: Services, ids: list[int]) -> list[str]:
    with services.db.read() as session:
        found = {
            i: s for i, s in session.execute(select(ServiceLog.id, ServiceLog.status).where(ServiceLog.id.in_(ids)))
        }
    return [str(found[i]) for i in ids]


async def decide(client: httpx.AsyncClient, data: dict[str, object]) -> httpx.Response:
    page = await client.get("/desk/waiting")
    return await client.post("/desk/waiting", data={"csrf": csrf_of(page.text), "form_id": "f1", **data})


def trail(services: Services, ids: list[int]) -> list[tuple[str, int | None, int | None]]:
    """(action, actor, subject) of the audit entries about these logs, in order."""
    with services.db.read() as session:
        rows = session.execute(
            select(AuditEntry.action, AuditEntry.actor_id, AuditEntry.subject_id)
            .where(AuditEntry.subject_type == "log", AuditEntry.subject_id.in_(ids))
            .order_by(AuditEntry.id)
        )
        return [(a, actor, subject) for a, actor, subject in rows]


def notices(services: Services, people: list[int]) -> list[str]:
    with services.db.read() as session:
        return sorted(
            session.scalars(
                select(Notification.key).where(Notification.person_id.in_(people)).order_by(Notification.id)
            )
        )


async def test_three_logs_approved_at_once_as_the_chat_would(
    services: Services, dialogs: Dialogs, world: World, clock: FixedClock
) -> None:
    ids = await logs(services, clock, world)
    async with client_for(services) as client:
        await log_in(client, dialogs, "worker1")
        page = await client.get("/desk/waiting")
        for i in ids:
            assert f'value="H{i}"' in page.text
        assert "显示 3 项，共 3 项" in page.text and "应于" in page.text  # the deadline, as /pending shows it
        done = await decide(client, {"action": "approve", "ref": [f"H{i}" for i in ids]})
        assert done.status_code == 200 and "已通过 3 条记录" in done.text
    assert statuses(services, ids) == ["approved"] * 3
    desk_trail, desk_notices = trail(services, ids), notices(services, world.volunteers)
    # The same three decided in the chat, on a fresh set: the same audit entries and notifications.
    again = await logs(services, clock, world)
    with services.db.read() as session:
        before = set(session.scalars(select(Notification.id)))
    await Chat(dialogs, "worker1").say("/approve " + " ".join(f"H{i}" for i in again))
    assert statuses(services, again) == ["approved"] * 3
    chat_trail = trail(services, again)
    assert [(a, actor) for a, actor, _ in desk_trail] == [(a, actor) for a, actor, _ in chat_trail]
    assert {a for a, _, _ in desk_trail} >= {"hours.approve"}
    with services.db.read() as session:
        chat_notices = sorted(session.scalars(select(Notification.key).where(Notification.id.not_in(before))))
    assert desk_notices == chat_notices and desk_notices


async def test_overdue_marks_and_filters(services: Services, dialogs: Dialogs, world: World, clock: FixedClock) -> None:
    ids = await logs(services, clock, world)
    clock.advance(days=3)
    fresh = await submit_logs(services, clock, world.volunteers[1:2], world.community_id, world.categories["探访"])
    async with client_for(services) as client:
        await log_in(client, dialogs, "worker1")
        page = (await client.get("/desk/waiting")).text
        assert page.count("⚠ 已超时") == 3 and "显示 4 项，共 4 项" in page
        overdue = (await client.get("/desk/waiting", params={"overdue": "1"})).text
        assert f'value="H{fresh[0]}"' not in overdue and all(f'value="H{i}"' in overdue for i in ids)
        named = (await client.get("/desk/waiting", params={"q": "志愿者2"})).text
        assert re.findall(r'name="ref" value="(H\d+)"', named) == [f"H{ids[1]}", f"H{fresh[0]}"]
        other_kind = (await client.get("/desk/waiting", params={"kind": "R"})).text
        assert 'name="ref"' not in other_kind and "没有符合筛选条件的待办" in other_kind
        ticked = (await client.get("/desk/waiting", params={"overdue": "1", "all": "1"})).text
        assert ticked.count(" checked>") == 3 + 1  # the three and the overdue filter's own box


async def test_rejecting_needs_a_reason_and_tells_the_volunteer(
    services: Services, dialogs: Dialogs, world: World, clock: FixedClock
) -> None:
    ids = await logs(services, clock, world)
    async with client_for(services) as client:
        await log_in(client, dialogs, "worker1")
        bare = await decide(client, {"action": "reject", "ref": [f"H{ids[0]}"], "reason": "  "})
        assert "驳回需要写理由" in bare.text and statuses(services, ids[:1]) == ["pending"]
        done = await decide(client, {"action": "reject", "ref": [f"H{ids[0]}", f"H{ids[1]}"], "reason": "日期\n不对"})
        assert done.text.count("已驳回") == 2
    assert statuses(services, ids) == ["rejected", "rejected", "pending"]
    with services.db.read() as session:
        reasons = list(session.scalars(select(ServiceLog.reject_reason).where(ServiceLog.id.in_(ids[:2]))))
    assert reasons == ["日期 不对", "日期 不对"]
    assert notices(services, world.volunteers[:2]).count("notify.log_rejected") == 2


async def test_without_the_csrf_token_nothing_changes(
    services: Services, dialogs: Dialogs, world: World, clock: FixedClock
) -> None:
    ids = await logs(services, clock, world)
    async with client_for(services) as client:
        await log_in(client, dialogs, "worker1")
        refs = [f"H{i}" for i in ids]
        missing = await client.post("/desk/waiting", data={"action": "approve", "ref": refs})
        wrong = await client.post("/desk/waiting", data={"action": "approve", "ref": refs, "csrf": "a" * 64})
        page = await client.get("/desk/waiting")
        async with client_for(services) as stranger:  # a token from someone else's session
            await log_in(stranger, dialogs, "worker2")
            theirs = csrf_of((await stranger.get("/desk/waiting")).text)
        borrowed = await client.post("/desk/waiting", data={"action": "approve", "ref": refs, "csrf": theirs})
        for r in (missing, wrong, borrowed):
            assert r.status_code == 403 and "表单已失效" in r.text
        header = await client.post(
            "/desk/waiting", data={"action": "approve", "ref": refs[:1]}, headers={"X-CSRF-Token": csrf_of(page.text)}
        )
        assert header.status_code == 200  # htmx may send it as a header
    assert statuses(services, ids) == ["approved", "pending", "pending"]


async def test_another_communitys_ids_and_forged_forms_change_nothing(
    services: Services, dialogs: Dialogs, world: World, clock: FixedClock
) -> None:
    ids = await logs(services, clock, world)
    async with client_for(services) as other:
        await log_in(other, dialogs, "otherworker")
        assert 'name="ref"' not in (await other.get("/desk/waiting")).text  # none of theirs
        refused = await decide(other, {"action": "approve", "ref": [f"H{i}" for i in ids]})
        assert refused.status_code == 200 and "已通过 0 条记录" in refused.text
        rejected = await decide(other, {"action": "reject", "ref": [f"H{ids[0]}"], "reason": "x"})
        assert "已驳回" not in rejected.text
    async with client_for(services) as client:
        await log_in(client, dialogs, "worker1")
        for forged in (
            {"action": "delete", "ref": [f"H{ids[0]}"]},
            {"action": "approve", "ref": [f"H{ids[0]}; DROP TABLE people"]},
            {"action": "approve", "ref": ["Z9"]},
            {"action": "approve"},
        ):
            answer = await decide(client, forged)
            assert answer.status_code == 200 and "请先勾选要处理的事项" in answer.text, forged
        missing = await decide(client, {"action": "approve", "ref": ["H99999"]})
        assert "H99999" in missing.text
    assert statuses(services, ids) == ["pending"] * 3


async def test_four_eyes_hold_on_the_desk(
    services: Services, dialogs: Dialogs, world: World, clock: FixedClock
) -> None:
    today = clock.community(services.settings.timezone).today()
    recorded = await services.run(
        services.hours.record,
        world.worker,
        world.community_id,
        [world.worker2],
        category_id=world.categories["助餐"],
        service_date=today - timedelta(days=1),
        minutes=60,
    )
    log_id = recorded[0].log.id
    async with client_for(services) as recorder:
        await log_in(recorder, dialogs, "worker1")
        answer = await decide(recorder, {"action": "approve", "ref": [f"H{log_id}"]})
        assert "需要由其他工作者审核" in answer.text
    async with client_for(services) as own:
        await log_in(own, dialogs, "worker2")
        answer = await decide(own, {"action": "approve", "ref": [f"H{log_id}"]})
        assert "不能审核或代录自己的服务记录" in answer.text
    assert statuses(services, [log_id]) == ["pending"]


async def test_a_volunteer_to_confirm_is_approve_only(services: Services, dialogs: Dialogs, world: World) -> None:
    with services.db.uow() as session:
        session.execute(update(Community).where(Community.id == world.community_id).values(confirm_volunteers=True))
        session.commit()
    newcomer, _ = await services.run(services.people.identify, "console", "newcomer", display_name="新志愿者")
    code = await services.run(services.people.create_invite, world.worker, world.community_id)
    await services.run(services.people.join, newcomer.id, code)
    await services.run(services.people.register_volunteer, newcomer.id, world.community_id, "新志愿者", "13912345678")
    async with client_for(services) as client:
        await log_in(client, dialogs, "worker1")
        page = (await client.get("/desk/waiting")).text
        assert f'value="V{newcomer.id}"' in page and "只能批准" in page
        refused = await decide(client, {"action": "reject", "ref": [f"V{newcomer.id}"], "reason": "不认识"})
        assert f"V{newcomer.id} 不能驳回" in refused.text
        assert confirmed(services, newcomer.id, world.community_id) is False  # left waiting
        approved = await decide(client, {"action": "approve", "ref": [f"V{newcomer.id}"]})
        assert f'value="V{newcomer.id}"' not in approved.text
    assert confirmed(services, newcomer.id, world.community_id) is True


def confirmed(services: Services, person_id: int, community_id: int) -> bool | None:
    with services.db.read() as session:
        return session.scalar(
            select(Membership.confirmed).where(
                Membership.person_id == person_id, Membership.community_id == community_id
            )
        )
