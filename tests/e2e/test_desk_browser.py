"""The desk in a real browser: Chromium (driven by Playwright) against a real `lovebank serve`.

A worker sends /desk in Telegram (the Bot API stand-in records the reply), opens the link,
presses the button, ticks the three waiting logs and approves them at once (htmx posts the form
and swaps the list); the volunteers hear of it in the chat as if it had been typed there. A worker
uploads a roster, reads the preview, confirms it and downloads the month's report. A
member sends /my and opens their page, with JavaScript and without. Each page is photographed at
phone width (375 px) and desktop width into LOVEBANK_SCREENSHOTS (else the test's own folder), and
the member's pages pass axe-core without serious or critical findings.
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.browser import axe_source, launch, serious_violations, why_no_browser
from tests.e2e.processes import Process, message, post, query, seed, start
from tests.e2e.standin import BotAPI, serve

pytestmark = [pytest.mark.slow, pytest.mark.skipif(why_no_browser() is not None, reason=str(why_no_browser()))]

PHONE = {"width": 375, "height": 812}
DESKTOP = {"width": 1280, "height": 900}
LINK = re.compile(r"(http://127\.0\.0\.1:\d+/desk/login/[A-Za-z0-9_-]+)")


@dataclass
class Bank:
    process: Process
    api: BotAPI
    url: str  # the database's
    base: str  # where the server listens
    workers: list[int]
    volunteers: list[int]
    logs: list[int]
    shots: Path
    update_id: int = 5000

    def link(self, user_id: int, command: str) -> str:
        """What the person gets for /desk or /my in Telegram."""
        self.update_id += 1
        since = self.api.mark()
        assert post(self.process.port, message(self.update_id, user_id, command)) == 200
        sent = self.api.wait_for(
            since, lambda c: c.chat_id == str(user_id) and "/desk/login/" in c.text, f"{command} link"
        )
        found = LINK.search(sent.text)
        assert found, sent.text
        return found[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def submit_logs(url: str, community_id: int, volunteers: list[int]) -> list[int]:
    from bot.kernel.db import Database
    from bot.kernel.settings import Settings
    from bot.services import Services

    people = [query(url, "SELECT person_id FROM identities WHERE external_id = :e", e=str(t))[0][0] for t in volunteers]

    async def run() -> list[int]:
        services = Services(Database(url), Settings(_env_file=None, database_url=url))  # type: ignore[call-arg]
        try:
            categories = {c.name: c.id for c in await services.run(services.hours.categories, community_id)}
            today = services.clock.community(services.settings.timezone).today()
            ids = []
            for i, person in enumerate(people):
                view = await services.run(
                    services.hours.submit,
                    person,
                    community_id,
                    category_id=categories["助餐"],
                    service_date=today - timedelta(days=1 + i),
                    minutes=60 * (i + 1),
                )
                ids.append(view.id)
            return ids
        finally:
            await services.db.dispose()

    return asyncio.run(run())


@pytest.fixture(scope="module")
def bank(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bank]:
    from bot.kernel.migrate import upgrade

    tmp = tmp_path_factory.mktemp("desk")
    url = f"sqlite+aiosqlite:///{tmp / 'lovebank.db'}"
    asyncio.run(upgrade(url))
    community = seed(url, workers=1, volunteers=3)
    logs = submit_logs(url, community.community_id, community.volunteers)
    api = BotAPI()
    api_server = serve(api)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    process = start("serve", tmp, "serve", api_server.server_address[1], url, http_port=str(port), public_url=base)
    shots = Path(os.environ.get("LOVEBANK_SCREENSHOTS") or tmp / "screenshots")
    shots.mkdir(parents=True, exist_ok=True)
    try:
        process.wait_log(r"listening on http://")
        yield Bank(process, api, url, base, community.workers, community.volunteers, logs, shots)
    finally:
        process.stop()
        api_server.shutdown()
        api_server.server_close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = launch(playwright)
        yield chromium
        chromium.close()


def shoot(page: Any, shots: Path, name: str) -> None:
    """The page at phone width and at desktop width, whole."""
    for label, size in (("phone", PHONE), ("desktop", DESKTOP)):
        page.set_viewport_size(size)
        page.screenshot(path=str(shots / f"{name}-{label}.png"), full_page=True)
    page.set_viewport_size(PHONE)


def statuses(bank: Bank) -> list[str]:
    # sqlite3 itself: Playwright's sync API keeps an event loop running in this thread.
    with closing(sqlite3.connect(bank.url.split("///", 1)[1])) as conn:
        found = dict(conn.execute("SELECT id, status FROM service_logs").fetchall())
    return [found[i] for i in bank.logs]


def test_a_worker_approves_three_logs_at_once(bank: Bank, browser: Any) -> None:
    link = bank.link(bank.workers[0], "/desk")
    context = browser.new_context(viewport=PHONE, locale="zh-CN")
    page = context.new_page()
    page.goto(link)
    shoot(page, bank.shots, "login")
    page.get_by_role("button", name="进入").click()
    page.wait_for_url(bank.base + "/desk/waiting")
    boxes = page.locator('input[name="ref"]')
    assert boxes.count() == 3
    assert page.get_by_text("显示 3 项，共 3 项").is_visible()
    shoot(page, bank.shots, "waiting")
    since = bank.api.mark()
    for i in range(3):
        boxes.nth(i).check()
    page.get_by_role("button", name="批准勾选的").click()
    outcome = page.locator(".outcome")
    outcome.wait_for()
    assert "已通过 3 条记录" in outcome.inner_text()
    assert page.url == bank.base + "/desk/waiting"  # htmx swapped the list in place
    assert page.locator('input[name="ref"]').count() == 0
    shoot(page, bank.shots, "waiting-done")
    assert statuses(bank) == ["approved"] * 3
    # The volunteers hear of it in the chat, as after /approve typed there.
    for telegram_id in bank.volunteers:
        bank.api.wait_for(since, lambda c, t=telegram_id: c.chat_id == str(t), f"notice to {telegram_id}")
    context.close()


ROSTER = (
    "name,birth_year,address,grid,lives_alone,risk,phone,emergency_contact,worker,volunteers\n"
    "王秀英,1942,幸福里3栋501,一网格,是,高,13800000001,儿子 王强 13900000001,,\n"
    "李建国,1950,幸福里5栋201,二网格,否,普通,,,,\n"
)


def test_a_worker_imports_a_roster_after_its_preview_and_downloads_the_report(
    bank: Bank, browser: Any, tmp_path: Path
) -> None:
    """Upload a roster on the Elders page, read the preview (nothing written yet), confirm it;
    then download the month's report from The month."""
    roster = tmp_path / "花名册.csv"
    roster.write_text(ROSTER, encoding="utf-8")
    link = bank.link(bank.workers[0], "/desk")
    context = browser.new_context(viewport=DESKTOP, locale="zh-CN", accept_downloads=True)
    page = context.new_page()
    page.goto(link)
    page.get_by_role("button", name="进入").click()
    page.wait_for_url(bank.base + "/desk/waiting")
    page.get_by_role("navigation").get_by_role("link", name="老人").click()
    page.wait_for_url(bank.base + "/desk/elders")
    page.set_input_files("input#roster", str(roster))
    page.get_by_role("button", name="预览改动").click()
    page.get_by_role("button", name="确认导入").wait_for()
    assert "新增 2 位" in page.locator(".outcome").inner_text()
    assert elders(bank) == []  # a preview writes nothing
    shoot(page, bank.shots, "elders-preview")
    page.get_by_role("button", name="确认导入").click()
    page.get_by_text("花名册已导入").wait_for()
    assert elders(bank) == ["李建国", "王秀英"]
    page.get_by_role("navigation").get_by_role("link", name="本月").click()
    page.wait_for_url(re.compile(re.escape(bank.base) + r"/desk/month"))
    shoot(page, bank.shots, "month")
    with page.expect_download() as download:
        page.get_by_role("link", name="下载月报（XLSX）").click()
    saved = tmp_path / download.value.suggested_filename
    download.value.save_as(saved)
    assert saved.suffix == ".xlsx"
    from openpyxl import load_workbook

    assert len(load_workbook(saved, read_only=True).sheetnames) >= 2
    context.close()


