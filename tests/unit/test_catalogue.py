"""Every message key exists in every locale with the same placeholders, and every key the code
uses is in the catalogue."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

from bot.kernel.i18n import LOCALES, catalogue, placeholders

ROOT = Path(__file__).resolve().parents[2]
# String literals shaped like a catalogue key ("area.name"); checked when the catalogue knows the area.
LITERAL = re.compile(r"([a-z_]+)\.([a-z_][a-z0-9_.]*)")


def _called(func: ast.expr) -> str | None:
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None


def key_literals(source: str) -> Iterator[tuple[str, str]]:
    """Each whole string literal shaped like a key, as (area, rest). Not an audit action name (the
    action argument of `audit(...)`, e.g. "consent.volunteer": the trail looks its label up as
    audit.action.NAME) nor a piece of an f-string (f"audit.action.{name}")."""
    tree = ast.parse(source)
    not_keys: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and _called(node.func) == "audit":
            action = (
                node.args[2]
                if len(node.args) > 2
                else next((k.value for k in node.keywords if k.arg == "action"), None)
            )
            if action is not None:
                not_keys.add(id(action))
        elif isinstance(node, ast.JoinedStr):
            not_keys.update(id(part) for part in node.values)
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in not_keys:
            found = LITERAL.fullmatch(node.value)
            if found:
                yield found.group(1), found.group(2)


def test_same_keys_in_every_locale() -> None:
    zh = catalogue("zh-CN")
    for locale in LOCALES:
        assert set(catalogue(locale)) == set(zh), locale


def test_same_placeholders_in_every_locale() -> None:
    zh = catalogue("zh-CN")
    for locale in LOCALES:
        other = catalogue(locale)
        mismatched = [k for k in zh if placeholders(zh[k]) != placeholders(other[k])]
        assert mismatched == [], locale


def test_every_key_the_code_uses_exists() -> None:
    keys = set(catalogue("zh-CN"))
    areas = {key.split(".")[0] for key in keys}
    used, missing = 0, set()
    for path in [*ROOT.joinpath("bot").rglob("*.py"), *ROOT.joinpath("handlers").rglob("*.py")]:
        for area, rest in key_literals(path.read_text(encoding="utf-8")):
            if area in areas:
                used += 1
                if f"{area}.{rest}" not in keys:
                    missing.add(f"{path.name}: {area}.{rest}")
    assert missing == set()
    assert used > 100  # the scan found the keys the flows use


def test_help_entries_exist_for_every_registered_command() -> None:
    from bot.dialogs.flows import TABLE

    keys = set(catalogue("zh-CN"))
    assert [c.help_key for c in TABLE.commands.values() if c.help_key and c.help_key not in keys] == []


def test_audit_action_names_are_not_taken_for_keys_but_keys_still_are() -> None:
    source = """
audit(session, clock, "consent.volunteer", person_id, community_id, "person", person_id)
audit(session, clock, action="consent.elder")
label = f"audit.action.{name}"
raise InvalidInput("consent.usage")
"""
    assert list(key_literals(source)) == [("consent", "usage")]
