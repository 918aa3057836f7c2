"""Keeping the roster in the chat: add (step by step or as one row), edit, assign, retire, cadence."""

from __future__ import annotations

from bot.services import Services
from tests.visits_world import Chat, roster_world
from tests.world import make_world


async def test_adding_an_elder_step_by_step_checks_each_answer(services: Services) -> None:
    await make_world(services)
    chat = Chat(services, "worker1")
    assert await chat.say("/addelder") == "添加老人：请输入老人的姓名。"
    assert await chat.say("王秀英") == "哪一年出生？（如 1945）"
    assert await chat.say("1830") == (
        "“1830”不是有效的出生年份，请填 1900 到 2026 之间的四位年份\n\n哪一年出生？（如 1945）"
    )
    assert await chat.say("1942") == "住址？"
    await chat.say("幸福里3栋501")
    assert await chat.say("跳过") == "是否独居？\n1. 是\n2. 否"
    assert await chat.say("也许") == "“也许”看不懂，请填 是 或 否（yes/no）\n\n是否独居？\n1. 是\n2. 否"
    await chat.say("1")
    await chat.say(option="high")
    assert await chat.say("12") == "“12”不是有效的电话号码\n\n老人的电话？（可跳过）\n1. 跳过"
    await chat.say("13800000001")
    assert "怎样取得同意" in await chat.say("儿子 王强 13900000001")
    card = await chat.say("当面")
    assert "知情同意：当面同意" in card
    assert card.startswith(
        "✅ 已添加 E1 王秀英。\n\nE1 王秀英（84岁，1942年生）\n网格：—\n地址：幸福里3栋501\n电话：13800000001"
    )
    assert "负责社工：张社工" in card and "频次：每 7 天探访一次" in card
    assert await chat.say("/addelder 王秀英,1942,别处,,否") == "名单里已有同名、同年出生的老人 E1。"


async def test_adding_an_elder_as_one_roster_row(services: Services) -> None:
    await make_world(services)
    chat = Chat(services, "worker2")
    said = await chat.say("/addelder 李建国，1960，幸福里5栋201，二网格，是，普通，13800000002")
    assert said.startswith("✅ 已添加 E1 李建国。")
    assert "频次：每 14 天探访一次，每 7 天打一次电话" in said and "负责社工：李社工" in said
    assert (await chat.say("/addelder 只有名字")).startswith("用法：/addelder")
    assert (
        await Chat(services, "volunteer1").say("/addelder 张三,1940,某处,,是") == "只有本社区的社区工作者可以这样做。"
    )


async def test_editing_assigning_and_retiring(services: Services) -> None:
    r = await roster_world(services)
    zhang = r.elders["张桂兰"]
    chat = Chat(services, "worker1")
    said = await chat.say(f"/editelder E{zhang} 风险 高")
    assert said.startswith(f"✅ 已更新 E{zhang} 张桂兰。") and "风险：高" in said and "频次：每 7 天探访一次" in said
    assert "电话：13800000009" in await chat.say(f"/editelder E{zhang} phone 13800000009")
    assert "网格：三网格" in await chat.say(f"/editelder E{zhang} grid 三网格")
    assert "负责社工：李社工" in await chat.say(f"/editelder E{zhang} worker worker2")
    assert await chat.say(f"/editelder E{zhang} worker volunteer1") == "“volunteer1”不是本社区的社区工作者"
    assert (await chat.say(f"/editelder E{zhang} 爱好 下棋")).startswith("没有“爱好”这一项")
    # Name and birth year identify an elder: an edit may not make two the same.
    assert (await chat.say(f"/editelder E{zhang} 姓名 王秀英")).startswith(f"✅ 已更新 E{zhang} 王秀英。")
    assert (
        await chat.say(f"/editelder E{zhang} 出生年份 1942")
        == f"名单里已有同名、同年出生的老人 E{r.elders['王秀英']}。"
    )
    await chat.say(f"/editelder E{zhang} 姓名 张桂兰")

    assert "家属同意" in await chat.say(f"/consent E{zhang} 家属")  # the notice names the address only then
    assert (
        await chat.say(f"/assign E{zhang} volunteer2 volunteer3")
        == f"✅ E{zhang} 张桂兰 的探访志愿者：志愿者2、志愿者3"
    )
    notes = await services.run(services.outbox.take, "console", person_id=r.volunteers[1])
    assert [(n.text.key, n.text.params["address"]) for n in notes] == [("visits.notify.assigned", "幸福里1栋101")]
    assert "phone" not in notes[0].text.params
    assert await chat.say(f"/unassign E{zhang} volunteer2") == f"✅ E{zhang} 张桂兰 的探访志愿者：志愿者3"
    assert await chat.say(f"/assign E{zhang} nobody") == "找不到“nobody”这个人"

    assert await chat.say(f"/retire E{zhang} 搬去女儿家住") == (
        f"已将 E{zhang} 张桂兰 移出探访名单。需要恢复时发送 /editelder E{zhang} 在册 是。"
    )
    assert "张桂兰" not in await chat.say("/elders")
    assert await chat.say(f"/visit E{zhang} well") == f"E{zhang} 已移出探访名单。"
    assert "（已移出名单）" in await chat.say(f"/elders E{zhang}")
    await chat.say(f"/editelder E{zhang} 在册 是")
    assert "张桂兰" in await chat.say("/elders")


async def test_a_community_sets_its_own_cadence(services: Services) -> None:
    await make_world(services)
    chat = Chat(services, "worker1")
    assert await chat.say("/cadence 独居 10 5") == (
        "探访频次：\n· 重点关注（独居且 70 岁及以上，或高风险）：每 7 天探访一次\n"
        "· 独居（70 岁以下）：每 10 天探访一次，每 5 天打一次电话\n· 一般：每 30 天探访一次\n"
        "修改：/cadence 独居 14 7（14 天探访、7 天电话），/cadence 年龄 75"
    )
    assert "独居且 75 岁及以上" in await chat.say("/cadence 年龄 75")
    assert "· 一般：每 30 天探访一次，每 14 天打一次电话" in await chat.say("/cadence other 30 14")
    assert await chat.say("/cadence alone 0") == "天数请填 1 到 366 之间的整数。"
    assert (await chat.say("/cadence 每周")).startswith("用法：/cadence")
    assert await Chat(services, "volunteer1").say("/cadence alone 3") == "只有本社区的社区工作者可以这样做。"
    assert "每 10 天探访一次，每 5 天打一次电话" in await Chat(services, "worker2").say("/cadence")
