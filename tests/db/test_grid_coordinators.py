"""Grid coordinators (网格员) through the console chat: appointing and ending them, /grids and
/grid, what a coordinator manages in their grid, and that a coordinator of 一网格 gets nothing of
二网格 through any command or forged button, nor in the 08:30 list."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy import select

import models
from bot.dialogs.core import Caller, Input
from bot.dialogs.engine import Dialogs
from bot.dialogs.flows import TABLE
from bot.kernel.access import grid_coordinators
from bot.kernel.clock import FixedClock
from bot.services import Services
from models import Grid, Membership
from tests.db.test_visits_morning import inbox
from tests.visits_world import Chat, Roster, roster_world

MORNING = datetime(2026, 11, 21, 0, 30, tzinfo=UTC)  # 08:30 in Shanghai
# What nobody outside 二网格 may read: 李建国's name, phone, address and family contact.
SECRETS = ("李建国", "13800000002", "幸福里5栋201", "李娟", "13900000002")


@dataclass
class Grids:
    r: Roster
    one: int  # grid ids
    two: int
    li: int  # 李建国, the elder of 二网格
    alert: int  # an open help alert about him
    log: int  # a pending hour log of volunteer3, who lives in 二网格
    mine_log: int  # a pending hour log of volunteer2, who lives in 一网格


async def grids_world(services: Services) -> Grids:
    """volunteer1 coordinates 一网格 (appointed in the chat by a worker); volunteer2 lives in
    一网格, volunteer3 in 二网格; 李建国 (二网格) has an open help alert."""
    r = await roster_world(services)
    with services.db.uow() as session:
        grid = {name: gid for gid, name in session.execute(select(Grid.id, Grid.name))}
    worker = Chat(services, "worker1")
    assert await worker.say("/grid 志愿者2 一网格") == "已把 志愿者2 划入 一网格。"
    assert await worker.say("/grid 志愿者3 二网格") == "已把 志愿者3 划入 二网格。"
    assert await worker.say("/grid 志愿者1 一网格") == "已把 志愿者1 划入 一网格。"
    assert await worker.say("/appoint 志愿者1 网格员 一网格") == "志愿者1 现为 一网格 的网格员，已通知对方。"
    await services.run(services.grids.set_coordinators_approve, r.worker, r.community_id, True)
    li = r.elders["李建国"]
    recorded = await services.run(services.visits.record, r.volunteers[2], li, kind="visit", outcome="needs_help")
    assert recorded.alert_id is not None
    cats = await services.run(services.hours.categories, r.community_id)
    day = date(2026, 11, 20)
    log = await services.run(
        services.hours.submit, r.volunteers[2], r.community_id, category_id=cats[1].id, service_date=day, minutes=60
    )
    mine = await services.run(
        services.hours.submit, r.volunteers[1], r.community_id, category_id=cats[1].id, service_date=day, minutes=90
    )
    return Grids(r, grid["一网格"], grid["二网格"], li, recorded.alert_id, log.id, mine.id)


async def test_appointing_listing_and_ending_a_coordinator(services: Services) -> None:
    g = await grids_world(services)
    r = g.r
    with services.db.uow() as session:
        assert grid_coordinators(session, r.community_id, g.one) == [r.volunteers[0]]
        assert grid_coordinators(session, r.community_id, g.two) == []
    assert any(t.startswith("您已被任命为“幸福社区”一网格 的网格员") for t in await inbox(services, r.volunteers[0]))
    worker = Chat(services, "worker1")
    assert await worker.say("/grids") == (
        "网格共 2 个（第 1/1 页）：\n"
        "一网格：网格员 志愿者1；成员 2 人，老人 2 位\n"
        "二网格：网格员 （暂无）；成员 1 人，老人 1 位"
    )
    # The coordinator sees their own grid only; a plain volunteer nothing.
    assert await Chat(services, "volunteer1").say("/grids") == (
        "网格共 1 个（第 1/1 页）：\n一网格：网格员 志愿者1；成员 2 人，老人 2 位"
    )
    assert await Chat(services, "volunteer2").say("/grids") == "只有本社区的社区工作者可以这样做。"
    # Who may be appointed, to what.
    assert await worker.say("/appoint 志愿者2 网格员 九网格") == "本社区没有“九网格”这个网格。现有网格：一网格、二网格"
    assert await worker.say("/appoint 居民甲 网格员 一网格") == (
        "居民甲 还不是本社区已登记的志愿者，请先让对方发送 /volunteer 登记。"
    )
    assert await worker.say("/appoint 李社工 coordinator 二网格") == (
        "李社工 是社区工作者，已能管理全部网格，无需任命为网格员。"
    )
    assert await worker.say("/appoint 志愿者1 网格员") == "用法：/appoint 姓名 网格员 一网格（可写多个网格）"
    # A worker still cannot appoint a worker (admins only); a volunteer appoints nobody.
    assert await worker.say("/appoint 志愿者2") == "只有管理员可以这样做。"
    assert await Chat(services, "volunteer1").say("/appoint 志愿者2 网格员 一网格") == (
        "只有本社区的社区工作者可以这样做。"
    )
    assert await worker.say("/unappoint 志愿者2 网格员") == "志愿者2 不是这些网格的网格员。"
    assert await worker.say("/unappoint 志愿者1 网格员") == "已结束 志愿者1 在 一网格 的网格员职务，已通知对方。"
    assert await Chat(services, "volunteer1").say("/grids") == "只有本社区的社区工作者可以这样做。"
    with services.db.uow() as session:
        assert grid_coordinators(session, r.community_id, g.one) == []


async def test_a_coordinator_manages_their_grid(services: Services) -> None:
    g = await grids_world(services)
    r = g.r
    wang, zhang = r.elders["王秀英"], r.elders["张桂兰"]
    chat = Chat(services, "volunteer1")
    listed = await chat.say("/elders")
    assert "王秀英" in listed and "张桂兰" in listed and "李建国" not in listed
    card = await chat.say(f"/elders E{zhang}")  # not assigned to them, but in their grid: contacts shown
    assert "张桂兰" in card and "电话：" in card
    assert "二网格" not in await chat.say("/visits all")
    said = await chat.say(f"/assign E{zhang} 志愿者2")
    assert said == f"✅ E{zhang} 张桂兰 的探访志愿者：志愿者2"
    # 代录 for a volunteer of their grid, approved at once (the community lets coordinators approve).
    assert (await chat.say("/record 志愿者2 2h 探访")).endswith("2 小时，20 积分已到账。")
    # Hours waiting: only their grid's, and they decide them.
    pending = await chat.say("/pending")
    assert f"H{g.mine_log}" in pending and f"H{g.log}" not in pending
    assert f"H{g.mine_log}" in await chat.say(f"/approve H{g.mine_log}")
    # A visit in their grid raising an alert reaches them and the worker.
    await services.run(services.visits.record, r.volunteers[1], wang, kind="visit", outcome="needs_help")
    told = await inbox(services, r.volunteers[0])
    assert any("王秀英" in t for t in told), told
    await inbox(services, r.worker)
    alert = (await services.run(services.visits.due_for, r.volunteers[0], r.community_id)).alerts[0]
    assert alert.elder_id == wang
    acked = await chat.say(f"/ack {alert.ref}")
    assert acked == f"✅ 求助 {alert.ref}（E{wang} 王秀英）已确认处理，已告知报告人。"
    # With the option off, their approval is refused and their 代录 waits for a worker.
    assert await Chat(services, "worker1").say("/grids approve off") == "已关闭：服务时长只由社区工作者审核。"
    assert await chat.say("/pending") == "本社区的服务时长由社区工作者审核（网格员审核未开启）。"
    assert await chat.say("/record 志愿者2 1h 探访 2026-11-19") == (
        "已为 志愿者2 代录 1 小时（H4），社区工作者审核后发放积分。"
    )


async def test_a_coordinator_gets_nothing_of_another_grid_through_any_command(services: Services) -> None:
    """Walks every registered command (a new one cannot be forgotten) with 二网格's ids, typed and
    as forged buttons: nothing of 二网格 is shown and nothing of it changes."""
    g = await grids_world(services)
    before = await grid_two(services, g)
    dialogs = Dialogs(services)
    caller = Caller("console", "volunteer1", display_name="volunteer1", handle="volunteer1")
    variants = (
        "",
        f"E{g.li}",
        f"E{g.li} 志愿者2",
        f"A{g.alert}",
        f"H{g.log}",
        "志愿者3 2h 探访",
        "志愿者3 二网格",
        f"E{g.li} well 看望",
    )
    turns = 0
    for name in sorted(TABLE.commands):
        # About the asker alone: /forget would erase them, /mydata audits their own export.
        if name in ("cancel", "forget", "lang", "mydata"):
            continue
        for args in variants:
            for how in ("typed", "button"):
                line = f"/{name} {args}".strip()
                inp = Input(text=line) if how == "typed" else Input(option=line)
                turn = await dialogs.handle(caller, inp)
                shown = "\n".join(dialogs.render(turn.locale, turn.replies))
                assert not any(s in shown for s in SECRETS), (line, how, shown)
                turns += 1
                await dialogs.handle(caller, Input(text="/cancel"))
    assert turns > 1000
    # Every command a coordinator may use was refused on 二网格 (not merely left unused).
    chat = Chat(services, "volunteer1")
    refusals = (
        "这不在您负责的网格内。",
        f"E{g.li} 不是安排给您的探访对象。",
        "只有本社区的社区工作者可以这样做。",
        "没有找到“志愿者3”。",  # another grid's people are not among theirs to name
    )
    for line in (
        f"/elders E{g.li}",
        f"/elders E{g.li} card",
        f"/visit E{g.li}",
        f"/visit E{g.li} well 看望",
        f"/assign E{g.li} 志愿者2",
        f"/unassign E{g.li} 志愿者3",
        f"/ack A{g.alert}",
        "/record 志愿者3 2h 探访",
        f"/approve H{g.log}",
        f"/reject H{g.log} 不对",
        f"/assign E{r_elder(g, '王秀英')} 志愿者3",
    ):
        assert (await chat.say(line)) in refusals, line
    wang = r_elder(g, "王秀英")  # in their own grid a coordinator prints the door card
    assert (await chat.say(f"/elders E{wang} card")).startswith(f"🪪 E{wang} 王秀英 的探访卡（第 1 版）")
    assert {c for c, spec in TABLE.commands.items() if spec.coordinators} == {
        "grids",
        "desk",  # the desk's link: its pages keep to the grids as the commands do (tests/desk)
        "assign",
        "unassign",
        "ack",
        "record",
        "pending",
        "approve",
        "reject",
    }
    assert await grid_two(services, g) == before


async def grid_two(services: Services, g: Grids) -> dict[str, list[tuple]]:
    """Every row about 二网格's elder and people: the elder, their volunteers, visits, alerts and
    consent; volunteer3's membership, hour logs, account, transfers and what they were told; and
    who coordinates which grid."""
    v3 = g.r.volunteers[2]
    account = models.Account.__table__.c
    transfer = models.Transfer.__table__.c
    v3_accounts = select(account.id).where(account.person_id == v3)
    queries = {
        "elder": select(models.Elder.__table__).where(models.Elder.id == g.li),
        "volunteers": select(models.ElderVolunteer.__table__).where(models.ElderVolunteer.elder_id == g.li),
        "visits": select(models.VisitRecord.__table__).where(models.VisitRecord.elder_id == g.li),
        "alerts": select(models.VisitAlert.__table__).where(models.VisitAlert.elder_id == g.li),
        "consents": select(models.Consent.__table__).where(models.Consent.elder_id == g.li),
        "membership": select(models.Membership.__table__).where(models.Membership.person_id == v3),
        "logs": select(models.ServiceLog.__table__).where(models.ServiceLog.person_id == v3),
        "accounts": select(models.Account.__table__).where(account.person_id == v3),
        "transfers": select(models.Transfer.__table__).where(
            transfer.debit_account_id.in_(v3_accounts) | transfer.credit_account_id.in_(v3_accounts)
        ),
        "told": select(models.Notification.__table__).where(models.Notification.person_id == v3),
        "coordinators": select(models.GridCoordinator.__table__),
    }
    with services.db.read() as session:
        return {name: sorted((tuple(r) for r in session.execute(q)), key=repr) for name, q in queries.items()}


def r_elder(g: Grids, name: str) -> int:
    return g.r.elders[name]


async def test_the_coordinator_gets_their_grids_morning_list_only(services: Services, clock: FixedClock) -> None:
    g = await grids_world(services)
    r = g.r
    for person in (r.worker, r.worker2, *r.volunteers):
        await inbox(services, person)
    await inbox(services, r.volunteers[0])
    clock.at = MORNING
    await services.run(services.visits.morning)
    told = await inbox(services, r.volunteers[0])
    mine = [t for t in told if t.startswith("志愿者1，早上好！")]
    assert len(mine) == 1, told
    assert "王秀英" in mine[0] and "【一网格】" in mine[0] and "二网格" not in mine[0], mine
    assert not any(s in t for t in told for s in SECRETS), told
    # A volunteer of 二网格 coordinating nothing gets no coordinator's list.
    assert not any(t.startswith("志愿者3，早上好！20") for t in await inbox(services, r.volunteers[2]))
    with services.db.uow() as session:
        assert session.scalar(select(Membership.grid_id).where(Membership.person_id == r.volunteers[2])) == g.two


async def test_two_coordinators_cannot_credit_each_other(services: Services) -> None:
    """Four eyes: hours a coordinator records for a fellow coordinator wait for a worker, and a
    coordinator decides neither a fellow coordinator's hours nor their own."""
    g = await grids_world(services)
    worker = Chat(services, "worker1")
    assert "网格员" in await worker.say("/appoint 志愿者2 网格员 一网格")
    one, two = Chat(services, "volunteer1"), Chat(services, "volunteer2")
    waiting = await one.say("/record 志愿者2 1h 探访")
    assert waiting.endswith("社区工作者审核后发放积分。"), waiting
    log = waiting.split("（")[1].split("）")[0]
    assert await one.say(f"/approve {log}") == "只有本社区的社区工作者可以这样做。"
    assert f"H{g.mine_log}" not in await one.say("/pending")  # volunteer2's own log is a worker's to decide
    assert await two.say(f"/approve H{g.mine_log}") == "不能审核或代录自己的服务记录。"
    assert await worker.say(f"/approve {log}") == f"已通过 {log}：志愿者2 获得 10 积分。"


