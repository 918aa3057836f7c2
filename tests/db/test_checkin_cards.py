"""Door cards and check-in at the elder's door (a verified visit), and the wellbeing loop after a
visit: the questions, an alert that reaches the workers at once and waits under the deadline
rule, a need posted as a service request with one tap, and the next visitor seeing the note."""

from __future__ import annotations

import asyncio
import io
import re
import time
from datetime import timedelta

import pytest
from pypdf import PdfReader
from sqlalchemy import func, select, text

from bot.deadlines.service import DeadlineRule
from bot.dialogs.core import Caller, Input
from bot.dialogs.engine import Dialogs
from bot.kernel.clock import FixedClock
from bot.kernel.db import Database
from bot.kernel.errors import InvalidInput, NotAllowed, NotFound
from bot.services import Services
from bot.visits import checkin as checkin_service
from bot.visits.cards import make_token, parse_token
from models import AuditEntry, Elder, Notification, ServiceRequest, VisitAlert, VisitCheckin, VisitRecord
from tests.visits_world import roster_world
from tests.world import refused

TABLES = ("visit_checkins", "visit_records", "elders", "notifications")


class Chat:
    """A console chat that keeps the last turn (for its files and buttons)."""

    def __init__(self, dialogs: Dialogs, handle: str) -> None:
        self.dialogs, self.handle, self.n = dialogs, handle, 0
        self.last = None

    async def say(self, text: str = "", **extra: object) -> str:
        self.n += 1
        caller = Caller("console", self.handle, display_name=self.handle, handle=self.handle)
        self.last = await self.dialogs.handle(caller, Input(text=text, request_key=f"{self.handle}-{self.n}", **extra))
        return "\n\n".join(self.dialogs.render(self.last.locale, self.last.replies))

    def options(self) -> list[str]:
        return [o.value for r in self.last.replies for o in r.options]

    def document(self) -> bytes:
        [doc] = [r.document for r in self.last.replies if r.document is not None]
        return doc.content


def pdf_text(content: bytes) -> list[str]:
    """Each page's text without spaces and NULs (fpdf2's CFF subset reads with a NUL per character)."""
    return [re.sub(r"[\s\x00]+", "", page.extract_text()) for page in PdfReader(io.BytesIO(content)).pages]


async def current_token(services: Services, elder_id: int) -> str:
    with services.db.read() as session:
        elder = session.get(Elder, elder_id)
        assert elder.card_key is not None
        return make_token(elder.card_key, elder.id, elder.card_generation)


