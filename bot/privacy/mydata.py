"""`/mydata`: everything the bank holds about a person, found by walking the schema.

Every table with a foreign key to `people` is read, so a table a later feature adds is in the
export without anyone remembering to list it. A column that names whose row it is (`person_id`,
`requester_id`, `member_id` …) makes the row the person's, and the whole row is theirs to see. A
column that names who acted (`decided_by_id`, `actor_id`, `worker_id`, `taker_id` …) makes the row
one the person handled for someone else: only what they did shows (the id, their column, the
status-like columns and the times), never the other person's notes, names or addresses. A
table with no column of the first kind (transfers, dialog states) is the person's through its
parent rows (their accounts, their identities). What is never exported: file contents, the
messages the bank sent (they name other people), and the encrypted ID number (its masked form is)."""

from __future__ import annotations

import base64
import io
import json
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Column, Date, DateTime, LargeBinary, Table, and_, or_, select
from sqlalchemy.orm import Session

from bot.kernel.access import get_person
from bot.kernel.audit import audit
from bot.kernel.clock import Clock
from bot.kernel.db import Database
from models import Base

PEOPLE = "people"
# Columns naming who acted on a row rather than whose row it is (besides every `*_by_id`).
ACTOR_COLUMNS = frozenset({"actor_id", "worker_id", "poster_id", "taker_id", "proxy_id", "leader_id", "handler_id"})
# Owned through another column than a foreign key to people: an elder who is a member owns the
# records of visits to them.
EXTRA_OWNERS = {"visit_records": ("elder_id",)}
KIND_COLUMNS = frozenset({"status", "kind", "action", "phase", "role", "channel", "subject_type"})
NEVER = {("downloads", "content"), ("notifications", "params"), ("id_documents", "encrypted")}


def is_actor(column: Column[Any]) -> bool:
    return column.name in ACTOR_COLUMNS or column.name.endswith("_by_id")


def person_columns(table: Table) -> list[Column[Any]]:
    return [c for c in table.columns if any(fk.column.table.name == PEOPLE for fk in c.foreign_keys)]


def covered_tables() -> list[Table]:
    """Every table the export reads: people, each table with a foreign key to it, and each table
    owned through a parent (a foreign key into one of those without a person column of its own)."""
    tables = [t for t in Base.metadata.sorted_tables if t.name == PEOPLE or person_columns(t)]
    names = {t.name for t in tables}
    for table in Base.metadata.sorted_tables:
        if table.name not in names and any(
            fk.column.table.name in names
            for c in table.columns
            for fk in c.foreign_keys
            if fk.column.table.name != table.name
        ):
            tables.append(table)
            names.add(table.name)
    return tables


@dataclass(frozen=True)
class Export:
    person_id: int
    made_at: datetime
    tables: dict[str, list[dict[str, Any]]]  # every covered table, [] when nothing is there
    owned: dict[str, set[Any]]  # table → primary keys of the rows that are the person's own

    @property
    def rows(self) -> int:
        return sum(len(rows) for rows in self.tables.values())


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    return value


class MyDataService:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db, self.clock = db, clock

    def collect(self, person_id: int) -> Export:
        """The person's export, and the export itself audited (one transaction)."""

        def work(session: Session) -> Export:
            found = collect(session, person_id)
            person = get_person(session, person_id)
            audit(
                session,
                self.clock,
                "data.export",
                person_id,
                person.community_id,
                "person",
                person_id,
                details={"rows": found.rows},
            )
            return Export(person_id, self.clock.now(), found.tables, found.owned)

        return self.db.transaction(work)


def collect(session: Session, person_id: int) -> Export:
    owned: dict[str, set[Any]] = {}  # table → primary keys of the person's own rows
    mine: dict[str, Any] = {}  # table → the SQL condition of those rows, for the tables hanging on them
    tables: dict[str, list[dict[str, Any]]] = {}
    for table in covered_tables():
        rows = _rows(session, table, person_id, owned, mine)
        tables[table.name] = rows
    return Export(person_id, datetime.min, tables, owned)


def _under(table: Table, column: Column[Any], parent: str, mine: dict[str, Any]) -> Any:
    """`column` points at one of the person's own rows of `parent` (a subquery, not a list of ids:
    a long history would pass SQLite's limit of bound values)."""
    target = next(fk.column for fk in column.foreign_keys if fk.column.table.name == parent)
    return column.in_(select(target).where(mine[parent]))


