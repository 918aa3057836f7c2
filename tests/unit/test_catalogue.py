"""Every message key exists in every locale with the same placeholders, and every key the code
uses is in the catalogue."""

from __future__ import annotations

import re
from pathlib import Path

from bot.i18n import LOCALES, catalogue, placeholders

ROOT = Path(__file__).resolve().parents[2]
# Quoted literals shaped like a catalogue key ("area.name") whose area the catalogue knows.
LITERAL = re.compile(r"""["']([a-z_]+)\.([a-z_][a-z0-9_.]*)["']""")


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
        for area, rest in LITERAL.findall(path.read_text(encoding="utf-8")):
            if area in areas:
                used += 1
                if f"{area}.{rest}" not in keys:
                    missing.add(f"{path.name}: {area}.{rest}")
    assert missing == set()
    assert used > 100  # the scan found the keys the flows use


def test_help_entries_exist_for_every_registered_command() -> None:
    import bot.flows  # noqa: F401
    from bot.dialogs.core import COMMANDS

    keys = set(catalogue("zh-CN"))
    assert [c.help_key for c in COMMANDS.values() if c.help_key and c.help_key not in keys] == []