def elders(bank: Bank) -> list[str]:
    with closing(sqlite3.connect(bank.url.split("///", 1)[1])) as conn:
        return sorted(name for (name,) in conn.execute("SELECT name FROM elders"))


def test_a_member_opens_their_page_and_it_reads_without_javascript(bank: Bank, browser: Any) -> None:
    member = bank.volunteers[0]
    for javascript in (True, False):
        link = bank.link(member, "/my")
        context = browser.new_context(viewport=PHONE, locale="zh-CN", java_script_enabled=javascript)
        page = context.new_page()
        page.goto(link)
        page.get_by_role("button", name="进入").click()
        page.wait_for_url(bank.base + "/desk/my")
        assert page.get_by_role("heading", name="我的", exact=True).is_visible()
        assert page.locator(".amount .number").inner_text().strip().isdigit()
        size = page.evaluate("getComputedStyle(document.body).fontSize")
        assert float(size.removesuffix("px")) >= 18
        if javascript:
            shoot(page, bank.shots, "my")
            page.get_by_role("link", name="切换到长辈版（大字）").click()
            page.wait_for_url(bank.base + "/desk/my?size=large")
            assert float(page.evaluate("getComputedStyle(document.body).fontSize").removesuffix("px")) >= 24
            shoot(page, bank.shots, "my-large")
        context.close()
    names = sorted(p.name for p in bank.shots.glob("*.png"))
    assert {"my-phone.png", "my-desktop.png", "my-large-phone.png"} <= set(names)


