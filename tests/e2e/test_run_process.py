"""End to end: the real `lovebank run` process, long polling a local stand-in for the Bot API
(LOVEBANK_TELEGRAM_API_URL), plays the journey over HTTP: create a community, appoint a worker,
join by deep link, register with the contact button, log hours by buttons and by one line, get
approved by a button press, see the balance; then stops cleanly on SIGINT."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.standin import ROOT, TOKEN, WAIT, Person

pytestmark = pytest.mark.slow


def start_bot(tmp_path: Path, port: int) -> subprocess.Popen[bytes]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("LOVEBANK_")},
        "LOVEBANK_TELEGRAM_API_URL": f"http://127.0.0.1:{port}/bot",
        "LOVEBANK_TELEGRAM_TOKEN": TOKEN,
        "LOVEBANK_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'lovebank.db'}",
        "LOVEBANK_ADMINS": "telegram:1001",
        "PYTHONPATH": str(ROOT),
    }
    log = (tmp_path / "bot.log").open("wb")
    return subprocess.Popen(
        [sys.executable, "-m", "bot", "run"], cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT
    )


def submitted(calls: list[Any], uid: int) -> list[int]:
    """The log ids of the "submitted" replies among `calls` to person `uid`, in order."""
    return [
        int(h)
        for c in calls
        if c.method == "sendMessage" and str(c.params["chat_id"]) == str(uid)
        for h in re.findall(r"已提交服务记录 H(\d+)", c.text)
    ]


def test_lovebank_run_plays_the_journey_over_http(bot_api: Any, tmp_path: Path) -> None:
    api, port = bot_api
    process = start_bot(tmp_path, port)
    try:
        api.wait_for(0, lambda c: c.method == "getUpdates", "long polling to start")
        methods = {c.method for c in api.calls}
        assert {"getMe", "deleteWebhook", "setMyCommands"} <= methods

        admin = Person(api, 1001, "陈主任", "chen_admin")
        worker = Person(api, 2002, "张丽", "zhangli")
        volunteer = Person(api, 3003, "王芳", "wangfang")

        admin.say("/newcommunity 阳光社区", "已创建社区")
        worker.say("/start", "爱心银行")
        admin.say("/appoint @zhangli", "已任命 张丽")
        invite = worker.say("/invite", r"https://t\.me/lovebank_test_bot\?start=\w+")
        code = re.search(r"start=(\w+)", invite.text)[1]  # type: ignore[index]

        volunteer.say(f"/start {code}", "真实姓名")
        ask_phone = volunteer.say("王芳", "手机号")
        assert ask_phone.params["reply_markup"]["keyboard"][0][0]["request_contact"] is True
        volunteer.share_contact("+8613800000001", "登记成功")

        # By buttons: category → today → 1 hour → skip → submit.
        ask = volunteer.say("/log", "服务类别")
        step = volunteer.press(ask, ask.params["reply_markup"]["inline_keyboard"][0][0]["callback_data"], "哪天")
        step = volunteer.press(step, "today", "多长时间")
        step = volunteer.press(step, "60", "备注")
        step = volunteer.press(step, "skip", "请确认")
        by_buttons = volunteer.press(step, "yes", r"已提交服务记录 H\d+")
        # And by one line.
        one_line = volunteer.say("/log 2h 助餐 陪王奶奶吃饭", r"已提交服务记录 H\d+")
        ids = [re.search(r"H(\d+)", s.text)[1] for s in (by_buttons, one_line)]  # type: ignore[index]

        # The pump tells the worker (once for both logs); the worker approves both by buttons.
        worker.hears(0, "等待审核")
        since = api.mark()
        worker.say("/pending", f"H{ids[1]}")
        page = worker.hears(since, "共 2 项")
        worker.press(page, "/approve all", "已通过 2 条记录，共发放 30 积分")

        volunteer.hears(0, f"H{ids[1]}（助餐，2 小时）已通过")
        volunteer.say("/balance", "可用积分：30")
        assert (
            sum(
                1
                for c in api.calls
                if c.method == "sendMessage" and "等待审核" in c.text and str(c.params["chat_id"]) == "2002"
            )
            == 1
        )
    finally:
        process.send_signal(signal.SIGINT)
        try:
            code = process.wait(timeout=WAIT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=WAIT)
            raise
        log = (tmp_path / "bot.log").read_text(errors="replace")
    assert code == 0, log
    assert TOKEN not in log  # the token never reaches the log
    assert "Traceback" not in log, log
    # Everything handed out was confirmed on the way out, so a restart would not replay it.
    assert api.confirmed == api.next_update_id


def test_run_killed_right_after_fetching_loses_nothing_and_does_nothing_twice(bot_api: Any, tmp_path: Path) -> None:
    """kill -9 within 50 ms after a getUpdates handed out a batch; the restarted process gets again
    whatever was not confirmed, and the inbox knows what it already has."""
    import asyncio
    import random

    from bot.kernel.migrate import upgrade
    from tests.e2e.processes import CATEGORIES, query, seed, start

    api, port = bot_api
    url = f"sqlite+aiosqlite:///{tmp_path / 'lovebank.db'}"
    asyncio.run(upgrade(url))
    community = seed(url, workers=1, volunteers=5)
    pushed: dict[int, int] = {}  # update id → person
    for k in range(2):
        for uid in community.volunteers:
            pushed[Person(api, uid, f"u{uid}")._message(text=f"/log 1h {CATEGORIES[k]} r{uid}-{k}")] = uid
    first = start("run", tmp_path, "first", port, url)
    fetched: list[list[int]] = []

    def crash(batch: list[dict[str, Any]]) -> None:
        fetched.append([u["update_id"] for u in batch])
        first.kill9()

    api.after_batch_delay = random.uniform(0, 0.05)
    api.after_batch = crash
    first.popen.wait(timeout=WAIT)
    assert first.popen.returncode == -9 and sorted(fetched[0]) == sorted(pushed)
    # The bot asks for the next offset only once the batch is committed to its inbox, so what it
    # confirmed before dying is stored. A fast bot may commit within the 50 ms, a slow one not.
    stored = {int(p) for (p,) in query(url, "SELECT platform_id FROM inbox")}
    assert {u for u in pushed if u < api.confirmed} <= stored

    before = len(api.calls)  # what the killed process sent; the second's calls come after
    marked = {int(p) for (p,) in query(url, "SELECT platform_id FROM inbox WHERE replied = 'sent'")}

    second = start("run", tmp_path, "second", port, url)
    try:
        deadline = time.monotonic() + WAIT
        while query(url, "SELECT count(*) FROM inbox WHERE status = 'done' AND replied = 'sent'") != [(len(pushed),)]:
            assert time.monotonic() < deadline, "timed out: every update of the batch handled and answered"
            time.sleep(0.1)
        time.sleep(1.5)  # a duplicate would arrive now
        logs = {
            int(key.rsplit(":", 1)[1]): log_id for key, log_id in query(url, "SELECT request_key, id FROM service_logs")
        }
        assert sorted(logs) == sorted(pushed)  # each update of the batch handled, once
        for uid in community.volunteers:
            expected = [logs[u] for u in sorted(pushed) if pushed[u] == uid]
            first_got, second_got = (submitted(api.calls[:before], uid), submitted(api.calls[before:], uid))
            # Each process answers in order. The second sends again only the replies the killed one
            # may have sent without living to mark them sent (the documented duplicate window).
            assert first_got == expected[: len(first_got)]
            assert second_got == expected[len(expected) - len(second_got) :]
            assert len(first_got) + len(second_got) >= len(expected)
            assert not set(second_got) & {logs[u] for u in marked if pushed[u] == uid}  # marked: never again
        assert query(url, "SELECT count(*) FROM inbox WHERE status = 'done'") == [(len(pushed),)]
    finally:
        code = second.stop()
    assert code == 0 and "Traceback" not in second.log(), second.log()[-3000:]
    assert api.confirmed == api.next_update_id  # confirmed on the way out
