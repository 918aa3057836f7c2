"""/desk/print (打印): PDFs from the bank's own producers — an invite poster (a new invite code
made by the chat's /invite, with the channels' join QR codes, drawn as `lovebank invite-poster`
draws it), the community's issued
certificates printed again (/certificate's PDF), elders' door cards (A6, as `lovebank print
cards`: a grid's or the whole community's) and the monthly statements of members without a phone
(A4, as `lovebank print statements`).

Printing a door card makes the elder's next card, so the cards it replaces stop working: the
page says so and prints only on a POST that confirms it. A grid coordinator opens this page for
their grids' door cards (the service prints no other); the rest is the workers'. Each PDF is
drawn after its unit of work, off the database thread; the services audit what leaves the bank
as the CLI's run does."""

from __future__ import annotations

from functools import partial

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from bot.certificates.pdf import certificate_pdf
from bot.certificates.service import IssuedLine
from bot.desk.flow import ROUTE
from bot.desk.service import COORDINATOR, DeskUser
from bot.kernel.errors import DomainError, NotFound
from bot.kernel.i18n import render
from bot.paper.pdf import statements_pdf
from bot.people.grids import GridLine
from bot.stars.drawing import invite_poster, on_a4
from bot.visits.cards import cards_pdf
from handlers.desk.core import Desk, download, form_value, page, plain
from handlers.wechat.tools import LinkFailed, card_links, invite_panels

PDF = "application/pdf"
POSTER_ROLES = ("volunteer", "resident")
GRIDS_LISTED = 500  # grid names offered to choose from; any other is typed
GRID_NAME_MAX = 50
MONTH_MAX = 7


@page(ROUTE + "print", role=COORDINATOR, nav="desk.nav.print")
async def printing(desk: Desk, request: Request, user: DeskUser) -> Response:
    services = desk.services
    worker = user.at_least("worker")  # what is offered; the services decide what is done

    def collect() -> tuple[list[IssuedLine], list[GridLine], str]:
        issued = services.certificates.issued_in(user.person_id, user.community_id) if worker else []
        grids, _ = services.grids.overview(user.person_id, user.community_id, 0, GRIDS_LISTED)
        return issued, grids, services.people.clock_of(user.community_id).month().previous().label

    issued, grids, last_month = await desk.read(collect)
    return desk.render(
        request, user, "print.html", issued=issued, roles=POSTER_ROLES, grids=grids, last_month=last_month
    )


def _grid(request: Request) -> str | None:
    return form_value(request, "grid")[:GRID_NAME_MAX] or None


@page(ROUTE + "print/cards", role=COORDINATOR, methods=("POST",))
async def cards(desk: Desk, request: Request, user: DeskUser) -> Response:
    """New door cards for a grid's elders or the whole community's (a coordinator's: their
    grids'), once the worker has confirmed that the cards they replace stop working."""
    if form_value(request, "confirm") != "yes":
        return desk.message(request, user, "desk.print.cards_unconfirmed", 400)
    grid = _grid(request)
    key = f"desk:{form_value(request, 'form_id')[:32]}" if form_value(request, "form_id") else None
    checkins = desk.services.checkins
    try:
        made = await desk.run(
            lambda: checkins.print_cards(user.person_id, user.community_id, grid=grid, request_key=key)
        )
        linked = await card_links(desk.services, desk.services.settings, made)
    except DomainError as exc:
        return desk.message(request, user, exc.key, 404 if isinstance(exc, NotFound) else 403, **exc.params)
    except LinkFailed as exc:
        return desk.message(request, user, exc.key, 502, **exc.params)
    pdf = await run_in_threadpool(partial(cards_pdf, linked))
    return download(pdf, f"探访卡-{grid or user.community_name}.pdf", PDF)


@page(ROUTE + "print/statements", role="worker", methods=("POST",))
async def statements(desk: Desk, request: Request, user: DeskUser) -> Response:
    """The month's statements of the members without a phone (of one grid, when named)."""
    paper = desk.services.paper
    grid, month = _grid(request), form_value(request, "month")[:MONTH_MAX]
    try:
        book = await desk.read(lambda: paper.statements_for(user.person_id, user.community_id, grid, month))
    except DomainError as exc:
        return desk.message(request, user, exc.key, 400, **exc.params)
    await desk.run(lambda: paper.printed_statements(book, user.person_id))
    pdf = await run_in_threadpool(partial(statements_pdf, book))
    return download(pdf, f"对账单-{book.month.label}{'-' + grid if grid else ''}.pdf", PDF)


@page(ROUTE + "print/poster", role="worker", methods=("POST",))
async def poster(desk: Desk, request: Request, user: DeskUser) -> Response:
    """A new invite code from /invite (the same service, limits and audit as in the chat), on an
    A4 poster."""
    role = form_value(request, "role")
    line = "/invite resident" if role == "resident" else "/invite"
    key = form_value(request, "form_id")[:32] or None
    replies = await desk.run(lambda: desk.command(user, line, f"desk:{key}" if key else None))
    code = replies[0].text.params.get("code") if replies else None
    if not isinstance(code, str):  # refused: the chat's answer says why
        return desk.render(request, user, "message_lines.html", 400, lines=plain(user.locale, replies))
    locale = user.locale
    try:
        panels = await invite_panels(desk.services, desk.services.settings, code, locale)
    except LinkFailed as exc:
        return desk.message(request, user, exc.key, 502, **exc.params)

    def draw() -> bytes:
        png = invite_poster(
            render(locale, "poster.title", {"community": user.community_name}),
            [render(locale, "poster.line", {}), render(locale, "poster.code", {"code": code})],
            panels,
            render(locale, "poster.footer", {}),
        )
        return on_a4(png)

    pdf = await run_in_threadpool(draw)
    return download(pdf, f"invite-{code}.pdf", PDF)


@page(ROUTE + "print/certificate/{number}", role="worker")
async def certificate(desk: Desk, request: Request, user: DeskUser) -> Response:
    """An issued certificate again as /certificate prints it: read, then drawn off the database thread."""
    certificates = desk.services.certificates
    number = request.path_params["number"][:32]
    try:
        facts = await desk.read(lambda: certificates.fetch(user.person_id, number))
    except DomainError as exc:
        return desk.message(request, user, exc.key, 404, **exc.params)
    pdf = await run_in_threadpool(partial(certificate_pdf, facts))
    return download(pdf, f"志愿服务证明-{facts.number}.pdf", PDF)
