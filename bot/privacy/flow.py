"""People's rights over their data: `/mydata` (我的数据) sends everything the bank holds about the
person as a file (XLSX, or JSON with `/mydata json`); `/forget` (注销) asks to be forgotten, which a
worker approves with `/approve F3` (the `F` kind of /pending); `/idnumber` (身份证) keeps an ID
number for certificates, with its own consent, encrypted and shown masked."""

from __future__ import annotations

from functools import partial

from bot.deadlines.flow import deadline_marker
from bot.dialogs.common import reason_step
from bot.dialogs.core import Context, Decider, Input, Later, Reply, option, reply
from bot.dialogs.parse import is_yes
from bot.kernel.errors import DomainError
from bot.kernel.i18n import T, render
from bot.privacy.mydata import to_json, to_xlsx

JSON_WORDS = ("json",)
CONFIRM_WORDS = ("confirm", "确认", "yes", "是")
DELETE_WORDS = ("delete", "删除", "remove")


def mydata(ctx: Context, args: str) -> list[Reply]:
    as_json = args.strip().lower() in JSON_WORDS
    export = ctx.services.mydata.collect(ctx.actor.person_id)
    locale = ctx.actor.locale
    title = render(locale, "mydata.title", {"id": ctx.actor.person_id, "at": export.made_at.date().isoformat()})
    draw = partial(to_json, export) if as_json else partial(to_xlsx, export, title)  # after the commit
    filename = f"{title}.{'json' if as_json else 'xlsx'}"
    tables = sum(1 for rows in export.tables.values() if rows)
    return [Reply(T("mydata.sent", rows=export.rows, tables=tables), later=Later(draw), filename=filename)]


def forget(ctx: Context, args: str) -> list[Reply]:
    if args.strip().lower() not in CONFIRM_WORDS:
        return [
            reply(
                "forget.explain",
                option("/forget confirm", "forget.confirm"),
                option("/cancel", "forget.keep"),
                columns=2,
            )
        ]
    asked = ctx.services.forget.request(ctx.actor.person_id, ctx.community_id)
    return [reply("forget.asked_again" if asked.again else "forget.asked", id=f"F{asked.id}")]


# --- ID numbers ----------------------------------------------------------------------------------


def idnumber(ctx: Context, args: str) -> list[Reply]:
    ids = ctx.services.idnumbers
    if args.strip().lower() in DELETE_WORDS:
        return [reply("idnumber.removed" if ids.remove(ctx.actor.person_id) else "idnumber.none")]
    masked = ids.masked(ctx.actor.person_id)
    if not ids.ready():
        return [reply("idnumber.no_key")]
    ctx.goto("idnumber", "consent")
    options = (option("yes", "idnumber.agree"), option("/cancel", "idnumber.disagree"))
    if masked:
        return [
            reply("idnumber.on_record", option("/idnumber delete", "idnumber.delete"), masked=masked),
            reply("idnumber.consent", *options, columns=2),
        ]
    return [reply("idnumber.consent", *options, columns=2)]


def idnumber_consent(ctx: Context, inp: Input) -> list[Reply]:
    if inp.option != "yes" and not is_yes(inp.text):
        ctx.finish()
        return [reply("idnumber.not_kept")]
    ctx.goto("idnumber", "number")
    return [reply("idnumber.ask")]


def idnumber_number(ctx: Context, inp: Input) -> list[Reply]:
    try:
        masked = ctx.services.idnumbers.save(ctx.actor.person_id, inp.text)
    except DomainError as exc:
        if exc.key == "idnumber.bad":
            return [reply("idnumber.bad")]  # stays at this step: type it again, or /cancel
        ctx.finish()
        raise
    ctx.finish(T("idnumber.saved", masked=masked))
    return [reply("idnumber.saved", masked=masked)]


# --- what waits for a worker --------------------------------------------------------------------


def pending_erasures(ctx: Context) -> list[Reply]:
    mark = deadline_marker(ctx)
    return [
        Reply(
            mark(T("forget.pending_line", id=f"F{w.id}", name=w.person_name), w.submitted_at),
            (option(f"/approve F{w.id}", "forget.approve"), option(f"/reject F{w.id}", "pending.reject")),
            columns=2,
        )
        for w in ctx.services.forget.waiting(ctx.actor.person_id, ctx.community_id)
    ]


def _approve(ctx: Context, ids: list[int]) -> list[Reply]:
    out: list[Reply] = []
    for i in ids:
        try:
            done = ctx.services.forget.approve(ctx.actor.person_id, i)
        except DomainError as exc:
            out.append(reply(exc.key, **exc.params))
            continue
        out.append(
            reply("forget.done" if done.changed else "forget.done_already", id=f"F{done.id}", name=done.person_name)
        )
    return out


def _refuse(ctx: Context, request_id: int, reason: str) -> list[Reply]:
    refused = ctx.services.forget.refuse(ctx.actor.person_id, request_id, reason)
    return [
        reply(
            "forget.refused_done" if refused.changed else "forget.refused_already",
            id=f"F{refused.id}",
            name=refused.person_name,
        )
    ]


_ask_reason, forget_refuse_reason = reason_step("forget_refuse", "forget.ask_reason", "F", _refuse)


def _refuse_ref(ctx: Context, request_id: int, reason: str) -> list[Reply]:
    if not reason:
        return _ask_reason(ctx, request_id)
    return _refuse(ctx, request_id, reason)


DECIDER = Decider("F", _approve, _refuse_ref, pending=pending_erasures)  # one by one, never "all"
