"""Service requests in the chat (积分换服务): ask for a service step by step or in one line, see
the open requests, take one, withdraw, mark it done, confirm or dispute it; the worker's pool
decisions and settlements. Every rule lives in bot.requests.service; this module translates."""

from __future__ import annotations

import re
import secrets
from dataclasses import replace
from datetime import date

from bot.deadlines.flow import deadline_marker
from bot.dialogs.common import name_and_rest, person_arg, reason_step
from bot.dialogs.core import MAX_OPTION_BYTES, Context, Decider, Input, Option, Reply, option, reply
from bot.dialogs.parse import is_skip, is_yes, parse_amount, parse_duration, parse_future_date, parse_ref
from bot.hours.flow import DURATIONS, _category, _category_label
from bot.hours.service import Category, points_for
from bot.kernel.errors import DomainError, InvalidInput
from bot.kernel.i18n import T, Text, hours
from bot.requests.service import NewRequest, Outcome, RequestView, request_line
from models.requests import RequestStatus

PAGE = 8
SLOT_WORDS = {
    "上午": "morning",
    "morning": "morning",
    "中午": "noon",
    "noon": "noon",
    "下午": "afternoon",
    "afternoon": "afternoon",
    "晚上": "evening",
    "evening": "evening",
    "全天": "any",
    "不限": "any",
    "any": "any",
}
PAYER_WORDS = {
    "自付": "own",
    "积分": "own",
    "own": "own",
    "积分池": "pool",
    "公益池": "pool",
    "pool": "pool",
    "社区": "community",
    "社区付": "community",
    "community": "community",
}
_ADDRESS = re.compile(r"(?:地址|address)\s*[:：]", re.IGNORECASE)
_VOID = ("void", "作废", "0")


def _parties(ctx: Context) -> tuple[int, int]:
    """(requester, poster): who the request is for and who typed it. Both come from the
    dialog's context, so acting for a relative (`/as NAME`) changes the first, not the second."""
    return ctx.actor.person_id, _me(ctx)


def _me(ctx: Context) -> int:
    """The real person talking, also while acting for a relative: decisions record them."""
    return ctx.actor.acting_by or ctx.actor.person_id


def _qref(args: str) -> int | None:
    words = args.split()
    return parse_ref(words[0], "Q") if words else None


def _today(ctx: Context) -> date:
    """Today in the community's zone (the one the requests service checks days in)."""
    return (ctx.services.people.clock_of(ctx.community_id)).today()


def _line(ctx: Context, v: RequestView, *, address: bool = False) -> Text:
    if ctx.actor.locale == "en":
        v = replace(v, category=v.category_en)
    return request_line(v, address=address)


# --- posting, step by step or in one line --------------------------------------------------------


def request(ctx: Context, args: str) -> list[Reply]:
    if args:
        return _one_line(ctx, args)
    return _ask_category(ctx, draft=secrets.token_hex(6))


def _ask_category(ctx: Context, **data: object) -> list[Reply]:
    categories = ctx.services.hours.categories(ctx.community_id)
    ctx.goto("request", "category", **data)
    options = [Option(f"c{c.id}", T("request.category_option", name=_category_label(ctx, c))) for c in categories]
    return [Reply(T("request.ask_category"), tuple(options), columns=3)]


def request_category(ctx: Context, inp: Input) -> list[Reply]:
    try:
        category = _category(ctx, inp.option or inp.text)
    except InvalidInput:
        return [reply("error.bad_category"), *_ask_category(ctx)]
    ctx.goto("request", "date", category_id=category.id)
    return [_ask_date()]


def _ask_date() -> Reply:
    return reply(
        "request.ask_date",
        option("today", "request.today"),
        option("tomorrow", "request.tomorrow"),
        option("后天", "request.day_after"),
        columns=3,
    )


def request_date(ctx: Context, inp: Input) -> list[Reply]:
    today = _today(ctx)
    day = parse_future_date(inp.option or inp.text, today)
    if day is None or day < today:
        return [reply("error.request_bad_day"), _ask_date()]
    ctx.goto("request", "slot", service_date=day.isoformat())
    return [_ask_slot()]


