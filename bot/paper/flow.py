"""Event sign-in sheets in the chat (the `/event` command's paper side, which bot.hours.flow hands
over to): `/event sheet 活动名 [服务队]` prints the sheet (a PDF); after the event a worker scans
its QR code, or sends `/event ES12-…` with the code printed under it, ticks who came (buttons, or
the sheet's row numbers typed: `1 3 5-8`), picks the category, the day and the hours, and
everyone's hours are recorded at once, through the hours service, once.

Who a sheet lists: the team's members when a team is named (those who can have hours), else the
community's confirmed volunteers (at most SHEET_MAX: a bigger event prints a sheet per team)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from functools import partial

from bot.dialogs.core import Context, Input, Later, Option, Reply, option, reply
from bot.dialogs.parse import is_yes, next_word, parse_duration, read_date
from bot.hours.service import Category
from bot.kernel.errors import InvalidInput
from bot.kernel.i18n import T, hours
from bot.paper.pdf import sheet_pdf
from bot.paper.service import TOKEN, SheetFacts
from models.hours import LogStatus

SHEET_WORDS = ("sheet", "签到表")
SCAN_WORDS = ("scan", "扫码")
ALL_WORDS = ("all", "全部", "全体", "都来了")
DONE_WORDS = ("done", "完成", "好了", "ok")
DURATIONS = (60, 120, 180, 240)
_RANGE = re.compile(r"(\d{1,3})(?:\s*[-~～到至]\s*(\d{1,3}))?")


def is_sheet_code(word: str) -> bool:
    return TOKEN.fullmatch(word.strip()) is not None


def event_sheet(ctx: Context, args: str) -> list[Reply]:
    """/event sheet 活动名 [服务队]."""
    name, team = next_word(args)
    if not name:
        return [reply("paper.sheet_usage")]
    facts = ctx.services.paper.print_sheet(ctx.actor.person_id, ctx.community_id, name, team.strip() or None)
    text = T("paper.sheet_printed", name=facts.name, count=len(facts.names), code=facts.token)
    # What the QR code holds, as the channel invites: WeChat's parametric QR code (scanning sends
    # the code as the scene: `/start CODE`), Telegram's deep link (the same `/start CODE`),
    # elsewhere the code itself. Drawn after the turn's transaction.
    link, picture = ctx.invites.link, ctx.invites.picture
    if picture is not None:
        later = Later(partial(_sheet_with_picture, picture, facts))
    else:
        later = Later(partial(sheet_pdf, facts, link.format(code=facts.token) if link else facts.token))
    return [Reply(text, later=later, filename=f"签到表-{facts.name}.pdf")]


async def _sheet_with_picture(picture: Callable[[str], Awaitable[bytes | None]], facts: SheetFacts) -> bytes:
    """The sheet with the platform's QR code for its code (the code itself when the platform
    cannot make one now)."""
    png = await picture(facts.token)
    return await asyncio.to_thread(sheet_pdf, facts, facts.token, png)


def event_scan(ctx: Context, code: str) -> list[Reply]:
    """A sheet's code, scanned or typed: who came is asked next."""
    code = code.strip()
    if not code:
        return [reply("paper.scan_usage")]
    sheet = ctx.services.paper.open_sheet(ctx.actor.person_id, ctx.community_id, code)
    ctx.goto("sheet", "attend", code=code, sheet=sheet.name, people=list(sheet.people), names=list(sheet.names))
    ctx.data["ticked"] = []
    return [_attendance(ctx)]


def _attendance(ctx: Context) -> Reply:
    names, ticked = ctx.data["names"], set(ctx.data["ticked"])
    lines = [
        T("paper.row_ticked" if i in ticked else "paper.row", n=i, name=name) for i, name in enumerate(names, start=1)
    ]
    options: list[Option] = [
        option(f"t{i}", "paper.tick_option" if i not in ticked else "paper.untick_option", n=i, name=name)
        for i, name in enumerate(names, start=1)
    ]
    options += [option("all", "paper.tick_all"), option("done", "paper.tick_done")]
    return Reply(
        T("paper.ask_attended", name=ctx.data["sheet"], lines=lines, count=len(ticked)), tuple(options), columns=3
    )


def _rows(text: str, size: int) -> set[int] | None:
    """`1 3 5-8` (any separators): the row numbers, None when anything else is typed or a
    number is not a row of the sheet."""
    found: set[int] = set()
    rest = re.sub(r"[,，、;；\s]+", " ", text).strip()
    if not rest:
        return None
    for part in rest.split(" "):
        match = _RANGE.fullmatch(part)
        if match is None:
            return None
        first, last = int(match[1]), int(match[2] or match[1])
        if not 1 <= first <= last <= size:
            return None
        found.update(range(first, last + 1))
    return found


