"""The worker's monthly report (/report) and the month's chart (/chart), delivered as files."""

from __future__ import annotations

import asyncio

from bot.dialogs.core import Context, Document, Reply, command, option, reply
from bot.i18n import T, render
from bot.report_files import chart_png, sheet_csv, to_xlsx, with_chart


@command("report", role="worker", help_key="help.report", aliases=("报表", "月报"))
async def report(ctx: Context, args: str) -> list[Reply]:
    month = args.strip()
    if not month:
        this, last = await ctx.services.reports.recent_months(ctx.community_id)
        return [reply("report.ask_month", option(f"/report {this}", "report.this_month", month=this),
                      option(f"/report {last}", "report.last_month", month=last), columns=2)]
    words = month.split()
    if words[0].lower() in HOURS_WORDS:
        return await _volunteer_hours(ctx, " ".join(words[1:]))
    locale = ctx.actor.locale
    report = await ctx.services.reports.monthly(ctx.actor.person_id, ctx.community_id, month, locale)
    content = await asyncio.to_thread(lambda: to_xlsx(with_chart(report)))  # not on the event loop
    filename = render(locale, "report.filename", {"community": report.community, "month": report.month.label})
    label = report.month.label
    return [Reply(T("report.sent", community=report.community, month=label),
                  (option(f"/report hours {label}", "hours_export.option", month=label),),
                  document=Document(filename, content))]


HOURS_WORDS = ("hours", "时长", "志愿时长")


async def _volunteer_hours(ctx: Context, month: str) -> list[Reply]:
    """`/report hours [YYYY-MM]`: the month's hours for the national volunteer system, as XLSX and
    as CSV (two documents: offices upload one or the other)."""
    if not month:
        this, last = await ctx.services.reports.recent_months(ctx.community_id)
        return [reply("report.ask_month", option(f"/report hours {this}", "report.this_month", month=this),
                      option(f"/report hours {last}", "report.last_month", month=last), columns=2)]
    found = await ctx.services.volunteer_hours.monthly(ctx.actor.person_id, ctx.community_id, month)
    sheet = found.sheets[0]
    xlsx, csv = await asyncio.to_thread(lambda: (to_xlsx(found), sheet_csv(sheet)))
    name = render(ctx.actor.locale, "hours_export.filename", {"community": found.community, "month": found.month.label})
    return [Reply(T("hours_export.sent", community=found.community, month=found.month.label, rows=len(sheet.rows)),
                  document=Document(f"{name}.xlsx", xlsx)),
            Reply(T("hours_export.csv"), document=Document(f"{name}.csv", csv))]


@command("chart", help_key="help.chart", aliases=("图表",))
async def chart(ctx: Context, args: str) -> list[Reply]:
    month = args.strip() or None
    found = await ctx.services.reports.hours_chart(ctx.actor.person_id, ctx.community_id, month, ctx.actor.locale)
    png = await asyncio.to_thread(chart_png, found.community, found.month, ctx.actor.locale, found.hours)
    options = ()
    if month is None:
        _, last = await ctx.services.reports.recent_months(ctx.community_id)
        options = (option(f"/chart {last}", "report.chart_last_month", month=last),)
    return [Reply(T("report.chart_caption", community=found.community, month=found.month.label), options, image=png)]