def _ask_slot() -> Reply:
    slots = ("morning", "noon", "afternoon", "evening", "any")
    return reply("request.ask_slot", *(option(s, f"requests.slot.{s}") for s in slots), columns=5)


def request_slot(ctx: Context, inp: Input) -> list[Reply]:
    slot = SLOT_WORDS.get((inp.option or inp.text).strip().lower())
    if slot is None:
        return [_ask_slot()]
    ctx.goto("request", "duration", slot=slot)
    return [_ask_duration()]


def _ask_duration() -> Reply:
    return Reply(
        T("request.ask_duration"),
        tuple(option(f"{m}", "log.duration_option", hours=hours(m)) for m in DURATIONS),
        columns=3,
    )


def request_duration(ctx: Context, inp: Input) -> list[Reply]:
    minutes = parse_duration(inp.option or inp.text)
    if minutes is None:
        return [reply("error.bad_duration"), _ask_duration()]
    ctx.goto("request", "payer", minutes=minutes)
    return [_ask_payer(ctx)]


def _chosen_category(ctx: Context) -> Category:
    found = [c for c in ctx.services.hours.categories(ctx.community_id) if c.id == ctx.data["category_id"]]
    if not found:
        ctx.finish()
        raise InvalidInput("error.bad_category")
    return found[0]


def _ask_payer(ctx: Context) -> Reply:
    category = _chosen_category(ctx)
    points = points_for(ctx.data["minutes"], category.points_per_hour)
    requester, _ = _parties(ctx)
    available = (ctx.services.points.balance(requester, ctx.community_id)).available
    return reply(
        "request.ask_payer",
        option("own", "request.payer_own", points=points, available=available),
        option("pool", "request.payer_pool"),
        option("community", "request.payer_community"),
    )


def request_payer(ctx: Context, inp: Input) -> list[Reply]:
    payer = PAYER_WORDS.get((inp.option or inp.text).strip().lower())
    if payer is None:
        return [_ask_payer(ctx)]
    ctx.goto("request", "note", payer=payer)
    return [reply("request.ask_note", option("skip", "request.skip"))]


def request_note(ctx: Context, inp: Input) -> list[Reply]:
    if inp.option != "skip" and inp.text.strip() and not is_skip(inp.text):
        ctx.data["note"] = inp.text.strip()[:300]
    grids = ctx.services.requests.grids(ctx.community_id)
    if grids:
        ctx.goto("request", "grid")
        return [_ask_grid(grids)]
    ctx.goto("request", "address")
    return [reply("request.ask_address", option("skip", "request.skip"))]


def _ask_grid(grids: list[tuple[int, str]]) -> Reply:
    options = [Option(f"g{gid}", T("request.grid_option", name=name)) for gid, name in grids[:20]]
    options.append(option("skip", "request.skip"))
    return Reply(T("request.ask_grid"), tuple(options), columns=3)


def request_grid(ctx: Context, inp: Input) -> list[Reply]:
    grids = ctx.services.requests.grids(ctx.community_id)
    answer = (inp.option or inp.text).strip()
    if answer != "skip" and not is_skip(answer):
        chosen = [gid for gid, name in grids if answer in (f"g{gid}", name)]
        if not chosen:
            return [_ask_grid(grids)]
        ctx.data["grid_id"] = chosen[0]
    ctx.goto("request", "address")
    return [reply("request.ask_address", option("skip", "request.skip"))]


def request_address(ctx: Context, inp: Input) -> list[Reply]:
    if inp.option != "skip" and inp.text.strip() and not is_skip(inp.text):
        ctx.data["address"] = inp.text.strip()[:200]
    ctx.goto("request", "confirm")
    return [_summary(ctx)]


def _summary(ctx: Context) -> Reply:
    d = ctx.data
    category = _chosen_category(ctx)
    return reply(
        "request.confirm",
        option("yes", "request.confirm_yes"),
        option("/cancel", "request.confirm_no"),
        columns=2,
        category=_category_label(ctx, category),
        date=d["service_date"],
        slot=T(f"requests.slot.{d['slot']}"),
        hours=hours(d["minutes"]),
        pay=T(f"requests.pay.{d['payer']}", points=points_for(d["minutes"], category.points_per_hour)),
        note=d.get("note") or "—",
        address=d.get("address") or "—",
    )


