"""`lovebank export report` and `lovebank jobs run star-list --period week`, as an operator runs
them (SQLite file, the real clock)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest
from openpyxl import load_workbook

from bot.kernel.db import Database
from bot.kernel.migrate import upgrade
from bot.kernel.settings import Settings, get_settings
from bot.runtime.cli import main
from bot.services import Services
from tests.world import make_world


async def _seed(url: str) -> str:
    await upgrade(url)
    services = Services(Database(url), Settings(_env_file=None, database_url=url, admins=["console:admin"]))  # type: ignore[call-arg]
    try:
        w = await make_world(services, volunteers=2)
        today = services.clock.community("Asia/Shanghai").today()
        for volunteer, minutes in zip(w.volunteers, (120, 60), strict=True):
            await services.run(
                services.hours.record,
                w.worker,
                w.community_id,
                [volunteer],
                category_id=w.categories["助餐"],
                service_date=today - timedelta(days=7),
                minutes=minutes,
            )
        await services.run(services.stars.set_group, w.worker, w.community_id, "telegram", "-100200")
        return f"{today:%Y-%m}"
    finally:
        await services.db.dispose()


@pytest.fixture
def operator(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LOVEBANK_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'bank.db'}")
    get_settings.cache_clear()
    yield asyncio.run(_seed(get_settings().database_url))
    get_settings.cache_clear()


def test_export_report_xlsx_and_csv(operator: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    month = operator
    assert main(["export", "report", "--month", month, "-o", "report.xlsx", "--community", "幸福社区"]) == 0
    book = load_workbook(tmp_path / "report.xlsx")
    assert book.sheetnames[:2] == ["志愿者", "积分台账"]
    assert (
        main(["export", "report", "--month", month, "-o", "report.csv", "--community", "幸福社区", "--locale", "en"])
        == 0
    )
    written = capsys.readouterr().out.splitlines()  # where each file went, in full
    assert written[0] == f"已写入 {tmp_path / 'report.xlsx'}"
    assert (
        f"wrote {tmp_path / 'report-volunteers.csv'}" in written and f"wrote {tmp_path / 'report-chart.png'}" in written
    )
    assert (tmp_path / "report-ledger.csv").read_text(encoding="utf-8-sig").startswith("Item,Points")

    assert main(["export", "report", "--month", month, "-o", "x.xlsx"]) == 2  # two communities: which one?
    assert "幸福社区、和谐社区" in capsys.readouterr().err
    assert main(["export", "report", "--month", "2026-13", "-o", "x.xlsx", "--community", "幸福社区"]) == 2
    assert not (tmp_path / "x.xlsx").exists()


def test_jobs_run_star_list_posts_last_week_once(operator: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["jobs", "run", "star-list", "--period", "week"]) == 0
    assert capsys.readouterr().out.strip() == "star-list：发布 1 次，之前已发布 0 次，无内容可发布 0 个社区"
    assert main(["jobs", "run", "star-list", "--period", "week"]) == 0
    assert capsys.readouterr().out.strip() == "star-list：发布 0 次，之前已发布 1 次，无内容可发布 0 个社区"
