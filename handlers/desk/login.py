"""Getting in: the one-time link from `/desk` or `/my`, WeChat's web authorisation, leaving.

GET /desk/login/<secret> shows a button and POST takes the link: a link preview (Telegram fetches
the links in a message) must not use up the person's link.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from bot.desk.flow import LOGIN, ROUTE
from bot.kernel.errors import DomainError
from handlers.desk.core import COOKIE, Desk

HOME = {"desk": ROUTE + "waiting", "my": ROUTE + "my"}


def client_of(request: Request) -> str | None:
    return request.client.host if request.client is not None else None


async def login_form(desk: Desk, request: Request) -> Response:
    return desk.render(request, None, "login.html", action=LOGIN + request.path_params["secret"])


async def login(desk: Desk, request: Request) -> Response:
    services = desk.services
    try:
        opened = await services.run(services.desk.open_link, request.path_params["secret"], client_of(request))
    except DomainError as exc:
        return desk.message(request, None, exc.key, 404)
    response = desk.redirect(HOME.get(opened.target, HOME["my"]))
    desk.start_session(response, opened.session, opened.seconds)
    return response


async def logout(desk: Desk, request: Request) -> Response:
    """POST with the CSRF token (a link elsewhere cannot log someone out)."""
    form = await desk.form(request)
    if form is None:
        return desk.message(request, await desk.user(request), "desk.csrf_bad", 403)
    await desk.services.run(desk.services.desk.logout, request.cookies.get(COOKIE))
    response = desk.message(request, None, "desk.logged_out", 200)
    desk.end_session(response)
    return response


async def home(desk: Desk, request: Request) -> Response:
    """/desk/: the worker's first page, or the member's."""
    user = await desk.user(request)
    if user is None:
        return desk.message(request, None, "desk.session_gone", 401)
    return desk.redirect(HOME["desk"] if user.at_least("worker") else HOME["my"])
