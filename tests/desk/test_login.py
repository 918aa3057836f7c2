"""Getting into the desk: /desk and /my in the chat give a one-time link; the button behind it
starts a session cookie; a used, expired or made-up link gets a friendly page and no session; a
page re-checks the person's role and community on every request; logging out needs the form's
CSRF token."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update

from bot.dialogs.engine import Dialogs
from bot.kernel.clock import FixedClock
from bot.privacy.forget import forget
from bot.services import Services
from models import AuditEntry, DeskLogin, Membership, Person
from tests.desk.kit import client_for, csrf_of, link_of, log_in
from tests.dialogs.chat import Chat
from tests.world import World

pytestmark = pytest.mark.db


async def test_a_link_logs_a_worker_in_once_with_a_safe_cookie(
    services: Services, dialogs: Dialogs, world: World
) -> None:
    async with client_for(services) as client:
        path = await link_of(dialogs, "worker1")
        shown = await client.get(path)  # a link preview fetching it uses nothing up
        assert (
            shown.status_code == 200
            and "进入" in shown.text
            and "lovebank_desk" not in shown.headers.get("set-cookie", "")
        )
        opened = await client.post(path)
        assert opened.status_code == 303 and opened.headers["location"] == "/desk/waiting"
        cookie = opened.headers["set-cookie"].lower()
        for part in ("httponly", "secure", "samesite=lax", "path=/desk/", "max-age=28800"):
            assert part in cookie, cookie
        page = await client.get("/desk/waiting")
        assert page.status_code == 200 and "张社工" in page.text and "幸福社区" in page.text
        assert (
            page.headers["cache-control"] == "no-store"
            and "frame-ancestors 'none'" in page.headers["content-security-policy"]
        )
        async with client_for(services) as other:  # the same link again, from anywhere
            again = await other.post(path)
            assert again.status_code == 404 and "已失效" in again.text and "set-cookie" not in again.headers
    with services.db.read() as session:
        hashes = list(session.scalars(select(DeskLogin.token_hash)))
        logins = list(session.scalars(select(AuditEntry.action).where(AuditEntry.actor_id == world.worker)))
    assert path.rsplit("/", 1)[1] not in str(hashes) and all(len(h) == 64 for h in hashes)  # only hashes kept
    assert logins.count("desk.login") == 1


async def test_an_expired_or_made_up_link_says_so_in_the_persons_language(
    services: Services, dialogs: Dialogs, world: World, clock: FixedClock
) -> None:
    async with client_for(services) as client:
        path = await link_of(dialogs, "worker1")
        clock.advance(minutes=11)
        late = await client.post(path)
        assert late.status_code == 404 and "10 分钟" in late.text
        made_up = await client.post("/desk/login/" + "A" * 32, headers={"Accept-Language": "en-GB,en"})
        assert made_up.status_code == 404 and "no longer works" in made_up.text
        assert (await client.get("/desk/waiting")).status_code == 401


async def test_a_newer_link_replaces_the_unused_one(services: Services, dialogs: Dialogs, world: World) -> None:
    async with client_for(services) as client:
        first = await link_of(dialogs, "worker1")
        second = await link_of(dialogs, "worker1")
        assert (await client.post(first)).status_code == 404
        assert (await client.post(second)).status_code == 303


async def test_roles_are_read_again_on_every_request(services: Services, dialogs: Dialogs, world: World) -> None:
    assert "只有本社区的社区工作者" in await Chat(dialogs, "volunteer1").say("/desk")  # the chat's own refusal
    async with client_for(services) as member:
        opened = await log_in(member, dialogs, "volunteer1", "/my")
        assert opened.headers["location"] == "/desk/my"
        assert (await member.get("/desk/waiting")).status_code == 403
        assert (await member.get("/desk/my")).status_code == 200
        assert (await member.get("/desk/")).headers["location"] == "/desk/my"
    async with client_for(services) as worker:
        await log_in(worker, dialogs, "worker2")
        assert (await worker.get("/desk/waiting")).status_code == 200
        # Dismissed in the chat's database (as /dismiss would): the open session stops working for workers' pages.
        with services.db.uow() as session:
            session.execute(
                Membership.__table__.update()
                .where(Membership.person_id == world.worker2, Membership.community_id == world.community_id)
                .values(role="resident")
            )
            session.commit()
        refused = await worker.get("/desk/waiting")
        assert refused.status_code == 403 and "只有本社区的社区工作者" in refused.text


async def test_a_session_is_for_the_community_it_was_opened_in(
    services: Services, dialogs: Dialogs, world: World
) -> None:
    async with client_for(services) as client:
        await log_in(client, dialogs, "worker1")
        await services.run(services.people.appoint_worker, world.admin, world.other_community_id, world.worker)
        await services.run(services.people.switch_community, world.worker, "和谐社区")
        gone = await client.get("/desk/waiting")
        assert gone.status_code == 401 and "/desk" in gone.text


async def test_logging_out_needs_the_token_and_ends_the_session(
    services: Services, dialogs: Dialogs, world: World
) -> None:
    async with client_for(services) as client:
        await log_in(client, dialogs, "worker1")
        page = await client.get("/desk/waiting")
        forged = await client.post("/desk/logout", data={"csrf": "0" * 64})
        assert forged.status_code == 403 and (await client.get("/desk/waiting")).status_code == 200
        done = await client.post("/desk/logout", data={"csrf": csrf_of(page.text)})
        assert done.status_code == 200 and "已退出" in done.text
        assert (await client.get("/desk/waiting")).status_code == 401


async def test_no_public_address_no_link(database_url: str, world: World, services: Services) -> None:
    bare = Services(services.db, services.settings.model_copy(update={"public_url": None}), services.clock)
    said = await Chat(Dialogs(bare), "worker1").say("/desk")
    assert "LOVEBANK_PUBLIC_URL" in said


async def test_static_files_are_only_ours(services: Services) -> None:
    async with client_for(services) as client:
        css = await client.get("/desk/static/style.css")
        assert css.status_code == 200 and "font-size: 18px" in css.text
        js = await client.get("/desk/static/htmx.min.js")
        assert js.status_code == 200 and "Zero-Clause BSD" in js.text[:300]
        assert (await client.get("/desk/static/..%2F__init__.py")).status_code == 404
        assert (await client.get("/desk/static/htmx.LICENSE")).status_code == 404


async def test_a_used_link_answers_in_the_language_of_its_person(
    services: Services, dialogs: Dialogs, world: World
) -> None:
    with services.db.uow() as session:
        session.execute(update(Person).where(Person.id == world.worker).values(locale="en"))
        session.commit()
    async with client_for(services) as client:
        path = await link_of(dialogs, "worker1")
        button = await client.get(path, headers={"Accept-Language": "zh-CN"})
        assert "Go in" in button.text
        assert (await client.post(path)).status_code == 303
        again = await client.post(path, headers={"Accept-Language": "zh-CN"})  # the browser says Chinese
        assert again.status_code == 404 and "no longer works" in again.text and '<html lang="en">' in again.text


async def test_forgetting_a_person_ends_their_sessions(services: Services, dialogs: Dialogs, world: World) -> None:
    async with client_for(services) as client:
        await log_in(client, dialogs, "volunteer1", "/my")
        assert (await client.get("/desk/my")).status_code == 200
        with services.db.uow() as session:
            forget(session, services.clock, world.volunteer)
            session.commit()
        assert (await client.get("/desk/my")).status_code == 401
    with services.db.read() as session:
        assert session.scalars(select(DeskLogin).where(DeskLogin.person_id == world.volunteer)).first() is None


async def test_bodies_too_big_or_with_files_are_refused(services: Services, dialogs: Dialogs, world: World) -> None:
    async with client_for(services) as client:
        await log_in(client, dialogs, "worker1")
        assert (await client.get("/desk")).headers["location"] == "/desk/"  # the cookie's path is /desk/
        token = csrf_of((await client.get("/desk/waiting")).text)
        huge = await client.post("/desk/waiting", data={"csrf": token, "reason": "x" * 70_000, "action": "reject"})
        assert huge.status_code == 413 and "太大" in huge.text
        upload = await client.post(
            "/desk/waiting", data={"csrf": token, "action": "approve"}, files={"ref": ("a.csv", b"H1", "text/csv")}
        )
        assert upload.status_code == 403  # this page takes no files