async def test_a_scanned_card_records_a_verified_visit_and_asks_how_the_elder_is(
    services: Services, clock: FixedClock
) -> None:
    r = await roster_world(services)
    wang = r.elders["王秀英"]
    dialogs = Dialogs(services)
    worker, volunteer = Chat(dialogs, "worker1"), Chat(dialogs, "volunteer1")
    assert await worker.say("/helpline 0571-88886666") == "✅ 求助热线已设为 0571-88886666，之后打印的探访卡都会印上。"
    said = await worker.say(f"/elders E{wang} card")
    assert said.startswith(f"🪪 E{wang} 王秀英 的探访卡（第 1 版）")
    token = await current_token(services, wang)
    assert len(token) <= 64 and re.fullmatch(r"[A-Za-z0-9_-]+", token)
    [page] = pdf_text(worker.document())
    assert "王秀英" in page and "0571-88886666" in page and token in page

    # The volunteer scans it: checked in now, then the visit is completed in the chat.
    said = await volunteer.say(f"/checkin {token}")
    assert said.startswith(f"📍 已在 E{wang} 王秀英 家签到（12:00）。这次探访会记为已核实。")
    assert said.endswith("老人情况怎么样？\n1. 良好\n2. 需要帮助\n3. 不在家\n4. 住院")
    clock.at += timedelta(minutes=20)  # the visit goes on; it is recorded at the scan
    await volunteer.say("1")
    await volunteer.say("陪老人聊天")
    await volunteer.say("跳过")
    assert await volunteer.say("1h") == "\n\n".join(
        (
            f"✅ 已记录 T1：E{wang} 王秀英 · 探访 · 良好 · 已扫码核实。",
            "服务时长已提交 H1，审核通过后可得 10 积分。",
            "老人精神怎么样？\n1. 好\n2. 一般\n3. 差",
        )
    )
    assert await volunteer.say("一般") == "身体怎么样？\n1. 好\n2. 不适\n3. 需要看医生"
    # "Needs a doctor" reaches every worker of the community at once.
    assert await volunteer.say("3") == (
        "⚠️ 已把提醒 A1 告诉 张社工、李社工，社工会按时处理（上不过午、下不过夜）。\n\n"
        "需要什么帮助吗？\n1. 没有\n2. 代购\n3. 维修\n4. 其他"
    )
    with services.db.read() as session:
        told = session.execute(
            select(Notification.person_id, Notification.key, Notification.params).where(
                Notification.key.like("wellbeing.%")
            )
        ).all()
    assert {(p, k) for p, k, _ in told} == {
        (r.worker, "wellbeing.notify.alert_health"),
        (r.worker2, "wellbeing.notify.alert_health"),
    }
    assert told[0].params["address"] == "幸福里3栋501" and told[0].params["alert"] == "A1"
    assert await volunteer.say("维修") == (
        "📝 已把需要（维修）告诉社区工作者，他们会发布服务需求。\n\n"
        "给下一位探访的人留一句话（例如：爱听戏，左耳听不清），或者跳过。\n1. 跳过"
    )
    assert await volunteer.say("厨房水龙头漏水，爱听越剧") == "🙏 谢谢！这次探访已全部记好。"
    with services.db.read() as session:
        visit = session.get(VisitRecord, 1)
        scan = session.scalar(select(VisitCheckin))
        alert = session.scalar(select(VisitAlert))
    assert (visit.verified, visit.mood, visit.health, visit.need, visit.next_note) == (
        True,
        "so_so",
        "doctor",
        "repairs",
        "厨房水龙头漏水，爱听越剧",
    )
    assert visit.at == scan.at == clock.at - timedelta(minutes=20) and scan.visit_id == visit.id
    assert (alert.reason, alert.acknowledged_at) == ("wellbeing", None)

    # The alert waits under the deadline rule: an afternoon's by 21:00, nudged an hour before.
    due = DeadlineRule().due(alert.raised_at)
    clock.at = due - timedelta(minutes=50)
    await services.run(services.deadlines.run)
    with services.db.read() as session:
        nudges = {
            n.person_id: n.params
            for n in session.scalars(select(Notification).where(Notification.key == "deadline.nudge"))
        }
    assert nudges[r.worker]["oldest"] == "A1" and nudges[r.worker2]["oldest"] == "A1"

    # The need: one tap posts the request for the elder, paid by the community; once.
    said = await worker.say("/need")
    assert said == f"探访中提出、还没有发布的需要：\nT1 E{wang} 王秀英 · 维修\n1. 发布：王秀英"
    assert worker.options() == ["/need T1"]
    assert (
        await worker.say("/need T1") == f"✅ 已为 E{wang} 王秀英 发布服务需求 Q1（维修，社区支付），志愿者可以接单了。"
    )
    assert await worker.say("/need T1") == f"这个需要已经发布为 Q1（E{wang}）。"
    with services.db.read() as session:
        request = session.scalar(select(ServiceRequest))
        elder = session.get(Elder, wang)
        visit = session.get(VisitRecord, 1)
    assert (request.requester_id, request.poster_id, request.payer, request.status) == (
        elder.person_id,
        r.worker,
        "community",
        "open",
    )
    assert request.note == "维修：厨房水龙头漏水，爱听越剧" and request.address == "幸福里3栋501"
    assert visit.need_request_id == request.id
    assert "/need T1" not in (await volunteer.say("/need"))  # volunteers may not post for the elder

    # The next visitor sees the last answers and the note, on the card and when starting a visit.
    other = Chat(dialogs, "volunteer2")
    last = "🗒 上次探访（2026-11-20，志愿者1）：精神 一般 · 身体 需要看医生 · 需要 维修\n留言：厨房水龙头漏水，爱听越剧"
    assert last in await other.say(f"/visit E{wang}")
    assert (await worker.say(f"/elders E{wang}")).endswith(last)


