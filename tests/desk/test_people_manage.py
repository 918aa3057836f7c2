"""Managing a person from their card: confirming, tags, grids and grid coordinators run the chat's
own /confirm, /tag, /untag, /grid, /appoint and /unappoint code for the person shown — the same
answer, audit entries and notifications as typed in the chat — and every way a form can be wrong
changes nothing."""

from __future__ import annotations

import html
import re

import httpx
import pytest
from sqlalchemy import func, select, update

from bot.dialogs.engine import Dialogs
from bot.services import Services
from models import AuditEntry, Community, Grid, Membership, Notification, PersonTag
from tests.desk.kit import client_for, csrf_of, log_in
from tests.dialogs.chat import Chat
from tests.world import World

pytestmark = pytest.mark.db

OUTCOME = re.compile(r'<section class="card outcome"[^>]*>.*?<ul>(.*?)</ul>', re.DOTALL)


def add_grids(services: Services, community_id: int, *names: str) -> None:
    with services.db.uow() as session:
        session.add_all([Grid(community_id=community_id, name=n) for n in names])
        session.commit()


async def manage(client: httpx.AsyncClient, person_id: int, action: str, value: str = "") -> httpx.Response:
    card = await client.get(f"/desk/people/{person_id}")
    data = {"csrf": csrf_of(card.text), "action": action, "value": value}
    return await client.post(f"/desk/people/{person_id}", data=data)


def outcome(page: str) -> list[str]:
    found = OUTCOME.search(page)
    assert found, page[:500]
    return [html.unescape(x) for x in re.findall(r"<li>(.*?)</li>", found[1], re.DOTALL)]


def trail(services: Services, person_id: int, actor_id: int) -> list[tuple[str, int | None, dict]]:
    """(action, actor, details) of the audit entries of what the actor did about the person, in order."""
    with services.db.read() as session:
        rows = session.execute(
            select(AuditEntry.action, AuditEntry.actor_id, AuditEntry.details)
            .where(
                AuditEntry.subject_type == "person",
                AuditEntry.subject_id == person_id,
                AuditEntry.actor_id == actor_id,
            )
            .order_by(AuditEntry.id)
        )
        return [(a, actor, details) for a, actor, details in rows]


def notices(services: Services, person_id: int) -> list[str]:
    with services.db.read() as session:
        return list(
            session.scalars(
                select(Notification.key).where(Notification.person_id == person_id).order_by(Notification.id)
            )
        )


def counts(services: Services) -> tuple[int, int, int, int]:
    """Audit entries, notifications, tags and grid placements: what a refusal must leave alone."""
    with services.db.read() as session:
        return (
            session.scalar(select(func.count(AuditEntry.id))) or 0,
            session.scalar(select(func.count(Notification.id))) or 0,
            session.scalar(select(func.count(PersonTag.id))) or 0,
            session.scalar(select(func.count(Membership.id)).where(Membership.grid_id.is_not(None))) or 0,
        )


async def test_tags_grids_and_coordinators_as_the_chat_does_them(
    services: Services, dialogs: Dialogs, world: World
) -> None:
    add_grids(services, world.community_id, "一网格", "二网格")
    desk_person, chat_person = world.volunteers[0], world.volunteers[1]  # 志愿者1, 志愿者2
    steps = [
        ("tag", "党员", "/tag 志愿者2 党员"),
        ("tag", "党员", "/tag 志愿者2 党员"),  # again: already tagged, nothing new
        ("grid", "二网格", "/grid 志愿者2 二网格"),
        ("appoint", "二网格", "/appoint 志愿者2 网格员 二网格"),
        ("unappoint", "", "/unappoint 志愿者2 网格员"),
        ("untag", "党员", "/untag 志愿者2 党员"),
    ]
    async with client_for(services) as client:
        await log_in(client, dialogs, "worker1")
        card = await client.get(f"/desk/people/{desk_person}")
        assert "管理" in card.text and "<option>二网格</option>" in card.text
        desk_answers = []
        for action, value, _ in steps:
            done = await manage(client, desk_person, action, value)
            assert done.status_code == 200, done.text[:500]
            desk_answers.append(outcome(done.text))
    chat = Chat(dialogs, "worker1")
    chat_answers = [await chat.say(line) for _, _, line in steps]
    assert ["\n".join(a).replace("志愿者1", "志愿者2") for a in desk_answers] == chat_answers
    assert trail(services, desk_person, world.worker) == trail(services, chat_person, world.worker)
    assert [a for a, _, _ in trail(services, desk_person, world.worker)] == [
        "tag.add",
        "member.grid",
        "coordinator.appoint",
        "coordinator.unappoint",
        "tag.remove",
    ]
    assert notices(services, desk_person) == notices(services, chat_person) != []


