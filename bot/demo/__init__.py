"""`lovebank demo`: one community with people, categories and a month of history, seeded into
the embedded database through the services. Seeding twice changes nothing."""

from __future__ import annotations

import random

from sqlalchemy import select, update

from bot.demo.records import seed_demo as seed_records
from bot.demo.requests import seed_demo as seed_requests
from bot.demo.shop import seed_demo as seed_shop
from bot.demo.stars import seed_demo as seed_stars
from bot.demo.teams import seed_demo as seed_teams
from bot.demo.visits import seed_demo as seed_visits
from bot.demo.world import DemoWorld
from bot.kernel.clock import days_after
from bot.kernel.db import Database
from bot.services import Services
from models import Community, Notification, Person

COMMUNITY = "阳光社区"
ADMIN = ("admin", "陈主任")
WORKERS = (("worker1", "张丽"), ("worker2", "李明"))
VOLUNTEERS = (
    ("volunteer1", "王芳"),
    ("volunteer2", "刘洋"),
    ("volunteer3", "陈静"),
    ("volunteer4", "杨帆"),
    ("volunteer5", "赵敏"),
)
RESIDENT = ("resident1", "孙大爷")


async def _person(services: Services, handle: str, name: str) -> int:
    person, _ = await services.run(services.people.identify, "console", handle, display_name=name, handle=handle)
    return person.id


def _seeded(db: Database) -> bool:
    with db.read() as session:
        return session.scalar(select(Community.id).where(Community.name == COMMUNITY)) is not None


async def seed(services: Services) -> DemoWorld | None:
    """Seed the demo community; None when it is already there."""
    if await services.db.run(_seeded, services.db):
        return None
    admin = await _person(services, *ADMIN)
    await services.db.run(
        services.db.transaction, lambda session: setattr(session.get(Person, admin), "is_admin", True)
    )
    community = await services.run(services.people.create_community, COMMUNITY)
    world = DemoWorld(community.id, admin)
    for handle, name in WORKERS:
        world.workers.append(await _person(services, handle, name))
        await services.run(services.people.appoint_worker, admin, community.id, world.workers[-1])
    code = await services.run(services.people.create_invite, world.workers[0], community.id)
    for i, (handle, name) in enumerate(VOLUNTEERS):
        person = await _person(services, handle, name)
        await services.run(services.people.join, person, code)
        await services.run(services.people.register_volunteer, person, community.id, name, f"1391234{i:04d}")
        world.volunteers.append(person)
    world.resident = await _person(services, *RESIDENT)
    code = await services.run(services.people.create_invite, world.workers[0], community.id, role="resident")
    await services.run(services.people.join, world.resident, code)
    await _history(services, world)
    # The parts' own demo data.
    for seed_feature in (seed_shop, seed_visits, seed_teams, seed_requests, seed_stars, seed_records):
        await seed_feature(services, world)
    # The past is not news: nobody is notified of it.
    await services.db.run(
        services.db.transaction,
        lambda session: session.execute(update(Notification).values(delivered_at=services.clock.now())),
    )
    return world


async def _history(services: Services, world: DemoWorld) -> None:
    """A month of logs: most approved by a worker, the newest few still pending."""
    rng = random.Random(7)
    categories = await services.run(services.hours.categories, world.community_id)
    today = services.clock.community(services.settings.timezone).today()
    for n, volunteer in enumerate(world.volunteers):
        days = sorted(rng.sample(range(1, 30), 6), reverse=True)
        for k, days_ago in enumerate(days):
            category = rng.choice(categories[:8])
            log = await services.run(
                services.hours.submit,
                volunteer,
                world.community_id,
                category_id=category.id,
                service_date=days_after(today, -days_ago),
                minutes=rng.choice((60, 90, 120, 180)),
                note=None,
                request_key=f"demo:{n}:{k}",
            )
            if not (k == len(days) - 1 and n < 2):  # volunteer1 and 2 each keep one pending
                await services.run(services.hours.approve, world.workers[k % 2], log.id)
