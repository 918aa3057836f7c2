"""Demo elders for `lovebank demo`: a roster imported the way an office would, and three weeks of
visits and calls, so the morning list has something due, something overdue, a flagged elder and
an open help alert."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from bot.services import Services

if TYPE_CHECKING:
    from bot.demo.world import DemoWorld

HEADER = "name,birth_year,address,grid,lives_alone,risk,phone,emergency_contact,worker,volunteers"
ROSTER = (
    "王秀英,1942,阳光里3栋501,一网格,是,高,13800000001,儿子 王强 13900000001,worker1,volunteer1;volunteer2",
    "李桂兰,1938,阳光里3栋302,一网格,是,普通,13800000002,女儿 李娟 13900000002,worker1,volunteer1",
    "张德华,1945,阳光里5栋101,一网格,否,高,13800000003,老伴 刘芳 13900000003,worker1,volunteer3",
    "刘淑珍,1958,阳光里6栋402,二网格,是,普通,13800000004,侄子 刘伟 13900000004,worker1,volunteer2",
    "陈建国,1950,阳光里8栋201,二网格,否,普通,13800000005,儿子 陈亮 13900000005,worker2,volunteer3",
    "赵玉梅,1940,阳光里8栋602,二网格,是,高,13800000006,女儿 赵敏 13900000006,worker2,volunteer4",
    "孙长海,1961,阳光里9栋101,三网格,是,普通,13800000007,外甥 孙强 13900000007,worker2,",
    "周凤英,1936,阳光里10栋301,三网格,是,普通,13800000008,儿子 周杰 13900000008,worker2,volunteer5",
    "吴志明,1947,阳光里11栋502,三网格,否,普通,13800000009,女儿 吴静 13900000009,worker1,",
    "郑秀兰,1944,阳光里12栋201,一网格,是,普通,13800000010,孙女 郑琳 13900000010,,volunteer4",
    "黄宝山,1956,阳光里2栋101,二网格,否,普通,13800000011,儿子 黄涛 13900000011,worker2,",
    "林月娥,1939,阳光里1栋602,三网格,是,高,13800000012,女儿 林芳 13900000012,worker1,volunteer5",
)
# (roster line, days ago, who, kind, outcome, note, minutes for a volunteer's visit), oldest first.
HISTORY = (
    (5, 25, "volunteer3", "visit", "well", "聊了家常，精神不错", 60),
    (6, 20, "volunteer4", "visit", "well", "帮忙买了米和油", 90),
    (8, 16, "volunteer5", "visit", "well", "量了血压，正常", 60),
    (12, 15, "volunteer5", "visit", "well", None, 60),
    (2, 14, "volunteer1", "visit", "well", "陪老人晒太阳", 60),
    (4, 12, "volunteer2", "visit", "well", "家里灯泡坏了，已换好", 45),
    (7, 10, "worker2", "visit", "well", None, None),
    (1, 8, "volunteer2", "visit", "well", "腿脚还行，按时吃药", 60),
    (12, 8, "volunteer5", "visit", "well", "说晚上睡不好", 45),
    (10, 7, "volunteer4", "visit", "well", None, 60),
    (2, 7, "volunteer1", "visit", "well", None, 60),
    (8, 5, "volunteer5", "visit", "not_home", "敲门没人应", 30),
    (2, 4, "volunteer1", "visit", "well", "包了饺子一起吃", 90),
    (7, 3, "worker2", "call", "well", "电话里说一切都好", None),
    (3, 3, "worker1", "visit", "hospital", "因肺炎住院，家属陪护", None),
    (11, 28, "worker2", "visit", "well", None, None),
    (8, 2, "volunteer5", "visit", "not_home", "邻居说前几天见过", 30),
)
ALERT = (12, "volunteer5", "visit", "needs_help", "摔了一跤，手腕肿了，已联系女儿", 60)


async def seed_demo(services: Services, world: DemoWorld) -> None:
    roster = "\n".join((HEADER, *ROSTER)).encode()
    report = await services.run(
        services.visits.roster.import_roster, world.workers[0], world.community_id, "demo.csv", roster
    )
    assert report.ok, report.problems
    people = {f"worker{i + 1}": pid for i, pid in enumerate(world.workers)}
    people.update({f"volunteer{i + 1}": pid for i, pid in enumerate(world.volunteers)})
    elders, _ = await services.run(
        services.visits.roster.roster, world.workers[0], world.community_id, page_size=len(ROSTER)
    )
    ids = [e.id for e in elders]  # in roster order: they were created in it
    now = services.clock.now()
    for n, (line, days_ago, who, kind, outcome, note, minutes) in enumerate(sorted(HISTORY, key=lambda h: -h[1])):
        await services.run(
            services.visits.record,
            people[who],
            ids[line - 1],
            kind=kind,
            outcome=outcome,
            note=note,
            minutes=minutes,
            at=now - timedelta(days=days_ago, hours=n % 5),
            request_key=f"demo-visit:{n}",
        )
    line, who, kind, outcome, note, minutes = ALERT
    await services.run(
        services.visits.record,
        people[who],
        ids[line - 1],
        kind=kind,
        outcome=outcome,
        note=note,
        minutes=minutes,
        at=now - timedelta(hours=1),
        request_key="demo-visit:alert",
    )
