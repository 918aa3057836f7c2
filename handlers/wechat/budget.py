"""WeChat's customer-service budget, and notifications planned to fit it.

WeChat lets an account push customer-service messages to a person only after the person did
something: 5 within 48 hours of their message (LOVEBANK_WECHAT_CS_BUDGET, since WeChat has
changed it before), 3 within a minute of a menu click, a follow or a scan; 45047 when spent.
Passive replies are free. So what waits for one person is sent together: the most important
first (a help alert before an approval before "decisions waiting" before a digest), folded into
as few messages as fit WeChat's 2,048 bytes, and the last message of the budget is kept for an
urgent one (a help alert). Past the budget the channel sends a template or holds the rest for
the answer to the person's next message."""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.kernel.i18n import render
from bot.messages.outbox import Delivery
from handlers.wechat.render import TEXT_LIMIT, split_text

MESSAGE_HOURS = 48
EVENT_ALLOWED, EVENT_SECONDS = 3, 60.0
EVENTS = ("subscribe", "SCAN", "CLICK")  # the events that let the account write back for a minute
RESERVE = 1  # pushes kept for an urgent notification

URGENT = frozenset(
    {
        "visits.notify.needs_help",
        "visits.notify.escalated",
        "visits.notify.not_home_twice",
        "visits.notify.hospital",
        "wellbeing.notify.alert_mood",
        "wellbeing.notify.alert_health",
    }
)
DECISIONS = frozenset(
    {
        "notify.pending_logs",
        "shop.notify.new_redemption",
        "notify.volunteer_waiting",
        "deadline.nudge",
        "move.notify.requested",
        "move.notify.to_accept",
        "requests.notify.needs_pool",
        "requests.notify.disputed",
        "shop.notify.expired_worker",
    }
)
DIGESTS = frozenset(
    {
        "deadline.digest",
        "stars.poster_week",
        "stars.poster_month",
        "stars.poster_group_week",
        "stars.poster_group_month",
    }
)


def opening(fields: dict[str, str], budget: int) -> tuple[str, int, float] | None:
    """The allowance a message or event opens: (kind, how many, for how many seconds)."""
    if fields.get("MsgType") == "event":
        return ("event", EVENT_ALLOWED, EVENT_SECONDS) if fields.get("Event") in EVENTS else None
    return "message", budget, MESSAGE_HOURS * 3600.0


def priority(key: str) -> int:
    if key in URGENT:
        return 0
    if key in DIGESTS or ".morning." in key:  # the morning lists of visits and requests
        return 3
    return 2 if key in DECISIONS else 1


@dataclass
class Unit:
    """One notification ready to send: its texts (and a poster first, when it has one)."""

    delivery: Delivery
    texts: list[str]
    image: str | None = None  # base64 PNG

    @property
    def urgent(self) -> bool:
        return priority(self.delivery.text.key) == 0


@dataclass
class Message:
    content: dict[str, str]  # {"text": …} or {"image": base64}
    carries: list[Unit] = field(default_factory=list)  # whose content is (partly) in it
    done: list[Unit] = field(default_factory=list)  # wholly sent once this message is

    @property
    def urgent(self) -> bool:
        return any(u.urgent for u in self.carries)


def fold(units: list[Unit]) -> list[Message]:
    """The messages for one person's notifications, most important first: one alone is sent as
    it is; several become "🔔 You have N new notifications: • … • …" (cut at WeChat's limit
    between notifications), and a poster goes as its picture and its text after the rest."""
    units = sorted(units, key=lambda u: priority(u.delivery.text.key))
    if len(units) == 1:
        return _alone(units[0])
    texts, posters = [u for u in units if u.image is None], [u for u in units if u.image is not None]
    messages: list[Message] = []
    if texts:
        locale = texts[0].delivery.locale
        header = render(
            locale, "wechat.pending_notes", {"count": sum(u.delivery.count for u in units), "lines": ""}
        ).rstrip()
        current = Message({"text": header})
        for unit in texts:
            line = render(unit.delivery.locale, "wechat.pending_line", {"text": "\n".join(unit.texts)})
            joined = f"{current.content['text']}\n{line}"
            if len(joined.encode()) <= TEXT_LIMIT:
                current.content["text"] = joined
                current.carries.append(unit)
                current.done.append(unit)
                continue
            if current.carries:
                messages.append(current)
            pieces = split_text(line)
            for piece in pieces[:-1]:
                messages.append(Message({"text": piece}, [unit]))
            current = Message({"text": pieces[-1]}, [unit], [unit])
        messages.append(current)
    for unit in posters:
        messages += _alone(unit)
    return messages


def _alone(unit: Unit) -> list[Message]:
    contents = ([{"image": unit.image}] if unit.image else []) + [{"text": t} for t in unit.texts]
    messages = [Message(content, [unit]) for content in contents]
    messages[-1].done.append(unit)
    return messages
