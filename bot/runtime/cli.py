"""The `lovebank` command line."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from bot.kernel.settings import Settings, get_settings
from bot.runtime.app import open_services


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lovebank", description="Love Bank (爱心银行) community points bot")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    db = sub.add_parser("db", help="database maintenance")
    db_sub = db.add_subparsers(dest="action", required=True, metavar="ACTION")
    db_sub.add_parser("upgrade", help="migrate the database to the newest schema (Alembic head)")

    demo = sub.add_parser("demo", help="seed a demo community and open the console chat as volunteer1")
    demo.add_argument("--seed-only", action="store_true", help="only seed, do not open the chat")

    chat = sub.add_parser("chat", help="the console chat as a person (reads stdin, so it can be scripted)")
    chat.add_argument("--as", dest="handle", required=True, metavar="NAME", help="whose chat, e.g. volunteer1")

    sub.add_parser("run", help="the Telegram bot (long polling) with its scheduled jobs; migrates first")
    sub.add_parser("serve", help="the web app: webhooks, /healthz, /readyz, workers; jobs on the leader only")
    parked = sub.add_parser("parked", help="updates and notifications set aside after failing repeatedly")
    parked_sub = parked.add_subparsers(dest="action", metavar="ACTION")
    listing = parked_sub.add_parser("list", help="totals and a page of them (the default)")
    retry = parked_sub.add_parser("retry", help="send one back (update ID, notification ID), or all of them")
    retry.add_argument("kind", choices=("update", "notification", "all"))
    retry.add_argument("id", type=int, nargs="?")
    for p, default in ((parked, None), (listing, argparse.SUPPRESS), (retry, argparse.SUPPRESS)):
        p.add_argument(
            "--channel", choices=("wechat", "telegram", "console"), default=default, help="only this channel's"
        )
    for p, first in ((parked, 1), (listing, argparse.SUPPRESS)):
        p.add_argument("--page", type=int, default=first, metavar="N", help="which page (50 a page)")
    export = sub.add_parser("export", help="reports and reconciliations out")
    export_sub = export.add_subparsers(dest="what", required=True, metavar="WHAT")
    report = export_sub.add_parser(
        "report", help="the monthly report: XLSX, or one CSV per sheet (and the chart as PNG) when FILE ends in .csv"
    )
    report.add_argument("--month", required=True, metavar="YYYY-MM")
    report.add_argument("-o", "--output", required=True, metavar="FILE")
    report.add_argument("--community", metavar="NAME", help="needed when there is more than one community")
    report.add_argument("--locale", choices=("zh-CN", "en"), help="language of the headers (default LOVEBANK_LOCALE)")
    hours = export_sub.add_parser(
        "volunteer-hours", help="the month's service hours for the national volunteer system: FILE.xlsx and FILE.csv"
    )
    hours.add_argument("--month", required=True, metavar="YYYY-MM")
    hours.add_argument("--community", metavar="NAME", help="needed when there is more than one community")
    hours.add_argument("-o", "--output", metavar="FILE", help="name of both files (default volunteer-hours-YYYY-MM)")
    stock = export_sub.add_parser("stock", help="the love supermarket's stock reconciliation for a month")
    stock.add_argument("--month", required=True, metavar="YYYY-MM")

    imports = sub.add_parser("import", help="import data")
    imports_sub = imports.add_subparsers(dest="what", required=True, metavar="WHAT")
    elders = imports_sub.add_parser("elders", help="the elder roster from CSV or XLSX (checked whole first)")
    elders.add_argument("file")
    elders.add_argument("--community", help="the community's name (needed when there are several)")

    wechat = sub.add_parser("wechat", help="the WeChat Official Account")
    wechat_sub = wechat.add_subparsers(dest="action", required=True, metavar="ACTION")
    wechat_sub.add_parser("menu", help="create the custom menu (记录时长, 我的积分, 更多)")
    wechat_sub.add_parser("templates", help="list the account's templates and check LOVEBANK_WECHAT_TEMPLATES")
    poster = sub.add_parser("invite-poster", help="a printable poster with the join QR codes (WeChat, Telegram)")
    poster.add_argument("--community", metavar="NAME", help="needed when there is more than one community")
    poster.add_argument("-o", "--output", required=True, metavar="FILE", help="PNG file to write")

    printing = sub.add_parser("print", help="printed things: statements for members without a phone, door cards")
    printing_sub = printing.add_subparsers(dest="what", required=True, metavar="WHAT")
    statements = printing_sub.add_parser(
        "statements", help="a month's statement for each member without a phone (one A4 page each, PDF)"
    )
    statements.add_argument("--community", metavar="NAME", help="needed when there is more than one community")
    statements.add_argument("--grid", metavar="GRID", help="only the members of this grid (e.g. 一网格)")
    statements.add_argument("--month", required=True, metavar="YYYY-MM")
    statements.add_argument("-o", "--output", required=True, metavar="FILE", help="PDF file to write")
    cards = printing_sub.add_parser("cards", help="door cards (A6 PDF, one page an elder) with the check-in QR code")
    cards.add_argument("--community", metavar="NAME", help="needed when there is more than one community")
    cards.add_argument("--grid", metavar="GRID", help="only the elders of this grid (e.g. 一网格)")
    cards.add_argument("-o", "--output", required=True, metavar="FILE", help="PDF file to write")
    contact = sub.add_parser("contact", help="the community's contact line printed on statements: show or set")
    contact.add_argument("text", nargs="?", metavar="TEXT", help="the new contact line, e.g. 社区服务站 0571-88888888")
    contact.add_argument("--community", metavar="NAME", help="needed when there is more than one community")
    contact.add_argument("--clear", action="store_true", help="remove the contact line")

    levels = sub.add_parser("star-levels", help="a community's service hours for 一星 … 五星: show, set or reset")
    levels.add_argument("hours", nargs="*", type=int, metavar="HOURS", help="five rising numbers of hours to set")
    levels.add_argument("--community", metavar="NAME", help="needed when there is more than one community")
    levels.add_argument("--reset", action="store_true", help="back to 100 300 600 1000 1500")

    jobs = sub.add_parser("jobs", help="scheduled jobs")
    jobs_sub = jobs.add_subparsers(dest="action", required=True, metavar="ACTION")
    jobs_sub.add_parser("list", help="list the jobs and their schedules")
    run_job = jobs_sub.add_parser("run", help="run one job now")
    run_job.add_argument("name")
    run_job.add_argument("--period", help="star-list, star-poster: week or month")

    data_key = sub.add_parser("data-key", help="the key ID numbers are encrypted with (LOVEBANK_DATA_KEY)")
    data_key_sub = data_key.add_subparsers(dest="action", required=True, metavar="ACTION")
    data_key_sub.add_parser("new", help="print a new key, to put first in LOVEBANK_DATA_KEY")
    data_key_sub.add_parser("rotate", help="re-encrypt every ID number under the first key of LOVEBANK_DATA_KEY")
    return parser


async def _data_key(settings: Settings, action: str) -> int:
    """`new` prints a Fernet key; `rotate` re-encrypts every stored ID number under the first key."""
    if action == "new":
        from cryptography.fernet import Fernet

        print(Fernet.generate_key().decode())
        return 0
    from bot.privacy.idnumbers import cipher

    if cipher(settings) is None:
        _say(settings, "cli.data_key_missing", error=True)
        return 2
    services = await open_services(settings)
    try:
        _say(settings, "cli.data_key_rotated", count=await services.run(services.idnumbers.rotate))
    finally:
        await services.db.dispose()
    return 0


async def _db_upgrade(settings: Settings) -> int:
    services = await open_services(settings)
    await services.db.dispose()
    _say(settings, "cli.db_up_to_date")
    return 0


async def _demo(settings: Settings, seed_only: bool) -> int:
    from bot import demo

    services = await open_services(settings)
    try:
        world = await demo.seed(services)
        _say(settings, "cli.demo_seeded" if world else "cli.demo_there", community=demo.COMMUNITY)
        _say(settings, "cli.database_at", where=_where(settings.database_url))
        if not seed_only:
            from handlers.console import chat

            await chat(services, "volunteer1")
    finally:
        await services.db.dispose()
    return 0


async def _chat(settings: Settings, handle: str) -> int:
    from handlers.console import chat

    services = await open_services(settings)
    try:
        await chat(services, handle)
    finally:
        await services.db.dispose()
    return 0


async def _jobs(settings: Settings, action: str, name: str | None, period: str | None) -> int:
    from bot import jobs

    registry = jobs.load()
    if action == "list":
        for job in registry.values():
            print(f"{job.name}\t{jobs.described(settings.locale, job)}")
        return 0
    if name not in registry:
        _say(settings, "cli.no_job", error=True, name=name, known=", ".join(sorted(registry)))
        return 2
    services = await open_services(settings)
    try:
        summary = await registry[name].run(services, services.clock.now(), {"period": period} if period else {})
        print(jobs.said(settings.locale, summary))
    finally:
        await services.db.dispose()
    return 0


def _where(url: str) -> str:
    """The database as an operator finds it: the SQLite file's path, else the URL without its password."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return str(Path(parsed.database or "").resolve())
    return parsed.render_as_string(hide_password=True)