async def test_a_volunteer_waiting_is_confirmed_from_the_card(
    services: Services, dialogs: Dialogs, world: World
) -> None:
    with services.db.uow() as session:
        session.execute(update(Community).where(Community.id == world.community_id).values(confirm_volunteers=True))
        session.commit()
    ids = []
    for handle, name, phone in (("newcomer1", "新志愿者甲", "13912345678"), ("newcomer2", "新志愿者乙", "13912345679")):
        newcomer, _ = await services.run(services.people.identify, "console", handle, display_name=handle)
        code = await services.run(services.people.create_invite, world.worker, world.community_id)
        await services.run(services.people.join, newcomer.id, code)
        await services.run(services.people.register_volunteer, newcomer.id, world.community_id, name, phone)
        ids.append(newcomer.id)
    async with client_for(services) as client:
        await log_in(client, dialogs, "worker1")
        card = await client.get(f"/desk/people/{ids[0]}")
        assert "确认为志愿者" in card.text
        done = await manage(client, ids[0], "confirm")
        assert done.status_code == 200 and "确认为志愿者" not in done.text
        desk_answer = outcome(done.text)
    chat_answer = await Chat(dialogs, "worker1").say("/confirm 新志愿者乙")
    assert "\n".join(desk_answer).replace("新志愿者甲", "新志愿者乙") == chat_answer
    with services.db.read() as session:
        assert set(session.scalars(select(Membership.confirmed).where(Membership.person_id.in_(ids)))) == {True}
    assert trail(services, ids[0], world.worker) == trail(services, ids[1], world.worker) != []
    assert notices(services, ids[0]) == notices(services, ids[1]) != []


async def test_managing_refuses_members_other_communities_and_forged_forms(
    services: Services, dialogs: Dialogs, world: World
) -> None:
    add_grids(services, world.community_id, "一网格")
    target = world.volunteers[0]
    before = counts(services)
    async with client_for(services) as member:
        await log_in(member, dialogs, "volunteer1", "/my")
        page = await member.get("/desk/my")
        refused = await member.post(
            f"/desk/people/{target}", data={"csrf": csrf_of(page.text), "action": "tag", "value": "党员"}
        )
        assert refused.status_code == 403
    async with client_for(services) as worker:
        await log_in(worker, dialogs, "worker1")
        other = await manage(worker, world.volunteers[1], "tag", "党员")  # a fresh token for the forms below
        token = csrf_of(other.text)
        after_one = counts(services)
        assert after_one[2] == before[2] + 1  # that one tag was made, as the chat makes it
        stranger = await worker.post(
            f"/desk/people/{world.other_worker}", data={"csrf": token, "action": "tag", "value": "党员"}
        )
        assert stranger.status_code == 404 and "王社工" not in stranger.text
        no_token = await worker.post(f"/desk/people/{target}", data={"action": "tag", "value": "党员"})
        assert no_token.status_code == 403 and "表单已失效" in no_token.text
        forged = await worker.post(f"/desk/people/{target}", data={"csrf": "0" * 64, "action": "tag", "value": "x"})
        assert forged.status_code == 403
        for data, says in [
            ({"action": "grid", "value": "九网格"}, "九网格"),  # no such grid: the names there are
            ({"action": "appoint", "value": "九网格"}, "九网格"),
            ({"action": "drop", "value": "x"}, "请选择要做的事"),
            ({"action": "tag", "value": ""}, "请选择要做的事"),
            ({"action": "tag", "value": "两个 词"}, "一个词"),
            ({"action": "unappoint", "value": ""}, "不是这些网格的网格员"),
        ]:
            bad = await worker.post(f"/desk/people/{target}", data={"csrf": token, **data})
            assert bad.status_code == 400 and "没有改动" in bad.text, data
            assert says in " ".join(outcome(bad.text)), (data, outcome(bad.text))
        worker_as_coordinator = await worker.post(
            f"/desk/people/{world.worker2}", data={"csrf": token, "action": "appoint", "value": "一网格"}
        )
        assert worker_as_coordinator.status_code == 400
        untag_unknown = await worker.post(
            f"/desk/people/{target}", data={"csrf": token, "action": "untag", "value": "没有的标签"}
        )
        assert untag_unknown.status_code == 200 and "没有的标签" in " ".join(outcome(untag_unknown.text))
    assert counts(services) == after_one  # none of the refused forms changed anything
    # In the worker's own language.
    await Chat(dialogs, "worker1").say("/lang en")
    async with client_for(services) as english:
        await log_in(english, dialogs, "worker1")
        bad = await manage(english, target, "grid", "九网格")
        assert bad.status_code == 400 and "Nothing changed" in bad.text and "九网格" in bad.text
    assert counts(services)[2:] == after_one[2:]
