"""Text from people in files that spreadsheets open (CSV, XLSX): never a live formula.

A name or note such as `=HYPERLINK("http://…")` or `+cmd|…` would run when a worker opens the
export in Excel or WPS. In CSV such text is written with a leading apostrophe, which the
spreadsheet hides and reads as "this is text"; in XLSX every such cell is a plain string cell."""

from __future__ import annotations

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
QUOTE = "'"


def csv_text(value: object) -> object:
    """A CSV cell: text that a spreadsheet would read as a formula gets a leading `'`; numbers
    (a negative number is a number, not a formula) are left as they are. Text that starts with
    `'` itself gets one more, so that `csv_value` gives back exactly what was written."""
    if isinstance(value, str) and value.startswith((*FORMULA_START, QUOTE)):
        return QUOTE + value
    return value


def csv_value(cell: str) -> str:
    """What `csv_text` wrote: the import reads the export's files back as they were."""
    if cell.startswith(QUOTE) and cell[1:].startswith((*FORMULA_START, QUOTE)):
        return cell[1:]
    return cell


def csv_to_xlsx(content: bytes, title: str) -> bytes:
    """A CSV file of ours (UTF-8, a BOM maybe, cells written by `csv_text`) as an XLSX workbook
    of one sheet, every cell a plain string cell (never a formula): the same rows, for people
    whose spreadsheet opens XLSX better than CSV. Slow for big files: call it off the database
    thread."""
    import csv
    import io

    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    assert sheet is not None  # a new workbook has one sheet
    sheet.title = title[:31]
    for row in csv.reader(io.StringIO(content.decode("utf-8-sig"))):
        sheet.append([csv_value(cell) for cell in row])
    for cells in sheet.iter_rows():
        for cell in cells:
            if isinstance(cell.value, str):
                cell.data_type = "s"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
