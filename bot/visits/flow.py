"""Elderly visits in the chat: today's list, recording a visit or a call step by step or in one
line, checking in by a door card's QR code, the wellbeing questions after a visit, the needs
they raise, and acknowledging an alert."""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import replace

from bot.dialogs.core import Context, Input, Invites, Later, Reply, StepHandler, option, reply
from bot.dialogs.parse import is_skip, parse_duration, parse_ref
from bot.hours.service import check_minutes, clean_note
from bot.kernel.errors import InvalidInput
from bot.kernel.i18n import T, Text, hours, render
from bot.requests.service import NewRequest
from bot.visits.cards import Card, cards_pdf
from bot.visits.checkin import QUESTIONS, Wellbeing
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
    scanned = ctx.services.checkins.open_checkin(ctx.actor.person_id, elder_id)
    ctx.goto("visit", "kind", elder_id=elder_id, name=elder.name, draft=secrets.token_hex(6), checkin_id=scanned)
    return [*last_answers(ctx, elder_id), _ask_kind(ctx)]


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


def choose_kind(ctx: Context, inp: Input) -> list[Reply]:
    kind = KINDS.get((inp.option or inp.text).strip().lower())
    if kind is None:
        return [_ask_kind(ctx)]
    ctx.goto("visit", "outcome", kind=kind)
    return [_ask_outcome()]


def choose_outcome(ctx: Context, inp: Input) -> list[Reply]:
    outcome, _ = _outcome((inp.option or inp.text).split())
    if outcome is None:
        return [_ask_outcome()]
    ctx.goto("visit", "note", outcome=outcome)
    return [reply("visits.ask_note", option("skip", "visits.skip"))]


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
        checkin_id=data.get("checkin_id"),
    )
    return [*_saved(recorded), *_start_wellbeing(ctx, recorded)]


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
        checkin_id=ctx.services.checkins.open_checkin(ctx.actor.person_id, elder_id) if kind == "visit" else None,
    )
    replies = _saved(recorded)
    if recorded.needs_minutes:
        ctx.goto("visit", "hours", visit_id=recorded.visit_id, wellbeing=_asks_wellbeing(recorded))
        replies.append(_ask_minutes(skip=True))
        return replies
    return [*replies, *_start_wellbeing(ctx, recorded)]


def hours_after(ctx: Context, inp: Input) -> list[Reply]:
    """The duration of a visit already saved in one line, for the volunteer's service hours."""
    answer = (inp.option or inp.text).strip()
    visit_id, wellbeing = ctx.data["visit_id"], ctx.data.get("wellbeing", False)
    if is_skip(answer):
        ctx.finish()
        return [reply("visits.hours_skipped"), *(_ask_wellbeing(ctx, visit_id) if wellbeing else [])]
    minutes = _minutes(inp)
    if minutes is None:
        return [reply("error.bad_duration"), _ask_minutes(skip=True)]
    ctx.finish()
    log = ctx.services.visits.log_visit_hours(ctx.actor.person_id, visit_id, minutes)
    saved = reply("visits.saved_log", log=f"H{log.id}", points=log.points)
    return [saved, *(_ask_wellbeing(ctx, visit_id) if wellbeing else [])]


