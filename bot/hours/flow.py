"""Logging hours, balance and history, and the worker's approvals, records and events."""

from __future__ import annotations

import difflib
import re
import secrets
from dataclasses import dataclass
from datetime import date
from typing import Any

from bot.deadlines.flow import deadline_marker
from bot.decisions.flow import MOST
from bot.dialogs.common import name_and_rest, names_in, person_arg, reason_step, repeat_step
from bot.dialogs.core import Context, Decider, Input, Option, Reply, option, reply
from bot.dialogs.parse import (
    Duration,
    find_day,
    find_duration,
    is_skip,
    is_yes,
    next_word,
    parse_duration,
    parse_int,
    read_date,
    read_duration,
)
from bot.dialogs.parse import (
    words as split_words,
)
from bot.hours.service import Category, LogView, check_minutes, clean_note, points_for
from bot.kernel.errors import InvalidInput, LooksRepeated, NotFound
from bot.kernel.i18n import T, Text, hours
from bot.paper.flow import SCAN_WORDS, SHEET_WORDS, event_scan, event_sheet, is_sheet_code
from bot.points.service import HistoryLine
from bot.stars.levels import Standing, level_name, level_params
from models.hours import LogStatus

DURATIONS = (30, 60, 90, 120, 180, 240)
PAGE = 8


# --- shared pieces ---------------------------------------------------------------------------


def log_line(ctx: Context, log: LogView) -> Text:
    category = log.category_en if ctx.actor.locale == "en" else log.category
    return T(
        "log.line",
        id=f"H{log.id}",
        name=log.person_name,
        category=category,
        date=log.service_date,
        hours=hours(log.minutes),
        points=log.points,
        status=T(f"status.{log.status}"),
        note=log.note or "",
    )


def _category_label(ctx: Context, c: Category) -> str:
    return c.name_en if ctx.actor.locale == "en" else c.name


def _category(ctx: Context, text: str) -> Category:
    """By number in the list, by Chinese or English name, or by id from a button."""
    categories = ctx.services.hours.categories(ctx.community_id)
    text = text.strip()
    if text.startswith("c") and text[1:].isdecimal():
        found = [c for c in categories if c.id == int(text[1:])]
    elif text.isdecimal() and 1 <= int(text) <= len(categories):
        found = [categories[int(text) - 1]]
    else:
        found = [c for c in categories if text.lower() in (c.name, c.name_en.lower())]
    if not found:
        raise _unknown_category(ctx, categories, text)
    return found[0]


def _closest(categories: list[Category], text: str) -> Category | None:
    """The category a mistyped name most likely meant (探坊 → 探访), if one is close enough."""
    names = {c.name: c for c in categories} | {c.name_en.lower(): c for c in categories}
    close = difflib.get_close_matches(text.lower(), list(names), n=1, cutoff=0.5)
    return names[close[0]] if close else None


def _unknown_category(ctx: Context, categories: list[Category], text: str) -> InvalidInput:
    """The refusal names the closest category, or lists them all."""
    guess = _closest(categories, text)
    if guess is not None:
        return InvalidInput("error.category_did_you_mean", name=text[:32], guess=_category_label(ctx, guess))
    return InvalidInput(
        "error.category_list",
        name=text[:32],
        names=(", " if ctx.actor.locale == "en" else "、").join(_category_label(ctx, c) for c in categories),
    )


def _today(ctx: Context) -> date:
    """Today in the community's zone (the one the hours service checks dates in)."""
    return (ctx.services.people.clock_of(ctx.community_id)).today()


# --- step-by-step logging --------------------------------------------------------------------


def log_hours(ctx: Context, args: str) -> list[Reply]:
    if args:
        return _log_one_line(ctx, args)
    return _ask_category(ctx, "log", draft=secrets.token_hex(6))


def _ask_category(ctx: Context, flow: str, typed: str | None = None, **data: object) -> list[Reply]:
    """The list of categories; with what the person typed, the closest one comes first."""
    categories = ctx.services.hours.categories(ctx.community_id)
    ctx.goto(flow, "category", **data)
    guess = _closest(categories, typed) if typed else None
    if guess is not None:
        categories = [guess, *(c for c in categories if c is not guess)]
    options = [
        Option(f"c{c.id}", T("log.category_option", name=_category_label(ctx, c), rate=c.points_per_hour))
        for c in categories
    ]
    if not typed:
        question = T("log.ask_category")
    elif guess is None:
        question = T("log.ask_category_unknown", name=typed[:32])
    else:
        question = T("log.ask_category_guess", name=typed[:32], guess=_category_label(ctx, guess))
    return [Reply(question, tuple(options), columns=3)]


