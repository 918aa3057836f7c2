"""What a turn attaches but is slow to make (a chart, a certificate's PDF) is made after the
turn's transaction, never on a database thread, and arrives attached as before."""

from __future__ import annotations

import threading
from typing import Any

import pytest

import bot.certificates.flow
import bot.reports.flow
from bot.kernel.db import _current
from bot.services import Services
from tests.dialogs.chat import Chat
from tests.dialogs.test_certificates import some_hours
from tests.world import World


def watched(monkeypatch: pytest.MonkeyPatch, module: Any, name: str) -> list[tuple[str, bool]]:
    """Where each call of `module.name` ran: its thread, and whether a unit of work was open."""
    seen: list[tuple[str, bool]] = []
    original = getattr(module, name)

    def spy(*args: Any, **kwargs: Any) -> Any:
        seen.append((threading.current_thread().name, _current.get() is not None))
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, spy)
    return seen


async def test_a_chart_is_drawn_after_the_turn_off_the_database_threads(
    chat: Any, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = watched(monkeypatch, bot.reports.flow, "chart_png")
    volunteer: Chat = chat("volunteer1")
    await volunteer.say("/chart")
    assert volunteer.last is not None
    [picture] = [r.image for r in volunteer.last.replies if r.image is not None]
    assert picture[:8] == b"\x89PNG\r\n\x1a\n"
    [(thread, in_unit)] = seen
    assert not thread.startswith("db") and not in_unit


async def test_a_certificate_is_drawn_after_the_turn_that_issues_it(
    services: Services, chat: Any, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    await some_hours(services, world)
    seen = watched(monkeypatch, bot.certificates.flow, "certificate_pdf")
    worker: Chat = chat("worker1")
    await worker.say("/certificate 志愿者1")  # a member without a phone: the worker issues one
    await worker.press(next(o for o in worker.options() if o.endswith(" all")))
    assert worker.last is not None
    documents = [r.document for r in worker.last.replies if r.document is not None]
    assert documents and documents[0].content[:5] == b"%PDF-"
    assert seen and all(not thread.startswith("db") and not in_unit for thread, in_unit in seen)
