"""Who sees an elder's address, phone and emergency contact: the workers of the community and the
admins see everything; a volunteer sees the address of their own elders only, once the elder's
consent is on record; nobody else sees
anything, and nothing is shown in a group chat."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.dialogs.core import Caller, Input
from bot.dialogs.engine import Dialogs
from bot.kernel.errors import NotAllowed
from bot.services import Services
from models import AuditEntry
from tests.visits_world import Chat, roster_world

PHONES = ("13800000001", "13800000002", "13900000001", "13900000002")


async def test_a_volunteer_sees_where_their_elders_live_but_no_phone(services: Services) -> None:
    r = await roster_world(services)
    wang, li = r.elders["王秀英"], r.elders["李建国"]
    volunteer = Chat(services, "volunteer1")
    roster = await volunteer.say("/elders")
    assert "王秀英" in roster and "李建国" not in roster and "张桂兰" not in roster
    # No consent on record yet (the roster has no consent column): no address for a volunteer.
    assert "地址：—" in await volunteer.say(f"/elders E{wang}")
    assert "已记录" in await Chat(services, "worker1").say(f"/consent E{wang} 当面")
    card = await volunteer.say(f"/elders E{wang}")
    assert "幸福里3栋501" in card
    assert not any(p in card for p in PHONES) and "王强" not in card
    assert await volunteer.say(f"/elders E{li}") == f"E{li} 不是安排给您的探访对象。"
    view = await services.run(services.visits.roster.elder, r.volunteer, wang)
    assert (view.address, view.phone, view.emergency_contact) == ("幸福里3栋501", None, None)
    # Their visit list has no phone either, even for an elder whose call is due.
    await services.run(
        services.visits.record, r.worker, li, kind="visit", outcome="well", at=services.clock.now() - timedelta(days=8)
    )
    listed = await Chat(services, "volunteer3").say("/visits")
    assert "李建国" not in listed and not any(p in listed for p in PHONES)  # a call is due: the worker's
    assert "☎ 13800000002" in await Chat(services, "worker2").say("/visits")


async def test_workers_and_admins_see_everything_of_their_community_only(services: Services) -> None:
    r = await roster_world(services)
    wang = r.elders["王秀英"]
    card = await Chat(services, "worker2").say(f"/elders E{wang}")
    assert "电话：13800000001" in card and "紧急联系人：儿子 王强 13900000001" in card
    admin_view = await services.run(services.visits.roster.elder, r.admin, wang)
    assert admin_view.phone == "13800000001"
    other = Chat(services, "otherworker")
    assert await other.say(f"/elders E{wang}") == "这不是您所在社区的老人名单，无法查看或记录。"
    assert (
        await other.say("/elders")
        == "名单里还没有老人。可以用 /addelder 添加，或用 lovebank import elders 导入花名册。"
    )
    assert await Chat(services, "resident1").say("/elders") == "这个功能需要先登记为志愿者：发送 /volunteer。"
    with pytest.raises(NotAllowed):
        await services.run(services.visits.due_for, r.other_worker, r.community_id)


async def test_nothing_about_elders_in_a_group_chat(services: Services) -> None:
    r = await roster_world(services)
    dialogs = Dialogs(services)
    caller = Caller("telegram", "555", display_name="张社工", group_chat="telegram:-100123")
    await services.run(services.people.identify, "telegram", "555", display_name="张社工")
    for line in ("/visits", f"/elders E{r.elders['王秀英']}", "/elders", f"/visit E{r.elders['王秀英']} well"):
        turn = await dialogs.handle(caller, Input(text=line))
        assert dialogs.render(turn.locale, turn.replies) == ["请私聊我使用这个功能。"]


async def test_the_roster_export_is_for_workers_and_is_logged(services: Services) -> None:
    r = await roster_world(services)
    chat = Chat(services, "worker1")
    turn = await chat.dialogs.handle(chat.caller, Input(text="/elders export"))
    document = turn.replies[0].document
    assert document is not None and document.filename.endswith(".csv")
    lines = document.content.decode("utf-8-sig").splitlines()
    assert lines[0] == "name,birth_year,address,grid,lives_alone,risk,phone,emergency_contact,worker,volunteers,consent"
    assert (
        lines[1]
        == "王秀英,1942,幸福里3栋501,一网格,是,高,13800000001,儿子 王强 13900000001,worker1,volunteer1;volunteer2,"
    )
    with services.db.uow() as session:
        logged = (
            session.execute(
                select(AuditEntry.action, AuditEntry.actor_id, AuditEntry.details).where(
                    AuditEntry.action == "roster.export"
                )
            )
        ).one()
    assert tuple(logged) == ("roster.export", r.worker, {"rows": 3})
    assert await Chat(services, "volunteer1").say("/elders export") == "只有本社区的社区工作者可以这样做。"
    # What was exported imports back as it was.
    again = await services.run(
        services.visits.roster.import_roster, r.worker, r.community_id, document.filename, document.content
    )
    assert (again.created, again.updated, again.unchanged) == (0, 0, 3)
