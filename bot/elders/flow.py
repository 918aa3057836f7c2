"""The elder roster in the chat: list and card, add step by step (or as one roster row), edit,
assign volunteers, retire, export, and the community's visit cadence."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from bot.dialogs.common import person_arg
from bot.dialogs.core import Context, Document, Input, Reply, StepHandler, option, reply
from bot.dialogs.parse import is_skip, parse_ref
from bot.dialogs.parse import words as split_words
from bot.elders.cadence import KINDS, Rule, VisitCadence
from bot.elders.service import ElderView
from bot.kernel.errors import InvalidInput
from bot.kernel.i18n import T, Text
from bot.people.roster import (
    clean_address,
    clean_birth_year,
    clean_consent,
    clean_contact,
    clean_elder_name,
    clean_elder_phone,
    clean_grid,
    clean_risk,
    clean_yes_no,
)
from bot.visits.flow import last_answers, print_card

PAGE = 20
ROW_FIELDS = ("name", "birth_year", "address", "grid", "lives_alone", "risk", "phone", "emergency_contact", "consent")
OPTIONAL = ("grid", "phone", "emergency_contact", "consent")
CADENCE_KINDS = {
    "intensive": "intensive",
    "重点": "intensive",
    "alone": "alone",
    "独居": "alone",
    "other": "other",
    "一般": "other",
}


def _ref(text: str) -> int | None:
    """'E5' → 5; a bare number is not an elder here (it is a page)."""
    return parse_ref(text, "E") if text[:1] in ("E", "e") else None


def _cadence_text(rule: Rule) -> Text:
    if rule.call:
        return T("elders.cadence.visit_call", visit=rule.visit, call=rule.call)
    return T("elders.cadence.visit", visit=rule.visit)


def _when(day: date | None) -> Text | date:
    return day or T("elders.never")


def card(ctx: Context, e: ElderView, cadence: VisitCadence) -> Reply:
    params = dict(
        ref=e.ref,
        name=e.name,
        age=e.age,
        birth_year=e.birth_year,
        grid=e.grid or "—",
        address=e.address or "—",
        flag=T("elders.flagged") if e.flagged else "",
        alone=T("elders.alone" if e.lives_alone else "elders.not_alone"),
        risk=T(f"elders.risk.{e.risk}"),
        worker=e.worker_name or T("elders.no_worker"),
        volunteers="、".join(e.volunteers) or "—",
        cadence=_cadence_text(cadence.rule(e.due.kind)),
        last_visit=_when(e.last_visit),
        last_call=_when(e.last_call),
        # A retired elder is visited no more: no next visit or call.
        next_visit=e.due.next_visit if e.active else T("elders.no_next_visit"),
        next_call=T("elders.next_call", date=e.due.next_call) if e.due.next_call and e.active else "",
        retired="" if e.active else T("elders.retired_mark"),
    )
    buttons = [option(f"/visit {e.ref}", "visits.visit_button", ref=e.ref, name=e.name)] if e.active else []
    if e.full:
        consent = T("elders.consent_line", how=T(f"elders.consent.{e.consent or 'none'}"))
        return Reply(
            T("elders.card", phone=e.phone or "—", emergency=e.emergency_contact or "—", consent=consent, **params),
            tuple(buttons),
        )
    return Reply(T("elders.card_visitor", **params), tuple(buttons))


def elders(ctx: Context, args: str) -> list[Reply]:
    """`/elders [page]`, `/elders E5` (a card), `/elders export` (workers: the roster as CSV)."""
    arg = args.strip()
    if arg.lower() in ("export", "导出"):
        name, content = ctx.services.visits.roster.export_roster(ctx.actor.person_id, ctx.community_id)
        return [Reply(T("elders.exported"), document=Document(name, content))]
    head, _, rest = arg.partition(" ")
    if (elder_id := _ref(head)) is not None and rest.strip().lower() in ("card", "卡", "探访卡"):
        return print_card(ctx, elder_id)  # workers, and coordinators in their grids: the service decides
    if (elder_id := _ref(arg)) is not None:
        view = ctx.services.visits.roster.elder(ctx.actor.person_id, elder_id)
        return [card(ctx, view, ctx.services.visits.cadence(view.community_id)), *last_answers(ctx, elder_id)]
    page = max(int(arg), 1) - 1 if arg.isdigit() else 0
    views, more = ctx.services.visits.roster.roster(ctx.actor.person_id, ctx.community_id, page, PAGE)
    if not views:
        return [reply("elders.empty" if page == 0 else "elders.no_more")]
    lines = [
        T(
            "elders.line",
            flag="⚠️" if e.flagged else "",
            ref=e.ref,
            name=e.name,
            age=e.age,
            grid=e.grid or "—",
            kind=T(f"elders.kind.{e.due.kind}"),
            next_visit=e.due.next_visit,
        )
        for e in views
    ]
    buttons = [option(f"/elders {e.ref}", "elders.card_button", ref=e.ref, name=e.name) for e in views]
    if more:
        buttons.append(option(f"/elders {page + 2}", "elders.more"))
    return [Reply(T("elders.list", page=page + 1, lines=lines), tuple(buttons), columns=2)]


# --- adding an elder -------------------------------------------------------------------------


def _this_year(ctx: Context) -> int:
    """The year in the community's zone, as the roster service checks birth years."""
    return (ctx.services.people.clock_of(ctx.community_id)).today().year


