"""The README's command tables name only what the bot accepts, every command it accepts is in the
README, and /approve's usage names every kind of id it approves."""

from __future__ import annotations

import re
from pathlib import Path

from bot.dialogs.flows import TABLE

README = Path(__file__).resolve().parents[2] / "README.md"
HTTP_PATHS = {
    "healthz",
    "readyz",
    "metrics",
    "wechat",
    "telegram",
    "download",
    "verify",
}  # `lovebank serve`'s, not commands


def _table_commands() -> set[str]:
    rows = [line for line in README.read_text(encoding="utf-8").splitlines() if line.startswith("|")]
    return {m.lower() for row in rows for m in re.findall(r"`/([a-z_]+)", row)} - HTTP_PATHS


def test_every_command_in_the_readme_tables_is_accepted() -> None:
    accepted = set(TABLE.commands) | {a.lstrip("/").lower() for a in TABLE.aliases}
    assert sorted(_table_commands() - accepted) == []


def test_every_command_is_in_the_readme() -> None:
    mentioned = {m.lower() for m in re.findall(r"`/([a-z_]+)", README.read_text(encoding="utf-8"))}
    assert sorted(set(TABLE.commands) - mentioned) == []


def test_the_approve_usage_names_every_kind_it_approves() -> None:
    from bot.kernel.i18n import catalogue

    for locale in ("zh-CN", "en"):
        for key in ("approve.usage", "help.approve"):
            text = catalogue(locale)[key]
            assert [p for p in TABLE.deciders if not re.search(rf"\b{p}\b|{p} ", text)] == [], (locale, key)
