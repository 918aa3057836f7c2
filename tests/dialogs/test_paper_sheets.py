"""Event sign-in sheets through the console chat: `/event sheet` prints the expected names with a
signed code (read back from the PDF), the worker scans it afterwards (`/event CODE`), ticks who
came, and the hours are recorded through the hours service once; a second scan, a pressed-again
button, a forged code and another community's worker are all refused, recording nothing."""

from __future__ import annotations

import io
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pypdf import PdfReader
from segno import make_qr
from sqlalchemy import func, select

from bot.dialogs.core import Document
from bot.services import Services
from models import EventSheet, Person, ServiceLog, Transfer
from tests.dialogs.chat import Chat, flow_of
from tests.world import World

pytestmark = pytest.mark.db

CODE = re.compile(r"ES\d+-[a-z2-7]{16}")


def sheet_text(doc: Document) -> str:
    reader = PdfReader(io.BytesIO(doc.content))
    return "".join(re.sub(r"[\s\x00]+", "", page.extract_text()) for page in reader.pages)


def printed(chat: Chat) -> tuple[str, str]:
    """The sheet's code (from the reply) and its PDF's text."""
    assert chat.last is not None
    docs = [r.document for r in chat.last.replies if r.document is not None]
    assert len(docs) == 1, chat.keys()
    assert docs[0].filename.endswith(".pdf")
    said = "\n".join(chat.dialogs.render("zh-CN", chat.last.replies))
    found = CODE.search(said)
    assert found is not None, said
    return found.group(0), sheet_text(docs[0])


async def logs(services: Services) -> list[tuple[int, str, str | None, bool, int]]:
    with services.db.read() as session:
        rows = session.execute(
            select(
                ServiceLog.person_id,
                ServiceLog.status,
                ServiceLog.event_name,
                ServiceLog.recorded_by_worker,
                ServiceLog.minutes,
            ).order_by(ServiceLog.id)
        ).all()
    return [tuple(r) for r in rows]


async def transfers(services: Services) -> int:
    with services.db.read() as session:
        return int(session.scalar(select(func.count()).select_from(Transfer)) or 0)


async def test_a_sheet_is_printed_scanned_ticked_and_recorded_once(services: Services, world: World, chat) -> None:
    worker = chat("worker1")
    await worker.say("/event sheet 重阳敬老")
    code, text = printed(worker)
    assert "活动签到表" in text and "活动：重阳敬老" in text and "社区：幸福社区" in text
    for n, name in enumerate(("志愿者1", "志愿者2", "志愿者3"), start=1):
        assert f"{n}{name}" in text  # the row's number, then the name
    assert code in text  # printed under the QR code, to type where scanning is not possible
    assert "居民甲" not in text and "张社工" not in text  # the community's volunteers only

    listed = await worker.say(f"/event {code}")
    assert "签到表“重阳敬老”" in listed and "1. ☐ 志愿者1" in listed
    assert worker.options() == ["t1", "t2", "t3", "all", "done"]
    await worker.press("done")
    assert "还没有勾选任何人" in "\n".join(worker.dialogs.render("zh-CN", worker.last.replies))  # type: ignore[union-attr]
    await worker.press("t1")
    await worker.press("t3")
    shown = await worker.press("t3")  # pressed twice: unticked again
    assert "1. ☑ 志愿者1" in shown and "3. ☐ 志愿者3" in shown
    shown = await worker.say("1 3")  # or the rows typed from the paper
    assert "1. ☑ 志愿者1" in shown and "2. ☐ 志愿者2" in shown and "3. ☑ 志愿者3" in shown
    await worker.press("done")
    await worker.press(f"c{world.categories['助餐']}")
    await worker.press("today")
    summary = await worker.press("120")
    assert "为 2 人记录" in summary and "志愿者1、志愿者3" in summary and "助餐 2 小时" in summary
    before = await transfers(services)
    done = await worker.press("yes")
    assert "2 人的时长已记入，共发放 40 积分" in done
    v1, v3 = world.volunteers[0], world.volunteers[2]
    assert await logs(services) == [
        (v1, "approved", "重阳敬老", True, 120),
        (v3, "approved", "重阳敬老", True, 120),
    ]
    assert await transfers(services) == before + 2
    with services.db.read() as session:
        sheet = session.scalars(select(EventSheet)).one()
    assert sheet.status == "recorded" and sheet.recorded_by_id == world.worker

    # Scanned again, by the same worker or another: refused, nothing recorded twice.
    assert "已经记录过了" in await worker.say(f"/event {code}")
    assert "已经记录过了" in await chat("worker2").say(f"/event scan {code}")
    assert "已经记录过了" in await worker.press("yes")  # the old confirm button: its receipt
    assert len(await logs(services)) == 2 and await transfers(services) == before + 2


