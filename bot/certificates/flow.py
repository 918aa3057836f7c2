"""Certificates of service hours (志愿服务证明): `/certificate` (开证明) asks for one for a period;
a worker issues it with `/approve C12` (the `C` kind of /pending) or refuses it with a reason;
`/certificate NAME` lets a worker issue one at once for a member without a phone, to print;
`/certificate get NUMBER` sends an issued one again; `/certificate revoke NUMBER REASON` voids one;
`/certificate issuer 全称` and `/certificate head 姓名` set what certificates print.

The PDF is drawn after the service's transaction, off the event loop, and goes out as a document
(Telegram), a download link (WeChat) or a file (console)."""

from __future__ import annotations

from functools import partial

from bot.certificates.pdf import certificate_pdf
from bot.certificates.service import Facts, Period, hours_text, is_period
from bot.deadlines.flow import deadline_marker
from bot.dialogs.common import person_arg, reason_step
from bot.dialogs.core import Context, Decider, Later, Reply, option, reply
from bot.kernel.errors import DomainError, NotAllowed
from bot.kernel.i18n import T, Text

GET, REVOKE, ISSUER, HEAD = ("get", "领取"), ("revoke", "作废"), ("issuer", "全称"), ("head", "负责人")


def period_text(p: Period) -> Text:
    end = p.end.isoformat()
    return (
        T("certificate.period_all", end=end)
        if p.start is None
        else T("certificate.period", start=p.start.isoformat(), end=end)
    )


def _document(facts: Facts, key: str, **params: object) -> Reply:
    text = T(
        key,
        number=facts.number,
        name=facts.person_name,
        hours=hours_text(facts.minutes),
        period=period_text(facts.period),
        **params,
    )
    # Drawing takes a moment: after the turn's transaction.
    return Reply(text, later=Later(partial(certificate_pdf, facts)), filename=f"志愿服务证明-{facts.number}.pdf")


def _need_worker(ctx: Context) -> None:
    if not ctx.actor.at_least("worker"):
        raise NotAllowed("error.need_worker")


def certificate(ctx: Context, args: str) -> list[Reply]:
    args = args.strip()
    words = args.split()
    head = words[0].lower() if words else ""
    if not args:
        return _ask(ctx)
    if head in GET:
        if len(words) != 2:
            return [reply("certificate.get_usage")]
        facts = ctx.services.certificates.fetch(ctx.actor.person_id, words[1])
        return [_document(facts, "certificate.sent")]
    if head in REVOKE:
        _need_worker(ctx)
        if len(words) < 3:
            return [reply("certificate.revoke_usage")]
        facts = ctx.services.certificates.revoke(ctx.actor.person_id, ctx.community_id, words[1], " ".join(words[2:]))
        return [reply("certificate.revoked_done", number=facts.number, name=facts.person_name)]
    if head in ISSUER or head in HEAD:
        _need_worker(ctx)
        value = args[len(words[0]) :].strip()
        service = ctx.services.certificates
        if value:
            found = service.set_issuer(
                ctx.actor.person_id, ctx.community_id, **({"full_name": value} if head in ISSUER else {"head": value})
            )
        else:
            found = service.issuer(ctx.community_id)
        return [reply("certificate.issuer_show", name=found.name, head=found.head or "—")]
    if is_period(args):
        asked = ctx.services.certificates.request(ctx.actor.person_id, ctx.community_id, args)
        return [
            reply(
                "certificate.asked_again" if asked.again else "certificate.asked",
                id=f"C{asked.id}",
                period=period_text(asked.period),
            )
        ]
    _need_worker(ctx)  # anything else is a name: a worker issuing for a member
    return _for_member(ctx, words)


def _ask(ctx: Context) -> list[Reply]:
    """The periods to choose from, and the asker's certificates to have again."""
    found = ctx.services.certificates.choices(ctx.actor.person_id, ctx.community_id)
    options = [
        option(f"/certificate {found.this_year}", "certificate.this_year", year=found.this_year),
        option(f"/certificate {found.last_year}", "certificate.last_year", year=found.last_year),
        option("/certificate all", "certificate.all"),
    ]
    options += [option(f"/certificate get {number}", "certificate.get_option", number=number) for number in found.mine]
    replies = [reply("certificate.ask", *options)]
    if ctx.actor.at_least("worker"):
        replies.append(reply("certificate.worker_hint"))
    return replies


def _for_member(ctx: Context, words: list[str]) -> list[Reply]:
    """`/certificate NAME [PERIOD]`: without a period, the periods to choose from."""
    for size in (2, 1):
        if len(words) > size and is_period(" ".join(words[-size:])):
            name, period = " ".join(words[:-size]), " ".join(words[-size:])
            break
    else:
        name, period = " ".join(words), ""
    found = person_arg(ctx, name, lambda ref: f"/certificate {ref} {period}".rstrip())
    if not period:
        years = ctx.services.certificates.choices(ctx.actor.person_id, ctx.community_id)
        ref = f"#{found.person_id}"
        return [
            reply(
                "certificate.ask_for",
                option(f"/certificate {ref} {years.this_year}", "certificate.this_year", year=years.this_year),
                option(f"/certificate {ref} {years.last_year}", "certificate.last_year", year=years.last_year),
                option(f"/certificate {ref} all", "certificate.all"),
                name=found.name,
            )
        ]
    facts = ctx.services.certificates.issue_for(ctx.actor.person_id, ctx.community_id, found.person_id, period)
    return [_document(facts, "certificate.issued_for")]


# --- what waits for a worker --------------------------------------------------------------------


def pending_certificates(ctx: Context) -> list[Reply]:
    mark = deadline_marker(ctx)
    return [
        Reply(
            mark(
                T("certificate.pending_line", id=f"C{w.id}", name=w.person_name, period=period_text(w.period)),
                w.submitted_at,
            ),
            (option(f"/approve C{w.id}", "certificate.issue"), option(f"/reject C{w.id}", "pending.reject")),
            columns=2,
        )
        for w in ctx.services.certificates.waiting(ctx.actor.person_id, ctx.community_id)
    ]


def _issue(ctx: Context, ids: list[int]) -> list[Reply]:
    out: list[Reply] = []
    for i in ids:  # each on its own: one refusal does not hold up the rest
        try:
            issued = ctx.services.certificates.issue(ctx.actor.person_id, i)
        except DomainError as exc:
            out.append(reply(exc.key, **exc.params))
            continue
        key = "certificate.issued_worker" if issued.changed else "certificate.already_issued"
        out.append(_document(issued.facts, key))
    return out


def _refuse(ctx: Context, certificate_id: int, reason: str) -> list[Reply]:
    refused = ctx.services.certificates.refuse(ctx.actor.person_id, certificate_id, reason)
    return [
        reply(
            "certificate.refused_done" if refused.changed else "certificate.refused_already",
            id=f"C{refused.id}",
            name=refused.person_name,
        )
    ]


_ask_reason, certificate_refuse_reason = reason_step("certificate_refuse", "certificate.ask_reason", "C", _refuse)


def _refuse_ref(ctx: Context, certificate_id: int, reason: str) -> list[Reply]:
    if not reason:
        return _ask_reason(ctx, certificate_id)
    return _refuse(ctx, certificate_id, reason)


DECIDER = Decider("C", _issue, _refuse_ref, pending=pending_certificates)  # issued one by one, never "all"