def _say(settings: Settings, key: str, *, error: bool = False, locale: str | None = None, **params: object) -> None:
    """One line to the operator in their language (LOVEBANK_LOCALE)."""
    from bot.kernel.i18n import render

    line = render(locale or settings.locale, key, params)
    print(f"lovebank: {line}" if error else line, file=sys.stderr if error else sys.stdout)


async def _parked(settings: Settings, args: argparse.Namespace) -> int:
    from bot.kernel.i18n import render
    from bot.messages.parked import PAGE

    def say(key: str, **params: object) -> str:
        return render(settings.locale, key, params)

    action, kind, ident, channel = args.action, getattr(args, "kind", None), getattr(args, "id", None), args.channel
    only = f" --channel {channel}" if channel else ""
    services = await open_services(settings)
    try:
        if action == "retry" and kind == "all":
            updates, notes = await services.run(services.parked.retry_all, channel)
            _say(
                settings,
                "parked.retried_all",
                updates=updates,
                notifications=notes,
                only=say("parked.only", channel=channel) if channel else "",
            )
            return 0
        if action == "retry":
            what = say(f"parked.kind_{kind}")
            if ident is None:
                _say(settings, "parked.need_id", error=True, kind=kind)
                return 2
            service = services.inbox if kind == "update" else services.outbox
            if not await services.run(service.retry_parked, ident):
                _say(settings, "parked.no_such", error=True, kind=what, id=ident)
                return 2
            _say(settings, "parked.retried_one", kind=what, id=ident)
            return 0
        totals = await services.run(services.parked.totals, channel)
        if not totals.updates_total and not totals.notifications_total:
            _say(settings, "parked.none")
            return 0

        def by_channel(counts: dict[str, int]) -> str:
            return (
                say(
                    "parked.by_channel",
                    parts=say("parked.separator").join(
                        say("parked.channel_count", channel=name, count=n) for name, n in sorted(counts.items())
                    ),
                )
                if counts
                else ""
            )

        _say(
            settings,
            "parked.totals",
            updates=totals.updates_total,
            update_channels=by_channel(totals.updates),
            notifications=totals.notifications_total,
            note_channels=by_channel(totals.notifications),
        )
        page = await services.run(services.parked.page, args.page, channel)
        for u in page.updates:
            _say(
                settings,
                "parked.update_line",
                id=u.id,
                channel=u.channel,
                platform_id=u.platform_id,
                sender=u.sender,
                at=f"{u.received_at:%Y-%m-%d %H:%M}",
                attempts=u.attempts,
                reason=u.error or "",
            )
        for n in page.notifications:
            to = n.chat or say("parked.to_person", person=n.person_id)
            _say(
                settings,
                "parked.note_line",
                id=n.id,
                message=n.key,
                to=to,
                at=f"{n.created_at:%Y-%m-%d %H:%M}",
                attempts=n.attempts,
                reason=n.error or "",
            )
        _say(settings, "parked.page", page=page.number, pages=page.pages, size=PAGE)
        if page.number < page.pages:
            _say(settings, "parked.next_page", next=page.number + 1, channel=only)
        _say(settings, "parked.retry_hint", channel=only)
        return 0
    finally:
        await services.db.dispose()


