"""The elder roster as offices keep it: reading CSV or XLSX files and cleaning each field.

The same field rules serve the file import and the chat (/addelder, /editelder), so a value is
accepted or refused the same way wherever it is typed. A refused value raises InvalidInput with
a catalogue key; the import collects them by row and column instead of stopping at the first."""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Generator
from dataclasses import dataclass
from datetime import date, datetime

from bot.kernel.errors import InvalidInput
from bot.kernel.spreadsheet import csv_value
from bot.kernel.text import clean_text
from bot.people.service import clean_phone

COLUMNS = (
    "name",
    "birth_year",
    "address",
    "grid",
    "lives_alone",
    "risk",
    "phone",
    "emergency_contact",
    "worker",
    "volunteers",
    "consent",
)
REQUIRED = ("name", "birth_year", "address", "lives_alone")
# Chinese headers as community offices write them.
HEADER_ALIASES = {
    "姓名": "name",
    "出生年份": "birth_year",
    "出生年": "birth_year",
    "地址": "address",
    "住址": "address",
    "网格": "grid",
    "是否独居": "lives_alone",
    "独居": "lives_alone",
    "风险": "risk",
    "风险等级": "risk",
    "电话": "phone",
    "联系电话": "phone",
    "紧急联系人": "emergency_contact",
    "社工": "worker",
    "负责社工": "worker",
    "志愿者": "volunteers",
    "知情同意": "consent",
    "同意方式": "consent",
}
# How an elder's consent was obtained, as offices write it (an empty cell: not yet).
CONSENT_WAYS = {
    "in_person": "in_person",
    "in person": "in_person",
    "当面": "in_person",
    "面谈": "in_person",
    "本人": "in_person",
    "phone": "phone",
    "电话": "phone",
    "family": "family",
    "家属": "family",
    "家人": "family",
}
YES = {"yes", "y", "true", "1", "是", "独居", "对"}
NO = {"no", "n", "false", "0", "否", "不是", "非独居"}
RISKS = {"high": "high", "高": "high", "高风险": "high", "normal": "normal", "普通": "normal", "一般": "normal"}
HANDLE_SEPARATORS = re.compile(r"[;；、]")
MAX_ROWS = 20_000
MAX_BYTES = 5_000_000  # a roster of MAX_ROWS rows is about 3 MB as CSV, less as XLSX
MAX_UNPACKED_BYTES = 40_000_000  # an XLSX roster of MAX_ROWS rows unpacks to about 12 MB
LIMITS = {"name": 50, "address": 200, "grid": 100, "emergency_contact": 100}


@dataclass(frozen=True)
class Table:
    """A file's header (as canonical column names, None where unknown) and its data rows, with
    the row numbers people see in their spreadsheet (the header is row 1)."""

    header: list[str | None]
    raw_header: list[str]
    rows: list[tuple[int, list[str]]]


