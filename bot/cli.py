"""The `lovebank` command line (DESIGN.md section 4)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from bot.app import open_services
from bot.settings import Settings, get_settings


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

    jobs = sub.add_parser("jobs", help="scheduled jobs")
    jobs_sub = jobs.add_subparsers(dest="action", required=True, metavar="ACTION")
    jobs_sub.add_parser("list", help="list the jobs and their schedules")
    run_job = jobs_sub.add_parser("run", help="run one job now")
    run_job.add_argument("name")
    run_job.add_argument("--period", help="star-list: week or month")

    imports = sub.add_parser("import", help="import data")
    imports_sub = imports.add_subparsers(dest="what", required=True, metavar="WHAT")
    elders = imports_sub.add_parser("elders", help="the elder roster from CSV or XLSX (checked whole first)")
    elders.add_argument("file")
    elders.add_argument("--community", help="the community's name (needed when there are several)")
    return parser


async def _db_upgrade(settings: Settings) -> int:
    services = await open_services(settings)
    await services.db.dispose()
    print("database is up to date")
    return 0


async def _demo(settings: Settings, seed_only: bool) -> int:
    from bot import demo

    services = await open_services(settings)
    try:
        world = await demo.seed(services)
        print(f"demo community {demo.COMMUNITY}: " + ("seeded" if world else "already there"))
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
            print(f"{job.name}\t{job.help}")
        return 0
    if name not in registry:
        print(f"lovebank: no job {name!r}; known: {', '.join(sorted(registry))}", file=sys.stderr)
        return 2
    services = await open_services(settings)
    try:
        print(await registry[name].run(services, services.clock.now(), {"period": period} if period else {}))
    finally:
        await services.db.dispose()
    return 0


async def _import_elders(settings: Settings, path: str, community: str | None) -> int:
    from pathlib import Path

    from bot.errors import DomainError
    from bot.i18n import render

    try:
        content = Path(path).read_bytes()
    except OSError as exc:
        print(f"lovebank: cannot read {path}: {exc.strerror}", file=sys.stderr)
        return 2
    services = await open_services(settings)
    try:
        try:
            community_id = await services.visits.roster.community_named(community)
        except DomainError as exc:
            print(render(settings.locale, exc.key, exc.params), file=sys.stderr)
            return 2
        report = await services.visits.roster.import_roster(None, community_id, path, content)
        text = report.text()
        print(render(settings.locale, text.key, text.params))
        return 0 if report.ok else 1
    finally:
        await services.db.dispose()


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    settings = get_settings()
    if args.command == "db":
        return asyncio.run(_db_upgrade(settings))
    if args.command == "demo":
        return asyncio.run(_demo(settings, args.seed_only))
    if args.command == "chat":
        return asyncio.run(_chat(settings, args.handle))
    if args.command == "jobs":
        return asyncio.run(_jobs(settings, args.action, getattr(args, "name", None), getattr(args, "period", None)))
    if args.command == "import":
        return asyncio.run(_import_elders(settings, args.file, args.community))
    return 2


if __name__ == "__main__":
    sys.exit(main())
