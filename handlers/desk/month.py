"""/desk/month (本月): the month's report on the page — its sheets' figures, the chart, the XLSX
download — and the star lists. The figures are ReportsService.figures (the sheets /report
writes), the file is /report's own (audited the same way), the chart is /chart's picture, drawn
after the read, off the database thread; the star lists are what /top answers in the chat."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from bot.desk.flow import ROUTE
from bot.desk.service import DeskUser
from bot.kernel.errors import DomainError
from bot.kernel.i18n import render
from bot.reports.files import chart_png, to_xlsx, with_chart
from bot.reports.service import Sheet, hours_sheets
from handlers.desk.core import HEADERS, Desk, download, page, plain

ROWS = 20  # rows of a sheet shown on the page; the XLSX has them all
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# The week's and the month's: /top all sums every approved log ever (40–300 ms at district size),
# and the chat has it a tap away.
STAR_LISTS = (
    ("desk.month.stars_week", "/top week"),
    ("desk.month.stars_month", "/top month"),
)


@dataclass(frozen=True)
class Shown:
    sheet: Sheet
    rows: list[tuple]
    hidden: int  # rows left out here


def _month(request: Request) -> str | None:
    return request.query_params.get("month", "").strip()[:7] or None


def cell(value: object, kind: str) -> str:
    if value is None:
        return ""
    if kind == "hours" and isinstance(value, int | float):
        return f"{value:g}"
    if kind == "int" and isinstance(value, int):
        return f"{value:,}"
    return str(value)


@page(ROUTE + "month", role="worker", nav="desk.nav.month")
async def month(desk: Desk, request: Request, user: DeskUser) -> Response:
    """The month's hours by week and category (the chart's figures: /report's hours sheets) and
    the star lists. Every sheet of the report is in the XLSX: building them reads every transfer
    of the month (seconds at district size, see the README), too slow for a page."""
    services = desk.services

    def collect() -> tuple[str, str, list[Sheet], list[tuple[str, list[str]]]]:
        chosen = _month(request)
        found = services.reports.hours_chart(user.person_id, user.community_id, chosen, user.locale)
        sheets = hours_sheets(found.hours, user.locale)
        stars = [(title, plain(user.locale, desk.command(user, line)[:1])) for title, line in STAR_LISTS]
        return found.month.label, found.month.previous().label, sheets, stars

    try:
        label, previous, sheets, stars = await desk.read(collect)
    except DomainError as exc:
        return desk.message(request, user, exc.key, 400, **exc.params)
    return desk.render(
        request,
        user,
        "month.html",
        label=label,
        previous=previous,
        sheets=[Shown(s, s.rows[:ROWS], max(0, len(s.rows) - ROWS)) for s in sheets],
        stars=stars,
        cell=cell,
    )


@page(ROUTE + "month/chart.png", role="worker")
async def chart(desk: Desk, request: Request, user: DeskUser) -> Response:
    """/chart's picture: the hours read in one read-only unit, the PNG drawn after it."""
    reports = desk.services.reports
    try:
        found = await desk.read(
            lambda: reports.hours_chart(user.person_id, user.community_id, _month(request), user.locale)
        )
    except DomainError as exc:
        return desk.message(request, user, exc.key, 400, **exc.params)
    png = await run_in_threadpool(partial(chart_png, found.community, found.month, user.locale, found.hours))
    return Response(png, media_type="image/png", headers={**HEADERS, "Cache-Control": "private, max-age=60"})


@page(ROUTE + "month/report.xlsx", role="worker")
async def report_file(desk: Desk, request: Request, user: DeskUser) -> Response:
    """/report's file: the report read and its export audited in one unit, the XLSX written after."""
    reports = desk.services.reports
    chosen = _month(request) or (await desk.read(lambda: reports.recent_months(user.community_id)))[0]
    try:
        report = await desk.run(lambda: reports.monthly(user.person_id, user.community_id, chosen, user.locale))
    except DomainError as exc:
        return desk.message(request, user, exc.key, 400, **exc.params)
    book = await run_in_threadpool(lambda: to_xlsx(with_chart(report)))
    name = render(user.locale, "report.filename", {"community": report.community, "month": report.month.label})
    return download(book, name if name.endswith(".xlsx") else name + ".xlsx", XLSX)
