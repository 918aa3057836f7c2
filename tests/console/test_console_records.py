"""`lovebank demo` shows the records an office signs: star levels reached (王芳 一星, 陈静 二星)
and a certificate issued, in the console chat."""

from __future__ import annotations

from sqlalchemy import select

from bot import demo
from bot.services import Services
from models import Certificate
from tests.console.test_console_small_things import say


async def test_the_demo_has_star_levels_and_a_certificate(services: Services) -> None:
    world = await demo.seed(services)
    assert world is not None
    balance = await say(services, "volunteer1", "/balance")
    assert "★ 一星志愿者" in balance and "可达二星" in balance
    listed = await say(services, "volunteer2", "/top all")
    assert "陈静 ★★" in listed and "王芳 ★" in listed
    with services.db.read() as session:
        cert = session.scalars(select(Certificate)).one()
    assert cert.status == "issued" and cert.person_id == world.volunteers[0] and cert.star_level == 1
    assert cert.issuer_name == "阳光街道阳光社区居民委员会" and cert.head_name == "陈主任" and cert.minutes > 0
    offered = await say(services, "volunteer1", "/certificate")
    assert f"再次领取 {cert.number}" in offered
    assert "★★ 二星志愿者" in await say(services, "volunteer3", "/balance")