CHECKS: dict[str, Callable[[Context, str], object]] = {
    "name": lambda ctx, v: clean_elder_name(v),
    "address": lambda ctx, v: clean_address(v),
    "grid": lambda ctx, v: clean_grid(v),
    "lives_alone": lambda ctx, v: clean_yes_no(v),
    "risk": lambda ctx, v: clean_risk(v),
    "phone": lambda ctx, v: clean_elder_phone(v),
    "emergency_contact": lambda ctx, v: clean_contact(v),
    "consent": lambda ctx, v: clean_consent(v),
}


def add_elder(ctx: Context, args: str) -> list[Reply]:
    """Step by step, or one roster row: `/addelder 王秀英,1942,幸福里3栋501,一网格,是,高,13800000000,儿子 王强`."""
    if args.strip():
        cells = [c.strip() for c in args.replace("，", ",").split(",")]
        if len(cells) < 5 or len(cells) > len(ROW_FIELDS):
            return [reply("elders.add_usage")]
        view = ctx.services.visits.roster.add_elder(
            ctx.actor.person_id, ctx.community_id, dict(zip(ROW_FIELDS, cells, strict=False))
        )
        return [
            reply("elders.added", ref=view.ref, name=view.name),
            card(ctx, view, ctx.services.visits.cadence(view.community_id)),
        ]
    ctx.goto("addelder", "name", values={})
    return [_ask_field("name")]


def _ask_field(name: str) -> Reply:
    options = {
        "lives_alone": (option("yes", "elders.yes"), option("no", "elders.no")),
        "risk": (option("high", "elders.risk.high"), option("normal", "elders.risk.normal")),
        "consent": (
            option("in_person", "elders.consent.in_person"),
            option("phone", "elders.consent.phone"),
            option("family", "elders.consent.family"),
            option("skip", "elders.consent.none"),
        ),
    }.get(name, (option("skip", "visits.skip"),) if name in OPTIONAL else ())
    return Reply(T(f"elders.ask.{name}"), options, columns=2)


def _field_step(name: str) -> StepHandler:
    def answer(ctx: Context, inp: Input) -> list[Reply]:
        value = (inp.option or inp.text).strip()
        if name in OPTIONAL and is_skip(value):
            value = ""
        try:
            if name == "birth_year":  # the only check that needs the community's date
                clean_birth_year(value, _this_year(ctx))
            else:
                CHECKS[name](ctx, value)
        except InvalidInput as exc:
            return [reply(exc.key, **exc.params), _ask_field(name)]
        values = {**ctx.data.get("values", {}), name: value}
        following = ROW_FIELDS.index(name) + 1
        if following < len(ROW_FIELDS):
            ctx.goto("addelder", ROW_FIELDS[following], values=values)
            return [_ask_field(ROW_FIELDS[following])]
        ctx.finish()
        view = ctx.services.visits.roster.add_elder(ctx.actor.person_id, ctx.community_id, values)
        return [
            reply("elders.added", ref=view.ref, name=view.name),
            card(ctx, view, ctx.services.visits.cadence(view.community_id)),
        ]

    return answer


# The steps of /addelder, one a field: ("addelder", field).
FIELD_STEPS = {name: _field_step(name) for name in ROW_FIELDS}


# --- editing, assigning, retiring ------------------------------------------------------------