def test_the_member_pages_pass_axe(bank: Bank, browser: Any) -> None:
    axe = axe_source()
    member = bank.volunteers[1]
    link = bank.link(member, "/my")
    # Our Content-Security-Policy allows no inline script; axe is injected by the test only.
    context = browser.new_context(viewport=PHONE, locale="zh-CN", bypass_csp=True)
    page = context.new_page()
    page.goto(link)
    found = {"login": serious_violations(page, axe)}
    page.get_by_role("button", name="进入").click()
    page.wait_for_url(bank.base + "/desk/my")
    found["my"] = serious_violations(page, axe)
    page.goto(bank.base + "/desk/my?size=large")
    found["my-large"] = serious_violations(page, axe)
    page.goto(bank.base + "/desk/waiting")  # refused to a volunteer: the message page
    found["refused"] = serious_violations(page, axe)
    context.close()
    assert found == {name: [] for name in found}


def test_a_stale_form_through_htmx_shows_the_refusal(bank: Bank, browser: Any) -> None:
    """A decision posted by htmx with a token that no longer matches (the session changed
    meanwhile): the friendly page is swapped in, not nothing, and nothing changes."""
    volunteer = bank.volunteers[2]
    bank.update_id += 1
    since = bank.api.mark()
    assert post(bank.process.port, message(bank.update_id, volunteer, "/log 1h 助乐 stale-form")) == 200
    bank.api.wait_for(since, lambda c: c.chat_id == str(volunteer), "the log's receipt")
    link = bank.link(bank.workers[0], "/desk")
    context = browser.new_context(viewport=DESKTOP, locale="zh-CN")
    page = context.new_page()
    page.goto(link)
    page.get_by_role("button", name="进入").click()
    page.wait_for_url(bank.base + "/desk/waiting")
    links = page.get_by_role("navigation").get_by_role("link").all_inner_texts()
    assert links[0] == "待办" and links[-1] == "我的" and "人员" in links  # the workers' pages first
    with closing(sqlite3.connect(bank.url.split("///", 1)[1])) as conn:
        (log_id,) = conn.execute("SELECT max(id) FROM service_logs").fetchone()
    box = page.locator(f'input[name="ref"][value="H{log_id}"]')  # other tests' logs may wait too
    assert box.count() == 1
    box.check()
    page.evaluate("document.querySelectorAll('input[name=csrf]').forEach(i => { i.value = 'f'.repeat(64) })")
    page.get_by_role("button", name="批准勾选的").click()
    page.get_by_text("这个表单已失效").wait_for()
    assert page.url == bank.base + "/desk/waiting"
    with closing(sqlite3.connect(bank.url.split("///", 1)[1])) as conn:
        (status,) = conn.execute("SELECT status FROM service_logs WHERE id = ?", (log_id,)).fetchone()
    assert status == "pending"
    context.close()
