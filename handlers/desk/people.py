"""/desk/people (人员): the community's volunteers and residents, searched by name, handle or the
tail of a phone number, a page at a time, with roles, tags, teams, hours and star level; and
/desk/people/<id>: one person's card, their service history and the audit trail the chat's
/audit shows. The numbers are the services' (bot.people.directory); nothing is decided here.

The card's forms manage the person as the chat's /confirm, /tag, /untag, /grid, /appoint and
/unappoint do: the person is the one shown (their id, never a typed name), and what follows is
the commands' own code (bot.people.flow, bot.teams.flow) — the same checks, audit entries,
notifications and answers."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response

from bot.desk.flow import ROUTE
from bot.desk.service import DeskUser
from bot.dialogs.common import person_arg
from bot.dialogs.core import Context, Reply
from bot.kernel.errors import DomainError
from bot.kernel.i18n import render
from bot.people.directory import QUERY_MAX, ROLES
from bot.people.flow import appoint_coordinator, confirm_volunteers, place_in_grid, unappoint_coordinator
from bot.people.service import Found
from bot.teams.flow import tag_person, untag_person
from handlers.desk.core import Desk, form_value, page, plain

GRIDS_SHOWN = 200  # grids offered in the card's lists
VALUE_MAX = 32  # a tag's or a grid's name, as typed in a form

# What each form of a person's card does once the person is known: the chat command's own code.
ACTIONS: dict[str, Callable[[Context, Found, str], list[Reply]]] = {
    "confirm": lambda ctx, person, _: confirm_volunteers(ctx, [person.person_id]),
    "tag": tag_person,
    "untag": untag_person,
    "grid": place_in_grid,
    "appoint": lambda ctx, person, grid: appoint_coordinator(ctx, person, [grid]),
    "unappoint": lambda ctx, person, grid: unappoint_coordinator(ctx, person, [grid] if grid else []),
}
NEEDS_VALUE = frozenset({"tag", "untag", "grid", "appoint"})


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
    return await _card(desk, request, user)


async def _card(
    desk: Desk, request: Request, user: DeskUser, outcome: list[str] | None = None, refused: bool = False
) -> Response:
    person_id = request.path_params["person_id"]

    def collect() -> tuple[object, list[str], list[str]]:
        card = desk.services.directory.card(user.person_id, user.community_id, person_id)
        grids, _ = desk.services.grids.overview(user.person_id, user.community_id, 0, GRIDS_SHOWN)
        return card, plain(user.locale, desk.command(user, f"/audit #{person_id}")), [g.name for g in grids]

    try:
        card, trail, grids = await desk.read(collect)
    except DomainError as exc:
        return desk.message(request, user, exc.key, 404, **exc.params)
    return desk.render(
        request,
        user,
        "person.html",
        400 if refused else 200,
        card=card,
        trail=trail,
        grids=grids,
        hours=hours,
        outcome=outcome,
        refused=refused,
    )


@page(ROUTE + "people/{person_id:int}", role="worker", methods=("POST",))
async def manage(desk: Desk, request: Request, user: DeskUser) -> Response:
    """One form of the card: confirm, tag, untag, place in a grid, appoint or end a coordinator.
    The outcome is what the chat would have answered; a refusal changes nothing."""
    person_id = request.path_params["person_id"]
    action = form_value(request, "action")
    value = form_value(request, "value")
    if action not in ACTIONS or (action in NEEDS_VALUE and not value):
        return await _card(desk, request, user, [render(user.locale, "desk.person.manage_usage")], True)
    if len(value) > VALUE_MAX or len(value.split()) > 1:
        return await _card(
            desk, request, user, [render(user.locale, "desk.person.one_word", {"most": VALUE_MAX})], True
        )

    def act() -> list[str]:
        # The card first: nobody outside the worker's community, nor anyone forgotten.
        desk.services.directory.card(user.person_id, user.community_id, person_id, logs=0)
        ctx = desk.context(user)
        return plain(user.locale, ACTIONS[action](ctx, person_arg(ctx, f"#{person_id}"), value))

    try:
        outcome = await desk.run(act)
    except DomainError as exc:  # raised out of the unit of work, so nothing it began is kept
        if exc.key == "error.no_person":
            return desk.message(request, user, exc.key, 404, **exc.params)
        return await _card(desk, request, user, [render(user.locale, exc.key, exc.params)], True)
    return await _card(desk, request, user, outcome)
