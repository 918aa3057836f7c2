"""WeChat template messages in today's format (since May 2023): no `first` or `remark`, and each
field typed by its name (`thing1`, `character_string2`, `time3` …); WeChat refuses a value over
its type's limit (47003). Templates are chosen per account from WeChat's library, so each kind
of notification that may go by template maps, in the file LOVEBANK_WECHAT_TEMPLATES names (TOML
or JSON), to a template id and the value that fills each of its fields:

    [hours_approved]
    template_id = "…"
    fields = { thing1 = "category", time2 = "date", number3 = "points" }

Values are cut to their field type's limit; a template links to nothing (tapping it opens the
account's chat). A kind without a template is held for the person's next message instead."""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from bot.kernel.i18n import _value, render
from bot.kernel.settings import Settings, SettingsError

# Kind → the notifications (catalogue keys) it covers and the values it offers besides COMMON.
KINDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "hours_approved": (("notify.log_approved",), ("log", "date", "category", "hours", "points", "available")),
    "hours_rejected": (("notify.log_rejected",), ("log", "date", "category", "hours", "reason", "available")),
    "redemption_ready": (("shop.notify.approved",), ("id", "item", "quantity", "code", "days")),
    "visit_due": (
        ("visits.notify.assigned", "visits.morning.volunteer", "visits.morning.worker", "visits.morning.admins"),
        ("name", "ref", "address", "date", "count", "overdue"),
    ),
    "help_alert": (
        (
            "visits.notify.needs_help",
            "visits.notify.escalated",
            "visits.notify.not_home_twice",
            "wellbeing.notify.alert_mood",
            "wellbeing.notify.alert_health",
        ),
        ("alert", "ref", "name", "by", "address", "phone", "note"),
    ),
    "decision_waiting": (
        (
            "notify.pending_logs",
            "shop.notify.new_redemption",
            "notify.volunteer_waiting",
            "deadline.nudge",
            "move.notify.requested",
            "move.notify.to_accept",
            "requests.notify.needs_pool",
            "requests.notify.disputed",
        ),
        ("what", "count", "name"),
    ),
    "points_expiring": (("expiry.notify.soon", "expiry.notify.soon_family"), ("amount", "date", "name")),
}
COMMON = ("summary", "status", "time")
KIND_OF = {key: kind for kind, (keys, _) in KINDS.items() for key in keys}

# What a value is, so `lovebank wechat templates` can tell a field that cannot take it.
NATURE = {
    "time": "time",
    "date": "date",
    "count": "number",
    "points": "number",
    "available": "number",
    "hours": "number",
    "quantity": "number",
    "days": "number",
    "overdue": "number",
    "amount": "number",
    "log": "code",
    "id": "code",
    "code": "code",
    "alert": "code",
    "ref": "code",
    "phone": "phone",
    "name": "name",
    "by": "name",
    "status": "phrase",
}
FITS = {  # field type → the natures it takes (a `thing` takes anything short)
    "character_string": {"code", "number", "phone", "date"},
    "number": {"number"},
    "amount": {"number"},
    "time": {"time", "date"},
    "date": {"date", "time"},
    "phrase": {"phrase"},
    "name": {"name"},
    "phone_number": {"phone"},
    "letter": set(),
    "symbol": set(),
    "car_number": set(),
}
LIMITS = {
    "thing": 20,
    "character_string": 32,
    "phrase": 5,
    "number": 32,
    "letter": 32,
    "symbol": 5,
    "name": 10,
    "phone_number": 17,
    "car_number": 8,
    "const": 20,
}
FIELD = re.compile(r"([a-z_]+?)(\d*)")
RETIRED = ("first", "remark")  # gone from templates since May 2023; WeChat refuses them


@dataclass(frozen=True)
class Template:
    kind: str
    template_id: str
    fields: dict[str, str]  # template field → value name


def field_type(name: str) -> str:
    match = FIELD.fullmatch(name)
    return match[1] if match else name


def load(settings: Settings) -> dict[str, Template]:
    """The mapping from LOVEBANK_WECHAT_TEMPLATES ({} when unset). The single template of earlier
    versions (LOVEBANK_WECHAT_TEMPLATE_ID, filled with first/keyword1/keyword2/remark) cannot
    work with today's templates: it stops the start with what to set instead."""
    if settings.wechat_template_id:
        raise SettingsError(
            "lovebank: LOVEBANK_WECHAT_TEMPLATE_ID is no longer used: since May 2023 WeChat's templates have "
            "typed fields and no first/remark, so each kind of notification needs its own template. Put them "
            'in a TOML or JSON file named by LOVEBANK_WECHAT_TEMPLATES (README, "WeChat template messages") '
            "and remove LOVEBANK_WECHAT_TEMPLATE_ID."
        )
    if not settings.wechat_templates:
        return {}
    path = Path(settings.wechat_templates)
    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text) if path.suffix.lower() == ".json" else tomllib.loads(text)
    except (OSError, UnicodeDecodeError, ValueError) as exc:  # TOMLDecodeError and JSONDecodeError are ValueErrors
        raise _bad(path, f"cannot read it: {exc}") from None
    return parse(data, path)


