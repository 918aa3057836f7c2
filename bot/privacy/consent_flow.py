"""The privacy notice (个人信息保护法): what the bank keeps about a volunteer, why, who sees it and
whom to ask. Registering shows it before the name is asked, and giving the name and phone after
it is the consent, recorded with the notice's version. When the notice's version changes
(`LOVEBANK_PRIVACY_NOTICE_VERSION`), the engine asks a volunteer again at their next message,
before anything else, and carries on with that message once they agree (bot.dialogs.engine)."""

from __future__ import annotations

from bot.dialogs.core import Context, Reply, option, reply

FLOW = "consent"
AGREE, DECLINE = "agree", "decline"


def notice(ctx: Context, community_id: int, key: str = "notice.text") -> Reply:
    """The notice in the person's language; `key` notice.changed asks to agree again, by button."""
    community, contact, version = ctx.services.people.privacy_notice(community_id)
    if key == "notice.text":
        return reply(key, community=community, contact=contact, version=version)
    return reply(
        key,
        option(AGREE, "notice.agree"),
        option(DECLINE, "notice.decline"),
        columns=2,
        community=community,
        contact=contact,
        version=version,
    )
