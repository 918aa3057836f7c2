"""The community's contact line (求助热线): one line, printed on elders' door cards and on the
paper statements of members without a phone. A worker sets it with /helpline, the operator with
`lovebank contact`; both land here, so the card and the statement can never disagree."""

from __future__ import annotations

from sqlalchemy.orm import Session

from bot.kernel.audit import audit
from bot.kernel.clock import Clock
from bot.kernel.errors import InvalidInput
from bot.kernel.text import clean_text
from models import Community

OPTION = "contact"  # Community.options
MAX = 60  # characters: one line on an A6 card


def contact_of(community: Community) -> str | None:
    value = (community.options or {}).get(OPTION)
    return value if isinstance(value, str) and value else None


def set_contact(
    session: Session, clock: Clock, actor_id: int | None, community: Community, text: str | None
) -> str | None:
    """Sets the line (None clears it) and audits who did; `actor_id` None is the operator."""
    line = None
    if text is not None:
        line = clean_text(" ".join(text.split())) or ""
        if not line or len(line) > MAX:
            raise InvalidInput("cards.bad_help_line", max=MAX)
    options = {k: v for k, v in (community.options or {}).items() if k != OPTION}
    community.options = {**options, OPTION: line} if line else options
    audit(session, clock, "community.help_line", actor_id, community.id, details={"line": line})
    return line