def request_confirm(ctx: Context, inp: Input) -> list[Reply]:
    if inp.option != "yes" and not is_yes(inp.text):
        return [_summary(ctx)]
    d = ctx.data
    ctx.finish()  # the draft is spent either way; an error below says why
    requester, poster = _parties(ctx)
    outcome = ctx.services.requests.post(
        NewRequest(
            requester_id=requester,
            poster_id=poster,
            community_id=ctx.community_id,
            category_id=d["category_id"],
            service_date=date.fromisoformat(d["service_date"]),
            slot=d["slot"],
            minutes=d["minutes"],
            payer=d["payer"],
            note=d.get("note"),
            address=d.get("address"),
            grid_id=d.get("grid_id"),
            request_key=f"request-draft:{d['draft']}",
        )
    )
    return [_posted(outcome)]


def request_for(ctx: Context, args: str) -> list[Reply]:
    """A worker asks for a member without a phone: /request_for NAME 助洁 2h 11-30 …"""
    name, rest = name_and_rest(ctx, args)
    if not rest:
        return [reply("request_for.usage")]
    person = person_arg(ctx, name, lambda ref: f"/request_for {ref} {rest}")
    return _one_line(ctx, rest, requester=person.person_id)


def _one_line(ctx: Context, args: str, requester: int | None = None) -> list[Reply]:
    """/request 助洁 2h 11-30 上午 [自付|积分池|社区] [网格] [note…] [地址：…]"""
    head, address = (_ADDRESS.split(args, maxsplit=1) + [""])[:2]
    categories = ctx.services.hours.categories(ctx.community_id)
    grids = {name: gid for gid, name in ctx.services.requests.grids(ctx.community_id)}
    today = _today(ctx)
    category = minutes = day = grid_id = None
    slot, payer, rest = "any", "own", []
    for word in head.split():
        lower = word.lower()
        if category is None and (found := [c for c in categories if lower in (c.name, c.name_en.lower())]):
            category = found[0]
        elif minutes is None and not re.fullmatch(r"\d+", word) and (m := parse_duration(word)) is not None:
            minutes = m
        elif day is None and (d := parse_future_date(word, today)) is not None:
            day = d
        elif lower in SLOT_WORDS:
            slot = SLOT_WORDS[lower]
        elif day is None and (both := _day_and_slot(lower, today)) is not None:  # 明天上午
            day, slot = both
        elif lower in PAYER_WORDS:
            payer = PAYER_WORDS[lower]
        elif grid_id is None and word in grids:
            grid_id = grids[word]
        else:
            rest.append(word)
    if category is None or minutes is None or day is None:
        return [reply("request_for.usage" if requester else "request.usage")]
    own, poster = _parties(ctx)
    requester = requester or own
    outcome = ctx.services.requests.post(
        NewRequest(
            requester_id=requester,
            poster_id=poster,
            community_id=ctx.community_id,
            category_id=category.id,
            service_date=day,
            slot=slot,
            minutes=minutes,
            payer=payer,
            note=" ".join(rest) or None,
            address=address.strip() or None,
            grid_id=grid_id,
            request_key=ctx.key("request"),
        )
    )
    return [_posted(outcome)]


def _day_and_slot(word: str, today: date) -> tuple[date, str] | None:
    """A day and a time of day typed as one word: 明天上午, 11-30下午."""
    for said, slot in SLOT_WORDS.items():
        if word.endswith(said) and (day := parse_future_date(word[: -len(said)], today)) is not None:
            return day, slot
    return None


def _posted(outcome: Outcome) -> Reply:
    r = outcome.request
    if not outcome.changed:
        return reply("request.already_posted", id=r.ref)
    if r.status == RequestStatus.APPROVAL:  # the pool's or, asked by a worker for a member, a second worker's
        key = "request.posted_pool" if r.payer == "pool" else "request.posted_second"
    else:
        key = f"request.posted_{r.payer}"
    return reply(key, id=r.ref, points=r.held)


# --- the board and taking ----------------------------------------------------------------------


