"""An elder's consent on the roster (issue 22, item 5): how it was obtained (in person, by phone,
from family), by which worker and when, from the roster file at the command line and from the
chat; without it a volunteer sees no address."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from bot.runtime.cli import main
from bot.services import Services
from tests.db.test_cli_operator import bank  # noqa: F401 - the fixture: a bank file with 幸福社区
from tests.visits_world import Chat, roster_world

pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")


def test_the_roster_file_says_how_consent_was_obtained(
    bank: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    roster = tmp_path / "花名册.csv"
    roster.write_text(
        "姓名,出生年份,地址,是否独居,社工,知情同意\n"
        "王秀英,1942,幸福里3栋501,是,worker1,当面\n"
        "李建国,1960,幸福里5栋201,是,,\n"
        "张桂兰,1950,幸福里1栋101,否,,家属\n",
        encoding="utf-8",
    )
    assert main(["import", "elders", str(roster), "--community", "幸福社区"]) == 0
    with sqlite3.connect(tmp_path / "bank.db") as db:
        rows = db.execute(
            "SELECT e.name, c.kind, c.obtained, p.display_name, c.notice_version, c.created_at IS NOT NULL "
            "FROM consents c JOIN elders e ON e.id = c.elder_id LEFT JOIN people p ON p.id = c.by_id ORDER BY e.id"
        ).fetchall()
        audited = db.execute("SELECT count(*) FROM audit_log WHERE action = 'consent.elder'").fetchone()[0]
    # By the row's worker; a row without one: by whoever imported it (the operator: nobody in the bank).
    assert rows == [
        ("王秀英", "elder", "in_person", "张社工", "2026-12", 1),
        ("张桂兰", "elder", "family", None, "2026-12", 1),
    ]
    assert audited == 2
    # Importing again records nothing twice; a way nobody knows is refused by row and column.
    assert main(["import", "elders", str(roster), "--community", "幸福社区"]) == 0
    roster.write_text("姓名,出生年份,地址,是否独居,知情同意\n王秀英,1942,幸福里3栋501,是,也许\n", encoding="utf-8")
    capsys.readouterr()
    assert main(["import", "elders", str(roster), "--community", "幸福社区"]) == 1
    assert "第 2 行 知情同意：“也许”不是同意方式" in capsys.readouterr().out
    with sqlite3.connect(tmp_path / "bank.db") as db:
        assert db.execute("SELECT count(*) FROM consents WHERE kind = 'elder'").fetchone()[0] == 2


async def test_a_worker_records_consent_in_the_chat_and_the_volunteer_then_sees_the_address(services: Services) -> None:
    r = await roster_world(services)
    wang = r.elders["王秀英"]
    worker, volunteer = Chat(services, "worker1"), Chat(services, "volunteer1")
    assert "地址：—" in await volunteer.say(f"/elders E{wang}")
    assert "知情同意：—（尚未取得同意）" in await worker.say(f"/elders E{wang}")
    assert (await worker.say("/consent")).startswith("用法：/consent")
    assert (await worker.say(f"/consent E{wang} 也许")).startswith("“也许”不是同意方式")
    assert await volunteer.say(f"/consent E{wang} 当面") == "只有本社区的社区工作者可以这样做。"
    said = await worker.say(f"/consent E{wang} 电话")
    assert said.startswith(f"已记录 E{wang} 王秀英 的知情同意：电话同意（经办：张社工）")
    assert "已经登记过知情同意（电话同意）" in await Chat(services, "worker2").say(f"/consent E{wang} 当面")
    assert "幸福里3栋501" in await volunteer.say(f"/elders E{wang}")
    assert "知情同意：电话同意" in await worker.say(f"/elders E{wang}")
    # The audit trail of the elder shows it.
    assert "张社工 登记老人同意 E" in await worker.say(f"/audit E{wang}")
