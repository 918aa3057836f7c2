"""/desk (工作台) and /my (我的): a link to the web pages, logging the person in once."""

from __future__ import annotations

from bot.dialogs.core import Context, Reply, reply
from bot.kernel.settings import public_base

ROUTE = "/desk/"  # where `lovebank serve` serves the pages
LOGIN = ROUTE + "login/"


def login_link(ctx: Context, target: str) -> list[Reply]:
    base = public_base(ctx.services.settings)
    if base is None:  # no address people can reach the server at: nothing to link to
        return [reply("desk.no_address")]
    made = ctx.services.desk.new_link(ctx.actor.person_id, ctx.actor.identity_id, ctx.community_id, target)
    return [reply(f"{target}.link", url=f"{base}{LOGIN}{made.secret}", minutes=made.minutes)]


def desk(ctx: Context, args: str) -> list[Reply]:
    return login_link(ctx, "desk")


def my(ctx: Context, args: str) -> list[Reply]:
    return login_link(ctx, "my")