def edit_elder(ctx: Context, args: str) -> list[Reply]:
    """`/editelder E5 phone 13900000000` (fields: name birth_year address grid lives_alone risk
    phone emergency_contact worker active, or their Chinese names)."""
    ref, _, rest = args.strip().partition(" ")
    field, _, value = rest.strip().partition(" ")
    elder_id = _ref(ref)
    if elder_id is None or not field:
        return [reply("elders.edit_usage")]
    view = ctx.services.visits.roster.edit_elder(ctx.actor.person_id, elder_id, field, value.strip())
    return [
        reply("elders.edited", ref=view.ref, name=view.name),
        card(ctx, view, ctx.services.visits.cadence(view.community_id)),
    ]


def assign(ctx: Context, args: str) -> list[Reply]:
    return _assign(ctx, args, remove=False)


def unassign(ctx: Context, args: str) -> list[Reply]:
    return _assign(ctx, args, remove=True)


def _assign(ctx: Context, args: str, *, remove: bool) -> list[Reply]:
    words = split_words(args)
    elder_id = _ref(words[0]) if words else None
    if elder_id is None or len(words) < 2:
        return [reply("elders.assign_usage")]
    names = words[1:]
    ctx.services.visits.roster.may_manage(ctx.actor.person_id, elder_id)  # refused before any name is read
    # A coordinator hands their elders to their grids' people: a name is looked for among those.
    managed_by = None if remove else ctx.actor.person_id
    for i, name in enumerate(names):
        found = ctx.services.people.people_named(ctx.community_id, name, managed_by=managed_by)
        if len(found) == 1:
            names[i] = f"#{found[0].person_id}"  # the one meant, even where another grid has the name too
        # A name several people have: ask which, by the same command with that name as #id.
        if len(found) > 1:

            def retry(ref: str, i: int = i) -> str:
                return " ".join(
                    [
                        f"/{'unassign' if remove else 'assign'}",
                        words[0],
                        *(ref if j == i else n for j, n in enumerate(names)),
                    ]
                )

            person_arg(ctx, name, retry, grids_only=not remove)
    view = ctx.services.visits.roster.assign(ctx.actor.person_id, elder_id, names, remove=remove)
    return [reply("elders.assigned", ref=view.ref, name=view.name, volunteers="、".join(view.volunteers) or "—")]


def retire(ctx: Context, args: str) -> list[Reply]:
    ref, _, reason = args.strip().partition(" ")
    elder_id = _ref(ref)
    if elder_id is None:
        return [reply("elders.retire_usage")]
    view = ctx.services.visits.roster.retire(ctx.actor.person_id, elder_id, reason.strip() or None)
    return [reply("elders.retired", ref=view.ref, name=view.name)]


# --- cadence ---------------------------------------------------------------------------------


def cadence(ctx: Context, args: str) -> list[Reply]:
    """`/cadence` shows it; `/cadence alone 14 7` (visit every 14 days, call every 7),
    `/cadence other 30 0` (no calls), `/cadence age 75`."""
    words = args.split()
    if words:
        changes = _cadence_changes(words)
        if changes is None:
            return [reply("elders.cadence_usage")]
        current = ctx.services.visits.set_cadence(ctx.actor.person_id, ctx.community_id, changes)
    else:
        current = ctx.services.visits.cadence(ctx.community_id)
    rules: dict[str, Any] = {kind: _cadence_text(current.rule(kind)) for kind in KINDS}
    return [reply("elders.cadence_show", age=current.age, **rules)]


def _cadence_changes(words: list[str]) -> dict | None:
    if not all(w.isdigit() for w in words[1:]) or len(words) < 2:
        return None
    numbers = [int(w) for w in words[1:]]
    if words[0].lower() in ("age", "年龄") and len(numbers) == 1:
        return {"age": numbers[0]}
    kind = CADENCE_KINDS.get(words[0].lower())
    if kind is None or len(numbers) > 2:
        return None
    rule: dict = {"visit": numbers[0]}
    if len(numbers) == 2:
        rule["call"] = numbers[1] or None
    return {kind: rule}


def consent(ctx: Context, args: str) -> list[Reply]:
    """`/consent E3 当面`: how the elder's consent was obtained (in person, by phone, family)."""
    ref, _, how = args.strip().partition(" ")
    elder_id = _ref(ref)
    if elder_id is None or not how.strip():
        return [reply("elders.consent_usage")]
    view, new = ctx.services.visits.roster.record_consent(ctx.actor.person_id, elder_id, how)
    way = T(f"elders.consent.{view.consent}")
    if not new:
        return [reply("elders.consent_already", ref=view.ref, name=view.name, how=way)]
    return [reply("elders.consent_recorded", ref=view.ref, name=view.name, how=way, by=ctx.actor.display_name)]
