"""A report as files: one XLSX workbook, or one CSV per sheet (and the chart as a PNG). The
report service gives the data; the chart is drawn and the files written here.

The workbook is laid out to print as it is in a community office: bold header row frozen and
repeated on every printed page, widths fitted to the contents (Chinese characters count double),
integer points with thousands separators, hours with two decimals, A4 fitted to the page width,
the community and month in the page header and page numbers in the footer."""

from __future__ import annotations

import csv
import dataclasses
import io
import math
import re
import unicodedata
from pathlib import Path

from bot.kernel.clock import Month
from bot.kernel.i18n import render
from bot.kernel.spreadsheet import csv_text
from bot.reports.service import HoursBy, Report, Sheet, WeekHours

FORMATS = {"int": "#,##0", "hours": "#,##0.00", "date": "yyyy-mm-dd"}
MIN_WIDTH, MAX_WIDTH = 8, 44
BAD_TITLE = re.compile(r"[\[\]:*?/\\]")


def chart_png(community: str, month: Month, locale: str, data: HoursBy) -> bytes:
    """The month's hours per week and per category, as a PNG."""
    from bot.kernel.charts import month_chart

    def t(key: str, **params: object) -> str:
        return render(locale, key, params)

    return month_chart(
        t("report.chart.title", community=community, month=month.label),
        [(_short(w), w.minutes / 60) for w in data.weeks],
        [(c.name, c.minutes / 60) for c in data.categories if c.minutes],
        week_title=t("report.chart.weeks"),
        category_title=t("report.chart.categories"),
        hours_label=t("report.chart.hours"),
        empty=t("report.chart.empty"),
    )


def _short(week: WeekHours) -> str:
    """ "11/2–8": a week never leaves its month here, so the month is said once."""
    if week.start == week.end:
        return f"{week.start.month}/{week.start.day}"
    return f"{week.start.month}/{week.start.day}–{week.end.day}"


def with_chart(report: Report) -> Report:
    """The report with its chart drawn as the last sheet (a picture in the XLSX, a PNG beside
    the CSV files)."""
    png = chart_png(report.community, report.month, report.locale, report.hours)
    chart = Sheet("chart", render(report.locale, "report.sheet.chart"), (), image=png)
    return dataclasses.replace(report, sheets=[*report.sheets, chart])


