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
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from bot.desk.flow import ROUTE
from bot.desk.service import COORDINATOR, DeskUser
from bot.dialogs.core import Actor, Caller, Context, Reply
from bot.dialogs.engine import Dialogs
from bot.dialogs.flows import TABLE
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
    role: (
        str  # least role in the community: resident, volunteer, worker, or coordinator (workers and grid coordinators)
    )
    methods: tuple[str, ...]
    nav: str | None  # the catalogue key of its entry in the navigation, for those with the role
    files: int  # files a POST may upload
    limit: int  # bytes a POST may have


@dataclass(frozen=True)
class Upload:
    """A file posted with a form (`form_values(request, name)` gives it)."""

    filename: str
    content: bytes


PAGES: list[Page] = []


def page(
    path: str,
    *,
    role: str = "resident",
    methods: tuple[str, ...] = ("GET",),
    nav: str | None = None,
    files: int = 0,
    limit: int = MAX_FORM,
) -> Callable[[Endpoint], Endpoint]:
    """Register a page of the desk (see the module's docstring). `role` "coordinator": a
    worker's page a grid coordinator opens too, whose services keep them to their grids. `nav`:
    its label in the navigation bar, shown to people with `role` (workers' pages first, each
    group in the order registered). A POST page taking uploads says how many files (`files`) and bytes (`limit`)."""

    def register(endpoint: Endpoint) -> Endpoint:
        PAGES.append(Page(path, endpoint, role, methods, nav, files, limit))
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
        return Context(self.services, actor, caller, request_key, TABLE)

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

    async def form(self, request: Request, *, files: int = 0, limit: int = MAX_FORM) -> dict[str, list[Any]] | str:
        """The POSTed form (a list of values per field; an uploaded file as an `Upload`), or the
        catalogue key of why it is refused: too big (over `limit` bytes, or of unknown length), not
        a form, or its CSRF token missing or wrong. Up to `files` files."""
        declared = request.headers.get("content-length", "")
        if not declared.isdigit() or int(declared) > limit:
            return "desk.too_big"
        values: dict[str, list[Any]] = {}
        try:
            async with request.form(max_files=files, max_fields=1000) as data:
                for key, value in data.multi_items():
                    if isinstance(value, str):
                        values.setdefault(key, []).append(value)
                    else:
                        values.setdefault(key, []).append(Upload(value.filename or "", await value.read()))
        except HTTPException:  # a malformed body, or more files than the page takes
            return "desk.csrf_bad"
        given = str((values.get("csrf") or [request.headers.get("x-csrf-token", "")])[0])
        if not request.cookies.get(COOKIE) or not hmac.compare_digest(given, self.csrf(request)):
            return "desk.csrf_bad"
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
        self,
        request: Request,
        user: DeskUser | None,
        template: str,
        status: int = 200,
        *,
        locale: str | None = None,
        **values: Any,
    ) -> Response:
        """The template with `t`, `user`, `csrf`, `form_id`, `large` and `values`; in the person's
        language (`locale` where nobody is logged in but it is known, else the browser's)."""
        locale = user.locale if user is not None else locale or locale_of(request)
        locale = locale if locale in LOCALES else DEFAULT_LOCALE

        def t(key: str, **params: Any) -> str:
            return render(locale, key, params)

        values.setdefault("large", self.large(request, user))
        # The workers' pages first, then the member's page, each in the order registered.
        shown = [p for p in PAGES if p.nav and user is not None and user.admits(p.role)]
        values.setdefault("nav", [(p.path, p.nav) for p in sorted(shown, key=lambda p: p.role == "resident")])
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

    def message(
        self, request: Request, user: DeskUser | None, key: str, status: int, locale: str | None = None, **params: Any
    ) -> Response:
        """A friendly page with one sentence from the catalogue (a bad link, a refused page)."""
        return self.render(request, user, "message.html", status, locale=locale, message_key=key, message_params=params)

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
            if not user.admits(p.role):
                need = "worker" if p.role == COORDINATOR else p.role
                return self.message(request, user, f"error.need_{need}", 403)
            if request.method == "POST":
                form = await self.form(request, files=p.files, limit=p.limit)
                if isinstance(form, str):
                    return self.message(request, user, form, 413 if form == "desk.too_big" else 403)
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


def form_values(request: Request, name: str) -> list[Any]:
    """A POSTed field's values (checked by `@page`): strings, or `Upload`s for a file field; []
    when absent."""
    return list(getattr(request.state, "form", {}).get(name, []))


def form_value(request: Request, name: str) -> str:
    """A POSTed text field's first value, stripped ("" when absent or a file)."""
    values = [v for v in form_values(request, name) if isinstance(v, str)]
    return values[0].strip() if values else ""


def download(content: bytes, filename: str, media_type: str) -> Response:
    """A file to save (an export, a report, a PDF to print), named in any language."""
    headers = {**HEADERS, "Content-Disposition": f"attachment; filename*=UTF-8''{quote(filename)}"}
    return Response(content, media_type=media_type, headers=headers)