def requests(ctx: Context, args: str) -> list[Reply]:
    """/requests [category] [grid] [page]"""
    words = args.split()
    page = 0
    if words and re.fullmatch(r"[0-9]{1,4}", words[-1]):
        page = max(int(words.pop()), 1) - 1
    if len(words) > 2:
        return [reply("requests.usage")]
    board = ctx.services.requests.board(
        ctx.actor.person_id, ctx.community_id, filters=tuple(words), page=page, page_size=PAGE
    )
    if not board.requests:
        return [reply("requests.empty" if page == 0 else "requests.no_more")]
    options = [
        option(f"/take {v.ref}", "requests.take_option", id=v.ref)
        for v in board.requests
        if v.requester_id != ctx.actor.person_id and ctx.actor.at_least("volunteer")
    ]
    more = " ".join(["/requests", *words, str(page + 2)])
    if board.has_more and len(more.encode()) <= MAX_OPTION_BYTES:  # long filter names: typed, not a button
        options.append(option(more, "requests.more"))
    text = T("requests.page", page=page + 1, lines=[_line(ctx, v) for v in board.requests])
    return [Reply(text, tuple(options), columns=4)]


def take(ctx: Context, args: str) -> list[Reply]:
    request_id = _qref(args)
    if request_id is None:
        return [reply("take.usage")]
    outcome = ctx.services.requests.take(ctx.actor.person_id, request_id)
    r = outcome.request
    return [reply("take.done" if outcome.changed else "take.already", id=r.ref, line=_line(ctx, r, address=True))]


def withdraw(ctx: Context, args: str) -> list[Reply]:
    request_id = _qref(args)
    if request_id is None:
        return [reply("withdraw.usage")]
    outcome = ctx.services.requests.withdraw(ctx.actor.person_id, request_id)
    return [reply("withdraw.done", id=outcome.request.ref)]


def cancel_request(ctx: Context, args: str) -> list[Reply]:
    request_id = _qref(args)
    if request_id is None:
        return [reply("cancel_request.usage")]
    outcome = ctx.services.requests.cancel(_me(ctx), request_id)
    r = outcome.request
    return [reply("cancel_request.done" if outcome.changed else "cancel_request.already", id=r.ref, points=r.held)]


def share_phone(ctx: Context, args: str) -> list[Reply]:
    request_id = _qref(args)
    if request_id is None:
        return [reply("share_phone.usage")]
    view, both = ctx.services.requests.share_phone(ctx.actor.person_id, request_id, proxy_id=ctx.actor.acting_by)
    return [reply("share_phone.both" if both else "share_phone.waiting", id=view.ref)]


def my_requests(ctx: Context, args: str) -> list[Reply]:
    found = ctx.services.requests.mine(ctx.actor.person_id, ctx.community_id)
    if not found:
        return [reply("myrequests.empty")]
    me = ctx.actor.person_id
    options: list[Option] = []
    for v in found:
        if v.taker_id == me and v.status == RequestStatus.TAKEN:
            options.append(option(f"/done {v.ref}", "myrequests.done", id=v.ref))
        elif v.taker_id != me and v.status == RequestStatus.DONE:
            options += [
                option(f"/accept {v.ref}", "myrequests.accept", id=v.ref),
                option(f"/dispute {v.ref}", "myrequests.dispute", id=v.ref),
            ]
    lines = [
        T(
            "myrequests.line",
            line=_line(ctx, v, address=True),
            status=T(f"requests.status.{v.status}"),
            taker=T("myrequests.taker", name=v.taker_name) if v.taker_name and v.taker_id != me else "",
        )
        for v in found
    ]
    return [Reply(T("myrequests.list", lines=lines), tuple(options[:8]), columns=2)]


# --- done, confirmed, disputed -------------------------------------------------------------------


def done(ctx: Context, args: str) -> list[Reply]:
    words = args.split()
    request_id = _qref(args)
    if request_id is None or len(words) > 2:
        return [reply("done.usage")]
    if len(words) == 1:
        ctx.goto("done", "duration", request_id=request_id)
        return [_ask_done_duration(request_id)]
    minutes = parse_duration(words[1])
    if minutes is None:
        return [reply("error.bad_duration"), reply("done.usage")]
    return _done(ctx, request_id, minutes)


def _ask_done_duration(request_id: int) -> Reply:
    return Reply(
        T("done.ask_duration", id=f"Q{request_id}"),
        tuple(option(f"{m}", "log.duration_option", hours=hours(m)) for m in DURATIONS),
        columns=3,
    )


