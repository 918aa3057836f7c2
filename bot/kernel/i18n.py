"""Message catalogues, loaded at run time: bot/locales/<locale>/*.json, one file per feature.

Every text a person sees comes from here. Parameters are filled with str.format; a parameter may
itself be a `Text` (a nested catalogue entry) or a list of them, rendered in the same language,
or a dict of locale → text for data named in each language (kept as JSON in notifications).
"""

from __future__ import annotations

import json
import re
import string
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

LOCALES = ("zh-CN", "en")
DEFAULT_LOCALE = "zh-CN"
ROOT = Path(__file__).parent.parent / "locales"  # bot/locales


@dataclass(frozen=True)
class Text:
    """A catalogue key with parameters, rendered later in the reader's language."""

    key: str
    params: dict[str, Any] = field(default_factory=dict)


def T(key: str, **params: Any) -> Text:
    return Text(key, params)


@cache
def catalogue(locale: str) -> dict[str, str]:
    merged: dict[str, str] = {}
    for path in sorted((ROOT / locale).glob("*.json")):
        for key, value in json.loads(path.read_text(encoding="utf-8")).items():
            if key in merged:
                raise ValueError(f"{path.name}: key {key!r} is defined twice in {locale}")
            merged[key] = value
    return merged


# `{count|member|members}`: the first word when the parameter is 1, else the second (English
# plurals; Chinese needs none).
_PLURAL = re.compile(r"\{(\w+)\|([^{}|]*)\|([^{}|]*)\}")


def placeholders(template: str) -> set[str]:
    template = _PLURAL.sub(r"{\1}", template)
    return {name.split(".")[0].split("[")[0] for _, name, _, _ in string.Formatter().parse(template) if name}


def render_template(template: str, values: dict[str, Any]) -> str:
    def plural(match: re.Match[str]) -> str:
        one = str(values.get(match[1])) in ("1", "1.0")
        return (match[2] if one else match[3]).replace("{", "{{").replace("}", "}}")

    return _PLURAL.sub(plural, template).format(**values)


def render(locale: str, key: str, params: dict[str, Any] | None = None) -> str:
    locale = locale if locale in LOCALES else DEFAULT_LOCALE
    template = catalogue(locale).get(key) or catalogue(DEFAULT_LOCALE).get(key)
    if template is None:
        raise KeyError(f"no message {key!r}")
    values = {name: _value(locale, value) for name, value in (params or {}).items()}
    return render_template(template, values)


def _value(locale: str, value: Any) -> Any:
    if isinstance(value, Text):
        return render(locale, value.key, value.params)
    if isinstance(value, dict):  # data named in each language, e.g. {"zh-CN": "探访", "en": "Visit"}
        return value.get(locale) or value.get(DEFAULT_LOCALE) or next(iter(value.values()), "")
    if isinstance(value, (list, tuple)):
        return "\n".join(str(_value(locale, item)) for item in value)
    if isinstance(value, date):
        return value.isoformat()
    return value


def hours(minutes: int) -> str:
    """90 → "1.5", 120 → "2": hours as people say them."""
    whole, rest = divmod(minutes, 60)
    return str(whole) if not rest else f"{minutes / 60:.2f}".rstrip("0").rstrip(".")
