"""The desk's foundation: sessions, CSRF, templates and the one way a page is written.

A page is a function registered with `@page(path, role=...)`: it gets the `Desk`, the request
and the `DeskUser` (whose role in the session's community was read again for this request), calls
the bank's services (`await desk.run(...)`, `await desk.read(...)`, or a chat command through
`desk.command`) and returns `desk.render(request, user, "template.html", **values)`:

    @page("/desk/waiting", role="worker")
    async def waiting(desk: Desk, request: Request, user: DeskUser) -> Response:
        items = await desk.read(lambda: ...)
        return desk.render(request, user, "waiting.html", items=items)

Every POST carries the session's CSRF token (`csrf` form field, or the X-CSRF-Token header);
`@page` checks it before the page runs. Texts come from the message catalogues (`t(key, ...)` in a
template). No rule lives here: what may be done is decided by the services, as in the chat.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from bot.desk.flow import ROUTE
from bot.desk.service import DeskUser
from bot.dialogs.core import Actor, Caller, Context, Reply
from bot.dialogs.engine import Dialogs
from bot.kernel.db import ReadOnlyTurn
from bot.kernel.i18n import DEFAULT_LOCALE, LOCALES, Text, render
from bot.kernel.settings import public_base
from bot.services import Services

HERE = Path(__file__).parent
COOKIE = "lovebank_desk"
SIZE_COOKIE = "lovebank_size"  # the member page's type size chosen: "large" or "normal"
ELDER_AGE = 60  # the large version (长辈版) is the default from this age
STATIC = {"style.css": "text/css", "htmx.min.js": "text/javascript"}
MAX_FORM = 64 * 1024  # bytes a form of ours may have; an upload page sets its own
HEADERS = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",  # a login link's secret never leaves in a Referer
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
}

T = TypeVar("T")
Endpoint = Callable[["Desk", Request, DeskUser], Awaitable[Response]]


@dataclass(frozen=True)
class Page:
    path: str
    endpoint: Endpoint
    role: str  # least role in the community: resident, volunteer or worker
    methods: tuple[str, ...]
    upload: int = 0  # bytes a file POSTed to the page may have (0: no file)


PAGES: list[Page] = []


def page(
    path: str, *, role: str = "resident", methods: tuple[str, ...] = ("GET",), upload: int = 0
) -> Callable[[Endpoint], Endpoint]:
    """Register a page of the desk (see the module's docstring). `upload`: a POST may carry one
    file of at most that many bytes (`form_file` gives it), checked like any form."""

    def register(endpoint: Endpoint) -> Endpoint:
        PAGES.append(Page(path, endpoint, role, methods, upload))
        return endpoint

    return register


def locale_of(request: Request) -> str:
    """For pages before anyone is known (a bad login link): the browser's first language."""
    first = request.headers.get("accept-language", "").split(",")[0].strip().lower()
    return "en" if first.startswith("en") else DEFAULT_LOCALE


def plain(locale: str, replies: list[Reply]) -> list[str]:
    """Replies of a chat command as the page shows them: a list's lines one by one, else the text."""
    out: list[str] = []
    for r in replies:
        lines = r.text.params.get("lines")
        if isinstance(lines, list | tuple) and all(isinstance(x, Text) for x in lines):
            out.extend(render(locale, x.key, x.params) for x in lines)
        else:
            out.append(render(locale, r.text.key, r.text.params))
    return out


class Desk:
    def __init__(self, services: Services) -> None:
        self.services = services
        self.dialogs = Dialogs(services)
        base = public_base(services.settings) or ""
        self.secure = base.startswith("https://")
        self.env = Environment(
            loader=FileSystemLoader(HERE / "templates"),
            autoescape=select_autoescape(default=True),
            trim_blocks=True,
            lstrip_blocks=True,
        )

    # --- running the bank's services -------------------------------------------------------

    async def run(self, fn: Callable[[], T]) -> T:
        """`fn` as one unit of work on the writer (a page's action)."""
        db = self.services.db
        return await db.run(db.unit, lambda _session: fn())

    async def read(self, fn: Callable[[], T]) -> T:
        """`fn` as a read-only unit of work on a reader; run again as a writing one should it write."""
        db = self.services.db
        try:
            return await db.run_read(db.unit, lambda _session: fn(), writes=False)
        except ReadOnlyTurn:
            return await self.run(fn)

    def context(self, user: DeskUser, request_key: str | None = None) -> Context:
        """The chat's context for the person at the page, so a flow's helpers and the services see
        the same actor a message of theirs would make."""
        actor = Actor(
            user.person_id,
            user.identity_id,
            user.display_name,
            user.locale,
            user.community_id,
            user.role,
            user.is_admin,
            user.channel,
        )
        caller = Caller(user.channel, user.external_id, user.display_name)
        return Context(self.services, actor, caller, request_key)

    def command(self, user: DeskUser, line: str, request_key: str | None = None) -> list[Reply]:
        """A chat command (`/approve H1 H2`) run for the page's person exactly as typed in the chat:
        the same checks, services, audit and notifications. Call it inside `run` or `read`."""
        return self.dialogs.page_command(self.context(user, request_key), line)

    # --- sessions and forms ----------------------------------------------------------------

    async def user(self, request: Request) -> DeskUser | None:
        return await self.services.db.run_read(self.services.desk.user, request.cookies.get(COOKIE))

    @staticmethod
    def csrf(request: Request) -> str:
        """The session's CSRF token: derived from the session's secret, so it is bound to it."""
        secret = request.cookies.get(COOKIE, "")
        return hmac.new(secret.encode(), b"lovebank-desk-csrf", hashlib.sha256).hexdigest()

    async def form(self, request: Request, upload: int = 0) -> dict[str, Any] | None:
        """The POSTed form (lists for repeated fields), or None when its CSRF token is missing or
        wrong. With `upload`, one file is read too, up to one byte more than that (request.state.files:
        field → (filename, content))."""
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_FORM + upload:
            return None
        files: dict[str, tuple[str, bytes]] = {}
        async with request.form(max_files=1 if upload else 0, max_fields=1000) as data:
            values: dict[str, Any] = {}
            for key, value in data.multi_items():
                if isinstance(value, str):
                    values.setdefault(key, []).append(value)
                elif upload:
                    # one byte more than allowed: the service then says the file is too big
                    files[key] = (value.filename or "", await value.read(upload + 1))
        request.state.files = files
        given = (values.get("csrf") or [request.headers.get("x-csrf-token", "")])[0]
        if not request.cookies.get(COOKIE) or not hmac.compare_digest(given, self.csrf(request)):
            return None
        return values

    def start_session(self, response: Response, secret: str, seconds: int) -> None:
        response.set_cookie(
            COOKIE, secret, max_age=seconds, path=ROUTE, httponly=True, secure=self.secure, samesite="lax"
        )

    def end_session(self, response: Response) -> None:
        response.delete_cookie(COOKIE, path=ROUTE, httponly=True, secure=self.secure, samesite="lax")

    # --- pages -----------------------------------------------------------------------------

    def large(self, request: Request, user: DeskUser | None) -> bool:
        """The large version (长辈版): chosen by the switch, else the default for people over 60."""
        chosen = request.cookies.get(SIZE_COOKIE)
        if chosen in ("large", "normal"):
            return chosen == "large"
        if user is None or user.birth_year is None:
            return False
        return self.services.clock.now().year - user.birth_year >= ELDER_AGE

    def render(
        self, request: Request, user: DeskUser | None, template: str, status: int = 200, **values: Any
    ) -> Response:
        locale = user.locale if user is not None else locale_of(request)
        locale = locale if locale in LOCALES else DEFAULT_LOCALE

        def t(key: str, **params: Any) -> str:
            return render(locale, key, params)

        values.setdefault("large", self.large(request, user))
        html = self.env.get_template(template).render(
            t=t,
            user=user,
            lang=locale,
            csrf=self.csrf(request) if user is not None else "",
            form_id=secrets.token_urlsafe(12),  # the idempotency key of what the form does
            path=request.url.path,
            **values,
        )
        return HTMLResponse(html, status_code=status, headers=HEADERS)

    def message(self, request: Request, user: DeskUser | None, key: str, status: int, **params: Any) -> Response:
        """A friendly page with one sentence from the catalogue (a bad link, a refused page)."""
        return self.render(request, user, "message.html", status, message_key=key, message_params=params)

    def redirect(self, to: str) -> Response:
        return RedirectResponse(to, status_code=303, headers=HEADERS)

    def endpoint(self, p: Page) -> Callable[[Request], Awaitable[Response]]:
        """The route around a page: who is there now, their role, the CSRF token of a form."""

        async def handle(request: Request) -> Response:
            user = await self.user(request)
            if user is None:
                response = self.message(request, None, "desk.session_gone", 401)
                if request.cookies.get(COOKIE):
                    self.end_session(response)
                return response
            if not user.at_least(p.role):
                return self.message(request, user, f"error.need_{p.role}", 403)
            if request.method == "POST":
                form = await self.form(request, p.upload)
                if form is None:
                    return self.message(request, user, "desk.csrf_bad", 403)
                request.state.form = form
            return await p.endpoint(self, request, user)

        return handle

    async def static(self, request: Request) -> Response:
        name = request.path_params["name"]
        if name not in STATIC:
            return Response("not found", status_code=404)
        return FileResponse(
            HERE / "static" / name, media_type=STATIC[name], headers={"Cache-Control": "public, max-age=3600"}
        )


def form_values(request: Request, name: str) -> list[str]:
    """A POSTed field's values (checked by `@page`): [] when absent."""
    return list(getattr(request.state, "form", {}).get(name, []))


def form_file(request: Request, name: str) -> tuple[str, bytes] | None:
    """A file POSTed to an upload page (checked by `@page`): (filename, content), or None."""
    found: tuple[str, bytes] | None = getattr(request.state, "files", {}).get(name)
    return found


def form_value(request: Request, name: str) -> str:
    values = form_values(request, name)
    return values[0].strip() if values else ""


def download(content: bytes, filename: str, media_type: str) -> Response:
    """A file to save (an export, a report, a PDF to print), named in any language."""
    headers = {**HEADERS, "Content-Disposition": f"attachment; filename*=UTF-8''{quote(filename)}"}
    return Response(content, media_type=media_type, headers=headers)