async def test_a_coordinator_still_sees_the_elders_they_visit_elsewhere_as_a_volunteer(services: Services) -> None:
    await grids_world(services)
    worker = Chat(services, "worker1")
    added = await worker.say("/addelder 赵大爷,1945,幸福里7栋,二网格,否,高,13800000004,女儿 赵红 13900000004")
    zhao = int(added.split("E", 1)[1].split()[0])
    assert "志愿者1" in await worker.say(f"/assign E{zhao} 志愿者1 志愿者3")
    listed = await Chat(services, "volunteer1").say("/visits")
    assert "赵大爷" in listed and "王秀英" in listed, listed
    line = next(x for x in listed.splitlines() if "赵大爷" in x)
    # No phone, no fellow visitors, no address without the elder's consent: a volunteer's view.
    assert not any(s in line for s in ("13800000004", "幸福里7栋", "志愿者3")), line
    assert "幸福里3栋501" in listed  # their own grid's elders in full
    assert "【二网格】" in listed and "李建国" not in listed


async def test_an_elder_registered_by_a_worker_is_a_member_of_their_grid(services: Services) -> None:
    g = await grids_world(services)
    said = await Chat(services, "worker1").say(f"/family link 志愿者3 E{g.li}")
    assert "李建国" in said, said
    with services.db.read() as session:
        person = session.get_one(models.Elder, g.li).person_id
        assert session.scalar(select(Membership.grid_id).where(Membership.person_id == person)) == g.two