def choose_category(ctx: Context, inp: Input) -> list[Reply]:
    try:
        category = _category(ctx, inp.option or inp.text)
    except InvalidInput:
        if inp.option:  # a button that is not (or no longer) one of the offered categories
            return [reply("error.bad_category"), *_ask_category(ctx, ctx.flow or "log")]
        return _ask_category(ctx, ctx.flow or "log", typed=inp.text.strip())
    if ctx.flow == "log" and "minutes" in ctx.data:  # a one-line log that named no known category
        ctx.goto("log", "confirm", category_id=category.id)
        return [_summary(ctx)]
    ctx.goto(ctx.flow or "log", "date", category_id=category.id)
    return [_ask_date()]


def _ask_date() -> Reply:
    return reply(
        "log.ask_date",
        option("today", "log.today"),
        option("yesterday", "log.yesterday"),
        option("other", "log.other_date"),
        columns=3,
    )


def choose_date(ctx: Context, inp: Input) -> list[Reply]:
    answer = inp.option or inp.text
    if answer == "other":
        return [reply("log.type_date")]
    try:
        service_date = read_date(answer, _today(ctx))
    except InvalidInput as exc:
        return [reply(exc.key, **exc.params), _ask_date()]
    if service_date is None:
        return [reply("error.bad_date"), _ask_date()]
    ctx.goto(ctx.flow or "log", "duration", service_date=service_date.isoformat())
    return [_ask_duration()]


def _ask_duration() -> Reply:
    return Reply(
        T("log.ask_duration"),
        tuple(option(f"{m}", "log.duration_option", hours=hours(m)) for m in DURATIONS),
        columns=3,
    )


def choose_duration(ctx: Context, inp: Input) -> list[Reply]:
    # A button's value is minutes; what is typed is read as people say it (a bare 2 is hours).
    minutes = int(inp.option) if inp.option in {str(m) for m in DURATIONS} else parse_duration(inp.text)
    if minutes is None:
        return [reply("error.bad_duration"), _ask_duration()]
    if ctx.flow == "event":
        ctx.goto("event", "volunteers", minutes=minutes)
        return [reply("event.ask_volunteers")]
    if "note" in ctx.data:  # a sentence's draft (我昨天探访了王奶奶): the sentence is the note
        ctx.goto("log", "confirm", minutes=minutes)
        return [_summary(ctx)]
    ctx.goto("log", "note", minutes=minutes)
    return [reply("log.ask_note", option("skip", "log.skip_note"))]


def add_note(ctx: Context, inp: Input) -> list[Reply]:
    text = inp.text.strip()
    try:
        if inp.photo:
            ctx.data["photo"] = inp.photo
            ctx.data["note"] = clean_note(text) or ctx.data.get("note")
        elif inp.option != "skip" and text and not is_skip(text):
            ctx.data["note"] = clean_note(text)
    except InvalidInput as exc:
        return [reply(exc.key, **exc.params), reply("log.ask_note", option("skip", "log.skip_note"))]
    ctx.goto("log", "confirm")
    return [_summary(ctx)]


def _summary(ctx: Context) -> Reply:
    category = next(c for c in ctx.services.hours.categories(ctx.community_id) if c.id == ctx.data["category_id"])
    minutes = ctx.data["minutes"]
    return reply(
        "log.confirm",
        option("yes", "log.confirm_yes"),
        option("/cancel", "log.confirm_no"),
        columns=2,
        category=_category_label(ctx, category),
        date=ctx.data["service_date"],
        hours=hours(minutes),
        points=points_for(minutes, category.points_per_hour),
        note=ctx.data.get("note") or "—",
    )


