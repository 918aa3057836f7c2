"""The channels the core knows by name, and the facts about them its rules depend on. A
channel's own matters (its API, tokens, signatures, rendering) live in handlers/; a rule in the
core names no channel, it asks this table."""

from __future__ import annotations

CHANNELS = ("wechat", "telegram", "console")
# Accounts on these channels cannot post into groups (WeChat Official Accounts): their workers are
# sent the star-list poster to forward by hand, where the others' bot posts to the groups itself.
FORWARD_BY_HAND = frozenset({"wechat"})
# People on these channels can share their own phone number with a button (Telegram's contact
# keyboard): a step that needs the number offers it; elsewhere the number is typed.
SHARES_CONTACT = frozenset({"telegram"})
