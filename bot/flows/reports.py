"""The worker's monthly report (/report) and the month's chart (/chart), delivered as files."""

from __future__ import annotations

from functools import partial

from bot.dialogs.core import Context, Later, Reply, command, option, reply
from bot.i18n import T, render
from bot.report_files import chart_png, to_xlsx, with_chart


@command("report", role="worker", help_key="help.report", aliases=("报表", "月报"))
def report(ctx: Context, args: str) -> list[Reply]:
    month = args.strip()
    if not month:
        this, last = ctx.services.reports.recent_months(ctx.community_id)
        return [reply("report.ask_month", option(f"/report {this}", "report.this_month", month=this),
                      option(f"/report {last}", "report.last_month", month=last), columns=2)]
    locale = ctx.actor.locale
    report = ctx.services.reports.monthly(ctx.actor.person_id, ctx.community_id, month, locale)
    filename = render(locale, "report.filename", {"community": report.community, "month": report.month.label})
    return [Reply(T("report.sent", community=report.community, month=report.month.label),
                  later=Later(lambda: to_xlsx(with_chart(report))), filename=filename)]


@command("chart", help_key="help.chart", aliases=("图表",), reads=True)
def chart(ctx: Context, args: str) -> list[Reply]:
    month = args.strip() or None
    found = ctx.services.reports.hours_chart(ctx.actor.person_id, ctx.community_id, month, ctx.actor.locale)
    png = Later(partial(chart_png, found.community, found.month, ctx.actor.locale, found.hours))
    options = ()
    if month is None:
        _, last = ctx.services.reports.recent_months(ctx.community_id)
        options = (option(f"/chart {last}", "report.chart_last_month", month=last),)
    return [Reply(T("report.chart_caption", community=found.community, month=found.month.label), options, later=png)]
