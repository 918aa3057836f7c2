"""The command line for records an office keeps: a community's star-level thresholds
(`lovebank star-levels`) and the month's hours for the national volunteer system
(`lovebank export volunteer-hours`)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.runtime.cli import main
from tests.db.test_cli_operator import bank  # noqa: F401  (the fixture)


def test_star_levels_are_shown_set_checked_and_reset(
    bank: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["star-levels", "--community", "幸福社区"]) == 0
    assert capsys.readouterr().out.strip() == "100 300 600 1000 1500"
    assert main(["star-levels", "50", "150", "300", "500", "800", "--community", "幸福社区"]) == 0
    assert capsys.readouterr().out.strip() == "50 150 300 500 800"
    assert main(["star-levels", "5", "4", "3", "2", "1", "--community", "幸福社区"]) == 2
    assert "递增" in capsys.readouterr().err
    assert main(["star-levels", "--community", "幸福社区"]) == 0
    assert capsys.readouterr().out.strip() == "50 150 300 500 800"
    assert main(["star-levels", "--reset", "--community", "幸福社区"]) == 0
    assert capsys.readouterr().out.strip() == "100 300 600 1000 1500"
    assert main(["star-levels", "--community", "没有这个社区"]) == 2


def test_volunteer_hours_are_written_as_csv_with_a_bom_and_as_xlsx(
    bank: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from openpyxl import load_workbook

    assert main(["export", "volunteer-hours", "--month", bank, "--community", "幸福社区", "-o", "hours.xlsx"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [f"已写入 {tmp_path / 'hours.csv'}", f"已写入 {tmp_path / 'hours.xlsx'}"]
    raw = (tmp_path / "hours.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # Excel reads the Chinese as UTF-8 only with the mark
    lines = raw.decode("utf-8-sig").splitlines()
    assert lines[0] == "姓名,证件类型,证件号码,服务项目,服务日期,服务时长（小时）,记录组织"
    assert len(lines) == 2 and re.fullmatch(rf"志愿者1,,,助餐,{bank}-\d\d,1.00,幸福社区", lines[1]), lines
    sheet = load_workbook(tmp_path / "hours.xlsx")["志愿服务时长"]
    rows = [[c.value for c in row] for row in sheet.iter_rows()]
    assert rows[0] == ["姓名", "证件类型", "证件号码", "服务项目", "服务日期", "服务时长（小时）", "记录组织"]
    assert rows[1][1:4] == [None, None, "助餐"] and rows[1][5] == 1 and rows[1][6] == "幸福社区"

    assert main(["export", "volunteer-hours", "--month", "2999-01", "--community", "幸福社区"]) == 2
    assert main(["export", "volunteer-hours", "--month", "十一月", "--community", "幸福社区"]) == 2
    assert not list(tmp_path.glob("volunteer-hours-*"))
