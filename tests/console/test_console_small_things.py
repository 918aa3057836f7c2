"""Small things people hit in the console chat of the demo community (issue: smaller things): each
answer says what is true for the person who asked."""

from __future__ import annotations

import io
import re
from datetime import timedelta

from bot import demo, jobs
from bot.kernel.clock import FixedClock
from bot.services import Services
from handlers.console import chat


async def say(services: Services, handle: str, *lines: str) -> str:
    out = io.StringIO()
    await chat(services, handle, io.StringIO("".join(f"{line}\n" for line in lines)), out)
    return out.getvalue()


async def test_a_tagged_member_off_the_list_hears_why_and_their_hours(services: Services) -> None:
    await demo.seed(services)
    # 刘洋 (volunteer2) carries 党员 but has not agreed to its list: not on it, yet has hours.
    mine = re.search(r"您排第 \d+ 名，服务 (\d+) 小时", await say(services, "volunteer2", "/top all"))
    assert mine is not None and int(mine.group(1)) > 0
    party = await say(services, "volunteer2", "/top 党员 all")
    assert "刘洋" not in party and "还没有审核通过的服务时长" not in party
    assert f"您有 {mine.group(1)} 小时" in party and "还没有同意上“党员”榜" in party and "/privacy 党员 显示" in party
    # Agreeing puts them on it, with their rank.
    await say(services, "volunteer2", "/privacy 党员 显示")
    assert "刘洋" in await say(services, "volunteer2", "/top 党员 all")


async def test_a_visit_record_has_its_own_prefix_not_a_volunteers(services: Services) -> None:
    await demo.seed(services)
    saved = await say(services, "volunteer1", "/visit E1 良好 精神不错")
    visit = re.search(r"已记录 ([A-Z]+)(\d+)：E1 王秀英", saved)
    assert visit is not None and visit.group(1) == "T", saved  # 探访: V is a volunteer to confirm
    # Nothing to approve about a visit record: the worker gets the usage, not a volunteer's confirmation.
    answer = await say(services, "worker1", f"/approve T{visit.group(2)}")
    assert answer.startswith("用法：/approve") and "确认" not in answer


async def test_a_real_name_with_a_space_is_found(services: Services) -> None:
    await demo.seed(services)
    code = re.search(r"[A-Z2-9]{8}", await say(services, "worker1", "/invite")).group(0)
    assert "登记成功" in await say(services, "anna", f"/start {code}", "Anna Lee", "13912345678")
    assert "已确认 Anna Lee" in await say(services, "worker1", "/confirm Anna Lee")
    recorded = await say(services, "worker1", "/record Anna Lee 2h 助餐 陪老人吃饭")
    assert "Anna Lee" in recorded and "2 小时" in recorded and "用法" not in recorded
    tagged = await say(services, "worker1", "/tag anna lee 党员")  # as people type it: any case
    assert "已给 Anna Lee 加上“党员”标签" in tagged
    gift = await say(services, "volunteer1", "/gift Anna Lee 5 谢谢")
    assert "Anna Lee" in gift and "用法" not in gift
    # A first word that is a whole name still wins: 王芳 is not the start of a longer name.
    assert "王芳" in await say(services, "worker1", "/record 王芳 1h 助餐")


async def test_privacy_alone_asks_before_hiding_a_name(services: Services) -> None:
    await demo.seed(services)
    asked = await say(services, "volunteer1", "/privacy")
    assert "现在显示您的名字“王芳”" in asked and "1. 改为匿名" in asked and "已设置" not in asked
    assert "王芳" in await say(services, "volunteer1", "/top all")  # nothing changed yet
    assert "已设置：明星榜上您将显示为“匿名志愿者”" in await say(services, "volunteer1", "/privacy", "1")
    again = await say(services, "volunteer1", "/privacy")
    assert "现在显示为“匿名志愿者”" in again and "1. 显示我的名字" in again
    assert "王芳" not in await say(services, "volunteer1", "/top all")


async def test_a_redemption_nobody_approved_expires_as_not_approved(services: Services, clock: FixedClock) -> None:
    await demo.seed(services)
    order = re.search(r"R\d+", await say(services, "volunteer3", "/redeem I4 1")).group(0)
    clock.advance(days=8)
    await jobs.load()["expire-holds"].run(services, clock.now(), {})
    [told] = [line for line in (await say(services, "volunteer3", "/balance")).splitlines() if f"{order}（" in line]
    assert "超过 7 天没有审核，已自动取消" in told and "领取" not in told
    assert "超过 7 天没有审核，已自动取消" in await say(services, "worker2", "/balance")


async def test_a_quantity_past_the_stock_hears_the_most_there_is(services: Services) -> None:
    await demo.seed(services)
    item = re.search(r"I\d+", await say(services, "worker1", "/additem 月饼 10 5")).group(0)
    asked = await say(services, "volunteer1", f"/redeem {item}", "30")
    assert "最多只能兑换 5 件" in asked and "1 到 20" not in asked
    assert "1 到 20" not in await say(services, "volunteer1", f"/redeem {item}", "零")
    assert "5" in (typed := await say(services, "volunteer1", f"/redeem {item} 30")) and "1 到 20" not in typed


async def test_grids_are_offered_in_numeral_order(services: Services) -> None:
    await demo.seed(services)
    asked = await say(services, "resident1", "/request", "1", "1", "1", "1", "1", "跳过")
    offered = re.findall(r"^\d+\. (.+网格)$", asked, re.MULTILINE)
    assert offered == ["一网格", "二网格", "三网格"]


def test_numeral_order_of_names() -> None:
    from bot.kernel.numerals import numeral_order

    names = ["十二网格", "三网格", "2号楼", "一网格", "十网格", "二网格", "10号楼", "东区", "一百零五网格"]
    assert sorted(names, key=numeral_order) == [
        "一网格",
        "2号楼",
        "二网格",
        "三网格",
        "10号楼",
        "十网格",
        "十二网格",
        "一百零五网格",
        "东区",
    ]


async def test_the_admins_digest_says_minutes_not_zero_hours(services: Services, clock: FixedClock) -> None:
    await demo.seed(services)
    clock.at += timedelta(hours=9, minutes=5)  # 21:05 in Shanghai: five minutes past the evening deadline
    await jobs.load()["deadlines"].run(services, clock.now(), {})
    digest = await say(services, "admin", "/balance")
    assert "应于 11-20 21:00 前 · 已逾期 5 分钟" in digest and "0 小时" not in digest


async def test_english_counts_one_in_the_singular(services: Services) -> None:
    await demo.seed(services)
    await say(services, "worker1", "/lang en")
    assert "it has 1 member." in await say(services, "worker1", "/team new Tidy", "/team Tidy add 王芳")
    teams = await say(services, "worker1", "/teams")
    assert "Tidy · 1 member · " in teams and "党员先锋队 · 3 members · " in teams


def test_a_plural_choice_in_a_catalogue_text() -> None:
    from bot.kernel.i18n import placeholders, render_template

    text = "{count} {count|member|members}, {n} {n|item is|items are} waiting"
    assert render_template(text, {"count": 1, "n": 2}) == "1 member, 2 items are waiting"
    assert render_template(text, {"count": 0, "n": 1}) == "0 members, 1 item is waiting"
    assert placeholders(text) == {"count", "n"}
