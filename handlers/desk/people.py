"""/desk/people (人员): the community's volunteers and residents, searched by name, handle or the
tail of a phone number, a page at a time, with roles, tags, teams, hours and star level; and
/desk/people/<id>: one person's card, their service history and the audit trail the chat's
/audit shows. The numbers are the services' (bot.people.directory); nothing is decided here."""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response

from bot.desk.flow import ROUTE
from bot.desk.service import DeskUser
from bot.kernel.errors import DomainError
from bot.people.directory import QUERY_MAX, ROLES
from handlers.desk.core import Desk, page, plain


def number(text: str, default: int = 1) -> int:
    """A page number from a query string: anything else is the first page."""
    return int(text) if text.isdecimal() and 0 < len(text) < 10 and int(text) > 0 else default


def hours(minutes: int) -> str:
    return f"{minutes / 60:.1f}".removesuffix(".0")


@page(ROUTE + "people", role="worker", nav="desk.nav.people")
async def people(desk: Desk, request: Request, user: DeskUser) -> Response:
    p = request.query_params
    query = p.get("q", "").strip()[:QUERY_MAX]
    role = p.get("role", "")
    role = role if role in ROLES else ""
    found = await desk.read(
        lambda: desk.services.directory.search(
            user.person_id, user.community_id, query, role or None, number(p.get("page", "1"))
        )
    )
    kept = urlencode({k: v for k, v in (("q", query), ("role", role)) if v})
    return desk.render(
        request, user, "directory.html", found=found, query=query, role=role, roles=ROLES, kept=kept, hours=hours
    )


@page(ROUTE + "people/{person_id:int}", role="worker")
async def person(desk: Desk, request: Request, user: DeskUser) -> Response:
    person_id = request.path_params["person_id"]

    def collect() -> tuple[object, list[str]]:
        card = desk.services.directory.card(user.person_id, user.community_id, person_id)
        return card, plain(user.locale, desk.command(user, f"/audit #{person_id}"))

    try:
        card, trail = await desk.read(collect)
    except DomainError as exc:
        return desk.message(request, user, exc.key, 404, **exc.params)
    return desk.render(request, user, "person.html", card=card, trail=trail, hours=hours)
