"""The desk's People page: workers only, search by name, handle and phone tail, hours this month
and in all, star level, tags and teams as the chat set them; a person's card with their service
history and the chat's audit trail; nobody of another community, whatever id is typed."""

from __future__ import annotations

import pytest

from bot.dialogs.engine import Dialogs
from bot.kernel.clock import FixedClock
from bot.services import Services
from tests.desk.kit import client_for, log_in, submit_logs
from tests.dialogs.chat import Chat
from tests.world import World

pytestmark = pytest.mark.db


async def test_a_worker_finds_people_by_name_handle_and_phone_tail(
    services: Services, dialogs: Dialogs, world: World, clock: FixedClock
) -> None:
    volunteer = world.volunteers[0]
    logs = await submit_logs(services, clock, [volunteer], world.community_id, world.categories["探访"])
    await Chat(dialogs, "worker1").say(f"/approve H{logs[0]}")
    await Chat(dialogs, "worker1").say("/tag 志愿者1 党员")
    async with client_for(services) as client:
        await log_in(client, dialogs, "worker1")
        everyone = await client.get("/desk/people")
        assert everyone.status_code == 200
        for name in ("志愿者1", "志愿者2", "居民甲", "张社工"):
            assert name in everyone.text
        assert "王社工" not in everyone.text  # the other community's worker
        by_name = await client.get("/desk/people", params={"q": "志愿者1"})
        assert "志愿者1" in by_name.text and "志愿者2" not in by_name.text and "党员" in by_name.text
        assert ">1<" in by_name.text.replace(" ", "")  # one hour this month and in all
        by_handle = await client.get("/desk/people", params={"q": "@volunteer2"})
        assert "志愿者2" in by_handle.text and "志愿者1" not in by_handle.text
        by_phone = await client.get("/desk/people", params={"q": "00000001"})  # 志愿者2: 13800000001
        assert "志愿者2" in by_phone.text and "志愿者1" not in by_phone.text
        residents = await client.get("/desk/people", params={"role": "resident"})
        assert "居民甲" in residents.text and "志愿者1" not in residents.text
        nobody = await client.get("/desk/people", params={"q": "没有这个人", "page": "x"})
        assert nobody.status_code == 200 and "没有找到" in nobody.text


async def test_a_persons_card_has_their_history_and_the_audit_trail(
    services: Services, dialogs: Dialogs, world: World, clock: FixedClock
) -> None:
    volunteer = world.volunteers[0]
    logs = await submit_logs(services, clock, [volunteer, volunteer], world.community_id, world.categories["探访"])
    await Chat(dialogs, "worker1").say(f"/approve H{logs[0]}")
    async with client_for(services) as client:
        await log_in(client, dialogs, "worker1")
        card = await client.get(f"/desk/people/{volunteer}")
        assert card.status_code == 200
        assert f"H{logs[0]}" in card.text and f"H{logs[1]}" in card.text
        assert "已通过" in card.text and "待审核" in card.text
        assert "13800000000" in card.text  # a worker sees the phone
        assert "张社工" in card.text  # the audit trail names who approved


async def test_people_pages_refuse_members_and_other_communities(
    services: Services, dialogs: Dialogs, world: World
) -> None:
    async with client_for(services) as member:
        await log_in(member, dialogs, "volunteer1", "/my")
        assert (await member.get("/desk/people")).status_code == 403
        assert (await member.get(f"/desk/people/{world.volunteers[1]}")).status_code == 403
    async with client_for(services) as worker:
        await log_in(worker, dialogs, "worker1")
        other = await worker.get(f"/desk/people/{world.other_worker}")
        assert other.status_code == 404 and "王社工" not in other.text
        assert (await worker.get("/desk/people/999999")).status_code == 404
        assert (await worker.get("/desk/people/abc")).status_code == 404