async def test_a_reprinted_card_voids_the_old_one_and_a_forged_one_is_refused(services: Services) -> None:
    r = await roster_world(services)
    wang = r.elders["王秀英"]
    [first] = await services.run(services.checkins.print_cards, r.worker, r.community_id, elder_id=wang)
    [second] = await services.run(services.checkins.print_cards, r.worker, r.community_id, elder_id=wang)
    assert (first.generation, second.generation) == (1, 2) and first.token != second.token

    async with refused(services, InvalidInput, "checkin.old_card", TABLES):
        await services.run(services.checkins.check_in, r.volunteer, first.token)
    elder_id, generation, check = parse_token(second.token)
    forged = [
        f"ck-{elder_id}-{generation}-{'A' * 16}",  # a made-up signature
        f"ck-{r.elders['李建国']}-{generation}-{check}",  # another elder's number on this card's signature
        f"ck-{elder_id}-{generation + 1}-{check}",  # the next generation, guessed
        "ck-1-1",
    ]
    for token in forged:
        async with refused(services, InvalidInput, "checkin.bad_card", TABLES):
            await services.run(services.checkins.check_in, r.volunteer, token)
    # Someone not allowed to visit her (volunteer3 is 李建国's) cannot check in at her door.
    async with refused(services, NotAllowed, "visits.error.not_yours", TABLES):
        await services.run(services.checkins.check_in, r.world.volunteers[2], second.token)

    # In the chat: a friendly line, nothing recorded, no flow started.
    chat = Chat(Dialogs(services), "volunteer1")
    assert await chat.say(f"/checkin {first.token}") == (
        f"这是 E{wang} 的旧探访卡，已经重印过，旧卡不能再签到。请社区工作者换上新卡。"
    )
    assert await chat.say(f"/start {forged[0]}") == "这张探访卡无法识别，可能不是本社区的卡。请联系社区工作者重新打印。"
    assert (await chat.say(f"/start {second.token}")).startswith(f"📍 已在 E{wang} 王秀英 家签到")


async def test_cards_for_a_grid_print_one_a6_page_each(services: Services) -> None:
    from bot.visits.cards import cards_pdf

    r = await roster_world(services)
    cards = await services.run(services.checkins.print_cards, None, r.community_id, grid="一网格")
    assert [c.name for c in cards] == ["张桂兰", "王秀英"]
    content = cards_pdf(cards)
    reader = PdfReader(io.BytesIO(content))
    assert len(reader.pages) == 2
    assert [round(float(v) * 25.4 / 72) for v in reader.pages[0].mediabox[2:]] == [105, 148]
    texts = pdf_text(content)
    assert "张桂兰" in texts[0] and "王秀英" in texts[1] and "请向社区索取" in texts[0]
    async with refused(services, NotFound, "cards.no_grid", TABLES):
        await services.run(services.checkins.print_cards, None, r.community_id, grid="九网格")


