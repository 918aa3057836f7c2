"""The authorisation matrix for family accounts, moves and expiry: every action × the linked
member, another family, a resident, a worker of the community, a worker of another community
and an admin. Allowed or refused as the rules say; a refusal changes nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from bot.services import Services
from models import ActingFor, AuditEntry, Community, CommunityMove, FamilyLink, Transfer
from tests.world import World

# volunteer1 is linked to 王奶奶 (a resident of 幸福社区 without a chat of her own); volunteer2 has a
# family of their own
# (linked to resident1); 和谐社区's worker is otherworker; volunteer3 has asked to move (M1).
WHO = ("volunteer1", "volunteer2", "resident1", "worker1", "otherworker", "admin")
MATRIX = {
    "/as 王奶奶": {"volunteer1", "worker1"},
    "/family remove L1": {"volunteer1", "worker1"},
    "/approve M1": {"worker1", "admin"},
    "/reject M1 不符合": {"worker1", "admin"},
    # Each worker sets their own community's expiry and registers relatives into it.
    "/expiry 24": {"worker1", "otherworker", "admin"},
    "/family link volunteer2 李爷爷": {"worker1", "otherworker", "admin"},
}


async def _snapshot(services: Services) -> tuple:
    with services.db.uow() as session:
        s = session
        return (
            tuple(s.scalars(select(FamilyLink.status).order_by(FamilyLink.id))),
            s.scalar(select(func.count()).select_from(ActingFor)),
            tuple(s.scalars(select(CommunityMove.status).order_by(CommunityMove.id))),
            tuple(s.scalars(select(Community.points_expire_months).order_by(Community.id))),
            s.scalar(select(func.count()).select_from(Transfer)),
            s.scalar(select(func.count()).select_from(AuditEntry)),
        )


@pytest.mark.parametrize("who", WHO)
@pytest.mark.parametrize("action", list(MATRIX))
async def test_family_move_and_expiry_actions(services: Services, world: World, chat, who: str, action: str) -> None:
    # 王奶奶 has no chat of her own (a worker registered her); 李爷爷 is on both elder rosters.
    await services.run(
        services.family.link, world.worker, world.community_id, world.volunteer, None, new_name="王奶奶"
    )  # L1
    code = await services.run(services.family.offer, world.volunteers[1])  # a family of their own, with resident1
    await services.run(services.family.accept, world.resident, code)
    for worker, community in ((world.worker, world.community_id), (world.other_worker, world.other_community_id)):
        await services.run(
            services.visits.roster.add_elder,
            worker,
            community,
            {"name": "李爷爷", "birth_year": "1940", "address": "1栋101", "lives_alone": "否"},
        )
    await services.run(services.moves.request, world.volunteers[2], world.community_id, "和谐社区")  # M1
    if who == "admin":
        await chat("admin").say("/community 幸福社区")
    before = await _snapshot(services)
    talker = chat(who)
    await talker.say(action)
    keys = talker.keys()
    after = await _snapshot(services)
    if who in MATRIX[action]:
        assert not any(k.startswith("error.") for k in keys), (who, action, keys)
        assert after != before
    else:
        assert len(keys) == 1 and keys[0].startswith("error."), (who, action, keys)
        assert after == before
