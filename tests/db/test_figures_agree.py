"""One figure, one definition, the same number wherever it is shown: /balance, the expiry notice,
the monthly report's sheets (volunteers, teams, categories) and the lifetime totals after a move.

Points earned are the points of approved service logs (service requests' hours included), by
service date; /balance's 累计获得 is all of them, in every community the person served."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

from alembic import command
from sqlalchemy import text

from bot.kernel.clock import FixedClock
from bot.kernel.db import make_engine
from bot.kernel.migrate import alembic_config, upgrade
from bot.services import Services
from tests.shop_helpers import Chat, fund
from tests.visits_world import csv_bytes
from tests.world import make_world

SHANGHAI = ZoneInfo("Asia/Shanghai")


def at(day: date, hour: int = 12) -> datetime:
    return datetime.combine(day, time(hour), SHANGHAI).astimezone(UTC)


def figure(text: str, label: str) -> int:
    found = re.search(rf"{label}：(\d+)", text)
    assert found, text
    return int(found.group(1))


async def test_earned_points_agree_across_balance_report_and_teams(services: Services, clock: FixedClock) -> None:
    clock.at = at(date(2026, 11, 20))
    w = await make_world(services)
    chat = Chat(services)
    await chat.say("worker1", "/team new 一队")
    await chat.say("worker1", "/team 一队 add 志愿者1 志愿者2")
    await fund(services, w, w.resident, 100)
    # November: logged hours (approved only in December) and a service request paid at once.
    await chat.say("volunteer1", "/log 2h 探访")
    await chat.say("volunteer2", "/log 1h 助洁")
    posted = await chat.say("resident1", "/request 助洁 3h 11-22 上午 打扫厨房")
    if "yes" in posted.options:
        await chat.say("resident1", "yes")
    await chat.say("volunteer1", "/take Q1")
    clock.at = at(date(2026, 11, 22), 15)
    await chat.say("volunteer1", "/done Q1 3h")
    assert "已支付 30 分" in (await chat.say("resident1", "/accept Q1")).text
    clock.at = at(date(2026, 12, 2))
    for log in (
        *await services.run(services.hours.logs_of, w.volunteer, w.community_id),
        *await services.run(services.hours.logs_of, w.volunteers[1], w.community_id),
    ):
        if log.status == "pending":
            await chat.say("worker1", f"/approve H{log.id}")
    # The roster came in December; a visit made in November was recorded for then.
    await services.run(
        services.visits.roster.import_roster,
        w.worker,
        w.community_id,
        "roster.csv",
        csv_bytes("王秀英,1942,幸福里3栋501,一网格,是,高,13800000001,,worker1,volunteer1"),
    )
    elders, _ = await services.run(services.visits.roster.roster, w.worker, w.community_id, page_size=10)
    await services.run(
        services.visits.record, w.worker, elders[0].id, kind="visit", outcome="well", at=at(date(2026, 11, 25))
    )

    november = await services.run(services.reports.monthly, w.worker, w.community_id, "2026-11", "zh-CN")
    people = {row[1]: row for row in november.sheet("volunteers").rows}
    v1, v2 = people["志愿者1"], people["志愿者2"]
    # Earned in November = 20 (2 h of 探访) + 30 (the request), whenever approved or paid.
    assert (v1[6], v2[6]) == (50, 10), (v1, v2)
    groups = {row[1]: row for row in november.sheet("groups").rows}
    assert groups["一队"][4] == v1[6] + v2[6] == 60
    assert sum(row[3] for row in november.sheet("categories").rows) == sum(r[6] for r in people.values())
    assert "visits" in [s.key for s in november.sheets]
    visits = {row[1]: row for row in november.sheet("visits").rows}
    assert visits["王秀英"][5] == 1

    # /balance's lifetime points: the same 50, request included; and after a move still 50.
    balance = (await chat.say("volunteer1", "/balance")).text
    assert figure(balance, "累计获得") == v1[9] == 50, balance
    await chat.say("volunteer1", "/move 和谐社区")
    await chat.say("worker1", "/approve M1")
    assert (await chat.say("otherworker", "/approve M1")).keys == ["move.accepted"]
    balance = (await chat.say("volunteer1", "/balance")).text
    assert figure(balance, "累计获得") == 50 and "累计服务：5 小时" in balance, balance


async def test_the_expiry_notice_counts_what_balance_shows(services: Services, clock: FixedClock) -> None:
    clock.at = at(date(2026, 11, 20))
    w = await make_world(services)
    chat = Chat(services)
    await chat.say("worker1", "/expiry 12")
    await fund(services, w, w.volunteer, 120)
    item = await services.run(services.shop.add_item, w.worker, w.community_id, "大米", 40, 5)
    clock.at = at(date(2027, 10, 5))
    await chat.say("volunteer1", f"/redeem I{item.id} 1")  # 40 on hold
    await services.run(services.expiry.run, clock.at)
    notes = [
        n
        for n in await services.run(services.outbox.take, "console", person_id=w.volunteer)
        if n.text.key.startswith("expiry.notify.soon")
    ]
    assert len(notes) == 1
    balance = (await chat.say("volunteer1", "/balance")).text
    assert figure(balance, "可用积分") == 80 and "⏳ 80 分将于 2027-11-01 到期" in balance, balance
    from bot.kernel.i18n import render

    told = render("zh-CN", notes[0].text.key, notes[0].text.params)
    assert "80 积分将于 2027-11-01 到期" in told and "40" in told, told


async def test_migration_0015_counts_requests_pay_in_lifetime_points(services: Services, database_url: str) -> None:
    w = await make_world(services)
    chat = Chat(services)
    await fund(services, w, w.resident, 100)
    posted = await chat.say("resident1", "/request 助洁 3h 11-20 上午 打扫厨房")
    if "yes" in posted.options:
        await chat.say("resident1", "yes")
    await chat.say("volunteer1", "/take Q1")
    await chat.say("volunteer1", "/done Q1 3h")
    await chat.say("resident1", "/accept Q1")
    log = await services.run(
        services.hours.submit,
        w.volunteer,
        w.community_id,
        category_id=w.categories["探访"],
        service_date=date(2026, 11, 20),
        minutes=60,
    )
    await services.run(services.hours.approve, w.worker, log.id)
    assert (await services.run(services.points.balance, w.volunteer, w.community_id)).earned_points == 40

    def stored() -> int:
        with services.db.read() as session:
            return session.scalar(
                text("SELECT earned_points FROM accounts WHERE kind = 'person' AND person_id = :p"), {"p": w.volunteer}
            )

    engine = make_engine(database_url)
    try:
        with engine.connect() as connection, connection.begin():
            config = alembic_config(database_url)
            config.attributes["connection"] = connection
            command.downgrade(config, "0014")  # as it was stored before: the earn's 10 only
    finally:
        engine.dispose()
    assert stored() == 10
    await upgrade(database_url)
    assert stored() == 40