async def _export_report(settings: Settings, month: str, output: str, community: str | None, locale: str | None) -> int:
    from pathlib import Path

    from bot.kernel.errors import DomainError
    from bot.kernel.i18n import render
    from bot.reports.files import csv_files, to_xlsx, with_chart

    locale = locale or settings.locale
    path = Path(output)
    fmt = "csv" if path.suffix.lower() == ".csv" else "xlsx"
    services = await open_services(settings)
    try:
        report = await services.run(services.reports.export, community, month, locale, fmt)
    except DomainError as exc:
        print(f"lovebank: {render(locale, exc.key, exc.params)}", file=sys.stderr)
        return 2
    finally:
        await services.db.dispose()
    report = with_chart(report)
    files = csv_files(report, path) if fmt == "csv" else {path: to_xlsx(report)}
    for name, content in files.items():
        try:
            name.write_bytes(content)
        except OSError as exc:
            _say(settings, "cli.cannot_write", error=True, locale=locale, path=name, reason=exc.strerror or exc)
            return 2
        _say(settings, "cli.wrote", locale=locale, path=name.resolve())
    return 0


async def _export_hours(settings: Settings, month: str, output: str | None, community: str | None) -> int:
    from bot.kernel.errors import DomainError
    from bot.kernel.i18n import render
    from bot.reports.files import sheet_csv, to_xlsx

    services = await open_services(settings)
    try:
        report = await services.run(services.volunteer_hours.export, community, month)
    except DomainError as exc:
        print(f"lovebank: {render(settings.locale, exc.key, exc.params)}", file=sys.stderr)
        return 2
    finally:
        await services.db.dispose()
    base = Path(output or f"volunteer-hours-{report.month.label}")
    if base.suffix.lower() in (".csv", ".xlsx"):
        base = base.with_suffix("")
    for path, content in (
        (base.with_name(f"{base.name}.csv"), sheet_csv(report.sheets[0])),
        (base.with_name(f"{base.name}.xlsx"), to_xlsx(report)),
    ):
        try:
            path.write_bytes(content)
        except OSError as exc:
            _say(settings, "cli.cannot_write", error=True, path=path, reason=exc.strerror or exc)
            return 2
        _say(settings, "cli.wrote", path=path.resolve())
    return 0


