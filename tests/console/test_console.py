"""The console chat and the demo, through the `lovebank` command a person runs."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import func, select

from bot import demo
from bot.services import Services
from handlers.console import chat
from models import Membership, Person, ServiceLog


def _lovebank(tmp_path: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LOVEBANK_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'demo.db'}"}
    env.pop("LOVEBANK_ADMINS", None)
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )


def test_demo_seeds_once_and_the_chat_is_scriptable(tmp_path: Path) -> None:
    first = _lovebank(tmp_path, "demo", "--seed-only")
    assert first.returncode == 0, first.stderr
    assert "演示社区 阳光社区：已创建" in first.stdout
    again = _lovebank(tmp_path, "demo", "--seed-only")
    assert "已经存在" in again.stdout
    out = _lovebank(tmp_path, "chat", "--as", "volunteer1", stdin="/balance\n/lang en\n/balance\n")
    assert out.returncode == 0, out.stderr
    assert "可用积分" in out.stdout and "Available:" in out.stdout
    worker = _lovebank(tmp_path, "chat", "--as", "worker1", stdin="/pending\n")
    assert "待审核" in worker.stdout and "王芳" in worker.stdout


async def test_demo_world_is_complete_and_not_duplicated(services: Services) -> None:
    world = await demo.seed(services)
    assert world is not None and len(world.volunteers) == 5 and len(world.workers) == 2
    assert await demo.seed(services) is None
    with services.db.uow() as session:
        s = session
        assert s.scalar(select(func.count()).select_from(Person)) == 9
        assert s.scalar(select(func.count()).select_from(Membership)) == 8  # the admin is no member
        # The month of hour logs (visits seed their own 探访 logs beside them).
        statuses = list(s.scalars(select(ServiceLog.status).where(ServiceLog.request_key.like("demo:%"))))
    assert statuses.count("pending") == 2 and statuses.count("approved") == 28
    balance = await services.run(services.points.balance, world.volunteers[0], world.community_id)
    assert balance.available > 0 and balance.earned_minutes > 0


async def test_notifications_wait_for_the_next_console_visit(services: Services) -> None:
    world = await demo.seed(services)
    assert world is not None
    pending = (await services.run(services.hours.logs_of, world.volunteers[0], world.community_id, status="pending"))[0]
    await services.run(services.hours.approve, world.workers[0], pending.id)
    out = io.StringIO()
    await chat(services, "volunteer1", io.StringIO("/balance\n"), out)
    shown = out.getvalue()
    assert shown.startswith("🔔") and f"H{pending.id}" in shown
    out = io.StringIO()
    await chat(services, "volunteer1", io.StringIO(""), out)
    assert "🔔" not in out.getvalue()  # delivered once


async def test_numbered_answers_follow_the_list_shown(services: Services) -> None:
    await demo.seed(services)
    out = io.StringIO()
    await chat(services, "worker1", io.StringIO("/pending\n1\n"), out)
    text = out.getvalue()
    assert "1. ✅ 通过" in text and "3. ✅ 通过" in text  # one numbering across the turn
    assert "已通过" in text.split("5. 全部通过")[-1]


async def test_the_demo_has_requests_to_take_and_to_decide(services: Services) -> None:
    world = await demo.seed(services)
    assert world is not None
    board = await services.run(services.requests.board, world.volunteers[1], world.community_id)
    assert [v.note for v in board.requests] == ["擦窗户、拖地"]
    assert [v.status for v in await services.run(services.requests.waiting, world.workers[0], world.community_id)] == [
        "approval"
    ]
    out = io.StringIO()
    await chat(services, "volunteer2", io.StringIO("/requests\n1\n"), out)
    assert "您接下了" in out.getvalue() and "阳光里7栋302" in out.getvalue()
