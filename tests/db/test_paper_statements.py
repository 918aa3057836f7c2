"""`lovebank print statements` as an operator runs it: one A4 page per offline member (no
reachable chat: registered by a worker, or only a chat that refuses delivery), whose figures
read back from the PDF (pypdf) equal what `/balance` says for that member, in Chinese; a grid
narrows it; a bad month, grid or community is one line and a non-zero exit, never a traceback."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
from pypdf import PdfReader
from sqlalchemy import select, update

from bot.dialogs.engine import Dialogs
from bot.kernel.db import Database
from bot.kernel.migrate import upgrade
from bot.kernel.settings import Settings, get_settings
from bot.runtime.cli import main
from bot.services import Services
from models import AuditEntry, Grid, Identity, Membership, Person
from tests.dialogs.chat import Chat
from tests.world import make_world


def _services(url: str) -> Services:
    return Services(Database(url), Settings(_env_file=None, database_url=url, admins=["console:admin"]))  # type: ignore[call-arg]


async def _seed(url: str) -> str:
    """志愿者2 served twice this month and has goods waiting with a pickup code, then blocked the
    bot (their one chat is unreachable); 王奶奶 has no chat at all: 志愿者1's relative, registered
    by a worker, given points. 王奶奶 lives in 一网格."""
    await upgrade(url)
    services = _services(url)
    try:
        w = await make_world(services, volunteers=3)
        worker = Chat(Dialogs(services), "worker1")
        assert "H1" in await worker.say("/record 志愿者2 2h 助餐")
        assert "H2" in await worker.say("/record 志愿者2 90m 探访")
        await worker.say("/family link 志愿者1 王奶奶")
        assert "王奶奶" in await worker.press("yes")
        with services.db.read() as session:
            grandma = session.scalars(select(Person.id).where(Person.display_name == "王奶奶")).one()
        await services.run(services.points.adjust, w.worker, w.community_id, grandma, 80, "重阳节慰问", "adj-grandma")
        item = await services.run(services.shop.add_item, w.worker, w.community_id, "大米5斤", 15, 10)
        order = await services.run(services.shop.redeem, w.volunteers[1], w.community_id, item.id, 2, request_key="r1")
        await services.run(services.shop.approve, w.worker2, order.redemption.id)

        def place(session) -> None:
            grid = Grid(community_id=w.community_id, name="一网格")
            session.add(grid)
            session.flush()
            session.execute(update(Membership).where(Membership.person_id == grandma).values(grid_id=grid.id))
            # What delivery does when the platform refuses: the volunteer blocked the bot.
            now = services.clock.now()
            session.execute(update(Identity).where(Identity.person_id == w.volunteers[1]).values(unreachable_at=now))

        await services.run(services.db.transaction, place)
        return f"{services.clock.community('Asia/Shanghai').today():%Y-%m}"
    finally:
        await services.db.dispose()


async def _balances(url: str) -> dict[str, str]:
    """What /balance says for each offline member: 志愿者2 in their own chat (it still reads;
    only delivery fails), 王奶奶 through 志愿者1 acting for her (/as)."""
    services = _services(url)
    try:
        dialogs = Dialogs(services)
        volunteer2, volunteer1 = Chat(dialogs, "volunteer2"), Chat(dialogs, "volunteer1")
        said = {"志愿者2": await volunteer2.say("/balance")}
        await volunteer1.say("/as 王奶奶")
        said["王奶奶"] = await volunteer1.say("/balance")
        return said
    finally:
        await services.db.dispose()


async def _exports(url: str) -> list[dict]:
    services = _services(url)
    try:
        with services.db.read() as session:
            return list(session.scalars(select(AuditEntry.details).where(AuditEntry.action == "export.statements")))
    finally:
        await services.db.dispose()


@pytest.fixture
def operator(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LOVEBANK_DATABASE_URL", f"sqlite:///{tmp_path / 'bank.db'}")
    get_settings.cache_clear()
    yield asyncio.run(_seed(get_settings().database_url))
    get_settings.cache_clear()


def pages(path: Path) -> list[str]:
    """Each page's text without spaces and NULs (pypdf reads fpdf2's CFF font codes with a NUL
    beside each character)."""
    return [re.sub(r"[\s\x00]+", "", page.extract_text()) for page in PdfReader(path).pages]


def figures(balance: str) -> list[str]:
    """/balance's numbers as the statement prints them."""
    found = re.search(r"可用积分：(\d+)\n冻结中：(\d+)\n累计获得：(\d+) 分\n累计服务：([\d.]+) 小时", balance)
    assert found is not None, balance
    available, pending, earned, hours = found.groups()
    return [f"可用积分{available}分", f"冻结中{pending}分", f"累计获得{earned}分", f"累计服务{hours}小时"]