async def _export_stock(settings: Settings, month_text: str) -> int:
    from bot.kernel.clock import Month
    from bot.kernel.errors import InvalidInput
    from bot.kernel.i18n import render
    from bot.kernel.spreadsheet import csv_text

    try:
        month = Month.parse(month_text).label
    except InvalidInput:
        _say(settings, "cli.bad_month", error=True, text=month_text[:20])
        return 2
    services = await open_services(settings)
    try:
        reconciliations = await services.run(services.shop.reconcile_all, month)
    finally:
        await services.db.dispose()
    print(render(settings.locale, "cli.stock_header"))
    yes, no = render(settings.locale, "cli.balanced_yes"), render(settings.locale, "cli.balanced_no")
    for rec in reconciliations:
        for line in rec.lines:
            # Redirected into a file a spreadsheet opens: names are text, never a formula.
            cells = (
                csv_text(rec.community),
                f"I{line.item_id}",
                csv_text(line.name),
                line.opening,
                line.restocked,
                line.reserved,
                line.handed_over,
                line.released,
                line.closing,
                yes if line.balanced else no,
            )
            print("\t".join("-" if cell is None else str(cell) for cell in cells))
    return 0 if all(rec.balanced for rec in reconciliations) else 1


async def _import_elders(settings: Settings, path: str, community: str | None) -> int:
    from pathlib import Path

    from bot.kernel.errors import DomainError
    from bot.kernel.i18n import render
    from bot.people.roster import MAX_BYTES

    try:
        if Path(path).stat().st_size > MAX_BYTES:  # before reading a byte of it
            _say(settings, "visits.import.too_big", error=True, max_mb=MAX_BYTES // 1_000_000)
            return 2
        content = Path(path).read_bytes()
    except OSError as exc:
        _say(settings, "cli.cannot_read", error=True, path=path, reason=exc.strerror or exc)
        return 2
    services = await open_services(settings)
    try:
        try:
            community_id = await services.run(services.visits.roster.community_named, community)
        except DomainError as exc:
            print(render(settings.locale, exc.key, exc.params), file=sys.stderr)
            return 2
        report = await services.run(services.visits.roster.import_roster, None, community_id, path, content)
        text = report.text()
        print(render(settings.locale, text.key, text.params))
        return 0 if report.ok else 1
    finally:
        await services.db.dispose()


async def _wechat(settings: Settings, action: str, community: str | None = None, output: str | None = None) -> int:
    from handlers.wechat import tools

    services = await open_services(settings)
    try:
        if action == "menu":
            return await tools.create_menu(services, settings)
        if action == "templates":
            return await tools.check_templates(services, settings)
        return await tools.make_invite_poster(services, settings, community, output or "")
    finally:
        await services.db.dispose()


async def _print_cards(settings: Settings, community: str | None, grid: str | None, output: str) -> int:
    from handlers.wechat import tools

    services = await open_services(settings)
    try:
        return await tools.make_door_cards(services, settings, community, grid, output)
    finally:
        await services.db.dispose()


async def _star_levels(settings: Settings, values: list[int], community: str | None, reset: bool) -> int:
    from bot.kernel.errors import DomainError
    from bot.kernel.i18n import render

    services = await open_services(settings)
    try:
        community_id = await services.run(services.visits.roster.community_named, community)
        if values or reset:
            await services.run(
                services.star_levels.set_thresholds, None, community_id, None if reset else " ".join(map(str, values))
            )
        thresholds = await services.run(services.star_levels.thresholds, community_id)
    except DomainError as exc:
        print(f"lovebank: {render(settings.locale, exc.key, exc.params)}", file=sys.stderr)
        return 2
    finally:
        await services.db.dispose()
    print(" ".join(str(h) for h in thresholds))
    return 0


async def _print_statements(
    settings: Settings, community: str | None, grid: str | None, month: str, output: str
) -> int:
    from bot.kernel.errors import DomainError
    from bot.kernel.i18n import render
    from bot.paper.pdf import statements_pdf

    services = await open_services(settings)
    try:
        book = await services.run(services.paper.statements, community, grid, month)
        await services.run(services.paper.printed_statements, book)
    except DomainError as exc:
        print(f"lovebank: {render(settings.locale, exc.key, exc.params)}", file=sys.stderr)
        return 2
    finally:
        await services.db.dispose()
    # Drawn after the database is let go: nothing slow inside a transaction.
    content = await asyncio.to_thread(statements_pdf, book)
    path = Path(output)
    try:
        path.write_bytes(content)
    except OSError as exc:
        _say(settings, "cli.cannot_write", error=True, path=path, reason=exc.strerror or exc)
        return 2
    _say(settings, "paper.cli.statements", path=path.resolve(), pages=len(book.statements))
    return 0


async def _contact(settings: Settings, community: str | None, text: str | None, clear: bool) -> int:
    from bot.kernel.errors import DomainError
    from bot.kernel.i18n import render

    services = await open_services(settings)
    try:
        community_id = await services.run(services.paper.community_named, community)
        if text is not None or clear:
            await services.run(services.paper.set_contact, None, community_id, None if clear else text)
        contact = await services.run(services.paper.contact, community_id)
        name = await services.run(services.people.community_name, community_id)
    except DomainError as exc:
        print(f"lovebank: {render(settings.locale, exc.key, exc.params)}", file=sys.stderr)
        return 2
    finally:
        await services.db.dispose()
    if contact is None:
        _say(settings, "paper.cli.contact_none", community=name)
    else:
        _say(settings, "paper.cli.contact", community=name, contact=contact)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    settings = get_settings()
    try:
        return _run(args, settings)
    except BrokenPipeError:
        # The reader went away (`lovebank chat ... | head`): what it wanted it has; stop quietly,
        # and let nothing write to the closed pipe again when Python flushes at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except Exception as exc:
        from bot.kernel.db_problems import database_problem
        from bot.kernel.i18n import render

        problem = database_problem(exc, settings.database_url)
        if problem is None:
            raise
        # A database that cannot be used is the operator's to fix: one line, not a traceback.
        print(f"lovebank: {render(settings.locale, problem.key, problem.params)}", file=sys.stderr)
        return 3


def _run(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "db":
        return asyncio.run(_db_upgrade(settings))
    if args.command == "demo":
        return asyncio.run(_demo(settings, args.seed_only))
    if args.command == "chat":
        return asyncio.run(_chat(settings, args.handle))
    if args.command == "run":
        from handlers.telegram import run

        return run(settings)
    if args.command == "parked":
        return asyncio.run(_parked(settings, args))
    if args.command == "serve":
        from handlers.serve import serve

        return serve(settings)
    if args.command == "export" and args.what == "report":
        return asyncio.run(_export_report(settings, args.month, args.output, args.community, args.locale))
    if args.command == "export" and args.what == "volunteer-hours":
        return asyncio.run(_export_hours(settings, args.month, args.output, args.community))
    if args.command == "export" and args.what == "stock":
        return asyncio.run(_export_stock(settings, args.month))
    if args.command == "import":
        return asyncio.run(_import_elders(settings, args.file, args.community))
    if args.command == "wechat":
        return asyncio.run(_wechat(settings, args.action))
    if args.command == "invite-poster":
        return asyncio.run(_wechat(settings, "invite-poster", args.community, args.output))
    if args.command == "print" and args.what == "statements":
        return asyncio.run(_print_statements(settings, args.community, args.grid, args.month, args.output))
    if args.command == "print" and args.what == "cards":
        return asyncio.run(_print_cards(settings, args.community, args.grid, args.output))
    if args.command == "contact":
        return asyncio.run(_contact(settings, args.community, args.text, args.clear))
    if args.command == "star-levels":
        return asyncio.run(_star_levels(settings, args.hours, args.community, args.reset))
    if args.command == "jobs":
        return asyncio.run(_jobs(settings, args.action, getattr(args, "name", None), getattr(args, "period", None)))
    if args.command == "data-key":
        return asyncio.run(_data_key(settings, args.action))
    return 2


if __name__ == "__main__":
    sys.exit(main())
