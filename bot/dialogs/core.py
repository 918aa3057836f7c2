"""The vocabulary of a dialog: what comes in, what goes out, and the table of what runs.

A flow module holds plain functions: one-line commands and the steps of a step-by-step flow,
each listed once in `bot.dialogs.flows` (a `Table`). Handlers take a `Context` and return
replies; they call services for every decision and write nothing themselves. Options are
shown as buttons on Telegram and as a numbered list elsewhere; an option whose value starts
with "/" runs that command line when chosen, any other value answers the current step. Option
values arrive from clients and are never trusted: commands re-check everything in the
services, and a step only ever sees one of the options it showed (the engine refuses the rest).
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bot.kernel.access import has_role
from bot.kernel.i18n import Text
from bot.kernel.later import LATER_MARK
from bot.kernel.text import clean_text, fold_width

if TYPE_CHECKING:
    from bot.services import Services

# Telegram allows 64 bytes of callback data; every option value must fit.
MAX_OPTION_BYTES = 64


@dataclass(frozen=True)
class Option:
    value: str
    label: Text

    def __post_init__(self) -> None:
        if len(self.value.encode()) > MAX_OPTION_BYTES:
            raise ValueError(f"option value too long for a button: {self.value!r}")


@dataclass(frozen=True)
class Later:
    """A file a turn attaches but does not make itself: drawing a PDF, a chart or an XLSX (or
    asking a platform for a picture) is slow, so it runs after the turn's transaction, off the
    database thread; `draw` returns the bytes (None: nothing to attach)."""

    draw: Callable[[], bytes | None | Awaitable[bytes | None]]


@dataclass
class Deferred:
    """The files a turn attaches but makes after its commit, each with its placeholder."""

    items: list[tuple[bytes, Later]] = field(default_factory=list)

    def add(self, later: Later) -> bytes:
        token = LATER_MARK + secrets.token_hex(8).encode()
        self.items.append((token, later))
        return token


@dataclass(frozen=True)
class Document:
    filename: str
    content: bytes


@dataclass(frozen=True)
class Reply:
    text: Text
    options: tuple[Option, ...] = ()
    columns: int = 1  # buttons per row on Telegram
    request_contact: bool = False  # Telegram offers its share-contact button
    document: Document | None = None
    image: bytes | None = None  # PNG
    photo: str | None = None  # a channel file id to show again
    # Made after the turn's commit, then attached as `document` (with `filename`) or `image`.
    later: Later | None = None
    filename: str | None = None


def reply(key: str, *options: Option, columns: int = 1, **params: Any) -> Reply:
    return Reply(Text(key, params), tuple(options), columns)


def option(value: str, key: str, **params: Any) -> Option:
    return Option(value, Text(key, params))


@dataclass(frozen=True)
class Caller:
    """Who is talking, as the channel knows them."""

    channel: str  # telegram, wechat, console
    external_id: str
    display_name: str
    handle: str | None = None
    chat_id: str | None = None
    group_chat: str | None = None  # set when the message came from a group chat

    def __post_init__(self) -> None:
        # The input boundary of every channel: names come from the platform and are anyone's text.
        object.__setattr__(self, "display_name", clean_text(self.display_name) or "")
        object.__setattr__(self, "handle", clean_text(self.handle))


@dataclass(frozen=True)
class Input:
    text: str = ""
    option: str | None = None  # the value of a chosen option (a button press)
    contact_phone: str | None = None
    contact_is_own: bool = True  # Telegram: the shared contact belongs to the sender
    location: tuple[float, float] | None = None
    photo: str | None = None  # a channel file id
    # What the channel says identifies this request (update id): a redelivery replays it.
    request_key: str | None = None

    def __post_init__(self) -> None:
        # The input boundary of every channel: control characters (a NUL breaks PostgreSQL) and
        # bidirectional overrides never get past here, whichever adapter built the input. What is
        # typed is width-folded here too (ＩＤ４ → ID4), so no parser has to know about input
        # methods; a button's value is the bot's own and is compared as it was sent.
        for name in ("text", "option", "contact_phone"):
            value = clean_text(getattr(self, name))
            object.__setattr__(self, name, value if name == "option" else fold_width(value))


@dataclass(frozen=True)
class Actor:
    person_id: int
    identity_id: int
    display_name: str
    locale: str
    community_id: int | None
    role: str | None  # in community_id; None when not a member
    is_admin: bool
    channel: str
    awaiting_confirmation: bool = False  # a registered volunteer a worker has not confirmed yet
    # Set while a member acts for a relative (`/as NAME`): the real person, who is the one
    # talking; the fields above then describe the relative, so every flow acts for them.
    acting_by: int | None = None

    def at_least(self, role: str) -> bool:
        return has_role(self.is_admin, self.role, role)


@dataclass
class Invites:
    """How the channel a dialog runs on invites people, told by its adapter once it knows (the
    Telegram bot's name after getMe): /invite shows the link and the picture when set."""

    link: str | None = None  # a template with {code}
    # A join QR code (PNG) for an invite code, or None when it cannot now (WeChat's parametric QR
    # codes: scanning follows the account and joins). Asked after the turn (`Later`).
    picture: Callable[[str], Awaitable[bytes | None]] | None = None
    # The address a parametric QR code opens for a scene (an elder's door card token): scanning
    # it sends the scene back. None where the channel has none (Telegram uses `link`).
    scan_url: Callable[[str], Awaitable[str | None]] | None = None


@dataclass
class Context:
    services: Services
    actor: Actor
    caller: Caller
    request_key: str | None
    table: Table
    flow: str | None = None
    step: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    # What a finished flow did, told again if one of its buttons is pressed afterwards.
    receipt: Text | None = None
    invites: Invites = field(default_factory=Invites)
    # A volunteer who has not agreed to the privacy notice in force: the community to agree for.
    consent_for: int | None = None

    def key(self, what: str | None = None) -> str | None:
        """The idempotency key of what this turn does, the one way it is built: from the update
        that brought it (the channel's request key, kept with the inbox entry) and what the command
        does (`what`, when one update could do two things). A redelivered update replays it; None
        where the channel gives no request key (the console)."""
        if not self.request_key:
            return None
        base = f"{self.caller.channel}:{self.request_key}"
        return f"{what}:{base}" if what else base

    def goto(self, flow: str, step: str, **data: Any) -> None:
        """Move to a step; `data` is merged into what the flow remembers."""
        if flow != self.flow:
            self.data = {}
        self.flow, self.step = flow, step
        self.data.update(data)

    def finish(self, receipt: Text | None = None) -> None:
        self.flow = self.step = None
        self.data = {}
        if receipt is not None:
            self.receipt = receipt

    @property
    def community_id(self) -> int:
        from bot.kernel.errors import NotAllowed

        if self.actor.community_id is None:
            raise NotAllowed("error.no_community_yet")
        return self.actor.community_id


# Handlers are plain functions: the engine runs the whole turn on a database thread, inside one
# unit of work, and every service they call joins it.
Handler = Callable[[Context, str], list[Reply]]
StepHandler = Callable[[Context, Input], list[Reply]]


@dataclass(frozen=True)
class Command:
    name: str
    handler: Handler
    role: str | None = "resident"  # least role needed; None: anyone, even before joining
    help_key: str | None = None  # shown in /help and the Telegram menu when set
    aliases: tuple[str, ...] = ()  # words that run it too (记录 for /log)
    admin_only: bool = False
    group_ok: bool = False  # may be used inside a group chat
    for_relative: bool = False  # may be used while acting for a relative (`/as NAME`)
    reads: bool = False  # only reads: the turn runs on a reader, and only the state is written
    # A worker's command a grid coordinator may use too (within their grids: the services check).
    coordinators: bool = False


# What waits for a worker, by kind: a typed id names its kind by its prefix (H12 an hour log, R4
# a redemption). /approve and /reject route by prefix; /pending pages what the sources list.
Approve = Callable[[Context, list[int]], list[Reply]]
Reject = Callable[[Context, int, str], list[Reply]]  # an empty reason: the decider asks
AllPending = Callable[[Context], list[int]]
# A source lists its waiting items, oldest first: one reply each, a line and its decision buttons.
PendingSource = Callable[[Context], list[Reply]]


@dataclass(frozen=True)
class Decider:
    prefix: str
    approve: Approve
    reject: Reject | None = None
    all_pending: AllPending | None = None  # what "/approve all" approves, if it may
    pending: PendingSource | None = None  # what /pending lists
    # Grid coordinators decide these too, within their grids (the service checks the grid).
    coordinators: bool = False


@dataclass(frozen=True)
class Table:
    """Every command, step and decider, as `bot.dialogs.flows` lists them: the engine routes by
    it and hands it to each turn (/help lists its commands, /pending its deciders)."""

    commands: dict[str, Command]  # in /help's order
    aliases: dict[str, str]  # word → command
    steps: dict[tuple[str, str], StepHandler]  # (flow, step) → what takes the answer
    # Command words a step reads as its own answer (积分 at the payer step pays with own points;
    # anywhere else it is /balance). Yes and skip words are every step's.
    answers: dict[tuple[str, str], frozenset[str]]
    deciders: dict[str, Decider]  # by id prefix, in /pending's order

    @classmethod
    def of(
        cls,
        commands: Iterable[Command],
        steps: dict[tuple[str, str], StepHandler],
        answers: dict[tuple[str, str], frozenset[str]],
        deciders: Iterable[Decider],
    ) -> Table:
        """The table, refusing what would be ambiguous: a command, alias or id prefix twice, a
        step's answers for a step that is not there."""
        by_name: dict[str, Command] = {}
        aliases: dict[str, str] = {}
        for spec in commands:
            if spec.name in by_name or spec.name in aliases:
                raise ValueError(f"command /{spec.name} listed twice")
            by_name[spec.name] = spec
            for alias in spec.aliases:
                if alias in aliases:
                    raise ValueError(f"alias {alias} listed twice")
                aliases[alias] = spec.name
        by_prefix: dict[str, Decider] = {}
        for d in deciders:
            if d.prefix in by_prefix or d.prefix != d.prefix.upper():
                raise ValueError(f"bad or repeated id prefix {d.prefix}")
            by_prefix[d.prefix] = d
        if set(answers) - set(steps):
            raise ValueError(f"answers for steps not listed: {sorted(set(answers) - set(steps))}")
        return cls(by_name, aliases, dict(steps), dict(answers), by_prefix)
