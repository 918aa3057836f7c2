"""/mydata and /forget in the console chat of the demo community: the export is saved as a file in
the current folder (a terminal cannot show one) and says where; a worker approves the forgetting."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from openpyxl import load_workbook

from bot import demo
from bot.services import Services
from handlers.console import chat


async def say(services: Services, handle: str, *lines: str) -> str:
    out = io.StringIO()
    await chat(services, handle, io.StringIO("".join(f"{line}\n" for line in lines)), out)
    return out.getvalue()


async def test_mydata_is_saved_as_a_file_and_forget_is_approved(
    services: Services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    await demo.seed(services)
    out = await say(services, "volunteer1", "/我的数据")
    saved = re.search(r"📎 (\S+\.xlsx)", out)
    assert saved is not None and "条记录" in out, out
    book = load_workbook(tmp_path / saved.group(1))
    people = list(book["people"].iter_rows(values_only=True))
    assert "王芳" in str(people) and "刘洋" not in str(people)

    assert "王芳" in await say(services, "worker1", "/top all")
    assert "F1" in await say(services, "volunteer1", "/注销", "/forget confirm")
    done = await say(services, "worker1", "/approve F1")
    assert "已注销 F1" in done and "已注销用户#" in done
    assert "王芳" not in await say(services, "worker1", "/top all")