def read_table(filename: str, content: bytes) -> Table:
    """The file's header and rows. The size is checked before anything is parsed, and reading
    stops at the first row past MAX_ROWS: a huge file costs neither time nor memory."""
    if len(content) > MAX_BYTES:
        raise InvalidInput("visits.import.too_big", max_mb=MAX_BYTES // 1_000_000)
    is_xlsx = filename.lower().endswith((".xlsx", ".xlsm")) or content[:4] == b"PK\x03\x04"
    cells = _xlsx_cells(content) if is_xlsx else _csv_cells(content)
    numbered: list[tuple[int, list[str]]] = []
    try:
        for n, row in enumerate(cells, start=1):
            if any(c.strip() for c in row):
                numbered.append((n, row))
                if len(numbered) > MAX_ROWS + 1:  # the header and MAX_ROWS rows, and one more
                    raise InvalidInput("visits.import.too_many_rows", max=MAX_ROWS)
    finally:
        cells.close()
    if not numbered:
        raise InvalidInput("visits.import.empty_file")
    (_, raw_header), data = numbered[0], numbered[1:]
    if not data:
        raise InvalidInput("visits.import.empty_file")
    header = [_column(h) for h in raw_header]
    return Table(header, [h.strip() for h in raw_header], data)


def _column(title: str) -> str | None:
    title = title.strip()
    if title.lower() in COLUMNS:
        return title.lower()
    return HEADER_ALIASES.get(title)


def _csv_cells(content: bytes) -> Generator[list[str], None, None]:
    # Excel on a Chinese Windows saves CSV as GBK; elsewhere UTF-8, often with a BOM.
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = content.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise InvalidInput("visits.import.bad_file")
    try:
        for row in csv.reader(io.StringIO(text)):
            # A file is input too: no NUL, no U+202E; and a `'` the export put before text that
            # looks like a formula is not part of the value.
            yield [csv_value(clean_text(cell) or "") for cell in row]
    except csv.Error:
        raise InvalidInput("visits.import.bad_file") from None


def _xlsx_cells(content: bytes) -> Generator[list[str], None, None]:
    """Rows streamed from the first sheet (openpyxl's read-only mode), never all at once."""
    from openpyxl import load_workbook

    try:
        # A few MB of XLSX can unpack to gigabytes of XML (and openpyxl scans a whole sheet that
        # does not state its size): the unpacked size is capped before any of it is parsed.
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            if sum(member.file_size for member in archive.infolist()) > MAX_UNPACKED_BYTES:
                raise InvalidInput("visits.import.too_big", max_mb=MAX_BYTES // 1_000_000)
            if any(_declares_entities(archive, member) for member in archive.infolist()):
                raise InvalidInput("visits.import.bad_file")  # no spreadsheet program writes one
        book = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError, EOFError, SyntaxError):
        raise InvalidInput("visits.import.bad_file") from None
    try:
        sheet = book.worksheets[0]
        for row in sheet.iter_rows(values_only=True):
            yield [_cell_text(v) for v in row]
    except (IndexError, KeyError, ValueError, TypeError, zipfile.BadZipFile, EOFError, SyntaxError):
        # A broken file found while reading it (a shared string that is not there, bad XML):
        # the whole import is refused, as it is checked whole before anything is written.
        raise InvalidInput("visits.import.bad_file") from None
    finally:
        book.close()


def _declares_entities(archive: zipfile.ZipFile, member: zipfile.ZipInfo) -> bool:
    """An XML part with a DOCTYPE: the way to entity expansion and external entities."""
    if not member.filename.lower().endswith((".xml", ".rels", ".vml")):
        return False
    with archive.open(member) as part:
        tail = b""
        while chunk := part.read(1 << 16):
            if b"<!DOCTYPE" in (tail + chunk).upper():
                return True
            tail = chunk[-9:]
    return False


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # 1948.0, and phone numbers Excel stored as numbers
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return (clean_text(str(value)) or "").strip()


# --- fields ----------------------------------------------------------------------------------


def _text(raw: str, column: str, required: bool) -> str | None:
    value = " ".join((raw or "").split())
    if not value:
        if required:
            raise InvalidInput("visits.field.required")
        return None
    if len(value) > LIMITS[column]:
        raise InvalidInput("visits.field.too_long", max=LIMITS[column])
    return value


def clean_elder_name(raw: str) -> str:
    name = _text(raw, "name", required=True)
    assert name is not None
    if name.startswith("/"):
        raise InvalidInput("visits.field.bad_name", value=name[:20])
    return name


def clean_birth_year(raw: str, this_year: int) -> int:
    value = (raw or "").strip().removesuffix("年")
    if not value:
        raise InvalidInput("visits.field.required")
    if not re.fullmatch(r"\d{4}", value) or not 1900 <= int(value) <= this_year:
        raise InvalidInput("visits.field.bad_year", value=raw.strip()[:20], max=this_year)
    return int(value)


def clean_address(raw: str) -> str:
    address = _text(raw, "address", required=True)
    assert address is not None
    return address


def clean_grid(raw: str) -> str | None:
    return _text(raw, "grid", required=False)


def clean_yes_no(raw: str) -> bool:
    value = (raw or "").strip().lower()
    if not value:
        raise InvalidInput("visits.field.required")
    if value in YES:
        return True
    if value in NO:
        return False
    raise InvalidInput("visits.field.bad_yes_no", value=raw.strip()[:20])


def clean_consent(raw: str) -> str | None:
    value = " ".join((raw or "").split()).lower()
    if not value or value in ("—", "-", "skip"):
        return None
    if value not in CONSENT_WAYS:
        raise InvalidInput("visits.field.bad_consent", value=raw.strip()[:20])
    return CONSENT_WAYS[value]


def clean_risk(raw: str) -> str:
    value = (raw or "").strip().lower()
    if not value:
        return "normal"
    if value not in RISKS:
        raise InvalidInput("visits.field.bad_risk", value=raw.strip()[:20])
    return RISKS[value]


ANY_PHONE = re.compile(r"\+?\d{7,15}")


def clean_elder_phone(raw: str) -> str | None:
    """A mobile number (kept as 11 digits) or, since many elders have only one, a landline."""
    if not (raw or "").strip():
        return None
    try:
        return clean_phone(raw)
    except InvalidInput:
        landline = re.sub(r"[\s\-()（）]", "", raw)
        if ANY_PHONE.fullmatch(landline):
            return landline
        raise InvalidInput("visits.field.bad_phone", value=raw.strip()[:20]) from None


def clean_contact(raw: str) -> str | None:
    return _text(raw, "emergency_contact", required=False)


def split_handles(raw: str) -> list[str]:
    return [h.strip().lstrip("@") for h in HANDLE_SEPARATORS.split(raw or "") if h.strip()]


def import_key(name: str, birth_year: int) -> str:
    """Name and birth year identify an elder in a community across imports."""
    return f"{''.join(name.split()).casefold()}|{birth_year}"


@dataclass(frozen=True)
class ElderRow:
    """One roster row with every field cleaned; people are still handles."""

    name: str
    birth_year: int
    address: str
    grid: str | None
    lives_alone: bool
    risk: str
    phone: str | None
    emergency_contact: str | None
    worker: str | None
    volunteers: tuple[str, ...]
    consent: str | None = None  # how the elder's consent was obtained; None: not yet

    @property
    def key(self) -> str:
        return import_key(self.name, self.birth_year)


def clean_row(values: dict[str, str], this_year: int) -> tuple[ElderRow | None, list[tuple[str, InvalidInput]]]:
    """The cleaned row, or None and every (column, problem) found."""
    problems: list[tuple[str, InvalidInput]] = []
    cleaned: dict[str, object] = {}
    cleaners = {
        "name": clean_elder_name,
        "birth_year": lambda v: clean_birth_year(v, this_year),
        "address": clean_address,
        "grid": clean_grid,
        "lives_alone": clean_yes_no,
        "risk": clean_risk,
        "phone": clean_elder_phone,
        "emergency_contact": clean_contact,
        "worker": lambda v: (v or "").strip().lstrip("@") or None,
        "volunteers": lambda v: tuple(split_handles(v)),
        "consent": clean_consent,
    }
    for column, clean in cleaners.items():
        try:
            cleaned[column] = clean(values.get(column, ""))
        except InvalidInput as problem:
            problems.append((column, problem))
    if problems:
        return None, problems
    return ElderRow(**cleaned), []  # type: ignore[arg-type]