def attend(ctx: Context, inp: Input) -> list[Reply]:
    size = len(ctx.data["names"])
    ticked = set(ctx.data["ticked"])
    answer = (inp.option or inp.text).strip().lower()
    if answer in DONE_WORDS:
        if not ticked:
            return [reply("paper.tick_nobody"), _attendance(ctx)]
        ctx.goto("sheet", "category")
        return [_ask_category(ctx)]
    if answer in ALL_WORDS:
        ticked = set(range(1, size + 1))
    elif inp.option and re.fullmatch(r"t\d{1,3}", inp.option) and 1 <= int(inp.option[1:]) <= size:
        ticked ^= {int(inp.option[1:])}
    elif (rows := _rows(inp.text, size)) is not None:
        ticked = rows
    else:
        return [reply("paper.tick_help", size=size), _attendance(ctx)]
    ctx.data["ticked"] = sorted(ticked)
    return [_attendance(ctx)]


def _label(ctx: Context, c: Category) -> str:
    return c.name_en if ctx.actor.locale == "en" else c.name


def _ask_category(ctx: Context) -> Reply:
    categories = ctx.services.hours.categories(ctx.community_id)
    options = tuple(
        option(f"c{c.id}", "log.category_option", name=_label(ctx, c), rate=c.points_per_hour) for c in categories
    )
    return Reply(T("paper.ask_category", count=len(ctx.data["ticked"])), options, columns=3)


def sheet_category(ctx: Context, inp: Input) -> list[Reply]:
    categories = ctx.services.hours.categories(ctx.community_id)
    typed = (inp.option or inp.text).strip()
    found = [c for c in categories if typed == f"c{c.id}" or typed.lower() in (c.name, c.name_en.lower())]
    if not found:
        return [reply("error.bad_category"), _ask_category(ctx)]
    ctx.goto("sheet", "date", category_id=found[0].id, category=_label(ctx, found[0]))
    return [_ask_date()]


def _ask_date() -> Reply:
    return reply("paper.ask_date", option("today", "log.today"), option("yesterday", "log.yesterday"), columns=2)


def sheet_date(ctx: Context, inp: Input) -> list[Reply]:
    today = ctx.services.people.clock_of(ctx.community_id).today()
    answer = inp.option or inp.text.strip()
    try:
        day = {"today": today, "yesterday": today - timedelta(days=1)}.get(answer) or read_date(answer, today)
    except InvalidInput as exc:
        return [reply(exc.key, **exc.params), _ask_date()]
    if day is None:
        return [reply("error.bad_date"), _ask_date()]
    ctx.goto("sheet", "duration", service_date=day.isoformat())
    return [_ask_duration()]


def _ask_duration() -> Reply:
    options = tuple(option(str(m), "log.duration_option", hours=hours(m)) for m in DURATIONS)
    return Reply(T("paper.ask_duration"), options, columns=4)


def sheet_duration(ctx: Context, inp: Input) -> list[Reply]:
    minutes = int(inp.option) if inp.option in {str(m) for m in DURATIONS} else parse_duration(inp.text)
    if minutes is None:
        return [reply("error.bad_duration"), _ask_duration()]
    ctx.goto("sheet", "confirm", minutes=minutes)
    return [_summary(ctx)]


def _summary(ctx: Context) -> Reply:
    names = ctx.data["names"]
    return reply(
        "paper.confirm",
        option("yes", "log.confirm_yes"),
        option("/cancel", "log.confirm_no"),
        columns=2,
        sheet=ctx.data["sheet"],
        count=len(ctx.data["ticked"]),
        names="、".join(names[i - 1] for i in ctx.data["ticked"]),
        category=ctx.data["category"],
        date=ctx.data["service_date"],
        hours=hours(ctx.data["minutes"]),
    )


def sheet_confirm(ctx: Context, inp: Input) -> list[Reply]:
    if inp.option != "yes" and not is_yes(inp.text):
        return [_summary(ctx)]
    data = ctx.data
    ctx.finish()  # the sheet is spent either way; a refusal below says why
    people = data["people"]
    decisions = ctx.services.paper.record_sheet(
        ctx.actor.person_id,
        ctx.community_id,
        data["code"],
        [people[i - 1] for i in data["ticked"]],
        category_id=data["category_id"],
        service_date=date.fromisoformat(data["service_date"]),
        minutes=data["minutes"],
    )
    waiting = [d.log for d in decisions if d.log.status == LogStatus.PENDING]
    points = sum(d.log.points for d in decisions if d.log.status == LogStatus.APPROVED)
    count = len(decisions) - len(waiting)
    ctx.finish(receipt=T("paper.already_recorded", sheet=data["sheet"]))
    replies = [reply("paper.recorded", sheet=data["sheet"], count=count, points=points)]
    if waiting:  # hours of workers wait for another worker (four eyes)
        replies.append(reply("event.waiting", names="、".join(log.person_name for log in waiting)))
    return replies
