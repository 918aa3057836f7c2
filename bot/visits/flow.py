"""Elderly visits in the chat: today's list, recording a visit or a call step by step or in one
line, and acknowledging a "needs help" alert."""

from __future__ import annotations

import secrets

from bot.dialogs.core import Context, Input, Reply, command, option, reply, step
from bot.dialogs.parse import is_skip, parse_duration, parse_ref
from bot.hours.service import check_minutes, clean_note
from bot.kernel.errors import InvalidInput
from bot.kernel.i18n import T, hours
from bot.visits.service import VISIT_PREFIX, Recorded, by_grid, capped, due_line, grid_order

DURATIONS = (30, 45, 60, 90, 120)
LIST_LINES = 60
BUTTONS = 24
KINDS = {
    "visit": "visit",
    "探访": "visit",
    "上门": "visit",
    "走访": "visit",
    "call": "call",
    "phone": "call",
    "电话": "call",
    "打电话": "call",
}
OUTCOMES = {
    "well": "well",
    "ok": "well",
    "good": "well",
    "良好": "well",
    "好": "well",
    "正常": "well",
    "needs_help": "needs_help",
    "help": "needs_help",
    "needshelp": "needs_help",
    "需要帮助": "needs_help",
    "求助": "needs_help",
    "not_home": "not_home",
    "nothome": "not_home",
    "away": "not_home",
    "不在家": "not_home",
    "没人": "not_home",
    "hospital": "hospital",
    "住院": "hospital",
    "在医院": "hospital",
}


def _outcome(words: list[str]) -> tuple[str | None, int]:
    """The outcome at the start of `words` and how many words it took ("needs help" is two)."""
    if len(words) >= 2 and f"{words[0]}_{words[1]}".lower() in OUTCOMES:
        return OUTCOMES[f"{words[0]}_{words[1]}".lower()], 2
    if words and words[0].lower() in OUTCOMES:
        return OUTCOMES[words[0].lower()], 1
    return None, 0


# --- today's list ----------------------------------------------------------------------------


@command("visits", role="volunteer", help_key="visits.help.visits", aliases=("探访名单",))
def visits(ctx: Context, args: str) -> list[Reply]:
    """Workers: their elders and the unassigned ones (`/visits all`: everyone), open alerts
    first. Volunteers: the visits due for their own elders."""
    everyone = args.strip().lower() in ("all", "全部")
    due = ctx.services.visits.due_for(ctx.actor.person_id, ctx.community_id, everyone=everyone)
    replies = [
        Reply(
            T(
                "visits.alert_line",
                alert=a.ref,
                ref=f"E{a.elder_id}",
                name=a.elder_name,
                by=a.reported_by,
                note=a.note or "—",
                escalated=T("visits.alert_escalated") if a.escalated else "",
            ),
            (option(f"/ack {a.ref}", "visits.ack_button", alert=a.ref),),
        )
        for a in due.alerts
    ]
    if not due.items:
        return [*replies, reply("visits.none", date=due.today)]
    line = due_line if due.full else (lambda i: due_line(i, phone=False, visitors=False))
    lines = capped(by_grid(due.items, line), LIST_LINES)
    buttons = tuple(
        option(f"/visit {i.ref}", "visits.visit_button", ref=i.ref, name=i.name)
        for i in grid_order(due.items)[:BUTTONS]
    )
    overdue = sum(1 for i in due.items if i.overdue_days)
    replies.append(
        Reply(T("visits.list", date=due.today, count=len(due.items), overdue=overdue, lines=lines), buttons, columns=2)
    )
    return replies


# --- recording a visit or a call -------------------------------------------------------------


@command("visit", role="volunteer", help_key="visits.help.visit", aliases=("探访记录",))
def visit(ctx: Context, args: str) -> list[Reply]:
    """`/visit E5` step by step, or `/visit E5 [call] well [1h] 精神不错` in one line."""
    words = args.split()
    if not words:
        return visits(ctx, "")
    elder_id = parse_ref(words[0], "E")
    if elder_id is None:
        return [reply("visits.visit_usage")]
    if len(words) > 1:
        return _one_line(ctx, elder_id, words[1:])
    elder = ctx.services.visits.roster.elder(ctx.actor.person_id, elder_id)  # may they? ask now, not at the end
    ctx.goto("visit", "kind", elder_id=elder_id, name=elder.name, draft=secrets.token_hex(6))
    return [_ask_kind(ctx)]


