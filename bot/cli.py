"""The `lovebank` command line (DESIGN.md section 4)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from bot.settings import get_settings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lovebank", description="Love Bank (爱心银行) community points bot")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    db = sub.add_parser("db", help="database maintenance")
    db_sub = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    db_sub.add_parser("upgrade", help="migrate the database to the newest schema (Alembic head)")
    return parser


async def _db_upgrade() -> int:
    from bot.migrate import upgrade

    settings = get_settings()
    await upgrade(settings.database_url)
    print("database is up to date")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "db" and args.db_command == "upgrade":
        return asyncio.run(_db_upgrade())
    return 2


if __name__ == "__main__":
    sys.exit(main())