def confirm_log(ctx: Context, inp: Input) -> list[Reply]:
    if inp.option != "yes" and not is_yes(inp.text):
        return [_summary(ctx)]
    data = ctx.data
    ctx.finish()  # the draft is spent either way; an error below says why
    try:
        log = ctx.services.hours.submit(
            ctx.actor.person_id,
            ctx.community_id,
            category_id=data["category_id"],
            service_date=date.fromisoformat(data["service_date"]),
            minutes=data["minutes"],
            note=data.get("note"),
            photo=data.get("photo"),
            request_key=f"draft:{data['draft']}",
            repeat_ok=data.get("repeat", False),
        )
    except LooksRepeated as exc:
        return _ask_again(ctx, exc, data)
    return _submitted(ctx, log)


def _ask_again(ctx: Context, exc: LooksRepeated, data: dict) -> list[Reply]:
    """The same hours for the same day are logged already: save them again only if told so."""
    ctx.goto("log", "confirm", **{**data, "repeat": True})
    return [reply(exc.key, **exc.params), _summary(ctx)]


def _submitted(ctx: Context, log: LogView, *, by_button: bool = True) -> list[Reply]:
    if by_button:  # ✅ pressed again says what it became (a typed line has no button to press)
        ctx.finish(receipt=T("log.already_submitted", id=f"H{log.id}"))
    return [reply("log.submitted", id=f"H{log.id}", points=log.points)]


def _date_and_note(ctx: Context, rest: str) -> tuple[date, str | None]:
    """An optional date, then the note (its punctuation kept). A word shaped like a date that
    names no real day is refused rather than read as today."""
    first, after = next_word(rest)
    today = _today(ctx)
    found = read_date(first, today) if first else None
    if found is not None:
        rest = after
    return found or today, clean_note(rest)


@dataclass
class _Line:
    """What a one-line /log says: its parts in any order, or what a sentence mentions."""

    note: str
    duration: Duration | None = None
    day: date | None = None
    category: Category | None = None
    typed_category: str | None = None  # a word in the category's place that names none
    duration_word: str = ""  # as typed, when a bare number was guessed to be minutes
    sentence: bool = False  # read out of a sentence: confirmed before it is saved


def _named(categories: list[Category], word: str, *, by_number: bool = False) -> Category | None:
    """A category by its Chinese or English name, or (once the duration is known: a bare 2 is
    hours first) by its number in the list."""
    if by_number and word.isdecimal() and 1 <= int(word) <= len(categories):
        return categories[int(word) - 1]
    return next((c for c in categories if word.lower() in (c.name, c.name_en.lower())), None)


def _read_words(args: str, categories: list[Category], today: date) -> _Line:
    """/log 1h 探访 昨天 陪聊, /log 探访 1h: the leading words are the duration, the day and the
    category in any order; the note is the rest as typed (its punctuation kept)."""
    line, rest = _Line(note=""), args
    while rest:
        word, after = next_word(rest)
        if line.duration is None and (duration := read_duration(word)) is not None:
            line.duration, line.duration_word = duration, word
        elif line.day is None and (day := read_date(word, today)) is not None:
            line.day = day
        elif line.category is None and (category := _named(categories, word, by_number=bool(line.duration))):
            line.category = category
        elif line.category is None and line.typed_category is None:
            line.typed_category = word
        else:
            break
        rest = after
    if line.category is not None and line.typed_category is not None:  # /log 陪聊 探访 1h: a note first
        rest, line.typed_category = f"{line.typed_category} {rest}".strip(), None
    if line.day is None:  # a day named once the note began is still the day, never silently today
        line.day = next((day for word in split_words(rest) if (day := read_date(word, today)) is not None), None)
    line.note = rest
    return line


def _read_sentence(args: str, categories: list[Category], today: date) -> _Line:
    """我今天探访了王奶奶两个小时: the day, the duration and the category it mentions; the
    sentence itself is the note."""
    line, text = _Line(note=args, sentence=True), args
    if (found := find_day(text, today)) is not None:
        line.day, (start, end) = found
        text = f"{text[:start]} {text[end:]}"  # 周三两小时: the 三 is the day's, not the hours'
    line.duration = find_duration(text)
    lower = text.lower()
    mentioned = [
        c
        for c in categories
        if c.name in text or (c.name_en and re.search(rf"\b{re.escape(c.name_en.lower())}\b", lower))
    ]
    line.category = max(mentioned, key=lambda c: len(c.name), default=None)
    return line


