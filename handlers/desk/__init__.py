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
from handlers.desk import login, member, waiting

# isort: off
from handlers.desk import people, elders, month, printing  # imported in their navigation order

# isort: on
from handlers.desk.core import PAGES, Desk
from handlers.web import Web
from handlers.wechat.api import WeChatAPI
from handlers.wechat.tokens import TokenStore

MODULES = (member, waiting, people, elders, month, printing)  # their `@page`s register when imported


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
    settings = web.services.settings
    if settings.wechat_app_id and settings.wechat_app_secret is not None:  # logging in inside WeChat
        api = WeChatAPI(settings, TokenStore(web.services.db, web.services.clock))
        web.route(login.WECHAT, partial(login.wechat_start, desk, settings.wechat_app_id), methods=["GET"])
        web.route(login.WECHAT + "/back", partial(login.wechat_back, desk, api), methods=["GET"])
        web.on_shutdown(api.close)
    return desk
