"""Every page registered with `@page`, whoever adds it: without a session it asks to log in
(401), below its role it refuses (403), from its role up it answers (GET 200), and a POST
without the session's CSRF token changes nothing (403) — for each role of the community."""

from __future__ import annotations

import pytest

from bot.desk.service import COORDINATOR
from bot.dialogs.engine import Dialogs
from bot.kernel.access import RANK
from bot.services import Services
from handlers.desk.core import PAGES
from tests.desk.kit import client_for, log_in
from tests.world import World

pytestmark = pytest.mark.db

WHO = {"resident": "resident1", "volunteer": "volunteer1", "worker": "worker1"}
# Pages with an id in their path (/desk/people/{person_id}) are walked by their own module's tests.
PLAIN = [p for p in PAGES if "{" not in p.path]


async def test_every_page_checks_the_session_the_role_and_the_token(
    services: Services, dialogs: Dialogs, world: World
) -> None:
    assert {p.path for p in PAGES} >= {"/desk/my", "/desk/waiting"}
    async with client_for(services) as anonymous:
        for p in PLAIN:
            for method in p.methods:
                answer = await anonymous.request(method, p.path)
                assert answer.status_code == 401, (method, p.path)
    for role, handle in WHO.items():
        async with client_for(services) as client:
            await log_in(client, dialogs, handle, "/my")
            for p in PLAIN:
                # A page for coordinators is a worker's page to anyone coordinating no grid.
                allowed = RANK[role] >= RANK["worker" if p.role == COORDINATOR else p.role]
                if "GET" in p.methods:
                    answer = await client.get(p.path)
                    assert answer.status_code == (200 if allowed else 403), (role, p.path)
                if "POST" in p.methods:
                    answer = await client.post(p.path, data={"csrf": "0" * 64})
                    assert answer.status_code == 403, (role, p.path)