def _ask_kind(ctx: Context) -> Reply:
    return reply(
        "visits.ask_kind",
        option("visit", "visits.kind.visit"),
        option("call", "visits.kind.call"),
        columns=2,
        ref=f"E{ctx.data['elder_id']}",
        name=ctx.data["name"],
    )


def _ask_outcome() -> Reply:
    return reply(
        "visits.ask_outcome",
        *(option(o, f"visits.outcome.{o}") for o in ("well", "needs_help", "not_home", "hospital")),
        columns=2,
    )


@step("visit", "kind")
def choose_kind(ctx: Context, inp: Input) -> list[Reply]:
    kind = KINDS.get((inp.option or inp.text).strip().lower())
    if kind is None:
        return [_ask_kind(ctx)]
    ctx.goto("visit", "outcome", kind=kind)
    return [_ask_outcome()]


@step("visit", "outcome")
def choose_outcome(ctx: Context, inp: Input) -> list[Reply]:
    outcome, _ = _outcome((inp.option or inp.text).split())
    if outcome is None:
        return [_ask_outcome()]
    ctx.goto("visit", "note", outcome=outcome)
    return [reply("visits.ask_note", option("skip", "visits.skip"))]


@step("visit", "note")
def add_note(ctx: Context, inp: Input) -> list[Reply]:
    if inp.photo:
        ctx.data["photo"] = inp.photo
    text = inp.text.strip()
    if inp.option != "skip" and text and not is_skip(text):
        try:
            ctx.data["note"] = clean_note(text)
        except InvalidInput as exc:
            return [reply(exc.key, **exc.params), reply("visits.ask_note", option("skip", "visits.skip"))]
    if ctx.data["kind"] == "visit":
        ctx.goto("visit", "extras")
        return [reply("visits.ask_extras", option("skip", "visits.skip"))]
    return _after_details(ctx)


@step("visit", "extras")
def add_extras(ctx: Context, inp: Input) -> list[Reply]:
    """A location and a photo, both optional, in any order."""
    if inp.location:
        ctx.data["location"] = list(inp.location)
    if inp.photo:
        ctx.data["photo"] = inp.photo
    if (inp.location or inp.photo) and not ("location" in ctx.data and "photo" in ctx.data):
        return [reply("visits.extras_more", option("done", "visits.done"))]
    return _after_details(ctx)


def _after_details(ctx: Context) -> list[Reply]:
    # A volunteer's visit becomes service hours too: ask how long it took.
    if ctx.data["kind"] == "visit" and ctx.actor.role == "volunteer" and not ctx.actor.is_admin:
        ctx.goto("visit", "minutes")
        return [_ask_minutes()]
    return _save(ctx, None)


def _ask_minutes(skip: bool = False) -> Reply:
    options = [option(str(m), "visits.minutes_option", hours=hours(m)) for m in DURATIONS]
    if skip:
        options.append(option("skip", "visits.skip"))
    return Reply(T("visits.ask_minutes"), tuple(options), columns=3)


def _minutes(inp: Input) -> int | None:
    """A button's value is minutes; what is typed is read as people say it (a bare 2 is hours)."""
    return int(inp.option) if inp.option in {str(m) for m in DURATIONS} else parse_duration(inp.text)


@step("visit", "minutes")
def choose_minutes(ctx: Context, inp: Input) -> list[Reply]:
    minutes = _minutes(inp)
    if minutes is None:
        return [reply("error.bad_duration"), _ask_minutes()]
    try:
        check_minutes(minutes)
    except InvalidInput as exc:
        return [reply(exc.key, **exc.params), _ask_minutes()]
    return _save(ctx, minutes)


