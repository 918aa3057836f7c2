"""Getting in: the one-time link from `/desk` or `/my`, WeChat's web authorisation, leaving.

GET /desk/login/<secret> shows a button and POST takes the link: a link preview (Telegram fetches
the links in a message) must not use up the person's link.

Inside WeChat, /desk/wechat?to=my (a menu item's address) sends the browser to WeChat's
authorisation page (scope snsapi_base: no question asked of the person); WeChat comes back to
/desk/wechat/back with a code and the state we gave, the code is exchanged for the openid, and
an identity already in the bank gets a session. The state is also kept in a cookie and must match.
"""

from __future__ import annotations

import hmac
import secrets
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from bot.desk.flow import LOGIN, ROUTE
from bot.desk.service import COORDINATOR
from bot.kernel.errors import DomainError
from bot.kernel.settings import public_base
from handlers.desk.core import COOKIE, Desk
from handlers.wechat.api import WeChatAPI, WeChatError

HOME = {"desk": ROUTE + "waiting", "my": ROUTE + "my"}
WECHAT = ROUTE + "wechat"
AUTHORIZE = "https://open.weixin.qq.com/connect/oauth2/authorize"
STATE_COOKIE = "lovebank_oauth"
STATE_SECONDS = 600


def client_of(request: Request) -> str | None:
    return request.client.host if request.client is not None else None


async def login_form(desk: Desk, request: Request) -> Response:
    """The button that uses the link, in the language of the person it was made for."""
    secret = request.path_params["secret"]
    locale = await desk.services.db.run_read(desk.services.desk.link_locale, secret)
    return desk.render(request, None, "login.html", locale=locale, action=LOGIN + secret)


async def login(desk: Desk, request: Request) -> Response:
    services = desk.services
    secret = request.path_params["secret"]
    try:
        opened = await services.run(services.desk.open_link, secret, client_of(request))
    except DomainError as exc:
        locale = await services.db.run_read(services.desk.link_locale, secret)
        return desk.message(request, None, exc.key, 404, locale)
    response = desk.redirect(HOME.get(opened.target, HOME["my"]))
    desk.start_session(response, opened.session, opened.seconds)
    return response


async def logout(desk: Desk, request: Request) -> Response:
    """POST with the CSRF token (a link elsewhere cannot log someone out)."""
    form = await desk.form(request)
    if isinstance(form, str):
        return desk.message(request, await desk.user(request), form, 403)
    await desk.services.run(desk.services.desk.logout, request.cookies.get(COOKIE))
    response = desk.message(request, None, "desk.logged_out", 200)
    desk.end_session(response)
    return response


async def home(desk: Desk, request: Request) -> Response:
    """/desk/: the worker's first page, or the member's. (/desk without the slash comes here:
    the session cookie is sent for paths under /desk/ only.)"""
    if not request.url.path.endswith("/"):
        return desk.redirect(ROUTE)
    user = await desk.user(request)
    if user is None:
        return desk.message(request, None, "desk.session_gone", 401)
    return desk.redirect(HOME["desk"] if user.admits(COORDINATOR) else HOME["my"])


async def wechat_start(desk: Desk, app_id: str, request: Request) -> Response:
    target = request.query_params.get("to", "my")
    target = target if target in HOME else "my"
    state = f"{secrets.token_urlsafe(16)}.{target}"
    back = f"{public_base(desk.services.settings) or str(request.base_url).rstrip('/')}{WECHAT}/back"
    query = urlencode(
        {"appid": app_id, "redirect_uri": back, "response_type": "code", "scope": "snsapi_base", "state": state}
    )
    response = RedirectResponse(f"{AUTHORIZE}?{query}#wechat_redirect", status_code=302)
    response.set_cookie(
        STATE_COOKIE, state, max_age=STATE_SECONDS, path=ROUTE, httponly=True, secure=desk.secure, samesite="lax"
    )
    return response


async def wechat_back(desk: Desk, api: WeChatAPI, request: Request) -> Response:
    state, code = request.query_params.get("state", ""), request.query_params.get("code", "")
    kept = request.cookies.get(STATE_COOKIE, "")
    if not code or not kept or len(code) > 128 or not hmac.compare_digest(state, kept):
        return desk.message(request, None, "desk.wechat_failed", 400)
    try:
        openid = await api.web_openid(code)
    except WeChatError:
        return desk.message(request, None, "desk.wechat_failed", 400)
    services = desk.services
    target = state.rsplit(".", 1)[-1]
    try:
        opened = await services.run(services.desk.open_identity, "wechat", openid, target, client_of(request))
    except DomainError as exc:
        return desk.message(request, None, exc.key, 403)
    response = desk.redirect(HOME.get(opened.target, HOME["my"]))
    response.delete_cookie(STATE_COOKIE, path=ROUTE)
    desk.start_session(response, opened.session, opened.seconds)
    return response