def _log_one_line(ctx: Context, args: str) -> list[Reply]:
    """/log 2h 探访 [2026-11-20|昨天|上周三] [note…], the parts in any order and separated by
    spaces or commas; or a sentence (我今天探访了王奶奶两个小时), shown to be confirmed first."""
    categories = ctx.services.hours.categories(ctx.community_id)
    today = _today(ctx)
    line = _read_words(args, categories, today)
    if line.duration is None:
        line = _read_sentence(args, categories, today)
    if line.duration is None and line.category is None:
        return [reply("log.usage")]
    draft: dict[str, Any] = {
        "draft": secrets.token_hex(6),
        "service_date": (line.day or today).isoformat(),
        "note": clean_note(line.note),
    }
    if line.duration is None:  # 我昨天探访了王奶奶: how long is asked
        assert line.category is not None  # checked above: one of the two was given
        ctx.goto("log", "duration", category_id=line.category.id, **draft)
        return [_ask_duration()]
    check_minutes(line.duration.minutes)  # refused now, not after the questions
    draft["minutes"] = line.duration.minutes
    if line.category is None:
        # Unsure what was meant: fill in what is known and ask (the category, or a confirmation).
        return _ask_category(ctx, "log", typed=line.typed_category, **draft)
    if line.duration.guessed or line.sentence:
        ctx.goto("log", "confirm", category_id=line.category.id, **draft)
        said = (
            reply("log.duration_guessed", typed=line.duration_word[:16], hours=hours(line.duration.minutes))
            if line.duration.guessed
            else reply("log.understood")
        )
        return [said, _summary(ctx)]
    try:
        log = ctx.services.hours.submit(
            ctx.actor.person_id,
            ctx.community_id,
            category_id=line.category.id,
            service_date=line.day or today,
            minutes=line.duration.minutes,
            note=draft["note"],
            request_key=ctx.key(),
            repeat_ok=False,
        )
    except LooksRepeated as exc:
        return _ask_again(ctx, exc, {**draft, "category_id": line.category.id})
    return _submitted(ctx, log, by_button=False)


# --- balance and history ---------------------------------------------------------------------


def balance(ctx: Context, args: str) -> list[Reply]:
    b = ctx.services.points.balance(ctx.actor.person_id, ctx.community_id)
    level = level_line(ctx.services.star_levels.standing(ctx.actor.person_id, ctx.community_id))
    shown = [
        reply(
            "balance.show",
            available=b.available,
            pending=b.pending,
            earned=b.earned_points,
            hours=hours(b.earned_minutes),
            level=level,
        )
    ]
    soon = ctx.services.expiry.next_for(ctx.actor.person_id, ctx.community_id)
    if soon is not None:
        shown.append(reply("expiry.balance_line", amount=soon.amount, date=soon.on.isoformat()))
    return shown


def level_line(standing: Standing) -> Text:
    """/balance's star level: the level and the hours to the next."""
    if standing.to_next is None:
        return T("levels.balance_top", **level_params(standing.level))
    to_next = hours(standing.to_next)
    if standing.level == 0:
        return T("levels.balance_none", to_next=to_next)
    return T(
        "levels.balance_line", **level_params(standing.level), to_next=to_next, next=level_name(standing.level + 1)
    )


def history(ctx: Context, args: str) -> list[Reply]:
    page = _page(args)
    items, more = ctx.services.points.history(ctx.actor.person_id, ctx.community_id, page=page, page_size=PAGE)
    if not items:
        return [reply("history.empty" if page == 0 else "history.no_more")]
    clock = ctx.services.people.clock_of(ctx.community_id)  # dates as the community reads them
    lines = [
        T(
            "history.line",
            date=clock.date_of(i.created_at),
            what=_what(ctx, i),
            delta=f"{i.delta:+d}",
            phase=T(f"phase.{i.phase}"),
        )
        for i in items
    ]
    options = (option(f"/history {page + 2}", "history.more"),) if more else ()
    return [Reply(T("history.page", page=page + 1, lines=lines), options)]


def _page(args: str) -> int:
    """/history 2 → page index 1; anything else (or a number too big to mean a page) the first."""
    number = parse_int(args, low=1)
    return min(number, 10_000) - 1 if number else 0