def _rows(
    session: Session, table: Table, person_id: int, owned: dict[str, set[Any]], mine: dict[str, Any]
) -> list[dict[str, Any]]:
    pk = list(table.primary_key.columns)
    if table.name == PEOPLE:
        owner_match = [table.c.id == person_id]
        actors: list[Column[Any]] = []
    else:
        cols = person_columns(table)
        actors = [c for c in cols if is_actor(c)]
        owners = [c for c in cols if not is_actor(c)]
        owner_match = [c == person_id for c in owners]
        parents = [
            (c, fk.column.table.name)
            for c in table.columns
            for fk in c.foreign_keys
            if fk.column.table.name in owned and fk.column.table.name not in (table.name, PEOPLE)
        ]
        if not owners:  # the person's through its parents (accounts → transfers)
            owner_match += [_under(table, c, parent, mine) for c, parent in parents if owned[parent]]
        for name in EXTRA_OWNERS.get(table.name, ()):
            parent = next(fk.column.table.name for fk in table.c[name].foreign_keys)
            if owned.get(parent):
                owner_match.append(_under(table, table.c[name], parent, mine))
    actor_match = [c == person_id for c in actors]
    if table.name == "audit_log":  # what was done to the person, beside what they did
        actor_match.append(and_(table.c.subject_type == "person", table.c.subject_id == person_id))
    matches = owner_match + actor_match
    if owner_match:
        mine[table.name] = or_(*owner_match)
    if not matches:
        owned[table.name] = set()
        return []
    found = session.execute(select(table).where(or_(*matches)).order_by(*pk)).mappings().all()
    keys: set[Any] = set()
    rows = []
    for row in found:
        key = tuple(row[c.name] for c in pk)
        theirs = _is_owner(table, row, person_id, owned)
        if theirs:
            keys.add(key[0] if len(key) == 1 else key)
        rows.append(_shown(table, row, person_id, theirs))
    owned[table.name] = keys
    return rows


def _is_owner(table: Table, row: Any, person_id: int, owned: dict[str, set[Any]]) -> bool:
    if table.name == PEOPLE:
        return bool(row["id"] == person_id)
    cols = person_columns(table)
    if any(row[c.name] == person_id for c in cols if not is_actor(c)):
        return True
    links = [
        (c.name, fk.column.table.name)
        for c in table.columns
        for fk in c.foreign_keys
        if fk.column.table.name not in (table.name, PEOPLE)
    ]
    if not any(not is_actor(c) for c in cols) and any(row[name] in owned.get(parent, ()) for name, parent in links):
        return True
    for name in EXTRA_OWNERS.get(table.name, ()):
        parent = next(fk.column.table.name for fk in table.c[name].foreign_keys)
        if row[name] in owned.get(parent, ()):
            return True
    return False


def _shown(table: Table, row: Any, person_id: int, theirs: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for column in table.columns:
        if (table.name, column.name) in NEVER or isinstance(column.type, LargeBinary):
            continue
        if not theirs and not (
            column.primary_key
            or column.name in KIND_COLUMNS
            or isinstance(column.type, Date | DateTime)
            or isinstance(getattr(column.type, "impl", None), DateTime)
            or (is_actor(column) and row[column.name] == person_id)
        ):
            continue
        out[column.name] = _plain(row[column.name])
    return out


def to_json(export: Export) -> bytes:
    return json.dumps(
        {"person_id": export.person_id, "made_at": export.made_at.isoformat(), "tables": export.tables},
        ensure_ascii=False,
        indent=1,
        default=str,
    ).encode()


def to_xlsx(export: Export, title: str) -> bytes:
    """One sheet per table with rows, after a first sheet listing every table and its count.
    Every cell is a plain value; text is never read as a formula."""
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.worksheet.worksheet import Worksheet

    book = Workbook()
    first = book.active
    assert isinstance(first, Worksheet)  # a new workbook opens on its one empty worksheet
    first.title = "index"
    first.append([title])
    first.append(["table", "rows"])
    for name, rows in export.tables.items():
        first.append([name, len(rows)])
    for name, rows in export.tables.items():
        if not rows:
            continue
        sheet = book.create_sheet(name[:31])
        headers = list(dict.fromkeys(k for row in rows for k in row))
        sheet.append(headers)
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        for row in rows:
            sheet.append([_cell(row.get(h)) for h in headers])
        for cells in sheet.iter_rows(min_row=2):
            for cell in cells:
                if isinstance(cell.value, str):
                    cell.data_type = "s"  # never a formula, whatever the text starts with
        sheet.freeze_panes = "A2"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _cell(value: Any) -> Any:
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return value
