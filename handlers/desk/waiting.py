"""/desk/waiting (待办): everything the chat's /pending lists, on one page — deadlines and overdue
marks, filters, select many, approve or reject with a reason. Listing calls the same sources as
/pending; deciding runs /approve and /reject for the worker exactly as typed in the chat, so the
four-eyes rule, the deadlines, the audit and the notifications are the chat's own. A grid
coordinator sees and decides what /pending gives them: their grids' hour logs, where the
community lets coordinators approve."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response

from bot.decisions.flow import parse_refs, pending_sources
from bot.desk.flow import ROUTE
from bot.desk.service import COORDINATOR, DeskUser
from bot.dialogs.flows import TABLE
from bot.kernel.errors import DomainError
from bot.kernel.i18n import Text, render
from handlers.desk.core import Desk, form_value, form_values, page, plain

PAGE = 50  # items on one page
REASON_MAX = 500


@dataclass(frozen=True)
class Item:
    ref: str  # H12, R4, V7…
    kind: str  # the ref's prefix
    text: str
    overdue: bool
    can_reject: bool


def _overdue(text: Text) -> bool:
    due = text.params.get("due") if text.key == "deadline.item" else None
    return isinstance(due, Text) and due.key == "deadline.overdue"


def waiting_items(desk: Desk, user: DeskUser) -> list[Item]:
    """What /pending lists for the worker (for a grid coordinator: their grids' hour logs),
    oldest first by source, in the person's language."""
    ctx = desk.context(user)
    items = []
    for source in pending_sources(ctx):
        for r in source(ctx):
            if not r.options:
                continue
            refs = parse_refs(ctx.table, [r.options[0].value.split()[-1]])
            if not refs:
                continue
            prefix, number = refs[0]
            items.append(
                Item(
                    f"{prefix}{number}",
                    prefix,
                    render(user.locale, r.text.key, r.text.params),
                    _overdue(r.text),
                    TABLE.deciders[prefix].reject is not None,
                )
            )
    return items


@dataclass(frozen=True)
class Filters:
    kind: str
    overdue: bool
    q: str
    page: int

    @staticmethod
    def of(request: Request) -> Filters:
        p = request.query_params
        kind = p.get("kind", "").upper()
        page_no = p.get("page", "1")
        return Filters(
            kind if kind in TABLE.deciders else "",
            p.get("overdue") == "1",
            p.get("q", "").strip()[:50],
            int(page_no) if page_no.isdecimal() and 0 < len(page_no) < 5 else 1,
        )

    def query(self) -> str:
        """The filters as a query string, for the links that page or select all."""
        kept = {"kind": self.kind, "overdue": "1" if self.overdue else "", "q": self.q}
        return urlencode({k: v for k, v in kept.items() if v})

    def keep(self, item: Item) -> bool:
        return (
            (not self.kind or item.kind == self.kind)
            and (not self.overdue or item.overdue)
            and (not self.q or self.q.lower() in item.text.lower() or self.q.upper() == item.ref)
        )


async def _show(desk: Desk, request: Request, user: DeskUser, outcome: list[str] | None = None) -> Response:
    filters = Filters.of(request)
    try:
        everything = await desk.read(lambda: waiting_items(desk, user))
    except DomainError as exc:  # a coordinator where the community has workers decide hours
        return desk.message(request, user, exc.key, 403, **exc.params)
    kinds = sorted({i.kind for i in everything}, key=list(TABLE.deciders).index)
    shown = [i for i in everything if filters.keep(i)]
    pages = max(1, (len(shown) + PAGE - 1) // PAGE)
    number = min(filters.page, pages)
    return desk.render(
        request,
        user,
        "waiting.html",
        items=shown[(number - 1) * PAGE : number * PAGE],
        total=len(everything),
        matching=len(shown),
        kinds=kinds,
        filters=filters,
        page_number=number,
        pages=pages,
        select_all=request.query_params.get("all") == "1",
        outcome=outcome,
    )


@page(ROUTE + "waiting", role=COORDINATOR, nav="desk.nav.waiting")
async def waiting(desk: Desk, request: Request, user: DeskUser) -> Response:
    return await _show(desk, request, user)


@page(ROUTE + "waiting", role=COORDINATOR, methods=("POST",))
async def decide(desk: Desk, request: Request, user: DeskUser) -> Response:
    """Approve or reject the ticked items; the outcome is what the chat would have answered."""
    action = form_value(request, "action")
    refs = parse_refs(TABLE, [v for v in form_values(request, "ref")[:PAGE] if isinstance(v, str)])
    reason = " ".join(form_value(request, "reason").split())[:REASON_MAX]
    key = form_value(request, "form_id")[:32] or None
    if not refs or action not in ("approve", "reject"):
        return await _show(desk, request, user, [render(user.locale, "desk.waiting.none_ticked")])
    if action == "reject" and not reason:
        return await _show(desk, request, user, [render(user.locale, "desk.waiting.reason_needed")])
    words = [f"{prefix}{number}" for prefix, number in refs]

    def act() -> list[str]:
        if action == "approve":
            return plain(user.locale, desk.command(user, "/approve " + " ".join(words), f"desk:{key}" if key else None))
        out: list[str] = []
        for (prefix, _), word in zip(refs, words, strict=True):
            if TABLE.deciders[prefix].reject is None:  # a volunteer to confirm is confirmed or left waiting
                out.append(render(user.locale, "desk.waiting.cannot_reject", {"ref": word}))
                continue
            line = f"/reject {word} {reason}"
            out += plain(user.locale, desk.command(user, line, f"desk:{key}:{word}" if key else None))
        return out

    return await _show(desk, request, user, await desk.run(act))