def test_one_page_per_offline_member_with_the_figures_of_balance(
    operator: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    month = operator
    args = ["print", "statements", "--community", "幸福社区", "--month", month, "-o", "statements.pdf"]
    assert main(args) == 0
    assert capsys.readouterr().out.strip() == f"已写入 {tmp_path / 'statements.pdf'}：2 位成员的对账单（每人一页）"
    text = pages(tmp_path / "statements.pdf")
    assert len(text) == 2
    by_name = {name: page for page in text for name in ("王奶奶", "志愿者2") if f"姓名：{name}" in page}
    assert set(by_name) == {"王奶奶", "志愿者2"}  # and nobody who reads the chat (志愿者1, 志愿者3)
    assert not any("志愿者1" in page or "志愿者3" in page for page in text)

    balances = asyncio.run(_balances(get_settings().database_url))
    for name, said in balances.items():
        for figure in figures(said):
            assert figure in by_name[name], (name, figure, by_name[name])
    assert "可用积分80分" in by_name["王奶奶"] and "一网格" in by_name["王奶奶"]
    # 志愿者2: 3.5 hours this month (2 h 助餐 + 1.5 h 探访), 30 points of rice held then approved.
    volunteer = by_name["志愿者2"]
    assert "本月服务：2次，3.5小时" in volunteer and "助餐2小时" in volunteer and "探访1.5小时" in volunteer
    assert "本月兑换：1笔，30分" in volunteer and "大米5斤×2" in volunteer
    assert re.search(r"取货码[0-9A-Z]{4,8}大米5斤×2", volunteer)
    assert "尚未评星" in volunteer and "爱心银行积分对账单" in volunteer
    assert "社区联系方式：请到社区服务站咨询" in volunteer  # no contact set yet

    # A contact line set by the operator is printed; a grid keeps its members only.
    assert main(["contact", "--community", "幸福社区", "社区服务站 0571-88888888"]) == 0
    assert "社区服务站 0571-88888888" in capsys.readouterr().out
    assert main([*args[:4], "--grid", "一网格", "--month", month, "-o", "grid.pdf"]) == 0
    grid = pages(tmp_path / "grid.pdf")
    assert len(grid) == 1 and "姓名：王奶奶" in grid[0] and "社区联系方式：社区服务站0571-88888888" in grid[0]
    # Each printing is logged like an export.
    printings = asyncio.run(_exports(get_settings().database_url))
    assert [(d["pages"], d["grid"], d["month"]) for d in printings] == [(2, None, month), (1, "一网格", month)]


def test_bad_month_grid_or_community_is_one_line_and_exit_2(
    operator: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["print", "statements", "-o", "x.pdf"]
    assert main([*base, "--community", "幸福社区", "--month", "2026-13"]) == 2
    assert capsys.readouterr().err.strip() == "lovebank: 月份格式不对，请写成 2026-11 这样。"
    assert main([*base, "--community", "幸福社区", "--month", operator, "--grid", "九网格"]) == 2
    assert capsys.readouterr().err.strip() == "lovebank: 这个社区没有“九网格”这个网格。现有的网格：一网格"
    assert main([*base, "--community", "无此社区", "--month", operator]) == 2
    assert capsys.readouterr().err.strip() == "lovebank: 请用 --community 写明是哪个社区：幸福社区、和谐社区"
    assert main([*base, "--month", operator]) == 2  # two communities: which one?
    assert main(["contact", "--community", "幸福社区", "x" * 61]) == 2
    assert "不超过 60 个字" in capsys.readouterr().err
    assert not (tmp_path / "x.pdf").exists()
