"""Tags and teams: star lists per tag (only those who agreed) and per team, with ties and
anonymous names; the leader's hours waiting for a worker; the posts' chosen lists, once each;
the report's sheet; and who may do what."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from bot.dialogs.engine import Dialogs
from bot.kernel.clock import FixedClock
from bot.services import Services
from models import AuditEntry, Notification, ServiceLog
from tests.dialogs.chat import Chat
from tests.world import World, make_world, table_contents

SH = ZoneInfo("Asia/Shanghai")
TABLES = ("person_tags", "teams", "team_members", "service_logs", "notifications", "audit_log")


def ranks(text: str) -> list[str]:
    return [line for line in text.split("\n") if " 名　" in line]


@pytest.fixture
def chat_of(services: Services):
    dialogs = Dialogs(services)
    return lambda handle: Chat(dialogs, handle)


async def hours_for(services: Services, w: World, person: int, minutes: int, day: date = date(2026, 11, 18)) -> None:
    await services.run(
        services.hours.record,
        w.worker,
        w.community_id,
        [person],
        category_id=w.categories["探访"],
        service_date=day,
        minutes=minutes,
    )


async def tagged_world(services: Services, chat_of) -> World:
    w = await make_world(services, volunteers=5)
    v = w.volunteers
    worker = chat_of("worker1")
    for handle in ("volunteer1", "volunteer2", "volunteer3", "volunteer4"):
        assert "已给" in await worker.say(f"/tag {handle} 党员")
    for person, minutes in zip(v, (120, 120, 60, 180, 300), strict=True):
        await hours_for(services, w, person, minutes)
    for handle in ("volunteer1", "volunteer2", "volunteer3"):  # volunteer4 never agrees
        assert "会出现在“党员”明星榜上" in await chat_of(handle).say("/privacy 党员 显示")
    await chat_of("volunteer2").say("/privacy on")  # on every list as an anonymous volunteer
    return w


async def test_tag_list_has_only_those_who_agreed_with_ties_and_anonymous(services: Services, chat_of) -> None:
    w = await tagged_world(services, chat_of)
    resident = chat_of("resident1")
    text = await resident.say("/top 党员")
    assert ranks(text) == [
        "🥇 第 1 名　志愿者1　2 小时",
        "🥇 第 1 名　匿名志愿者　2 小时",
        "🥉 第 3 名　志愿者3　1 小时",
    ]
    assert "党员 · 本周明星榜" in text and "志愿者4" not in text and "志愿者5" not in text
    # volunteer4 carries the tag but never agreed: no rank on that list, not even for themselves,
    # but told their hours and how to join it.
    assert "您有 3 小时，但还没有同意上“党员”榜" in await chat_of("volunteer4").say("/top 党员")
    # The whole community's list is unchanged by tags.
    assert "志愿者5" in ranks(await resident.say("/top"))[0]
    # Withdrawing consent takes one off at once.
    assert "不会出现在“党员”明星榜上" in await chat_of("volunteer1").say("/privacy 党员 隐藏")
    assert "志愿者1" not in await resident.say("/top 党员 month")
    # A member sees their own tags; another member cannot see anyone's.
    mine = await chat_of("volunteer4").say("/tags")
    assert "党员 · 不在明星榜上显示" in mine
    assert "社区工作者" in await chat_of("volunteer3").say("/tags volunteer4")
    assert "党员：4 人 · 2 人上榜" in await chat_of("worker1").say("/tags")
    assert "没有“青年”这个标签" in await chat_of("volunteer4").say("/privacy 青年 显示")
    # The notice when tagged tells the member how to agree.
    with services.db.read() as session:
        keys = list(session.scalars(select(Notification.key).where(Notification.person_id == w.volunteers[3])))
    assert "tags.you_were_tagged" in keys


async def test_team_list_and_the_leaders_hours_wait_for_a_worker(services: Services, chat_of) -> None:
    w = await tagged_world(services, chat_of)
    worker = chat_of("worker1")
    assert "已创建" in await worker.say("/team new 党员先锋队")
    assert "新增 3 名" in await worker.say("/team 党员先锋队 add volunteer1 volunteer4 volunteer5")
    assert "担任" in await worker.say("/team 党员先锋队 leader volunteer1")
    text = await chat_of("resident1").say("/top 党员先锋队")
    # Team lists need no tag consent; names follow each person's /privacy.
    assert ranks(text) == [
        "🥇 第 1 名　志愿者5　5 小时",
        "🥈 第 2 名　志愿者4　3 小时",
        "🥉 第 3 名　志愿者1　2 小时",
    ]
    leader = chat_of("volunteer1")
    out = await leader.say("/teamlog 党员先锋队 1h 治安巡逻 全部")
    assert leader.keys() == ["teams.logged"] and "等待工作人员审核" in out
    with services.db.read() as session:
        logs = list(
            session.execute(
                select(
                    ServiceLog.person_id, ServiceLog.status, ServiceLog.recorded_by_worker, ServiceLog.event_name
                ).where(ServiceLog.submitted_by_id == w.volunteers[0])
            )
        )
    assert sorted(logs) == sorted(
        (p, "pending", False, "党员先锋队") for p in (w.volunteers[0], w.volunteers[3], w.volunteers[4])
    )
    assert "⏰ 应于 11-20 21:00 前处理" in await worker.say("/pending")
    await worker.say("/approve all")
    assert worker.keys() == ["approve.batch_done"]
    # A redelivered update records nothing twice.
    again = Chat(leader.dialogs, "volunteer1")
    again.updates = leader.updates - 1
    await again.say("/teamlog 党员先锋队 1h 治安巡逻 全部")
    with services.db.read() as session:
        count = len(list(session.scalars(select(ServiceLog.id).where(ServiceLog.submitted_by_id == w.volunteers[0]))))
    assert count == 3


async def test_posts_include_each_chosen_list_once(services: Services, clock: FixedClock, chat_of) -> None:
    w = await tagged_world(services, chat_of)
    worker = chat_of("worker1")
    await worker.say("/team new 党员先锋队")
    await worker.say("/team 党员先锋队 add volunteer4 volunteer5")
    assert "没有叫“无此榜”的榜单" in await worker.say("/starlists 总榜 无此榜")
    assert "总榜、党员、党员先锋队" in await worker.say("/starlists 总榜 党员 党员先锋队")
    await services.run(services.stars.set_group, w.worker, w.community_id, "telegram", "-100123")
    clock.at = datetime(2026, 11, 23, 9, 0, tzinfo=SH).astimezone(UTC)  # Monday
    composed = await services.run(services.stars.compose, w.community_id, "week")
    assert [(s.group, [x.name for x in s.stars]) for s in composed] == [
        (None, ["志愿者5", "志愿者4", "志愿者1", None, "志愿者3"]),
        ("党员", ["志愿者1", None, "志愿者3"]),
        ("党员先锋队", ["志愿者5", "志愿者4"]),
    ]
    summary = await services.run(services.stars.post, clock.at)
    assert (summary.posted, summary.already) == (3, 0)
    assert (await services.run(services.stars.post, clock.at)).posted == 0
    with services.db.read() as session:
        posts = list(
            session.execute(select(Notification.key, Notification.params).where(Notification.chat.is_not(None)))
        )
    assert [k for k, _ in posts] == ["stars.post_week", "stars.post_group_week", "stars.post_group_week"]
    party = posts[1][1]
    assert party["list"] == "党员" and "志愿者4" not in party["lines"] and "匿名志愿者" in party["lines"]


async def test_report_sheet_per_team_and_tag(services: Services, chat_of) -> None:
    w = await tagged_world(services, chat_of)
    worker = chat_of("worker1")
    await worker.say("/team new 党员先锋队")
    await worker.say("/team 党员先锋队 add volunteer1 volunteer5")
    await worker.say("/tag volunteer5 青年")
    report = await services.run(services.reports.build, w.community_id, "2026-11", "zh-CN")
    sheet = report.sheet("groups")
    # kind, name, people, hours, points (10 points an hour): every tagged member counts here.
    assert sheet.rows == [
        ("服务队", "党员先锋队", 2, 7.0, 70),
        ("标签", "党员", 4, 8.0, 80),
        ("标签", "青年", 1, 5.0, 50),
    ]


ACTIONS = {
    "/tag volunteer3 青年": {"worker1", "admin"},
    "/untag volunteer1 党员": {"worker1", "admin"},
    "/team new 青年突击队": {"worker1", "admin", "otherworker"},  # each worker in their own community
    "/team 党员先锋队 add volunteer3": {"worker1", "admin"},
    "/team 党员先锋队 leader volunteer3": {"worker1", "admin"},
    "/starlists 总榜 党员": {"worker1", "admin", "otherworker"},
    "/teamlog 党员先锋队 1h 探访 全部": {"volunteer1"},  # the team's leader only
}
WHO = ("resident1", "volunteer2", "volunteer1", "otherworker", "worker1", "admin")


@pytest.mark.parametrize("who", WHO)
@pytest.mark.parametrize("action", list(ACTIONS))
async def test_who_may(services: Services, chat_of, who: str, action: str) -> None:
    w = await make_world(services, volunteers=3)
    worker = chat_of("worker1")
    await worker.say("/tag volunteer1 党员")
    await worker.say("/team new 党员先锋队")
    await worker.say("/team 党员先锋队 leader volunteer1")
    await worker.say("/team new 青年队")
    await worker.say("/team 青年队 leader volunteer2")  # leads another team
    if who == "admin":
        await chat_of("admin").say("/community 幸福社区")
    before = await table_contents(services, TABLES)
    person = chat_of(who)
    await person.say(action)
    after = await table_contents(services, TABLES)
    if who in ACTIONS[action]:
        assert after != before, person.keys()
        if who == "otherworker":  # it happened in their community, not in this one
            with services.db.read() as session:
                last = session.scalar(select(AuditEntry.community_id).order_by(AuditEntry.id.desc()).limit(1))
            assert last == w.other_community_id
    else:
        assert after == before, (who, action, person.keys())
        # Another community's worker does not even find the member: names are looked up at home.
        assert person.keys()[0].startswith(("error.need_", "error.no_such_person", "teams.", "tags.", "starlists.")), (
            person.keys()
        )