async def test_forged_and_foreign_codes_are_refused(services: Services, world: World, chat) -> None:
    worker = chat("worker1")
    await worker.say("/event sheet 义诊")
    code, _ = printed(worker)
    number, signature = code.split("-")
    forged = [
        f"{number}-{'a' * 16}",  # the right sheet, a made-up signature
        f"ES{int(number[2:]) + 1}-{signature}",  # the signature moved to another number
        f"ES999-{signature}",
        code.upper(),
    ]
    for bad in forged:
        answer = await worker.say(f"/event scan {bad}")
        assert "签到表编码无效" in answer, (bad, answer)
    # Another community's worker holding the real code: the same refusal.
    assert "签到表编码无效" in await chat("otherworker").say(f"/event {code}")
    # A volunteer cannot scan at all (a worker's command).
    volunteer = chat("volunteer1")
    await volunteer.say(f"/event {code}")
    assert volunteer.keys() == ["error.need_worker"]
    assert await logs(services) == []
    with services.db.read() as session:
        assert session.scalars(select(EventSheet.status)).one() == "printed"


async def test_a_team_sheet_keeps_four_eyes_for_a_worker_on_it(services: Services, world: World, chat) -> None:
    worker = chat("worker1")
    await worker.say("/team new 先锋队")
    await worker.say("/team 先锋队 add 志愿者2 李社工 居民甲")
    await worker.say("/event sheet 巡逻 先锋队")
    code, text = printed(worker)
    assert "服务队：先锋队" in text and "志愿者2" in text and "李社工" in text
    assert "居民甲" not in text and "志愿者1" not in text  # a resident cannot have hours
    await worker.say(f"/event {code}")
    await worker.say("全部")
    await worker.say("完成")
    await worker.press(f"c{world.categories['助餐']}")
    await worker.press("today")
    await worker.say("1小时")
    answer = await worker.press("yes")
    assert "1 人的时长已记入" in answer and "李社工" in answer  # the worker's hours wait for another
    statuses = {person: status for person, status, *_ in await logs(services)}
    assert statuses == {world.volunteers[1]: "approved", world.worker2: "pending"}


async def test_bad_sheet_requests_change_nothing(services: Services, world: World, chat) -> None:
    worker = chat("worker1")
    assert "用法" in await worker.say("/event sheet")
    assert "没有“无此队”这支服务队" in await worker.say("/event sheet 巡逻 无此队")
    assert "活动名写 1 到 30 个字" in await worker.say(f"/event sheet {'长' * 31}")
    with services.db.read() as session:
        assert session.scalar(select(func.count()).select_from(EventSheet)) == 0


async def test_a_scan_arriving_as_start_opens_the_sheet(services: Services, world: World, chat, dialogs) -> None:
    """WeChat sends a scanned parametric QR code's scene as `/start SCENE`, Telegram a deep
    link's payload as `/start PAYLOAD`: the sheet's code that way opens it like `/event CODE`.
    On WeChat the sheet carries the account's own QR code for the code."""
    asked: list[str] = []

    async def wechat_qr(code: str) -> bytes:
        asked.append(code)
        out = io.BytesIO()
        make_qr(f"https://weixin.qq.com/q/{code}").save(out, kind="png", scale=4)
        return out.getvalue()

    dialogs.invites.picture = wechat_qr
    worker = chat("worker1")
    await worker.say("/event sheet 清洁家园")
    code, text = printed(worker)
    assert asked == [code] and "清洁家园" in text
    listed = await worker.say(f"/start {code}")
    assert "签到表“清洁家园”" in listed and worker.options()[-2:] == ["all", "done"]
    # A volunteer scanning it is refused, and joins nothing.
    volunteer = chat("volunteer2")
    await volunteer.say(f"/start {code}")
    assert volunteer.keys() == ["error.need_worker"]


SHEET_STATES = {
    "attend": [],
    "category": ["all", "done"],
    "date": ["all", "done", "1"],
    "duration": ["all", "done", "1", "today"],
    "confirm": ["all", "done", "1", "today", "1h"],
}
fuzz = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["1", "0", "99", "1-99", "3-1", "t1", "t9", "c1", "all", "done", "yes", "today", "/cancel", "2h"]),
)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(state=st.sampled_from(sorted(SHEET_STATES)), text=fuzz, locale=st.sampled_from(["zh-CN", "en"]))
async def test_random_input_at_every_step_of_a_sheet(
    services: Services, world: World, chat, state: str, text: str, locale: str
) -> None:
    """Never an unhandled error, always a reply in the worker's language, and a refusal writes
    nothing."""
    with services.db.uow() as session:
        session.get(Person, world.worker).locale = locale  # type: ignore[union-attr]
        session.commit()
    worker = chat("worker1")
    await worker.say("/cancel")
    await worker.say("/event sheet 植树")
    code, _ = printed(worker)
    await worker.say(f"/event {code}")
    for answer in SHEET_STATES[state]:
        await worker.say(answer)
    assert await flow_of(services, "worker1") == ("sheet", state)
    before = (await logs(services), await transfers(services))
    await worker.say(text)
    keys = worker.keys()
    assert worker.last is not None and keys and worker.last.locale == locale
    if any(k.startswith(("error.", "paper.sheet_")) for k in keys):
        assert (await logs(services), await transfers(services)) == before