def _what(ctx: Context, i: HistoryLine) -> Text:
    """What a history entry was for, in the reader's language."""
    if i.category is not None:
        category = i.category_en if ctx.actor.locale == "en" else i.category
        return T(
            "history.for_log", id=f"H{i.ref_id}", category=category, date=i.service_date, hours=hours(i.minutes or 0)
        )
    if i.goods is not None:
        return T("history.for_goods", id=f"R{i.ref_id}", name=i.goods, quantity=i.quantity)
    if i.kind == "gift" and i.counterpart:
        return T("history.gift_to" if i.delta < 0 else "history.gift_from", name=i.counterpart)
    if i.reason:
        return T("history.with_reason", kind=T(f"kind.{i.kind}"), reason=i.reason)
    return T(f"kind.{i.kind}")


MYLOGS_PAGE = 10


def my_logs(ctx: Context, args: str) -> list[Reply]:
    page = _page(args)
    logs = ctx.services.hours.logs_of(
        ctx.actor.person_id, ctx.community_id, limit=MYLOGS_PAGE + 1, offset=page * MYLOGS_PAGE
    )
    if not logs:
        return [reply("mylogs.empty" if page == 0 else "mylogs.no_more")]
    options = (option(f"/mylogs {page + 2}", "mylogs.more"),) if len(logs) > MYLOGS_PAGE else ()
    return [Reply(T("mylogs.page", page=page + 1, lines=[log_line(ctx, log) for log in logs[:MYLOGS_PAGE]]), options)]


# --- the worker's side -----------------------------------------------------------------------


def pending_logs(ctx: Context) -> list[Reply]:
    mark = deadline_marker(ctx)
    return [
        Reply(
            mark(log_line(ctx, log), log.created_at),
            (option(f"/approve H{log.id}", "pending.approve"), option(f"/reject H{log.id}", "pending.reject")),
        )
        for log in ctx.services.hours.pending(ctx.actor.person_id, ctx.community_id, limit=MOST)
    ]


def _all_pending_logs(ctx: Context) -> list[int]:
    """What "approve all" approves: every waiting log but the worker's own."""
    logs = ctx.services.hours.pending(ctx.actor.person_id, ctx.community_id, limit=MOST)
    return [log.id for log in logs if log.person_id != ctx.actor.person_id]


def _approve_logs(ctx: Context, ids: list[int]) -> list[Reply]:
    if len(ids) == 1:
        decision = ctx.services.hours.approve(ctx.actor.person_id, ids[0])
        key = "approve.done" if decision.changed else "approve.already"
        return [reply(key, id=f"H{decision.log.id}", name=decision.log.person_name, points=decision.log.points)]
    done, refused = ctx.services.hours.approve_many(ctx.actor.person_id, ids)
    replies = [
        reply(
            "approve.batch_done",
            count=sum(d.changed for d in done),
            points=sum(d.log.points for d in done if d.changed),
        )
    ]
    if refused:
        lines = [T("approve.refused_line", id=f"H{i}", reason=T(key, log=i)) for i, key in refused]
        replies.append(reply("approve.batch_refused", lines=lines))
    return replies


def _reject_log(ctx: Context, log_id: int, reason: str) -> list[Reply]:
    if not reason:
        ctx.services.hours.rejectable(ctx.actor.person_id, log_id)
        return _ask_reject_reason(ctx, log_id)
    return _reject(ctx, log_id, reason)


DECIDER = Decider("H", _approve_logs, _reject_log, _all_pending_logs, pending=pending_logs, coordinators=True)


def _reject(ctx: Context, log_id: int, reason: str) -> list[Reply]:
    decision = ctx.services.hours.reject(ctx.actor.person_id, log_id, reason)
    key = "reject.done" if decision.changed else "reject.already"
    return [reply(key, id=f"H{log_id}", name=decision.log.person_name)]


_ask_reject_reason, reject_reason = reason_step("reject", "reject.ask_reason", "H", _reject)