async def test_a_visit_typed_after_a_scan_still_counts_as_verified(services: Services, clock: FixedClock) -> None:
    """The chat's draft times out at the door (30 minutes idle): the volunteer types the visit
    later, and it is completed from their check-in, at the scan's time."""
    r = await roster_world(services)
    wang = r.elders["王秀英"]
    [card] = await services.run(services.checkins.print_cards, r.worker, r.community_id, elder_id=wang)
    chat = Chat(Dialogs(services), "volunteer1")
    assert (await chat.say(f"/checkin {card.token}")).startswith("📍")
    scanned_at = clock.at
    clock.at += timedelta(hours=2)
    assert (await chat.say(f"/visit E{wang} 良好 1h 聊了家常")).startswith(
        f"✅ 已记录 T1：E{wang} 王秀英 · 探访 · 良好 · 已扫码核实。"
    )
    # The scan is spent: a second visit typed now is a typed one.
    assert "已扫码核实" not in await chat.say(f"/visit E{wang} 良好 1h")
    with services.db.read() as session:
        visits = session.scalars(select(VisitRecord).order_by(VisitRecord.id)).all()
    assert [(v.verified, v.at) for v in visits] == [(True, scanned_at), (False, clock.at)]


async def test_a_needs_help_visit_and_a_doctor_needed_share_one_alert(services: Services) -> None:
    """Poor spirits, then a doctor needed, on a visit whose outcome already called for help: one
    alert, and the workers hear of each worrying answer."""
    r = await roster_world(services)
    li = r.elders["李建国"]  # 李社工's elder, visited by volunteer3
    chat = Chat(Dialogs(services), "volunteer3")
    said = await chat.say(f"/visit E{li} 需要帮助 1h 摔了一跤")
    assert "🆘 已把求助 A1 告诉 李社工" in said and said.endswith("3. 差")  # 李社工 heard of it at once
    assert (await chat.say("差")).startswith("⚠️ 已把提醒 A1 告诉 张社工、李社工")
    assert (await chat.say("需要看医生")).startswith("⚠️ 已把提醒 A1 告诉 张社工、李社工")
    with services.db.read() as session:
        alerts = session.scalars(select(VisitAlert)).all()
        told = session.scalars(
            select(Notification.key).where(Notification.person_id == r.worker2, Notification.key.like("%.alert_%"))
        ).all()
    assert [a.reason for a in alerts] == ["needs_help"]
    assert told == ["wellbeing.notify.alert_mood", "wellbeing.notify.alert_health"]


async def test_one_print_when_two_processes_take_the_same_form_at_once(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`lovebank serve` in two processes, a double click landing on each: both look for the form's
    earlier print at the same moment; still one new card."""
    if services.db.sqlite:
        pytest.skip("SQLite's one writer takes them one after the other")
    r = await roster_world(services)
    other = Services(Database(services.db.url), services.settings, services.clock)  # the second process
    looked = checkin_service._printed
    arrived: list[int] = []

    def waiting_for_a_lock() -> bool:
        with services.db.read() as session:
            return bool(
                session.scalar(
                    text(
                        "SELECT count(*) FROM pg_stat_activity "
                        "WHERE wait_event_type = 'Lock' AND datname = current_database()"
                    )
                )
            )

    def both_look(*args: object) -> bool:
        found = looked(*args)  # type: ignore[arg-type]
        arrived.append(1)
        # Go on once the other one has looked too, or waits for this one's lock (then it looks after).
        deadline = time.monotonic() + 60
        while len(arrived) < 2 and not waiting_for_a_lock():
            assert time.monotonic() < deadline, "the other process neither looked nor waited"
            time.sleep(0.01)
        return found

    monkeypatch.setattr(checkin_service, "_printed", both_look)
    before = await _generation(services, r.elders["李建国"])
    try:
        await asyncio.gather(
            *(
                asyncio.to_thread(
                    s.checkins.print_cards, r.worker, r.community_id, grid="二网格", request_key="desk:f1"
                )
                for s in (services, other)
            )
        )
    finally:
        await other.db.dispose()
    assert await _generation(services, r.elders["李建国"]) == before + 1
    with services.db.read() as session:
        assert session.scalar(select(func.count()).where(AuditEntry.action == "elder.cards")) == 1


async def _generation(services: Services, elder_id: int) -> int:
    with services.db.read() as session:
        return session.scalar(select(Elder.card_generation).where(Elder.id == elder_id)) or 0
