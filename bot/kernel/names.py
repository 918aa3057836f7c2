"""Names and one-time codes as people type them: shared by the parts that take a name (people,
family) or hand out a code (invites, links, redemptions), so none of them imports another for it."""

from __future__ import annotations

import secrets

from bot.kernel.errors import InvalidInput

# Unambiguous upper-case letters and digits (no O/0, I/1) for codes people type.
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
NAME_MAX = 50


def new_code(length: int = 8) -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(length))


def clean_name(raw: str) -> str:
    name = " ".join((raw or "").split())
    if not name or len(name) > NAME_MAX or name.startswith("/"):
        raise InvalidInput("error.bad_name")
    return name