def _save(ctx: Context, minutes: int | None) -> list[Reply]:
    data = ctx.data
    ctx.finish()  # the draft is spent either way; an error below says why
    location = tuple(data["location"]) if data.get("location") else None
    recorded = ctx.services.visits.record(
        ctx.actor.person_id,
        data["elder_id"],
        kind=data["kind"],
        outcome=data["outcome"],
        note=data.get("note"),
        location=location,
        photo=data.get("photo"),
        minutes=minutes,
        request_key=f"draft:{data['draft']}",
    )
    return _saved(recorded)


def _one_line(ctx: Context, elder_id: int, words: list[str]) -> list[Reply]:
    kind = KINDS.get(words[0].lower())
    if kind:
        words = words[1:]
    else:
        kind = "visit"
    outcome, used = _outcome(words)
    if outcome is None:
        return [reply("visits.visit_usage")]
    words = words[used:]
    minutes = None
    # A duration needs its unit here ("1h", "45分钟"): a bare number may begin the note.
    if words and not words[0].isdigit() and (found := parse_duration(words[0])) is not None:
        minutes, words = found, words[1:]
    key = ctx.key()
    recorded = ctx.services.visits.record(
        ctx.actor.person_id,
        elder_id,
        kind=kind,
        outcome=outcome,
        note=" ".join(words) or None,
        minutes=minutes,
        request_key=key,
    )
    replies = _saved(recorded)
    if recorded.needs_minutes:
        ctx.goto("visit", "hours", visit_id=recorded.visit_id)
        replies.append(_ask_minutes(skip=True))
    return replies


@step("visit", "hours")
def hours_after(ctx: Context, inp: Input) -> list[Reply]:
    """The duration of a visit already saved in one line, for the volunteer's service hours."""
    answer = (inp.option or inp.text).strip()
    if is_skip(answer):
        ctx.finish()
        return [reply("visits.hours_skipped")]
    minutes = _minutes(inp)
    if minutes is None:
        return [reply("error.bad_duration"), _ask_minutes(skip=True)]
    visit_id = ctx.data["visit_id"]
    ctx.finish()
    log = ctx.services.visits.log_visit_hours(ctx.actor.person_id, visit_id, minutes)
    return [reply("visits.saved_log", log=f"H{log.id}", points=log.points)]


def _saved(r: Recorded) -> list[Reply]:
    replies = [
        reply(
            "visits.saved",
            visit=f"{VISIT_PREFIX}{r.visit_id}",
            ref=f"E{r.elder_id}",
            name=r.elder_name,
            kind=T(f"visits.kind.{r.kind}"),
            outcome=T(f"visits.outcome.{r.outcome}"),
        )
    ]
    if r.alert_id is not None:
        alert = f"A{r.alert_id}"
        if r.notified:
            replies.append(reply("visits.saved_alert", alert=alert, workers="、".join(r.notified)))
        else:
            replies.append(reply("visits.saved_alert_nobody", alert=alert))
    if r.flagged:
        replies.append(reply("visits.saved_flagged", name=r.elder_name))
    if r.log is not None:
        replies.append(reply("visits.saved_log", log=f"H{r.log.id}", points=r.log.points))
    if r.log_error is not None:
        replies.append(reply("visits.saved_log_refused", reason=T(r.log_error.key, **r.log_error.params)))
    return replies


# --- alerts ----------------------------------------------------------------------------------


@command("ack", role="worker", help_key="visits.help.ack", aliases=("已处理",), coordinators=True)
def ack(ctx: Context, args: str) -> list[Reply]:
    alert_id = parse_ref(args.split()[0], "A") if args.split() else None
    if alert_id is None:
        return [reply("visits.ack_usage")]
    alert = ctx.services.visits.ack(ctx.actor.person_id, alert_id)
    if not alert.changed:
        return [reply("visits.ack_already", alert=alert.ref, by=alert.acknowledged_by or "—")]
    return [reply("visits.ack_done", alert=alert.ref, ref=f"E{alert.elder_id}", name=alert.elder_name)]
