"""The worker's desk (工作台) and the members' pages (我的) on `lovebank serve`, under /desk/.

Server-rendered HTML (Jinja2 templates in templates/), one stylesheet and htmx (static/, shipped
with the package) for a little progressive enhancement; every page reads without JavaScript.
`handlers.desk.core` is the foundation and says how a page is written; each page module registers
its pages with `@page` and is imported below.
"""

from __future__ import annotations

from functools import partial

from starlette.requests import Request
from starlette.responses import Response

from bot.desk.flow import LOGIN, ROUTE
from handlers.desk import elders, login, member, month, people, printing, waiting
from handlers.desk.core import PAGES, Desk
from handlers.web import Web

MODULES = (member, waiting, people, elders, month, printing)  # the page modules (their `@page`s register when imported)


def setup(web: Web) -> Desk:
    desk = Desk(web.services)

    async def home(request: Request) -> Response:
        return await login.home(desk, request)

    web.route(ROUTE.rstrip("/"), home, methods=["GET"])
    web.route(ROUTE, home, methods=["GET"])
    web.route(ROUTE + "static/{name}", desk.static, methods=["GET"])
    web.route(LOGIN + "{secret}", partial(login.login_form, desk), methods=["GET"])
    web.route(LOGIN + "{secret}", partial(login.login, desk), methods=["POST"])
    web.route(ROUTE + "logout", partial(login.logout, desk), methods=["POST"])
    for p in PAGES:
        web.route(p.path, desk.endpoint(p), methods=list(p.methods))
    return desk