def to_xlsx(report: Report) -> bytes:
    from openpyxl import Workbook

    book = Workbook()
    if book.active is not None:  # a new workbook starts with one empty sheet: only the report's sheets stay
        book.remove(book.active)
    book.properties.title = render(
        report.locale, "report.title", {"community": report.community, "month": report.month.label}
    )
    book.properties.creator = "Love Bank"
    for sheet in report.sheets:
        _sheet(book, report, sheet)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _sheet(book: object, report: Report, sheet: Sheet) -> None:
    from openpyxl.drawing.image import Image
    from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.worksheet import Worksheet

    ws: Worksheet = book.create_sheet(BAD_TITLE.sub("", sheet.title)[:31])  # type: ignore[attr-defined]
    thin = Side(style="thin", color="808080")
    header, footer = ws.oddHeader, ws.oddFooter
    assert header is not None and footer is not None  # openpyxl gives a new sheet empty ones
    header.center.text = f"{report.community}  {report.month.label}  {sheet.title}"
    footer.center.text = render(report.locale, "report.page", {"page": "&P", "pages": "&N"})
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    if sheet.columns:
        count = len(sheet.columns)
        ws.append([c.header for c in sheet.columns])
        for cell in ws[1]:
            cell.font = Font(bold=True)
            cell.fill = PatternFill("solid", fgColor="F2F2F2")
            cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
            cell.border = Border(bottom=thin, top=thin)
        ws.row_dimensions[1].height = 34  # room for a header wrapped onto two lines
        for index, row in enumerate(sheet.rows):
            ws.append(list(row))
            _plain_strings(ws[ws.max_row])
            if index in sheet.emphasis:
                for cell in ws[ws.max_row]:
                    cell.font = Font(bold=True)
        if sheet.totals is not None:
            ws.append(list(sheet.totals))
            _plain_strings(ws[ws.max_row])
            for cell in ws[ws.max_row]:
                cell.font = Font(bold=True)
                cell.border = Border(top=thin)
        last = ws.max_row
        for index, column in enumerate(sheet.columns, start=1):
            fmt = FORMATS.get(column.kind)
            if fmt or column.center:
                for (cell,) in ws.iter_rows(min_row=2, max_row=last, min_col=index, max_col=index):
                    if fmt:
                        cell.number_format = fmt
                    if column.center:
                        cell.alignment = Alignment(horizontal="center")
            ws.column_dimensions[get_column_letter(index)].width = column.width or _fit(
                column.header,
                [_shown(r[index - 1], column.kind) for r in [*sheet.rows, *([sheet.totals] if sheet.totals else [])]],
            )
        ws.freeze_panes = "A2"
        ws.print_title_rows = "1:1"
        if sheet.rows:
            ws.auto_filter.ref = f"A1:{get_column_letter(count)}{1 + len(sheet.rows)}"
        ws.page_setup.orientation = "landscape" if count > 5 else "portrait"
        fit = ws.sheet_properties.pageSetUpPr
        assert fit is not None  # openpyxl gives a new sheet's properties one
        fit.fitToPage = True
        ws.page_setup.fitToWidth, ws.page_setup.fitToHeight = 1, 0
        for note in sheet.notes:
            ws.append([])
            ws.append([note])
            ws.cell(ws.max_row, 1).font = Font(italic=True, color="666666")
    if sheet.image:
        picture = Image(io.BytesIO(sheet.image))
        scale = min(1.0, 900 / picture.width)  # fits a landscape A4 page
        picture.width, picture.height = round(picture.width * scale), round(picture.height * scale)
        anchor_col = len(sheet.columns) + 2 if sheet.columns else 1
        ws.add_image(picture, f"{get_column_letter(anchor_col)}2" if sheet.columns else "A1")
        ws.page_setup.orientation = "landscape"


def _plain_strings(cells: tuple) -> None:
    """openpyxl stores any text starting with "=" as a formula; text from people stays text."""
    for cell in cells:
        if isinstance(cell.value, str) and cell.data_type == "f":
            cell.data_type = "s"


def _shown(value: object, kind: str) -> str:
    if value is None:
        return ""
    if kind == "int" and isinstance(value, int):
        return f"{value:,}"
    if kind == "hours" and isinstance(value, (int, float)):
        return f"{value:,.2f}"
    return str(value)


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


def _fit(header: str, values: list[str]) -> float:
    # A header may wrap onto two lines (where it says, or anywhere); the values may not.
    lines = header.split("\n")
    head = max(_width(line) for line in lines) if len(lines) > 1 else math.ceil(_width(header) / 2)
    return max(MIN_WIDTH, min(MAX_WIDTH, max([head, *(_width(v) for v in values)]) + 3))


def csv_files(report: Report, path: Path) -> dict[Path, bytes]:
    """One CSV per sheet, named after `path` with the sheet's key: report.csv gives
    report-volunteers.csv, report-ledger.csv, …, and the chart as report-chart.png. UTF-8 with a
    byte-order mark, so Excel opens the Chinese correctly; notes are left out."""
    files: dict[Path, bytes] = {}
    for sheet in report.sheets:
        if sheet.columns:
            files[path.with_name(f"{path.stem}-{sheet.key}.csv")] = sheet_csv(sheet)
        if sheet.image:
            files[path.with_name(f"{path.stem}-{sheet.key}.png")] = sheet.image
    return files


def sheet_csv(sheet: Sheet) -> bytes:
    """One sheet as CSV: UTF-8 with a byte-order mark, CRLF, text never read as a formula."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([c.header.replace("\n", "") for c in sheet.columns])  # one line a header
    for row in [*sheet.rows, *([sheet.totals] if sheet.totals else [])]:
        writer.writerow([_csv(v, c.kind) for v, c in zip(row, sheet.columns, strict=True)])
    return out.getvalue().encode("utf-8-sig")


def _csv(value: object, kind: str) -> str:
    if value is None:
        return ""
    if kind == "hours" and isinstance(value, (int, float)):
        return f"{value:.2f}"
    return str(csv_text(value))
