"""/desk/my (我的): a member's page in large type — the balance, the last entries of the history,
orders with their pickup codes, their requests and, for a volunteer, the visits due. The lists
are what the chat's /history, /orders, /myrequests and /visits answer, line for line."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

from bot.desk.flow import ROUTE
from bot.desk.service import DeskUser
from handlers.desk.core import SIZE_COOKIE, Desk, page, plain

SECTIONS = (  # (title key, chat command, least role)
    ("my.history", "/history", "resident"),
    ("my.orders", "/orders", "resident"),
    ("my.requests", "/myrequests", "resident"),
    ("my.visits", "/visits", "volunteer"),
)


@dataclass(frozen=True)
class Section:
    title: str
    lines: list[str]


@dataclass(frozen=True)
class Balance:
    available: int
    pending: int
    earned: int
    hours: str


@page(ROUTE + "my", nav="desk.nav.my")
async def my(desk: Desk, request: Request, user: DeskUser) -> Response:
    services = desk.services

    def collect() -> tuple[Balance, list[Section]]:
        b = services.points.balance(user.person_id, user.community_id)
        balance = Balance(b.available, b.pending, b.earned_points, f"{b.earned_minutes / 60:g}")
        sections = [
            Section(title, plain(user.locale, desk.command(user, line)))
            for title, line, role in SECTIONS
            if user.at_least(role)
        ]
        return balance, sections

    balance, sections = await desk.read(collect)
    size = request.query_params.get("size")
    chosen = size in ("large", "normal")  # the 长辈版 switch: a plain link, so it works without JavaScript
    large = size == "large" if chosen else desk.large(request, user)
    response = desk.render(request, user, "member.html", balance=balance, sections=sections, large=large)
    if chosen:
        response.set_cookie(SIZE_COOKIE, str(size), max_age=365 * 86400, path=ROUTE, httponly=True, samesite="lax")
    return response
