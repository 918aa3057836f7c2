"""The demo's records an office signs: two volunteers with two years of community events behind
them, so 陈静 is a 二星 and 王芳 (whose chat `lovebank demo` opens) a 一星 volunteer (100 and 300
service hours), the organisation's full name and person in charge for certificates, and one
certificate issued to 王芳 for last year.

The events are recorded by a worker through the services on a clock set to each event's day (a
log may be backdated a month at most), so every hour is an approved log with its points in the
ledger, like any other."""

from __future__ import annotations

from datetime import time
from typing import TYPE_CHECKING

from bot.kernel.clock import FixedClock, at_local, days_after, week_start
from bot.kernel.clock import zone as get_zone
from bot.services import Services

if TYPE_CHECKING:
    from bot.demo.world import DemoWorld

ISSUER, HEAD = "阳光街道阳光社区居民委员会", "陈主任"
EVENTS = 54  # every other Saturday for two years, 6 hours each
EVENT_MINUTES = 360
CATEGORIES = ("助老", "探访", "助洁", "助餐")


async def seed_demo(services: Services, world: DemoWorld) -> None:
    cid, worker = world.community_id, world.workers[0]
    wang, chen = world.volunteers[0], world.volunteers[2]
    zone = get_zone(services.settings.timezone)
    today = services.clock.community(services.settings.timezone).today()
    first = days_after(week_start(today), -(2 + 14 * EVENTS))  # a Saturday two years ago
    categories = {c.name: c.id for c in await services.run(services.hours.categories, cid)}
    chosen = [categories[n] for n in CATEGORIES if n in categories] or list(categories.values())[:1]
    clock = FixedClock(at_local(first, time(17, 0), zone))
    past = Services(services.db, services.settings, clock)
    for n in range(EVENTS):
        day = days_after(first, 14 * n)
        clock.at = at_local(day, time(17, 0), zone)
        # 陈静 came to every event; 王芳 to two in five of them (her 130 hours: 一星).
        volunteers = [chen, wang] if n % 5 in (1, 3) else [chen]
        await past.run(
            past.hours.record,
            worker,
            cid,
            volunteers,
            category_id=chosen[n % len(chosen)],
            service_date=day,
            minutes=EVENT_MINUTES,
            event_name="社区志愿服务日",
            request_key=f"stars-demo:{n}",
        )
    certificates = services.certificates
    await services.run(certificates.set_issuer, worker, cid, full_name=ISSUER, head=HEAD)
    asked = await services.run(certificates.request, wang, cid, str(today.year - 1))
    await services.run(certificates.issue, world.workers[1], asked.id)
