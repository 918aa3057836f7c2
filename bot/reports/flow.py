"""The worker's monthly report (/report) and the month's chart (/chart), delivered as files."""

from __future__ import annotations

from functools import partial

from bot.dialogs.core import Context, Later, Option, Reply, option, reply
from bot.kernel.i18n import T, render
from bot.reports.files import chart_png, sheet_csv, to_xlsx, with_chart


def report(ctx: Context, args: str) -> list[Reply]:
    month = args.strip()
    if not month:
        this, last = ctx.services.reports.recent_months(ctx.community_id)
        return [
            reply(
                "report.ask_month",
                option(f"/report {this}", "report.this_month", month=this),
                option(f"/report {last}", "report.last_month", month=last),
                columns=2,
            )
        ]
    words = month.split()
    if words[0].lower() in HOURS_WORDS:
        return _volunteer_hours(ctx, " ".join(words[1:]))
    locale = ctx.actor.locale
    report = ctx.services.reports.monthly(ctx.actor.person_id, ctx.community_id, month, locale)
    filename = render(locale, "report.filename", {"community": report.community, "month": report.month.label})
    label = report.month.label
    return [
        Reply(
            T("report.sent", community=report.community, month=label),
            (option(f"/report hours {label}", "hours_export.option", month=label),),
            later=Later(lambda: to_xlsx(with_chart(report))),
            filename=filename,
        )
    ]


HOURS_WORDS = ("hours", "时长", "志愿时长")


def _volunteer_hours(ctx: Context, month: str) -> list[Reply]:
    """`/report hours [YYYY-MM]`: the month's hours for the national volunteer system, as XLSX and
    as CSV (two documents: offices upload one or the other)."""
    if not month:
        this, last = ctx.services.reports.recent_months(ctx.community_id)
        return [
            reply(
                "report.ask_month",
                option(f"/report hours {this}", "report.this_month", month=this),
                option(f"/report hours {last}", "report.last_month", month=last),
                columns=2,
            )
        ]
    found = ctx.services.volunteer_hours.monthly(ctx.actor.person_id, ctx.community_id, month)
    sheet = found.sheets[0]
    name = render(ctx.actor.locale, "hours_export.filename", {"community": found.community, "month": found.month.label})
    return [
        Reply(
            T("hours_export.sent", community=found.community, month=found.month.label, rows=len(sheet.rows)),
            later=Later(partial(to_xlsx, found)),
            filename=f"{name}.xlsx",
        ),
        Reply(T("hours_export.csv"), later=Later(partial(sheet_csv, sheet)), filename=f"{name}.csv"),
    ]


def chart(ctx: Context, args: str) -> list[Reply]:
    month = args.strip() or None
    found = ctx.services.reports.hours_chart(ctx.actor.person_id, ctx.community_id, month, ctx.actor.locale)
    png = Later(partial(chart_png, found.community, found.month, ctx.actor.locale, found.hours))
    options: tuple[Option, ...] = ()
    if month is None:
        _, last = ctx.services.reports.recent_months(ctx.community_id)
        options = (option(f"/chart {last}", "report.chart_last_month", month=last),)
    return [Reply(T("report.chart_caption", community=found.community, month=found.month.label), options, later=png)]
