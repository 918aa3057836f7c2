"""The command line for records an office keeps: a community's star-level thresholds
(`lovebank star-levels`) and the month's hours for the national volunteer system
(`lovebank export volunteer-hours`)."""

from __future__ import annotations

import pytest

from bot.cli import main
from tests.db.test_cli_operator import bank  # noqa: F401  (the fixture)


def test_star_levels_are_shown_set_checked_and_reset(bank: str, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
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
