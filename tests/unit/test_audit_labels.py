"""Every action the bank writes to the audit log has a label in both languages, so `/audit` and
the report's 审计 sheet say what was done instead of an internal action name."""

from __future__ import annotations

import ast
from pathlib import Path

from bot.kernel.i18n import catalogue

ROOT = Path(__file__).resolve().parents[2]


def written_actions() -> set[str]:
    """The action (third argument) of every `audit(session, clock, "action", …)` call in bot/."""
    found: set[str] = set()
    for path in (ROOT / "bot").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            name = getattr(node, "func", None)
            called = getattr(name, "id", getattr(name, "attr", None))
            if isinstance(node, ast.Call) and called == "audit" and len(node.args) >= 3:
                action = node.args[2]
                if isinstance(action, ast.Constant) and isinstance(action.value, str):
                    found.add(action.value)
    return found


def test_every_audited_action_has_a_label_in_both_languages() -> None:
    actions = written_actions()
    assert len(actions) > 50  # the scan finds the calls (not an empty pass)
    for locale in ("zh-CN", "en"):
        missing = sorted(a for a in actions if f"audit.action.{a}" not in catalogue(locale))
        assert missing == [], (locale, missing)
