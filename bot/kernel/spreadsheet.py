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
