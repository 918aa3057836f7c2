"""The worker's monthly report (/report) and the month's chart (/chart), delivered as files."""

from __future__ import annotations

from bot.dialogs.core import Context, Document, Reply, command, option, reply
from bot.i18n import T


@command("report", role="worker", help_key="help.report", aliases=("报表", "月报"))
async def report(ctx: Context, args: str) -> list[Reply]:
    month = args.strip()
    if not month:
        this, last = await ctx.services.reports.recent_months(ctx.community_id)
        return [reply("report.ask_month", option(f"/report {this}", "report.this_month", month=this),
                      option(f"/report {last}", "report.last_month", month=last), columns=2)]
    file = await ctx.services.reports.monthly(ctx.actor.person_id, ctx.community_id, month, ctx.actor.locale)
    return [Reply(T("report.sent", community=file.community, month=file.month),
                  document=Document(file.filename, file.content))]


@command("chart", help_key="help.chart", aliases=("图表",))
async def chart(ctx: Context, args: str) -> list[Reply]:
    month = args.strip() or None
    picture = await ctx.services.reports.chart(ctx.actor.person_id, ctx.community_id, month, ctx.actor.locale)
    options = ()
    if month is None:
        _, last = await ctx.services.reports.recent_months(ctx.community_id)
        options = (option(f"/chart {last}", "report.chart_last_month", month=last),)
    return [Reply(T("report.chart_caption", community=picture.community, month=picture.month), options,
                  image=picture.content)]
