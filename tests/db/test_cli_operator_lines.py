"""The command line as an operator meets it, continued: every line in their language (jobs, demo,
parked), exports that a spreadsheet reads as text and the import reads back as they were, broken
files and a database that cannot save said in one line, and a reader that goes away."""

from __future__ import annotations

import asyncio
import io
import os
import sqlite3
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event

from bot.dialogs.core import Input
from bot.kernel.db import Database
from bot.kernel.settings import Settings
from bot.runtime.cli import main
from bot.services import Services
from tests.db.test_cli_operator import _locale, bank  # noqa: F401  (the fixture)
from tests.visits_world import GOOD, Chat, csv_bytes

ROOT = Path(__file__).resolve().parents[2]


def _url() -> str:
    return os.environ["LOVEBANK_DATABASE_URL"]


def _in_bank(work: Any) -> Any:
    """Run `work(services)` against the bank file, as a person's chat or a worker would."""

    async def run() -> Any:
        services = Services(Database(_url()), Settings(_env_file=None, database_url=_url(), admins=["console:admin"]))  # type: ignore[call-arg]
        try:
            return await work(services)
        finally:
            await services.db.dispose()

    return asyncio.run(run())


def _rows(tmp_path: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(tmp_path / "bank.db") as db:
        return db.execute(sql).fetchall()


def test_jobs_demo_and_parked_speak_the_operators_language(
    bank: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert main(["jobs", "run", "expire-points"]) == 0
    assert capsys.readouterr().out == "expire-points：0 人共 0 分已到期，发出到期提醒 0 条\n"
    assert main(["jobs", "run", "expire-holds"]) == 0
    assert capsys.readouterr().out == "expire-holds：0 笔兑换已过期\n"
    assert main(["jobs", "list"]) == 0
    assert "expire-points\t每天：积分到期前 30 天通知本人" in capsys.readouterr().out
    assert main(["jobs", "run", "no-such-job"]) == 2
    assert capsys.readouterr().err.startswith("lovebank: 没有名为“no-such-job”的任务；可用的任务：")
    assert main(["db", "upgrade"]) == 0
    assert capsys.readouterr().out == "数据库已是最新结构\n"
    assert main(["parked"]) == 0
    assert capsys.readouterr().out == "没有暂存的消息或通知。\n"
    with sqlite3.connect(tmp_path / "bank.db") as db:  # a notification the outbox gave up on
        db.execute(
            "INSERT INTO notifications (person_id, key, params, created_at, attempts, parked_at, error) "
            "VALUES (1, 'notify.log_approved', '{}', '2026-11-20 04:00:00', 5, '2026-11-20 05:00:00', 'boom')"
        )
    assert main(["parked"]) == 0
    assert "通知 1\tnotify.log_approved，发给 第 1 号用户\t2026-11-20 04:00\t试过 5 次\tboom" in capsys.readouterr().out
    assert main(["parked", "retry", "notification", "1"]) == 0
    assert capsys.readouterr().out == "通知 1 会再试一次。\n"
    assert main(["demo", "--seed-only"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "演示社区 阳光社区：已创建",
        f"数据库：{tmp_path / 'bank.db'}（另设 LOVEBANK_DATABASE_URL 可改）",
    ]
    _locale(monkeypatch, "en")
    assert main(["demo", "--seed-only"]) == 0
    assert capsys.readouterr().out.splitlines()[0] == "demo community 阳光社区: already there"
    assert main(["jobs", "run", "expire-points"]) == 0
    assert capsys.readouterr().out == "expire-points: 0 point(s) of 0 person(s) expired, 0 notice(s) sent\n"


def test_stock_lines_never_start_a_formula(bank: str, capsys: pytest.CaptureFixture[str]) -> None:
    names = ["=1+1", "+SUM(A1)", "@cmd", "-2+3", "'=quoted", "大米5kg"]

    async def add(services: Services) -> None:
        worker = Chat(services, "worker1")
        for name in names:
            assert "I" in await worker.say(f"/additem {name} 10 5")

    _in_bank(add)
    assert main(["export", "stock", "--month", bank]) == 0
    shown = [line.split("\t")[2] for line in capsys.readouterr().out.splitlines()[1:]]
    assert shown == ["'=1+1", "'+SUM(A1)", "'@cmd", "'-2+3", "''=quoted", "大米5kg"]


def test_an_exported_roster_imports_back_as_it_was(
    bank: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    roster = tmp_path / "roster.csv"
    roster.write_bytes(csv_bytes(*(row.replace("volunteer3", "volunteer2") for row in GOOD)))  # the bank has 2
    assert main(["import", "elders", str(roster), "--community", "幸福社区"]) == 0

    async def export(services: Services) -> bytes:
        worker = Chat(services, "worker1")
        [[elder]] = _rows(tmp_path, "SELECT id FROM elders WHERE name = '张桂兰'")
        assert "=ELD2()" in await worker.say(f"/editelder E{elder} name =ELD2()")
        turn = await worker.dialogs.handle(worker.caller, Input(text="/elders export"))
        return turn.replies[0].document.content

    exported = tmp_path / "elders.csv"
    exported.write_bytes(_in_bank(export))
    assert "'=ELD2()" in exported.read_text(encoding="utf-8-sig")  # as text in a spreadsheet
    before = _rows(tmp_path, "SELECT id, name, birth_year, address, phone FROM elders ORDER BY id")
    capsys.readouterr()
    assert main(["import", "elders", str(exported), "--community", "幸福社区"]) == 0
    assert "新增 0 位，更新 0 位，无变化 3 位" in capsys.readouterr().out
    assert _rows(tmp_path, "SELECT id, name, birth_year, address, phone FROM elders ORDER BY id") == before
    assert ("=ELD2()",) in _rows(tmp_path, "SELECT name FROM elders")


# --- broken XLSX files, made by hand --------------------------------------------------------------

_PARTS = {
    "[Content_Types].xml": (
        '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
        '<Override PartName="/xl/worksheets/sheet1.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
        '<Override PartName="/xl/sharedStrings.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>'
        "</Types>"
    ),
    "_rels/.rels": (
        '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" '
        'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" '
        'Target="xl/workbook.xml"/></Relationships>'
    ),
    "xl/workbook.xml": (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
        'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
        '<sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>'
    ),
    "xl/_rels/workbook.xml.rels": (
        '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" '
        'Target="worksheets/sheet1.xml"/>'
        '<Relationship Id="rId2" '
        'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" '
        'Target="sharedStrings.xml"/></Relationships>'
    ),
    "xl/sharedStrings.xml": (
        '<?xml version="1.0" encoding="UTF-8"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
        'count="4" uniqueCount="4"><si><t>姓名</t></si><si><t>出生年份</t></si><si><t>地址</t></si>'
        "<si><t>是否独居</t></si></sst>"
    ),
}


def _xlsx(*, prolog: str = "", name_index: int = 0) -> bytes:
    """A roster of one elder: the header from shared strings (the first at `name_index`)."""
    sheet = (
        f'<?xml version="1.0" encoding="UTF-8"?>{prolog}'
        '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
        f'<row r="1"><c r="A1" t="s"><v>{name_index}</v></c><c r="B1" t="s"><v>1</v></c>'
        '<c r="C1" t="s"><v>2</v></c><c r="D1" t="s"><v>3</v></c></row>'
        '<row r="2"><c r="A2" t="inlineStr"><is><t>赵大爷</t></is></c><c r="B2"><v>1944</v></c>'
        '<c r="C2" t="inlineStr"><is><t>幸福里9栋</t></is></c><c r="D2" t="inlineStr"><is><t>是</t></is></c></row>'
        "</sheetData></worksheet>"
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as book:
        for name, part in {**_PARTS, "xl/worksheets/sheet1.xml": sheet}.items():
            book.writestr(name, part)
    return out.getvalue()


@pytest.mark.parametrize(
    "broken",
    [
        _xlsx(prolog='<!DOCTYPE worksheet [<!ENTITY who "赵大爷">]>'),
        _xlsx(name_index=99),  # a shared string that is not there
    ],
    ids=["doctype", "bad-shared-string"],
)
def test_a_broken_xlsx_is_refused_in_one_line_and_imports_nothing(
    broken: bytes, bank: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "broken.xlsx").write_bytes(broken)
    assert main(["import", "elders", str(tmp_path / "broken.xlsx"), "--community", "幸福社区"]) == 1
    out, err = capsys.readouterr()
    assert "读不了这个文件" in out and "什么都没有导入" in out and "Traceback" not in out + err
    assert _rows(tmp_path, "SELECT count(*) FROM elders") == [(0,)]
    (tmp_path / "good.xlsx").write_bytes(_xlsx())  # the same file, unbroken, imports
    assert main(["import", "elders", str(tmp_path / "good.xlsx"), "--community", "幸福社区"]) == 0
    assert _rows(tmp_path, "SELECT name FROM elders") == [("赵大爷",)]


# --- a database that cannot save, during a chat turn ------------------------------------------------


def _chat_process(url: str, cwd: Path, stdin: str, **popen: Any) -> subprocess.Popen[str]:
    env = {**os.environ, "LOVEBANK_DATABASE_URL": url, "LOVEBANK_LOCALE": "zh-CN", "PYTHONPATH": str(ROOT)}
    env.pop("LOVEBANK_ADMINS", None)
    return subprocess.Popen(
        [sys.executable, "-m", "bot", "chat", "--as", "volunteer1"],
        cwd=cwd,
        env=env,
        text=True,
        stdin=subprocess.PIPE,
        **popen,
    )


def test_a_read_only_database_is_one_line_and_exit_3(bank: str, tmp_path: Path) -> None:
    db = tmp_path / "bank.db"
    before = _rows(tmp_path, "SELECT count(*) FROM service_logs")
    os.chmod(db, 0o444)
    try:
        # Root writes through permission bits; `mode=ro` makes SQLite honour them for everyone.
        url = f"sqlite+aiosqlite:///file:{db}?mode=ro&uri=true"
        chat = _chat_process(url, tmp_path, "", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        _out, err = chat.communicate("/log 1h 探访\n", timeout=120)
    finally:
        os.chmod(db, 0o644)
    assert chat.returncode == 3, err
    assert err.count("\n") == 1 and "是只读的，无法保存" in err and str(db) in err and "Traceback" not in err
    assert _rows(tmp_path, "SELECT count(*) FROM service_logs") == before


@pytest.fixture
def full_disk() -> Iterator[list[str]]:
    """The disk fills up in the middle of the first transaction that records hours: its second
    write fails as SQLite reports it. Yields the statements that got through."""
    through: list[str] = []

    def write(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if not statement.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE")):
            return
        if through or "service_logs" in statement:
            through.append(statement)
        if len(through) == 2:
            raise sqlite3.OperationalError("database or disk is full")

    event.listen(Engine, "before_cursor_execute", write)
    try:
        yield through
    finally:
        event.remove(Engine, "before_cursor_execute", write)


def test_a_full_disk_in_a_chat_turn_is_one_line_and_saves_nothing_of_it(
    bank: str, tmp_path: Path, full_disk: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    before = [_rows(tmp_path, f"SELECT count(*) FROM {t}") for t in ("service_logs", "audit_log")]
    monkeypatch.setattr(sys, "stdin", io.StringIO("/balance\n/log 1h 探访\n/balance\n"))
    assert main(["chat", "--as", "volunteer1"]) == 3
    out, err = capsys.readouterr()
    assert "可用积分" in out  # the first turn was answered
    assert err == f"lovebank: 数据库 {tmp_path / 'bank.db'} 所在的磁盘已满，无法保存：请腾出空间后再试。\n"
    assert "service_logs" in full_disk[0]  # the record was written, then the disk was full
    assert [_rows(tmp_path, f"SELECT count(*) FROM {t}") for t in ("service_logs", "audit_log")] == before


def test_a_reader_that_goes_away_ends_the_chat_quietly(bank: str, tmp_path: Path) -> None:
    # More answers than a pipe holds: the chat is still writing when `head` has had enough.
    chat = _chat_process(_url(), tmp_path, "", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert chat.stdin is not None and chat.stdout is not None
    chat.stdin.write("/help\n" * 400)
    chat.stdin.close()
    first = chat.stdout.readline()
    chat.stdout.close()
    err = chat.stderr.read() if chat.stderr else ""
    assert chat.wait(timeout=120) == 0, err
    assert first.strip() and err == ""
