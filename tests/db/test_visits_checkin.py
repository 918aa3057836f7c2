"""Recording visits and calls through the dialog engine, the service logs volunteers' visits make,
help alerts and their escalation after 2 hours, and the "not at home twice" flag."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from bot.kernel.clock import FixedClock
from bot.kernel.errors import InvalidInput, NotAllowed
from bot.kernel.i18n import render
from bot.services import Services
from models import Elder, Notification, ServiceCategory, ServiceLog, VisitAlert, VisitRecord
from tests.visits_world import Chat, roster_world

# A visit or call that saw the elder ends with the wellbeing questions (test_checkin_cards.py).
MOOD = "老人精神怎么样？\n1. 好\n2. 一般\n3. 差"
LEFT = "（刚才没做完的操作已取消。）\n\n"  # the questions left unanswered by the next command


async def inbox(services: Services, person_id: int) -> list[str]:
    return [
        render(d.locale, d.text.key, d.text.params)
        for d in await services.run(services.outbox.take, "console", person_id=person_id)
    ]


async def records(services: Services) -> int:
    with services.db.uow() as session:
        return session.scalar(select(func.count()).select_from(VisitRecord))


async def test_a_worker_records_a_visit_step_by_step(services: Services, clock: FixedClock) -> None:
    r = await roster_world(services)
    wang = r.elders["王秀英"]
    chat = Chat(services, "worker1")
    assert await chat.say(f"/visit E{wang}") == f"记录 E{wang} 王秀英：这次是上门探访，还是电话联系？\n1. 探访\n2. 电话"
    assert await chat.say("1") == "老人情况怎么样？\n1. 良好\n2. 需要帮助\n3. 不在家\n4. 住院"
    assert await chat.say("良好") == "写一句备注（身体、心情、需要什么），或者跳过。\n1. 跳过"
    assert await chat.say("精神不错，血压正常") == "可以发一个位置或一张照片（都可不发），或者跳过。\n1. 跳过"
    assert await chat.say("跳过") == f"✅ 已记录 T1：E{wang} 王秀英 · 探访 · 良好。\n\n{MOOD}"
    with services.db.uow() as session:
        visit = session.get(VisitRecord, 1)
        elder = session.get(Elder, wang)
    assert (visit.kind, visit.outcome, visit.note, visit.service_log_id) == (
        "visit",
        "well",
        "精神不错，血压正常",
        None,
    )
    assert elder.last_visit_at == clock.now()
    due = await services.run(services.visits.due_for, r.worker, r.community_id)
    assert wang not in {i.elder_id for i in due.items}


async def test_a_volunteer_visit_with_location_photo_and_duration_makes_a_service_log(services: Services) -> None:
    r = await roster_world(services)
    wang = r.elders["王秀英"]
    chat = Chat(services, "volunteer1")
    await chat.say(f"/visit E{wang}")
    await chat.say(option="visit")
    await chat.say(option="well")
    await chat.say("陪老人聊天，帮忙打扫了厨房")
    assert await chat.say(location=(31.23, 121.47)) == "收到。还要发位置或照片吗？没有就点“完成”。\n1. 完成"
    assert (await chat.say(photo="photo-file-1")).startswith(
        "这次探访用了多长时间？（计入您的志愿服务时长）\n1. 0.5 小时"
    )
    assert (await chat.say("20分钟")).startswith(
        "时长请按 15 分钟为单位填写（如 30m、1h、1.5h）。\n\n这次探访用了多长时间？"
    )
    assert await chat.say("1.5h") == (
        f"✅ 已记录 T1：E{wang} 王秀英 · 探访 · 良好。\n\n服务时长已提交 H1，审核通过后可得 15 积分。\n\n{MOOD}"
    )
    with services.db.uow() as session:
        visit = session.get(VisitRecord, 1)
        log = session.get(ServiceLog, visit.service_log_id)
        category = session.get(ServiceCategory, log.category_id)
    assert (visit.lat, visit.lon, visit.photo) == (31.23, 121.47, "photo-file-1")
    assert (log.person_id, log.status, log.minutes, category.name) == (r.volunteer, "pending", 90, "探访")
    assert log.note == f"E{wang} 王秀英 陪老人聊天，帮忙打扫了厨房" and log.photo == "photo-file-1"
    # The workers see it waiting for approval like any other log.
    assert [p.id for p in await services.run(services.hours.pending, r.worker, r.community_id)] == [log.id]


async def test_one_line_visits_and_calls_in_chinese_and_english(services: Services) -> None:
    r = await roster_world(services)
    wang, li = r.elders["王秀英"], r.elders["李建国"]
    worker = Chat(services, "worker1")
    assert (
        await worker.say(f"/visit E{wang} well 精神不错") == f"✅ 已记录 T1：E{wang} 王秀英 · 探访 · 良好。\n\n{MOOD}"
    )
    assert await worker.say(f"/visit e{li} 电话 不在家 没人接") == f"{LEFT}✅ 已记录 T2：E{li} 李建国 · 电话 · 不在家。"
    volunteer = Chat(services, "volunteer3")
    assert await volunteer.say(f"/visit E{li} 住院 1h 在市一医院") == "\n\n".join(
        (f"✅ 已记录 T3：E{li} 李建国 · 探访 · 住院。", "服务时长已提交 H1，审核通过后可得 10 积分。", MOOD)
    )
    # Without a duration the visit is saved first, then the duration is asked for the hours.
    said = await volunteer.say(f"/visit E{li} needs help 血压高")
    assert said.startswith(
        f"{LEFT}✅ 已记录 T4：E{li} 李建国 · 探访 · 需要帮助。\n\n🆘 已把求助 A1 告诉 李社工，社工会尽快处理。"
    )
    assert "这次探访用了多长时间？" in said and said.endswith("6. 跳过")
    assert await volunteer.say("45分钟") == f"服务时长已提交 H2，审核通过后可得 7 积分。\n\n{MOOD}"
    await volunteer.say("/cancel")  # the wellbeing questions, not answered here
    await volunteer.say(f"/visit E{li} well")
    assert await volunteer.say("跳过") == f"好的，这次不记服务时长。\n\n{MOOD}"
    # A duration off the 15-minute steps never loses the record, least of all a call for help.
    assert await volunteer.say(f"/visit E{li} 需要帮助 1.1h 摔倒了") == "\n\n".join(
        (
            f"{LEFT}✅ 已记录 T6：E{li} 李建国 · 探访 · 需要帮助。",
            "🆘 已把求助 A2 告诉 李社工，社工会尽快处理。",
            "探访已记录，但服务时长没有提交：时长请按 15 分钟为单位填写（如 30m、1h、1.5h）。",
            MOOD,
        )
    )
    assert await worker.say(f"/visit E{wang} 很好") == (
        "用法：/visit E5 逐步记录；或一句话：/visit E5 [电话] 良好|需要帮助|不在家|住院 [时长] [备注]\n"
        "例如：/visit E5 良好 精神不错"
    )
    with services.db.uow() as session:
        kinds = (
            session.execute(select(VisitRecord.kind, VisitRecord.outcome, VisitRecord.note).order_by(VisitRecord.id))
        ).all()
    assert [tuple(k) for k in kinds] == [
        ("visit", "well", "精神不错"),
        ("call", "not_home", "没人接"),
        ("visit", "hospital", "在市一医院"),
        ("visit", "needs_help", "血压高"),
        ("visit", "well", None),
        ("visit", "needs_help", "摔倒了"),
    ]


async def test_only_the_assigned_and_the_community_workers_may_record(services: Services) -> None:
    r = await roster_world(services)
    wang, li = r.elders["王秀英"], r.elders["李建国"]
    assert await Chat(services, "volunteer3").say(f"/visit E{wang} well") == f"E{wang} 不是安排给您的探访对象。"
    assert await Chat(services, "volunteer3").say(f"/visit E{wang}") == f"E{wang} 不是安排给您的探访对象。"
    assert (
        await Chat(services, "resident1").say(f"/visit E{wang} well") == "这个功能需要先登记为志愿者：发送 /volunteer。"
    )
    with pytest.raises(NotAllowed):
        await services.run(services.visits.record, r.other_worker, wang, kind="visit", outcome="well")
    assert await records(services) == 0
    # Any worker of the community may, not only the elder's own; an admin may too.
    await services.run(services.visits.record, r.worker2, wang, kind="visit", outcome="well")
    await services.run(services.visits.record, r.admin, li, kind="call", outcome="well")
    assert await records(services) == 2


async def test_a_redelivered_message_records_once(services: Services) -> None:
    r = await roster_world(services)
    wang = r.elders["王秀英"]
    first = await services.run(
        services.visits.record,
        r.volunteer,
        wang,
        kind="visit",
        outcome="needs_help",
        minutes=60,
        request_key="telegram:1001",
    )
    again = await services.run(
        services.visits.record,
        r.volunteer,
        wang,
        kind="visit",
        outcome="needs_help",
        minutes=60,
        request_key="telegram:1001",
    )
    assert (again.visit_id, again.alert_id, again.replayed, again.log.id) == (
        first.visit_id,
        first.alert_id,
        True,
        first.log.id,
    )
    assert await records(services) == 1
    assert len(await inbox(services, r.worker)) == 2  # the alert and "new pending logs", once each


def _fail(*_args: object, **_kwargs: object) -> None:
    raise RuntimeError("injected")


@pytest.mark.parametrize("part", ["bot.hours.service.notify_workers", "bot.visits.service.notify"])
async def test_a_failure_after_the_visit_is_written_leaves_neither_visit_nor_log(
    services: Services,
    monkeypatch: pytest.MonkeyPatch,
    part: str,
) -> None:
    """The visit, its alert, its hours and the notices are one transaction: all or nothing."""
    r = await roster_world(services)
    wang = r.elders["王秀英"]
    monkeypatch.setattr(part, _fail)
    with pytest.raises(RuntimeError):
        await services.run(services.visits.record, r.volunteer, wang, kind="visit", outcome="needs_help", minutes=60)
    with services.db.read() as session:
        counts = [
            session.scalar(select(func.count()).select_from(t))
            for t in (VisitRecord, ServiceLog, VisitAlert, Notification)
        ]
        elder = session.get(Elder, wang)
    assert counts == [0, 0, 0, 0] and elder.last_visit_at is None
    # Without the failure the same call records everything at once.
    monkeypatch.undo()
    done = await services.run(services.visits.record, r.volunteer, wang, kind="visit", outcome="needs_help", minutes=60)
    assert done.log is not None and done.alert_id is not None
    with services.db.read() as session:
        assert session.scalar(select(VisitRecord.service_log_id).where(VisitRecord.id == done.visit_id)) == done.log.id


async def test_refused_hours_leave_the_visit_and_its_alert(services: Services) -> None:
    r = await roster_world(services)
    wang = r.elders["王秀英"]
    with services.db.uow() as session:  # no 探访 category: the hours are refused after the visit is written
        session.query(ServiceCategory).filter_by(name="探访").update({"active": False})
        session.commit()
    done = await services.run(services.visits.record, r.volunteer, wang, kind="visit", outcome="needs_help", minutes=60)
    assert done.log is None and done.log_error.key == "visits.error.no_visit_category" and done.alert_id
    with services.db.read() as session:
        assert session.scalar(select(func.count()).select_from(ServiceLog)) == 0
        assert session.scalar(select(VisitRecord.service_log_id).where(VisitRecord.id == done.visit_id)) is None
    assert await records(services) == 1


async def test_needs_help_alerts_the_worker_and_escalates_after_two_hours(
    services: Services, clock: FixedClock
) -> None:
    r = await roster_world(services)
    wang = r.elders["王秀英"]
    said = await Chat(services, "volunteer1").say(f"/visit E{wang} 需要帮助 说腿疼走不了路 1h")
    assert "🆘 已把求助 A1 告诉 张社工" in said
    assert await inbox(services, r.worker) == [
        (
            f"🆘 求助 A1：志愿者1 报告 E{wang} 王秀英（84岁）需要帮助。\n备注：说腿疼走不了路 1h\n地址：幸福里3栋501\n"
            "电话：13800000001\n紧急联系人：儿子 王强 13900000001\n"
            "处理后请发送 /ack A1；2 小时内没有人确认，会上报管理员。"
        )
    ]
    assert await inbox(services, r.worker2) == []  # not their elder
    clock.advance(hours=1, minutes=59)
    assert await services.run(services.visits.escalate_alerts) == 0
    clock.advance(minutes=1)
    assert await services.run(services.visits.escalate_alerts) == 1
    assert await services.run(services.visits.escalate_alerts) == 0  # once
    assert await inbox(services, r.admin) == [
        (
            f"⏰ 求助 A1 已超过 2 小时没有人确认：幸福社区 E{wang} 王秀英（84岁），11-20 12:00 由 志愿者1 报告。\n"
            "备注：说腿疼走不了路 1h\n负责社工：张社工\n地址：幸福里3栋501\n电话：13800000001\n"
            "紧急联系人：儿子 王强 13900000001\n处理后请发送 /ack A1。"
        )
    ]
    worker = Chat(services, "worker1")
    visits = await worker.say("/visits")
    assert visits.startswith(
        f"🆘 求助 A1：E{wang} 王秀英，志愿者1 报告：说腿疼走不了路 1h（已上报管理员）\n1. ✅ A1 已处理"
    )
    assert await worker.say("1") == f"✅ 求助 A1（E{wang} 王秀英）已确认处理，已告知报告人。"
    assert await inbox(services, r.volunteer) == [f"✅ 求助 A1（E{wang} 王秀英）已由 张社工 确认处理。"]
    assert await inbox(services, r.admin) == [f"✅ 求助 A1（E{wang} 王秀英）已由 张社工 确认处理。"]
    assert await Chat(services, "worker2").say("/ack A1") == "求助 A1 已由 张社工 确认处理过了。"
    assert not (await worker.say("/visits")).startswith("🆘")


async def test_an_alert_acknowledged_in_time_never_reaches_the_admins(services: Services, clock: FixedClock) -> None:
    r = await roster_world(services)
    recorded = await services.run(
        services.visits.record, r.volunteer, r.elders["王秀英"], kind="call", outcome="needs_help"
    )
    assert await Chat(services, "volunteer1").say(f"/ack A{recorded.alert_id}") == "只有本社区的社区工作者可以这样做。"
    with pytest.raises(NotAllowed):
        await services.run(services.visits.ack, r.other_worker, recorded.alert_id)
    clock.advance(minutes=30)
    await services.run(services.visits.ack, r.worker2, recorded.alert_id)  # any worker of the community
    clock.advance(hours=3)
    assert await services.run(services.visits.escalate_alerts) == 0
    assert await inbox(services, r.admin) == []


async def test_two_not_at_home_in_a_row_flag_the_elder_and_tell_the_worker(services: Services) -> None:
    r = await roster_world(services)
    wang = r.elders["王秀英"]
    first = await services.run(services.visits.record, r.volunteer, wang, kind="visit", outcome="not_home", minutes=30)
    assert not first.flagged
    assert await inbox(services, r.worker) == ["有 1 条新的服务记录等待审核，发送 /pending 查看。"]  # the log, no flag
    said = await Chat(services, "volunteer2").say(f"/visit E{wang} 不在家 敲门没人应")
    assert "⚠️ 王秀英 已连续两次不在家，已做标记并告诉社工。" in said
    assert [n for n in await inbox(services, r.worker) if n.startswith("⚠️")] == [
        (
            f"⚠️ E{wang} 王秀英（84岁）已连续两次联系不上（最近一次由 志愿者2 报告不在家），请尽快确认老人安全。\n"
            "地址：幸福里3栋501\n电话：13800000001\n紧急联系人：儿子 王强 13900000001"
        )
    ]
    due = await services.run(services.visits.due_for, r.worker, r.community_id)
    assert [(i.name, i.flagged) for i in due.items if i.elder_id == wang] == [("王秀英", True)]
    await services.run(services.visits.record, r.worker, wang, kind="call", outcome="well")  # reached at last
    assert not (await services.run(services.visits.roster.elder, r.worker, wang)).flagged


async def test_a_visit_is_back_dated_within_the_same_window_as_hour_logs(services: Services) -> None:
    """One rule for both: settings.service_log_max_age_days, in the visit's own words."""
    r = await roster_world(services)
    wang, now = r.elders["王秀英"], services.clock.now()
    for at in (now + timedelta(minutes=1), now - timedelta(days=32)):
        with pytest.raises(InvalidInput) as refused:
            await services.run(services.visits.record, r.worker, wang, kind="visit", outcome="well", at=at)
        assert (refused.value.key, refused.value.params) == ("visits.error.bad_time", {"days": 31})
    services.settings.service_log_max_age_days = 7
    with pytest.raises(InvalidInput) as refused:
        await services.run(
            services.visits.record, r.worker, wang, kind="visit", outcome="well", at=now - timedelta(days=8)
        )
    assert render("zh-CN", refused.value.key, refused.value.params) == "探访时间不能是将来，也不能早于 7 天前。"
    done = await services.run(
        services.visits.record, r.worker, wang, kind="visit", outcome="well", at=now - timedelta(days=7)
    )
    assert done.outcome == "well" and await records(services) == 1