def done_duration(ctx: Context, inp: Input) -> list[Reply]:
    request_id = ctx.data["request_id"]
    minutes = parse_duration(inp.option or inp.text)
    if minutes is None:
        return [reply("error.bad_duration"), _ask_done_duration(request_id)]
    ctx.finish()
    return _done(ctx, request_id, minutes)


def _done(ctx: Context, request_id: int, minutes: int) -> list[Reply]:
    outcome = ctx.services.requests.done(ctx.actor.person_id, request_id, minutes)
    return [reply("done.done", id=outcome.request.ref, hours=hours(minutes))]


def accept(ctx: Context, args: str) -> list[Reply]:
    """/accept Q7 [top-up points]"""
    words = args.split()
    request_id = _qref(args)
    topup = parse_amount(words[1].lstrip("+")) if len(words) == 2 else 0
    if request_id is None or topup is None or len(words) > 2:
        return [reply("accept.usage")]
    outcome = ctx.services.requests.accept(_me(ctx), request_id, topup)
    r = outcome.request
    if not outcome.changed:
        return [reply("accept.already", id=r.ref)]
    if r.status == RequestStatus.DONE:  # a worker's confirmation for the member: a second worker approves
        return [reply("accept.waiting_second", id=r.ref, name=r.requester_name)]
    if r.status == RequestStatus.CONFIRMED:
        return [reply("accept.done_community", id=r.ref, name=r.taker_name)]
    return [reply("accept.done", id=r.ref, name=r.taker_name, points=r.paid, hours=hours(r.done_minutes or 0))]


def dispute(ctx: Context, args: str) -> list[Reply]:
    request_id = _qref(args)
    if request_id is None:
        return [reply("dispute.usage")]
    reason = args.split(None, 1)[1] if len(args.split()) > 1 else ""
    if not reason.strip():
        return _ask_dispute_reason(ctx, request_id)
    return _dispute(ctx, request_id, reason)


def _dispute(ctx: Context, request_id: int, reason: str) -> list[Reply]:
    outcome = ctx.services.requests.dispute(_me(ctx), request_id, reason)
    return [reply("dispute.done" if outcome.changed else "dispute.already", id=outcome.request.ref)]


_ask_dispute_reason, dispute_reason = reason_step("dispute", "dispute.ask_reason", "Q", _dispute)


# --- the worker's side ---------------------------------------------------------------------------


def pending_requests(ctx: Context) -> list[Reply]:
    """Requests waiting for a worker, in /pending beside the hour logs and redemptions: pool
    requests to grant (/approve Q7, /reject Q7), disputes and unanswered "done" to settle."""
    out = []
    mark = deadline_marker(ctx)
    for v in ctx.services.requests.waiting(ctx.actor.person_id, ctx.community_id):
        if v.status == RequestStatus.APPROVAL or v.accepted_by_id:
            options: tuple[Option, ...] = (
                option(f"/approve {v.ref}", "pending.approve"),
                option(f"/reject {v.ref}", "pending.reject"),
            )
            key = (
                "requests.pending_second"
                if v.accepted_by_id
                else "requests.pending_pool"
                if v.payer == "pool"
                else "requests.pending_own"
            )
        elif v.status == "taken":  # its time is over, not marked done: both sides are reminded
            options = (option(f"/cancel_request {v.ref}", "requests.cancel_option"),)
            key = "requests.pending_overdue"
        else:
            options = (option(f"/settle {v.ref}", "requests.settle_option"),)
            key = (
                "requests.pending_unanswered"
                if v.status != RequestStatus.DISPUTED
                else "requests.pending_dispute"
                if v.done_minutes is not None
                else "requests.pending_dispute_undone"
            )
        text = T(
            key,
            line=_line(ctx, v, address=True),
            name=v.taker_name or "",
            hours=hours(v.done_minutes or 0),
            reason=v.reason or "",
        )
        out.append(Reply(mark(text, v.waiting_since), options, columns=2))
    return out


def _grant_requests(ctx: Context, ids: list[int]) -> list[Reply]:
    out: list[Reply] = []
    for i in ids:  # each on its own: one refusal does not hold up the rest
        try:
            out.append(_approved(ctx, ctx.services.requests.approve(ctx.actor.person_id, i)))
        except DomainError as exc:
            out.append(reply(exc.key, **exc.params))
    return out