def _saved(r: Recorded) -> list[Reply]:
    replies = [
        reply(
            "visits.saved_verified" if r.verified else "visits.saved",
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


def ack(ctx: Context, args: str) -> list[Reply]:
    alert_id = parse_ref(args.split()[0], "A") if args.split() else None
    if alert_id is None:
        return [reply("visits.ack_usage")]
    alert = ctx.services.visits.ack(ctx.actor.person_id, alert_id)
    if not alert.changed:
        return [reply("visits.ack_already", alert=alert.ref, by=alert.acknowledged_by or "—")]
    return [reply("visits.ack_done", alert=alert.ref, ref=f"E{alert.elder_id}", name=alert.elder_name)]


# --- checking in at the door ---------------------------------------------------------------------


def checkin(ctx: Context, args: str) -> list[Reply]:
    """`/checkin TOKEN`: what scanning an elder's door card does (the token is printed under
    the QR code, for the console and for a phone without the app)."""
    words = args.split()
    if not words:
        return [reply("checkin.usage")]
    return check_in(ctx, words[0])


def check_in(ctx: Context, token: str) -> list[Reply]:
    """A scanned door card (WeChat's SCAN, a Telegram deep link, or typed): the check-in is
    recorded now, then the visit is completed step by step, as `/visit` does."""
    done = ctx.services.checkins.check_in(ctx.actor.person_id, token, ctx.key("checkin"))
    ctx.goto(
        "visit",
        "outcome",
        kind="visit",
        elder_id=done.elder_id,
        name=done.elder_name,
        draft=secrets.token_hex(6),
        checkin_id=done.checkin_id,
    )
    at = ctx.services.people.clock_of(done.community_id).now()
    return [
        reply("checkin.done", ref=f"E{done.elder_id}", name=done.elder_name, time=at.strftime("%H:%M")),
        *last_answers(ctx, done.elder_id),
        _ask_outcome(),
    ]


# --- door cards ----------------------------------------------------------------------------------


async def card_url(invites: Invites, token: str) -> str | None:
    """What a card's QR code opens on this channel: WeChat's parametric QR code (scanning sends
    the token back as the scene), a Telegram deep link, or nothing (the token itself)."""
    if invites.scan_url is not None and (url := await invites.scan_url(token)):
        return url
    return invites.link.format(code=token) if invites.link else None


def print_card(ctx: Context, elder_id: int) -> list[Reply]:
    """`/elders E5 card`: a new card for the elder (the one it replaces stops working)."""
    cards = ctx.services.checkins.print_cards(ctx.actor.person_id, ctx.community_id, elder_id=elder_id)
    invites = ctx.invites

    async def draw() -> bytes:
        made = [replace(c, url=await card_url(invites, c.token)) for c in cards]
        return await asyncio.to_thread(cards_pdf, made)

    card: Card = cards[0]
    replies = [
        Reply(
            T("cards.printed", ref=card.ref, name=card.name, generation=card.generation),
            later=Later(draw),
            filename=f"探访卡-{card.name}-{card.ref}.pdf",
        )
    ]
    if card.help_line is None:
        replies.append(reply("cards.no_help_line"))
    return replies


def helpline(ctx: Context, args: str) -> list[Reply]:
    """`/helpline` shows the number printed on door cards; `/helpline 0571-88888888` sets it."""
    if args.strip():
        saved = ctx.services.checkins.set_help_line(ctx.actor.person_id, ctx.community_id, args)
        return [reply("cards.help_line_set", line=saved)]
    line = ctx.services.checkins.help_line(ctx.community_id)
    return [reply("cards.help_line", line=line) if line else reply("cards.no_help_line")]


# --- the wellbeing loop --------------------------------------------------------------------------

WELLBEING_WORDS = {
    "mood": {"好": "good", "良好": "good", "一般": "so_so", "so-so": "so_so", "差": "poor", "不好": "poor"},
    "health": {
        "好": "good",
        "良好": "good",
        "不适": "unwell",
        "不舒服": "unwell",
        "看医生": "doctor",
        "就医": "doctor",
    },
    "need": {
        "没有": "nothing",
        "无": "nothing",
        "none": "nothing",
        "购物": "shopping",
        "代购": "shopping",
        "维修": "repairs",
        "修理": "repairs",
        "其他": "other",
    },
}
FOLLOWING = {"mood": "health", "health": "need"}
NEED_CATEGORY = {"shopping": ("其他", "other"), "repairs": ("义务维修", "repairs"), "other": ("其他", "other")}


def _asks_wellbeing(r: Recorded) -> bool:
    """Someone was seen or heard (not "not at home"), and this is the record's first saving."""
    return r.outcome != "not_home" and not r.replayed


def _start_wellbeing(ctx: Context, r: Recorded) -> list[Reply]:
    return _ask_wellbeing(ctx, r.visit_id) if _asks_wellbeing(r) else []


def _ask_wellbeing(ctx: Context, visit_id: int) -> list[Reply]:
    ctx.goto("wellbeing", "mood", visit_id=visit_id)
    return [_ask_question("mood")]


def _ask_question(question: str) -> Reply:
    return reply(
        f"wellbeing.ask.{question}",
        *(option(v, f"wellbeing.{question}.{v}") for v in QUESTIONS[question]),
        columns=4 if question == "need" else 3,
    )


def _ask_next_note() -> Reply:
    return reply("wellbeing.ask.next_note", option("skip", "visits.skip"))


def _question_step(question: str) -> StepHandler:
    def answer(ctx: Context, inp: Input) -> list[Reply]:
        said = (inp.option or inp.text).strip().lower()
        value = said if said in QUESTIONS[question] else WELLBEING_WORDS[question].get(said)
        if value is None:
            return [_ask_question(question)]
        visit_id = ctx.data["visit_id"]
        done = ctx.services.checkins.answer(ctx.actor.person_id, visit_id, question, value)
        replies: list[Reply] = []
        if done.alert_id is not None:
            alert = f"A{done.alert_id}"
            if done.notified:
                replies.append(reply("wellbeing.alerted", alert=alert, workers="、".join(done.notified)))
            else:
                replies.append(reply("wellbeing.alerted_nobody", alert=alert))
        if question == "need" and value != "nothing":
            buttons = (option(f"/need T{visit_id}", "wellbeing.post_button"),) if ctx.actor.role == "worker" else ()
            replies.append(Reply(T("wellbeing.need_told", need=T(f"wellbeing.need.{value}")), buttons))
        following = FOLLOWING.get(question)
        if following:
            ctx.goto("wellbeing", following, visit_id=visit_id)
            return [*replies, _ask_question(following)]
        ctx.goto("wellbeing", "next_note", visit_id=visit_id)
        return [*replies, _ask_next_note()]

    return answer


# The wellbeing check's questions, one step each: ("wellbeing", question).
QUESTION_STEPS = {question: _question_step(question) for question in QUESTIONS}


def next_note(ctx: Context, inp: Input) -> list[Reply]:
    text = inp.text.strip()
    note = None if inp.option == "skip" or not text or is_skip(text) else text
    if note is not None:
        try:
            note = clean_note(note)
        except InvalidInput as exc:
            return [reply(exc.key, **exc.params), _ask_next_note()]
    visit_id = ctx.data["visit_id"]
    ctx.finish()
    ctx.services.checkins.set_next_note(ctx.actor.person_id, visit_id, note)
    return [reply("wellbeing.thanks")]


def answers_text(w: Wellbeing) -> Text:
    def said(question: str, value: str | None) -> Text | str:
        return T(f"wellbeing.{question}.{value}") if value else "—"

    return T(
        "wellbeing.last",
        date=w.at.date(),
        by=w.by,
        mood=said("mood", w.mood),
        health=said("health", w.health),
        need=said("need", w.need),
        note=w.next_note or "—",
    )


def last_answers(ctx: Context, elder_id: int) -> list[Reply]:
    """The last visit's answers and its note for the next visitor, when there are any."""
    found = ctx.services.checkins.last_wellbeing(ctx.actor.person_id, elder_id)
    return [Reply(answers_text(found))] if found else []


# --- needs become service requests ---------------------------------------------------------------


def need(ctx: Context, args: str) -> list[Reply]:
    """`/need` lists the needs visits raised and no request covers yet; `/need T12` posts the
    request for the elder (one tap on the button), paid by the community."""
    words = args.split()
    visit_id = parse_ref(words[0], "T") if words else None
    if visit_id is None:
        needs = ctx.services.checkins.open_needs(ctx.actor.person_id, ctx.community_id)
        if not needs:
            return [reply("wellbeing.needs_none")]
        lines = [
            T(
                "wellbeing.need_line",
                visit=n.ref,
                ref=f"E{n.elder_id}",
                name=n.elder_name,
                need=T(f"wellbeing.need.{n.need}"),
            )
            for n in needs
        ]
        buttons = tuple(option(f"/need {n.ref}", "wellbeing.post_need_button", name=n.elder_name) for n in needs)
        return [Reply(T("wellbeing.needs", lines=lines), buttons)]
    found = ctx.services.checkins.need(ctx.actor.person_id, visit_id)
    if found.request_id is not None:
        return [reply("wellbeing.need_already", request=f"Q{found.request_id}", ref=f"E{found.elder_id}")]
    categories = ctx.services.hours.categories(found.community_id)
    name, name_en = NEED_CATEGORY[found.need]
    category = next(
        (c for c in categories if c.name == name or c.name_en.lower() == name_en),
        next((c for c in categories if c.name == "其他"), categories[0] if categories else None),
    )
    if category is None:
        return [reply("error.bad_category")]
    person_id = ctx.services.family.elder_member(ctx.actor.person_id, found.community_id, found.elder_id)
    what = render(ctx.actor.locale, f"wellbeing.need.{found.need}")
    outcome = ctx.services.requests.post(
        NewRequest(
            requester_id=person_id,
            poster_id=ctx.actor.person_id,
            community_id=found.community_id,
            category_id=category.id,
            service_date=ctx.services.people.clock_of(found.community_id).today(),
            slot="any",
            minutes=60,
            payer="community",
            note=f"{what}：{found.note}" if found.note else what,
            address=found.address,
            grid_id=found.grid_id,
            request_key=f"need:{found.ref}",
        )
    )
    ctx.services.checkins.link_need(ctx.actor.person_id, found.visit_id, outcome.request.id)
    return [
        reply(
            "wellbeing.need_posted",
            request=outcome.request.ref,
            ref=f"E{found.elder_id}",
            name=found.elder_name,
            need=T(f"wellbeing.need.{found.need}"),
        )
    ]