async def test_a_doctor_needed_reaches_the_grid_coordinator_at_once(services: Services) -> None:
    """Issue 23: "needs a doctor" on a visit in 一网格 reaches its coordinator as well as the
    workers, at once; nothing of it reaches anyone as coordinator of another grid."""
    g = await grids_world(services)
    r = g.r
    wang = r.elders["王秀英"]  # 一网格, visited by volunteer1 (its coordinator) and volunteer2
    await inbox(services, r.volunteers[0])  # the appointment, read
    visit = await services.run(services.visits.record, r.volunteers[1], wang, kind="visit", outcome="well")
    answered = await services.run(services.checkins.answer, r.volunteers[1], visit.visit_id, "health", "doctor")
    assert answered.alert_id is not None
    assert "志愿者1" in answered.notified  # the coordinator, beside the workers
    told = await inbox(services, r.volunteers[0])
    assert len(told) == 1 and f"A{answered.alert_id}" in told[0] and "需要看医生" in told[0]
    # The volunteer of 二网格 (no coordinator there) hears nothing of it.
    assert not [line for line in await inbox(services, r.volunteers[2]) if "王秀英" in line]


async def test_a_name_another_grid_shares_means_the_coordinators_own_member(services: Services) -> None:
    """Two 志愿者2, one in each grid: the coordinator of 一网格 is not asked which (that would
    show who lives in 二网格), their command means their own grid's; a worker is asked."""
    g = await grids_world(services)
    with services.db.uow() as session:
        session.get(models.Person, g.r.volunteers[2]).real_name = "志愿者2"  # type: ignore[union-attr]
        session.commit()
    said = await Chat(services, "volunteer1").say("/record 志愿者2 1h 探访")
    assert said.endswith("1 小时，10 积分已到账。") and f"#{g.r.volunteers[2]}" not in said
    with services.db.read() as session:
        logged = session.scalars(select(models.ServiceLog.person_id).order_by(models.ServiceLog.id.desc())).first()
    assert logged == g.r.volunteers[1]
    zhang = g.r.elders["张桂兰"]
    assert (
        await Chat(services, "volunteer1").say(f"/assign E{zhang} 志愿者2")
        == f"✅ E{zhang} 张桂兰 的探访志愿者：志愿者2"
    )
    assert f"#{g.r.volunteers[2]}" in await Chat(services, "worker1").say("/record 志愿者2 1h 探访")


async def test_a_coordinator_who_approves_hears_of_their_grids_new_hours(services: Services, clock: FixedClock) -> None:
    """Where coordinators approve, a log from their grid reaches them as it reaches the workers;
    another grid's does not, and with the option off only the workers hear."""
    g = await grids_world(services)
    assert "等待审核" in " ".join(await inbox(services, g.r.volunteers[0]))  # the world's log of 志愿者2
    clock.advance(minutes=2)  # such messages go one a minute
    assert "已提交" in await Chat(services, "volunteer2").say("/log 1h 探访")
    told = await inbox(services, g.r.volunteers[0])
    assert told == ["有 1 条新的服务记录等待审核，发送 /pending 查看。"]
    clock.advance(minutes=2)
    assert "已提交" in await Chat(services, "volunteer3").say("/log 1h 探访")
    assert await inbox(services, g.r.volunteers[0]) == []
    assert await Chat(services, "worker1").say("/grids approve off") == "已关闭：服务时长只由社区工作者审核。"
    assert "已提交" in await Chat(services, "volunteer2").say("/log 2h 探访")
    assert await inbox(services, g.r.volunteers[0]) == []
    assert any("等待审核" in t for t in await inbox(services, g.r.worker))