def parse(data: Any, path: Path | str = "") -> dict[str, Template]:
    if not isinstance(data, dict):
        raise _bad(path, "expected a table of kinds")
    templates = {}
    for kind, entry in data.items():
        if kind not in KINDS:
            raise _bad(path, f"unknown kind {kind!r} (known: {', '.join(KINDS)})")
        if not isinstance(entry, dict) or not isinstance(entry.get("template_id"), str) or not entry["template_id"]:
            raise _bad(path, f'[{kind}] needs template_id = "…"')
        fields = entry.get("fields")
        if not isinstance(fields, dict) or not fields:
            raise _bad(path, f'[{kind}] needs fields = {{ thing1 = "…", … }}')
        offered = COMMON + KINDS[kind][1]
        for name, value in fields.items():
            if name in RETIRED:
                raise _bad(path, f"[{kind}] field {name!r}: templates have no first/remark since May 2023")
            if not FIELD.fullmatch(name):
                raise _bad(path, f"[{kind}] {name!r} is not a template field name (like thing1, time2)")
            if value not in offered:
                raise _bad(path, f"[{kind}] {name} = {value!r}: not a value of {kind} (values: {', '.join(offered)})")
        templates[kind] = Template(kind, entry["template_id"], {str(k): str(v) for k, v in fields.items()})
    return templates


def _bad(path: Path | str, problem: str) -> SettingsError:
    return SettingsError(f"lovebank: bad setting LOVEBANK_WECHAT_TEMPLATES ({path}): {problem}")


# --- filling a template ---------------------------------------------------------------------------


def values(key: str, params: dict[str, Any], locale: str, summary: str, now: datetime, count: int) -> dict[str, str]:
    """What a notification offers to its template's fields, as text."""
    kind = KIND_OF[key]
    out = {name: str(_value(locale, params[name])) for name in KINDS[kind][1] if params.get(name) not in (None, "")}
    if "log" in out:
        out["log"] = f"H{out['log']}"
    out["count"] = str(params.get("count") or count)
    out["summary"] = " ".join(summary.split())
    out["status"] = render(locale, f"wechat.template.status.{kind}")
    out["time"] = _when(now)
    if kind == "decision_waiting":
        out["what"] = render(locale, f"wechat.template.what.{key}")
    if kind == "help_alert" and "alert" not in out:
        out["alert"] = out.get("ref", "")
    return out


def fill(template: Template, offered: dict[str, str]) -> dict[str, str]:
    """The template's fields, each cut to what its type allows."""
    timed = ("time", "date")
    return {
        name: cut(name, offered.get(value) or (offered.get("time", "") if field_type(name) in timed else ""))
        for name, value in template.fields.items()
    }


def cut(name: str, value: str) -> str:
    kind = field_type(name)
    if kind in ("time", "date"):
        return _as_date(value) if value else "-"
    if kind in ("number", "amount"):
        number = re.search(r"-?\d+(?:\.\d+)?", value)
        return number[0][: 10 if kind == "amount" else 32] if number else "0"
    if kind == "character_string":
        value = "".join(c for c in value if c.isascii() and c.isprintable() and not c.isspace())
    elif kind == "phone_number":
        value = "".join(c for c in value if c.isdigit() or c in "+-")
    elif kind == "letter":
        value = "".join(c for c in value if c.isascii() and c.isalpha())
    limit = LIMITS.get(kind, 20)
    if not value:
        return "-"
    if len(value) <= limit:
        return value
    return value[: limit - 1] + "…" if kind == "thing" else value[:limit]


def _when(moment: datetime) -> str:
    return f"{moment.year}年{moment.month}月{moment.day}日 {moment:%H:%M}"  # WeChat's own example format


def _as_date(value: str) -> str:
    try:
        day = date.fromisoformat(value[:10])
    except ValueError:
        return value[:32]
    return f"{day.year}年{day.month}月{day.day}日{value[10:16]}"


# --- checking the mapping against the account's templates -----------------------------------------


def content_fields(content: str) -> list[str]:
    """The field names of a template's content ("服务项目:{{thing1.DATA}}\\n…")."""
    return re.findall(r"\{\{\s*(\w+)\.DATA\s*\}\}", content)


def check(templates: dict[str, Template], account: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """Problems of the mapping against the account's templates, as catalogue keys and values."""
    by_id = {str(t.get("template_id")): t for t in account}
    problems: list[tuple[str, dict[str, Any]]] = []
    for kind, template in templates.items():
        found = by_id.get(template.template_id)
        if found is None:
            problems.append(("wechat.cli.templates.missing", {"kind": kind, "id": template.template_id}))
            continue
        names = content_fields(str(found.get("content", "")))
        for retired in RETIRED:
            if retired in names:
                problems.append(("wechat.cli.templates.old_format", {"kind": kind, "field": retired}))
        for name, value in template.fields.items():
            if name not in names:
                problems.append(
                    ("wechat.cli.templates.no_field", {"kind": kind, "field": name, "fields": ", ".join(names)})
                )
                continue
            kind_of_field = field_type(name)
            fits = FITS.get(kind_of_field)
            if fits is not None and NATURE.get(value, "text") not in fits:
                problems.append(("wechat.cli.templates.wrong_type", {"kind": kind, "field": name, "value": value}))
        for name in names:
            if name not in template.fields and name not in RETIRED:
                problems.append(("wechat.cli.templates.unfilled", {"kind": kind, "field": name}))
    return problems
