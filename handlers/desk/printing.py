"""/desk/print (打印): A4 PDFs from the bank's own producers — an invite poster (a new invite code
made by the chat's /invite, drawn as `lovebank invite-poster` draws it) and the community's
issued certificates printed again (/certificate's PDF). Elders' door cards and statements do not
exist in the bank yet, so there is nothing of theirs to print."""

from __future__ import annotations

from functools import partial

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from bot.certificates.pdf import certificate_pdf
from bot.desk.flow import ROUTE
from bot.desk.service import DeskUser
from bot.kernel.errors import DomainError
from bot.kernel.i18n import render
from bot.stars.drawing import invite_poster, on_a4
from handlers.desk.core import Desk, download, form_value, page, plain

PDF = "application/pdf"
POSTER_ROLES = ("volunteer", "resident")


@page(ROUTE + "print", role="worker", nav="desk.nav.print")
async def printing(desk: Desk, request: Request, user: DeskUser) -> Response:
    certificates = desk.services.certificates
    issued = await desk.read(lambda: certificates.issued_in(user.person_id, user.community_id))
    return desk.render(request, user, "print.html", issued=issued, roles=POSTER_ROLES)


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

    def draw() -> bytes:
        png = invite_poster(
            render(locale, "poster.title", {"community": user.community_name}),
            [render(locale, "poster.line", {}), render(locale, "poster.code", {"code": code})],
            [],
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