def record(ctx: Context, args: str) -> list[Reply]:
    """/record <volunteer> 2h 助餐 [date] [note…] — for a volunteer without a phone. Workers, and
    grid coordinators for their grid's people (the service checks the grid)."""
    name, rest = name_and_rest(ctx, args)
    typed, rest = next_word(rest)
    typed_category, rest = next_word(rest)
    if not typed_category or (minutes := parse_duration(typed)) is None:
        return [reply("record.usage")]
    person = person_arg(
        ctx, name, lambda ref: f"/record {ref} {typed} {typed_category} {rest}".strip(), grids_only=True
    )
    category = _category(ctx, typed_category)
    service_date, note = _date_and_note(ctx, rest)
    data = {
        "person_id": person.person_id,
        "category_id": category.id,
        "service_date": service_date.isoformat(),
        "minutes": minutes,
        "note": note,
    }
    try:
        return _record(ctx, data, ctx.key(), repeat_ok=False)
    except LooksRepeated as exc:
        return _ask_record_again(ctx, exc, **data)


def _record(ctx: Context, data: dict, request_key: str | None, *, repeat_ok: bool = True) -> list[Reply]:
    decisions = ctx.services.hours.record(
        ctx.actor.person_id,
        ctx.community_id,
        [data["person_id"]],
        category_id=data["category_id"],
        service_date=date.fromisoformat(data["service_date"]),
        minutes=data["minutes"],
        note=data["note"],
        request_key=request_key,
        repeat_ok=repeat_ok,
    )
    log = decisions[0].log
    if log.status == LogStatus.PENDING:  # recorded for a worker: another worker approves it
        # (or recorded by a grid coordinator who may not approve: a worker does)
        key = "record.waiting" if ctx.actor.at_least("worker") else "grids.record_waiting"
        return [reply(key, id=f"H{log.id}", name=log.person_name, hours=hours(log.minutes))]
    return [reply("record.done", id=f"H{log.id}", name=log.person_name, hours=hours(log.minutes), points=log.points)]


_ask_record_again, record_again = repeat_step("record", _record)


def event(ctx: Context, args: str) -> list[Reply]:
    """Step by step: category → date → duration → volunteers → confirm. `/event sheet 活动名`
    prints a sign-in sheet, and `/event ES12-…` (its scanned or typed code) records it
    (bot.paper.flow)."""
    first, rest = next_word(args)
    if first.lower() in SHEET_WORDS:
        return event_sheet(ctx, rest)
    if first.lower() in SCAN_WORDS:
        return event_scan(ctx, rest)
    if is_sheet_code(first):
        return event_scan(ctx, first)
    return _ask_category(ctx, "event", draft=secrets.token_hex(6))


def event_volunteers(ctx: Context, inp: Input) -> list[Reply]:
    names = names_in(ctx, inp.text)
    people = []
    for name in names:
        try:
            people.append(person_arg(ctx, name))
        except (NotFound, InvalidInput) as exc:
            return [reply(exc.key, **exc.params), reply("event.ask_volunteers")]
    if not people:
        return [reply("event.ask_volunteers")]
    ctx.goto("event", "confirm", people=[p.person_id for p in people], names=[p.name for p in people])
    return [_event_summary(ctx)]


def _event_summary(ctx: Context) -> Reply:
    return reply(
        "event.confirm",
        option("yes", "log.confirm_yes"),
        option("/cancel", "log.confirm_no"),
        columns=2,
        count=len(ctx.data["people"]),
        names="、".join(ctx.data["names"]),
        date=ctx.data["service_date"],
        hours=hours(ctx.data["minutes"]),
    )


def event_confirm(ctx: Context, inp: Input) -> list[Reply]:
    if inp.option != "yes" and not is_yes(inp.text):
        return [reply("event.ask_confirm"), _event_summary(ctx)]
    data = ctx.data
    ctx.finish()
    decisions = ctx.services.hours.record(
        ctx.actor.person_id,
        ctx.community_id,
        data["people"],
        category_id=data["category_id"],
        service_date=date.fromisoformat(data["service_date"]),
        minutes=data["minutes"],
        event_name=None,
        request_key=f"draft:{data['draft']}",
    )
    waiting = [d.log for d in decisions if d.log.status == LogStatus.PENDING]
    points = sum(d.log.points for d in decisions if d.log.status == LogStatus.APPROVED)
    ctx.finish(receipt=T("event.already_done", count=len(decisions) - len(waiting), points=points))
    replies = [reply("event.done", count=len(decisions) - len(waiting), points=points)]
    if waiting:  # hours of workers wait for another worker (four eyes)
        replies.append(reply("event.waiting", names="、".join(log.person_name for log in waiting)))
    return replies
