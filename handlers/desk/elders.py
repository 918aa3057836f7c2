"""/desk/elders (老人): the roster a page at a time with cadence, last visit and overdue marks; the
month's visits as a calendar; the roster imported from an XLSX or CSV upload and exported.

The import is the CLI's (`lovebank import elders`): ElderRoster.import_roster, first as a dry run
whose report is the preview, then — after the worker confirms with a second POST — for real. The
uploaded file waits on the server between the two (handlers.desk.held); the confirmation carries
only a token, bound to the person and the community, so the file applied is the file previewed.

A grid coordinator opens the roster and the calendar of their grids (the services scope them);
the import and the export stay the workers' (the services refuse anyone else, and the page
offers them to workers only)."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date
from functools import partial

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from bot.desk.flow import ROUTE
from bot.desk.service import COORDINATOR, DeskUser
from bot.elders.service import ElderView, ImportReport, VisitCalendar
from bot.kernel.errors import DomainError
from bot.kernel.i18n import Text, render
from bot.kernel.spreadsheet import csv_to_xlsx
from bot.people.roster import MAX_BYTES
from handlers.desk.core import MAX_FORM, Desk, Upload, download, form_value, form_values, page
from handlers.desk.held import Held
from handlers.desk.people import number

PAGE = 50
HELD = Held()
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@dataclass(frozen=True)
class Row:
    elder: ElderView
    due: tuple[str, date, int] | None  # (visit or call, due date, days overdue) when due by today


def weeks(shown: VisitCalendar) -> list[list[date | None]]:
    """The month as Monday-first weeks, None outside it."""
    first = shown.month.first
    grid = calendar.Calendar().monthdatescalendar(first.year, first.month)
    return [[d if d.month == first.month else None for d in week] for week in grid]


def _text(locale: str, text: Text) -> str:
    return render(locale, text.key, text.params)


async def _show(desk: Desk, request: Request, user: DeskUser, notice: str | None = None) -> Response:
    p = request.query_params
    after = number(p.get("after", ""), 0) or None
    month = p.get("month", "").strip()[:7] or None
    roster = desk.services.visits.roster

    def collect() -> tuple[list[ElderView], bool, VisitCalendar]:
        shown = roster.calendar(user.person_id, user.community_id, month)
        elders, more = roster.roster(user.person_id, user.community_id, 0, PAGE, after=after)
        return elders, more, shown

    try:
        elders, more, shown = await desk.read(collect)
    except DomainError as exc:
        return desk.message(request, user, exc.key, 400, **exc.params)
    rows = [Row(e, e.due.today(shown.today)) for e in elders]
    return desk.render(
        request,
        user,
        "roster.html",
        rows=rows,
        after=after,
        next_after=elders[-1].id if more and elders else None,
        shown=shown,
        weeks=weeks(shown),
        previous_month=shown.month.previous().label,
        max_mb=MAX_BYTES // 1_000_000,
        notice=notice,
    )


@page(ROUTE + "elders", role=COORDINATOR, nav="desk.nav.elders")
async def elders(desk: Desk, request: Request, user: DeskUser) -> Response:
    return await _show(desk, request, user)


@page(ROUTE + "elders/import", role="worker", methods=("POST",), files=1, limit=MAX_BYTES + MAX_FORM)
async def preview(desk: Desk, request: Request, user: DeskUser) -> Response:
    """The upload checked whole and run as a dry run: what importing it would change."""
    upload = next((v for v in form_values(request, "roster") if isinstance(v, Upload)), None)
    if upload is None or not upload.content:
        return await _show(desk, request, user, notice=render(user.locale, "desk.elders.no_file", {}))
    filename, content = upload.filename, upload.content
    roster = desk.services.visits.roster
    report = await desk.read(
        lambda: roster.import_roster(user.person_id, user.community_id, filename, content, dry_run=True)
    )
    token = HELD.put(user.person_id, user.community_id, filename, content) if report.ok else ""
    return _report(desk, request, user, report, filename, token)


def _report(desk: Desk, request: Request, user: DeskUser, report: ImportReport, filename: str, token: str) -> Response:
    return desk.render(
        request,
        user,
        "elders_import.html",
        report=report,
        summary=_text(user.locale, report.text()),
        filename=filename,
        token=token,
    )


@page(ROUTE + "elders/import/apply", role="worker", methods=("POST",))
async def apply(desk: Desk, request: Request, user: DeskUser) -> Response:
    """The previewed file imported, as the CLI imports it (checked again whole, audited)."""
    token = form_value(request, "token")
    held = HELD.get(token, user.person_id, user.community_id)
    if held is None:
        return desk.message(request, user, "desk.elders.upload_gone", 400)
    roster = desk.services.visits.roster
    report = await desk.run(
        lambda: roster.import_roster(user.person_id, user.community_id, held.filename, held.content)
    )
    if report.ok:
        HELD.drop(token)
    return _report(desk, request, user, report, held.filename, "")


async def _export(desk: Desk, user: DeskUser) -> tuple[str, bytes]:
    roster = desk.services.visits.roster
    return await desk.run(lambda: roster.export_roster(user.person_id, user.community_id))


@page(ROUTE + "elders/export.xlsx", role="worker")
async def export_xlsx(desk: Desk, request: Request, user: DeskUser) -> Response:
    """The roster in the import's columns as XLSX (the workbook written off the database thread)."""
    name, content = await _export(desk, user)
    book = await run_in_threadpool(partial(csv_to_xlsx, content, render(user.locale, "desk.elders.sheet", {})))
    return download(book, name.removesuffix(".csv") + ".xlsx", XLSX)


@page(ROUTE + "elders/export.csv", role="worker")
async def export_csv(desk: Desk, request: Request, user: DeskUser) -> Response:
    name, content = await _export(desk, user)
    return download(content, name, "text/csv; charset=utf-8")
