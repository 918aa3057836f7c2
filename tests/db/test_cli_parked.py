"""`lovebank parked` as an operator meets it after a bad day: totals and pages (not a silent cut at
100), everything sent back at once (`retry all`, per channel), lines in their language, and the
admins' notice naming a command that exists."""

from __future__ import annotations

import asyncio
import re
import shlex
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from bot.kernel.db import Database
from bot.kernel.i18n import LOCALES, render
from bot.kernel.migrate import upgrade
from bot.kernel.settings import Settings, get_settings
from bot.runtime.cli import _parser, main
from bot.services import Services
from models import InboxEntry, Notification


def _park(url: str) -> None:
    """150 parked notifications (100 for a person on WeChat, 50 for one on Telegram) and 3
    parked WeChat updates, as a bad day leaves them."""

    async def seed() -> None:
        await upgrade(url)
        services = Services(Database(url), Settings(_env_file=None, database_url=url))  # type: ignore[call-arg]
        try:
            on_wechat, _ = await services.run(services.people.identify, "wechat", "oW", display_name="w")
            on_telegram, _ = await services.run(services.people.identify, "telegram", "77", display_name="t")
            for n in range(3):
                await services.run(services.inbox.store, "wechat", f"m{n}", "oW", {"xml": {}})
            now = datetime.now(UTC)
            with services.db.uow() as session:
                for n in range(150):
                    session.add(
                        Notification(
                            person_id=on_wechat.id if n < 100 else on_telegram.id,
                            created_at=now,
                            key="notify.log_approved",
                            params={},
                            parked_at=now,
                            attempts=5,
                            error="WeChat error 40003: invalid openid",
                        )
                    )
                session.execute(update(InboxEntry).values(status="parked", attempts=5, error="boom"))
                session.commit()
        finally:
            await services.db.dispose()

    asyncio.run(seed())


@pytest.fixture
def bank(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.chdir(tmp_path)
    url = f"sqlite:///{tmp_path / 'bank.db'}"
    monkeypatch.setenv("LOVEBANK_DATABASE_URL", url)
    monkeypatch.delenv("LOVEBANK_LOCALE", raising=False)
    get_settings.cache_clear()
    _park(url)
    yield url
    get_settings.cache_clear()


def _count(url: str, *where: object) -> int:
    async def run() -> int:
        db = Database(url)
        try:
            with db.read() as session:
                return session.scalar(select(func.count()).select_from(Notification).where(*where)) or 0
        finally:
            await db.dispose()

    return asyncio.run(run())


def test_parked_shows_totals_and_pages(bank: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["parked"]) == 0
    out = capsys.readouterr().out
    assert "暂存：消息 3 条（wechat 3），通知 150 条（telegram 50，wechat 100）。" in out
    assert "第 1/4 页，每页 50 条。" in out and "下一页：lovebank parked --page 2" in out
    lines = [line for line in out.splitlines() if line.startswith(("消息 ", "通知 "))]
    assert len(lines) == 50 and lines[0].startswith("消息 1\twechat m0，来自 oW") and "试过 5 次\tboom" in lines[0]
    assert "lovebank parked retry all" in out
    assert main(["parked", "--page", "4"]) == 0
    last = capsys.readouterr().out
    assert "第 4/4 页" in last and "下一页" not in last
    assert len([line for line in last.splitlines() if line.startswith("通知 ")]) == 3  # 153 = 3 × 50 + 3
    assert main(["parked", "list", "--channel", "telegram"]) == 0
    telegram = capsys.readouterr().out
    assert "通知 50 条（telegram 50）" in telegram and "消息 0 条" in telegram and "第 1/1 页" in telegram


def test_retry_all_per_channel_then_the_rest(
    bank: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert main(["parked", "retry", "all", "--channel", "wechat"]) == 0
    assert "已放回重试（仅 wechat）：消息 3 条，通知 100 条。" in capsys.readouterr().out
    assert _count(bank, Notification.parked_at.is_not(None)) == 50
    assert _count(bank, Notification.parked_at.is_(None), Notification.attempts == 0) == 100
    monkeypatch.setenv("LOVEBANK_LOCALE", "en")
    get_settings.cache_clear()
    assert main(["parked", "retry", "all"]) == 0
    assert "Sent back to be tried again: 0 updates and 50 notifications." in capsys.readouterr().out
    assert main(["parked"]) == 0
    assert capsys.readouterr().out.strip() == "Nothing is parked."
    assert main(["parked", "retry", "update"]) == 2
    assert "Give its number" in capsys.readouterr().err


@pytest.mark.parametrize("locale", LOCALES)
def test_the_admins_notice_names_a_command_that_exists(locale: str) -> None:
    notice = render(locale, "inbox.parked", {"channel": "wechat", "sender": "oW", "entry": 303, "error": "boom"})
    commands = re.findall(r"`lovebank ([^`]+)`", notice)
    assert len(commands) == 2
    for command in commands:
        _parser().parse_args(shlex.split(command))  # argparse exits on a command it does not know
    assert "lovebank parked retry update 303" in notice