def _approved(ctx: Context, outcome: Outcome) -> Reply:
    """What /approve Q7 did: paid after a second worker agreed, or opened for volunteers."""
    r = outcome.request
    if r.status == RequestStatus.PAID and outcome.changed:
        return reply("accept.done", id=r.ref, name=r.taker_name, points=r.paid, hours=hours(r.done_minutes or 0))
    if r.payer == "own" and outcome.changed:
        return reply("grant.done_own", id=r.ref, name=r.requester_name, points=r.held)
    return reply("grant.done" if outcome.changed else "grant.already", id=r.ref, points=r.held)


def _refuse_request_ref(ctx: Context, request_id: int, reason: str) -> list[Reply]:
    return refuse(ctx, f"Q{request_id} {reason}")


DECIDER = Decider("Q", _grant_requests, _refuse_request_ref, pending=pending_requests)  # /approve Q7: the pool pays


def grant(ctx: Context, args: str) -> list[Reply]:
    request_id = _qref(args)
    if request_id is None:
        return [reply("grant.usage")]
    outcome = ctx.services.requests.approve_pool(ctx.actor.person_id, request_id)
    r = outcome.request
    return [reply("grant.done" if outcome.changed else "grant.already", id=r.ref, points=r.held)]


def refuse(ctx: Context, args: str) -> list[Reply]:
    request_id = _qref(args)
    if request_id is None:
        return [reply("refuse.usage")]
    reason = args.split(None, 1)[1] if len(args.split()) > 1 else ""
    if not reason.strip():
        return _ask_refuse_reason(ctx, request_id)
    return _refuse(ctx, request_id, reason)


def _refuse(ctx: Context, request_id: int, reason: str) -> list[Reply]:
    outcome = ctx.services.requests.refuse(ctx.actor.person_id, request_id, reason)
    return [reply("refuse.done" if outcome.changed else "refuse.already", id=outcome.request.ref)]


_ask_refuse_reason, refuse_reason = reason_step("refuse", "refuse.ask_reason", "Q", _refuse)


def settle(ctx: Context, args: str) -> list[Reply]:
    """/settle Q7 N (pay N points) | /settle Q7 void | /settle Q7 (asks)"""
    words = args.split()
    request_id = _qref(args)
    if request_id is None or len(words) > 2:
        return [reply("settle.usage")]
    if len(words) == 1:
        view = ctx.services.requests.get(ctx.actor.person_id, request_id)
        ctx.goto("settle", "amount", request_id=request_id)
        return [_ask_settlement(view)]
    return _settle(ctx, request_id, words[1])


def _ask_settlement(v: RequestView) -> Reply:
    cap = v.held if v.payer != "community" else v.earned
    return reply(
        "settle.ask",
        option(str(min(v.earned, cap)), "requests.settle_pay", points=min(v.earned, cap)),
        option("void", "requests.settle_void"),
        columns=2,
        id=v.ref,
        cap=cap,
        hours=hours(v.done_minutes or 0),
        earned=v.earned,
    )


def settle_amount(ctx: Context, inp: Input) -> list[Reply]:
    request_id = ctx.data["request_id"]
    answer = (inp.option or inp.text).strip()
    if answer.lower() not in _VOID and parse_amount(answer) is None:
        return [reply("settle.usage"), _ask_settlement(ctx.services.requests.get(ctx.actor.person_id, request_id))]
    ctx.finish()
    return _settle(ctx, request_id, answer)


def _settle(ctx: Context, request_id: int, answer: str) -> list[Reply]:
    if answer.lower() in _VOID:
        amount = None
    elif (amount := parse_amount(answer)) is None:
        return [reply("settle.usage")]
    outcome = ctx.services.requests.settle(ctx.actor.person_id, request_id, amount)
    r = outcome.request
    if not outcome.changed:
        return [reply("settle.already", id=r.ref)]
    return [
        reply(
            "settle.voided" if r.status == RequestStatus.VOIDED else "settle.paid",
            id=r.ref,
            points=r.paid or 0,
            name=r.taker_name,
        )
    ]
