"""The love supermarket in the chat: browse and redeem, my orders, the worker's catalogue,
decisions, hand-over by pickup code (核销) and stock reconciliation; gifts and donations."""

from __future__ import annotations

import re
import secrets

from bot.deadlines.flow import deadline_marker
from bot.decisions.flow import MOST
from bot.dialogs.common import name_and_rest, person_arg, reason_step
from bot.dialogs.core import Context, Decider, Input, Reply, option, reply
from bot.dialogs.parse import is_skip, is_yes, next_word, parse_amount, parse_ref
from bot.hours.service import clean_note
from bot.kernel.clock import Month
from bot.kernel.errors import DomainError, InvalidInput, NotFound
from bot.kernel.i18n import T, Text
from bot.people.service import Found
from bot.shop.service import (
    MAX_PRICE,
    MAX_QUANTITY,
    MAX_STOCK,
    ItemView,
    Outcome,
    Reconciliation,
    RedemptionView,
    ShelfItem,
    StockLine,
    clean_donor,
    clean_item_name,
)
from models.shop import RedemptionStatus

PAGE = 6
QUANTITIES = (1, 2, 3, 4, 5)
UNLIMITED = ("-", "不限", "无限", "unlimited", "∞")
FIELDS = {
    "name": "name",
    "名称": "name",
    "名字": "name",
    "price": "price",
    "价格": "price",
    "积分": "price",
    "donor": "donor",
    "捐赠": "donor",
    "爱心企业": "donor",
    "photo": "photo",
    "照片": "photo",
    "stock": "stock",
    "库存": "stock",
}
# ASCII digits only: str.isdigit() also accepts "²", which int() refuses.
_SIGNED = re.compile(r"^[+-]?[0-9]{1,6}$")
_COUNT = re.compile(r"^[0-9]{1,6}$")


def _draft() -> str:
    return secrets.token_hex(6)


def _yes(inp: Input) -> bool:
    return inp.option == "yes" if inp.option else is_yes(inp.text)


def _stock(stock: int | None) -> Text:
    return T("shop.stock_unlimited") if stock is None else T("shop.stock_left", stock=stock)


def order_line(r: RedemptionView) -> Text:
    code = T("orders.code", code=r.pickup_code) if r.status == RedemptionStatus.APPROVED and r.pickup_code else ""
    return T(
        "orders.line",
        id=f"R{r.id}",
        item=r.item_name,
        quantity=r.quantity,
        total=r.total,
        status=T(f"shop.status.{r.status}"),
        code=code,
    )


# --- browsing and redeeming ------------------------------------------------------------------


def shop(ctx: Context, args: str) -> list[Reply]:
    page = max(int(args), 1) - 1 if _COUNT.match(args.strip()) else 0
    shelf = ctx.services.shop.browse(ctx.actor.person_id, ctx.community_id, page, PAGE)
    if not shelf.items:
        return [reply("shop.empty" if page == 0 else "shop.no_more")]
    options = [
        option(
            f"/redeem I{s.item.id}",
            "shop.item_option",
            id=f"I{s.item.id}",
            name=s.item.name,
            price=s.item.price,
            stock=_stock(s.item.stock),
            mark=_mark(s),
        )
        for s in shelf.items
    ]
    if shelf.has_more:
        options.append(option(f"/shop {page + 2}", "shop.more"))
    donors = list(dict.fromkeys(s.item.donor for s in shelf.items if s.item.donor))
    text = T(
        "shop.page",
        page=page + 1,
        available=shelf.available,
        donors=T("shop.donors", names="、".join(donors)) if donors else "",
    )
    return [Reply(text, tuple(options))]


def _mark(s: ShelfItem) -> Text:
    if s.can_buy:
        return T("shop.affordable")
    return T("shop.sold_out_mark" if s.item.stock == 0 else "shop.short_mark")


def redeem(ctx: Context, args: str) -> list[Reply]:
    words = args.split()
    if not words:
        return shop(ctx, "")
    item_id = parse_ref(words[0], "I")
    if item_id is None or len(words) > 2:
        return [reply("redeem.usage")]
    if len(words) == 2:  # the one-liner: /redeem I3 2
        quantity = parse_amount(words[1])
        if quantity is None:
            return [reply("redeem.usage")]
        if quantity > MAX_QUANTITY:  # past the per-order cap: say the most there is for this person
            shelf = ctx.services.shop.item(ctx.actor.person_id, ctx.community_id, item_id)
            return [reply("redeem.too_many_typed", most=shelf.can_buy)] if shelf.can_buy else [_cannot_buy(shelf)]
        outcome = ctx.services.shop.redeem(
            ctx.actor.person_id,
            ctx.community_id,
            item_id,
            quantity,
            request_key=ctx.key("redeem"),
            proxy_id=ctx.actor.acting_by,
        )
        return [_submitted(outcome)]
    shelf = ctx.services.shop.item(ctx.actor.person_id, ctx.community_id, item_id)
    if shelf.can_buy == 0:
        return [_cannot_buy(shelf)]
    ctx.goto("redeem", "quantity", item_id=item_id, draft=_draft())
    return [_ask_quantity(shelf)]


def _cannot_buy(shelf: ShelfItem) -> Reply:
    if shelf.item.stock == 0:
        return reply("redeem.sold_out", name=shelf.item.name)
    return reply("redeem.cannot_afford", name=shelf.item.name, price=shelf.item.price, available=shelf.available)


def _ask_quantity(shelf: ShelfItem) -> Reply:
    item = shelf.item
    options = tuple(option(str(q), "redeem.quantity_option", quantity=q) for q in QUANTITIES if q <= shelf.can_buy)
    text = T(
        "redeem.ask_quantity",
        name=item.name,
        price=item.price,
        stock=_stock(item.stock),
        available=shelf.available,
        most=shelf.can_buy,
    )
    return Reply(text, options, columns=5, photo=item.photo)


def redeem_quantity(ctx: Context, inp: Input) -> list[Reply]:
    try:
        shelf = ctx.services.shop.item(ctx.actor.person_id, ctx.community_id, ctx.data["item_id"])
    except DomainError:
        ctx.finish()  # withdrawn meanwhile: the flow cannot go on
        raise
    quantity = parse_amount(inp.option or inp.text)
    if quantity is None:  # the most this person can have now, not the per-order cap
        return [reply("error.bad_quantity", max=max(shelf.can_buy, 1)), _ask_quantity(shelf)]
    if quantity > shelf.can_buy:
        if shelf.can_buy == 0:
            ctx.finish()
            return [_cannot_buy(shelf)]
        return [reply("redeem.too_many", most=shelf.can_buy), _ask_quantity(shelf)]
    ctx.goto("redeem", "confirm", quantity=quantity)
    return [_confirm_redeem(shelf, quantity)]


def _confirm_redeem(shelf: ShelfItem, quantity: int) -> Reply:
    return reply(
        "redeem.confirm",
        option("yes", "redeem.confirm_yes"),
        option("/cancel", "redeem.confirm_no"),
        columns=2,
        name=shelf.item.name,
        quantity=quantity,
        total=shelf.item.price * quantity,
        available=shelf.available,
    )


def redeem_confirm(ctx: Context, inp: Input) -> list[Reply]:
    data = ctx.data
    if not _yes(inp):
        try:
            shelf = ctx.services.shop.item(ctx.actor.person_id, ctx.community_id, data["item_id"])
        except DomainError:
            ctx.finish()
            raise
        return [_confirm_redeem(shelf, data["quantity"])]
    ctx.finish()  # the draft is spent either way; an error below says why
    outcome = ctx.services.shop.redeem(
        ctx.actor.person_id,
        ctx.community_id,
        data["item_id"],
        data["quantity"],
        request_key=f"redeem-draft:{data['draft']}",
        proxy_id=ctx.actor.acting_by,
    )
    r = outcome.redemption  # ✅ pressed again says what it became
    ctx.finish(
        receipt=T("redeem.already_submitted", id=f"R{r.id}", name=r.item_name, quantity=r.quantity, total=r.total)
    )
    return [_submitted(outcome)]


def _submitted(outcome: Outcome) -> Reply:
    r = outcome.redemption
    key = "redeem.submitted" if outcome.changed else "redeem.already_submitted"
    return reply(key, id=f"R{r.id}", name=r.item_name, quantity=r.quantity, total=r.total)


def orders(ctx: Context, args: str) -> list[Reply]:
    found = ctx.services.shop.orders(ctx.actor.person_id, ctx.community_id)
    if not found:
        return [reply("orders.empty")]
    options = tuple(
        option(f"/cancel_order R{r.id}", "orders.cancel", id=f"R{r.id}")
        for r in found
        if r.status == RedemptionStatus.PENDING
    )
    return [Reply(T("orders.list", lines=[order_line(r) for r in found]), options[:5])]


def cancel_order(ctx: Context, args: str) -> list[Reply]:
    redemption_id = parse_ref(args, "R") if args.strip() else None
    if redemption_id is None:
        return [reply("cancel_order.usage")]
    outcome = ctx.services.shop.cancel(ctx.actor.person_id, redemption_id, proxy_id=ctx.actor.acting_by)
    r = outcome.redemption
    key = "cancel_order.done" if outcome.changed else "cancel_order.already"
    return [reply(key, id=f"R{r.id}", name=r.item_name, total=r.total)]


# --- the worker's decisions --------------------------------------------------------------------


def pending_redemptions(ctx: Context) -> list[Reply]:
    """Redemptions waiting for a decision, shown in /pending beside the hour logs."""
    waiting = ctx.services.shop.pending(ctx.actor.person_id, ctx.community_id, limit=MOST)
    mark = deadline_marker(ctx)
    clock = ctx.services.people.clock_of(ctx.community_id)
    return [
        Reply(
            mark(
                T(
                    "shop.pending_line",
                    id=f"R{r.id}",
                    name=r.person_name,
                    item=r.item_name,
                    quantity=r.quantity,
                    total=r.total,
                    date=clock.date_of(r.created_at),
                ),
                r.created_at,
            ),
            (option(f"/approve_order R{r.id}", "pending.approve"), option(f"/reject_order R{r.id}", "pending.reject")),
            columns=2,
        )
        for r in waiting
    ]


def _approve_orders(ctx: Context, ids: list[int]) -> list[Reply]:
    out: list[Reply] = []
    for i in ids:  # each on its own: one refusal does not hold up the rest
        try:
            out.extend(approve_order(ctx, f"R{i}"))
        except DomainError as exc:
            out.append(reply(exc.key, **exc.params))
    return out


def _reject_order_ref(ctx: Context, redemption_id: int, reason: str) -> list[Reply]:
    return reject_order(ctx, f"R{redemption_id} {reason}")


DECIDER = Decider("R", _approve_orders, _reject_order_ref, pending=pending_redemptions)  # beside /approve_order


def approve_order(ctx: Context, args: str) -> list[Reply]:
    redemption_id = parse_ref(args, "R") if args.strip() else None
    if redemption_id is None:
        return [reply("approve_order.usage")]
    outcome = ctx.services.shop.approve(ctx.actor.person_id, redemption_id)
    r = outcome.redemption
    key = "approve_order.done" if outcome.changed else "approve_order.already"
    return [reply(key, id=f"R{r.id}", name=r.person_name, item=r.item_name, quantity=r.quantity, code=r.pickup_code)]


def reject_order(ctx: Context, args: str) -> list[Reply]:
    ref, _, reason = args.strip().partition(" ")
    redemption_id = parse_ref(ref, "R") if ref else None
    if redemption_id is None:
        return [reply("reject_order.usage")]
    if not reason.strip():
        ctx.services.shop.rejectable(ctx.actor.person_id, redemption_id)
        return _ask_reject_order_reason(ctx, redemption_id)
    return _reject_order(ctx, redemption_id, reason)


def _reject_order(ctx: Context, redemption_id: int, reason: str) -> list[Reply]:
    outcome = ctx.services.shop.reject(ctx.actor.person_id, redemption_id, reason)
    r = outcome.redemption
    key = "reject_order.done" if outcome.changed else "reject_order.already"
    return [reply(key, id=f"R{r.id}", name=r.person_name)]


_ask_reject_order_reason, reject_order_reason = reason_step(
    "reject_order", "reject_order.ask_reason", "R", _reject_order
)


def pickup(ctx: Context, args: str) -> list[Reply]:
    if not args.strip():
        ctx.goto("pickup", "code")
        return [reply("pickup.ask_code")]
    return _pickup(ctx, args)


def pickup_code(ctx: Context, inp: Input) -> list[Reply]:
    if not inp.text.strip():
        return [reply("pickup.ask_code")]
    ctx.finish()
    return _pickup(ctx, inp.text)


def _pickup(ctx: Context, code: str) -> list[Reply]:
    outcome = ctx.services.shop.pickup(ctx.actor.person_id, ctx.community_id, code)
    r = outcome.redemption
    return [
        reply("pickup.done", id=f"R{r.id}", name=r.person_name, item=r.item_name, quantity=r.quantity, total=r.total)
    ]


# --- the catalogue (workers) ---------------------------------------------------------------------


def _item_line(item: ItemView) -> Text:
    return T(
        "items.line",
        id=f"I{item.id}",
        name=item.name,
        price=item.price,
        stock=_stock(item.stock),
        state=T("items.active" if item.active else "items.inactive"),
        donor=T("items.donor", donor=item.donor) if item.donor else "",
    )


def items(ctx: Context, args: str) -> list[Reply]:
    found = ctx.services.shop.catalogue(ctx.actor.person_id, ctx.community_id)
    if not found:
        return [reply("items.empty")]
    return [reply("items.list", lines=[_item_line(i) for i in found])]


def _numberish(word: str) -> bool:
    """A word meant as a number, well-formed or not: digits of any script with signs and points."""
    return any(c.isnumeric() for c in word) and all(c.isnumeric() or c in "+-.,，" for c in word)


def _parse_stock(text: str) -> int | None | bool:
    """A stock count, None for unlimited, or False when it does not parse."""
    text = text.strip().lower()
    if text in UNLIMITED:
        return None
    return int(text) if _COUNT.match(text) else False


def add_item(ctx: Context, args: str) -> list[Reply]:
    """/additem 大米5kg 100 20 — name, price, stock ("-" or left out: unlimited, for services)."""
    if not args.strip():
        ctx.goto("additem", "name")
        return [reply("additem.ask_name")]
    words = args.split()
    stock: int | None | bool = None
    # The price is the number after the name, read strictly: a malformed number ("-5", twenty
    # digits, "²") is refused, never swallowed into the name.
    if len(words) >= 3 and _numberish(words[-2]):
        stock, price_text, name = _parse_stock(words[-1]), words[-2], words[:-2]
        if stock is False:
            return [reply("additem.usage")]
    elif len(words) >= 2 and _numberish(words[-1]):
        price_text, name = words[-1], words[:-1]
    else:
        return [reply("additem.usage")]
    price = parse_amount(price_text)
    if price is None or price > MAX_PRICE:
        return [reply("error.bad_price", max=MAX_PRICE)]
    item = ctx.services.shop.add_item(
        ctx.actor.person_id,
        ctx.community_id,
        " ".join(name),
        price,
        stock,
    )
    return [reply("additem.done", id=f"I{item.id}", name=item.name, price=item.price, stock=_stock(item.stock))]


def additem_name(ctx: Context, inp: Input) -> list[Reply]:
    try:
        name = clean_item_name(inp.text)
    except DomainError as exc:
        return [reply(exc.key, **exc.params), reply("additem.ask_name")]
    ctx.goto("additem", "price", name=name)
    return [reply("additem.ask_price", name=name)]


def additem_price(ctx: Context, inp: Input) -> list[Reply]:
    price = parse_amount(inp.text)
    if price is None or price > MAX_PRICE:
        return [reply("error.bad_price", max=MAX_PRICE), reply("additem.ask_price", name=ctx.data["name"])]
    ctx.goto("additem", "stock", price=price)
    return [_ask_stock()]


def _ask_stock() -> Reply:
    return reply("additem.ask_stock", option("-", "additem.unlimited"))


def additem_stock(ctx: Context, inp: Input) -> list[Reply]:
    stock = _parse_stock(inp.option or inp.text)
    if stock is False:
        return [reply("error.bad_stock", max=MAX_STOCK), _ask_stock()]
    ctx.goto("additem", "donor", stock=stock)
    return [reply("additem.ask_donor", option("skip", "additem.skip"))]


def additem_donor(ctx: Context, inp: Input) -> list[Reply]:
    try:  # the service's rule, checked here so a long name is refused before the next step
        donor = None if inp.option == "skip" or is_skip(inp.text) else clean_donor(inp.text)
    except InvalidInput as exc:
        return [reply(exc.key, **exc.params), reply("additem.ask_donor", option("skip", "additem.skip"))]
    ctx.goto("additem", "photo", donor=donor)
    return [reply("additem.ask_photo", option("skip", "additem.skip"))]


def additem_photo(ctx: Context, inp: Input) -> list[Reply]:
    if inp.photo:
        ctx.data["photo"] = inp.photo
    elif inp.option != "skip" and not is_skip(inp.text):
        return [reply("additem.ask_photo", option("skip", "additem.skip"))]
    ctx.goto("additem", "confirm")
    return [_confirm_item(ctx)]


def _confirm_item(ctx: Context) -> Reply:
    d = ctx.data
    return reply(
        "additem.confirm",
        option("yes", "additem.confirm_yes"),
        option("/cancel", "redeem.confirm_no"),
        columns=2,
        name=d["name"],
        price=d["price"],
        stock=_stock(d["stock"]),
        donor=d.get("donor") or "—",
        photo=T("additem.has_photo" if d.get("photo") else "additem.no_photo"),
    )


def additem_confirm(ctx: Context, inp: Input) -> list[Reply]:
    if not _yes(inp):
        return [_confirm_item(ctx)]
    d = ctx.data
    ctx.finish()
    item = ctx.services.shop.add_item(
        ctx.actor.person_id,
        ctx.community_id,
        d["name"],
        d["price"],
        d["stock"],
        donor=d.get("donor"),
        photo=d.get("photo"),
    )
    return [reply("additem.done", id=f"I{item.id}", name=item.name, price=item.price, stock=_stock(item.stock))]


def edit_item(ctx: Context, args: str) -> list[Reply]:
    """/edititem I3 price 120 | name 新名字 | donor 爱心企业 (- clears) | photo"""
    words = args.split(maxsplit=2)
    item_id = parse_ref(words[0], "I") if words else None
    field = FIELDS.get(words[1].lower()) if len(words) > 1 else None
    if item_id is None or field is None:
        return [reply("edititem.usage")]
    if field == "stock":
        return [reply("edititem.use_restock", id=f"I{item_id}")]
    if field == "photo":
        ctx.goto("edititem", "photo", item_id=item_id)
        return [reply("edititem.ask_photo")]
    value: str | int | None = words[2].strip() if len(words) > 2 else ""
    if field == "price":
        value = parse_amount(str(value))
        if value is None:
            return [reply("error.bad_price", max=MAX_PRICE)]
    elif field == "name" and not value:
        return [reply("edititem.usage")]
    item = ctx.services.shop.edit_item(ctx.actor.person_id, item_id, field, value)
    return [reply("edititem.done", line=_item_line(item))]


def edititem_photo(ctx: Context, inp: Input) -> list[Reply]:
    if not inp.photo:
        return [reply("edititem.ask_photo")]
    item_id = ctx.data["item_id"]
    ctx.finish()
    item = ctx.services.shop.set_photo(ctx.actor.person_id, item_id, inp.photo)
    return [reply("edititem.done", line=_item_line(item))]


def restock(ctx: Context, args: str) -> list[Reply]:
    """/restock I3 10 理由 (a negative number writes damaged goods off)."""
    words = args.split(maxsplit=2)
    item_id = parse_ref(words[0], "I") if words else None
    if item_id is None or len(words) < 2 or not _SIGNED.match(words[1]) or int(words[1]) == 0:
        return [reply("restock.usage")]
    quantity = int(words[1])
    if len(words) < 3 or not words[2].strip():
        ctx.goto("restock", "reason", item_id=item_id, quantity=quantity, draft=_draft())
        return [reply("restock.ask_reason", id=f"I{item_id}", quantity=f"{quantity:+d}")]
    return _restock(ctx, item_id, quantity, words[2], ctx.key("restock"))


def restock_reason(ctx: Context, inp: Input) -> list[Reply]:
    d = ctx.data
    if not inp.text.strip():
        return [reply("restock.ask_reason", id=f"I{d['item_id']}", quantity=f"{d['quantity']:+d}")]
    ctx.finish()
    return _restock(ctx, d["item_id"], d["quantity"], inp.text, f"restock-draft:{d['draft']}")


def _restock(ctx: Context, item_id: int, quantity: int, reason: str, key: str | None) -> list[Reply]:
    item, changed = ctx.services.shop.restock(ctx.actor.person_id, item_id, quantity, reason, request_key=key)
    return [
        reply(
            "restock.done" if changed else "restock.already",
            id=f"I{item.id}",
            name=item.name,
            quantity=f"{quantity:+d}",
            stock=_stock(item.stock),
        )
    ]


def deactivate(ctx: Context, args: str) -> list[Reply]:
    return _set_active(ctx, args, False)


def activate(ctx: Context, args: str) -> list[Reply]:
    return _set_active(ctx, args, True)


def _set_active(ctx: Context, args: str, active: bool) -> list[Reply]:
    item_id = parse_ref(args, "I") if args.strip() else None
    if item_id is None:
        return [reply("activate.usage" if active else "deactivate.usage")]
    item = ctx.services.shop.set_active(ctx.actor.person_id, item_id, active)
    return [reply("activate.done" if active else "deactivate.done", id=f"I{item.id}", name=item.name)]


# --- stock reconciliation ------------------------------------------------------------------------


def stock_line(line: StockLine) -> Text:
    mark = "✓" if line.balanced else "✗"
    if line.unlimited:
        return T(
            "reconcile.line_unlimited",
            id=f"I{line.item_id}",
            name=line.name,
            reserved=line.reserved,
            handed_over=line.handed_over,
            released=line.released,
            mark=mark,
        )
    return T(
        "reconcile.line",
        id=f"I{line.item_id}",
        name=line.name,
        opening=line.opening,
        restocked=f"{line.restocked:+d}",
        reserved=line.reserved,
        handed_over=line.handed_over,
        released=line.released,
        closing=line.closing,
        mark=mark,
    )


def reconciliation_text(rec: Reconciliation) -> Text:
    month = rec.month.label
    if not rec.lines:
        return T("reconcile.empty", community=rec.community, month=month)
    bad = sum(not line.balanced for line in rec.lines)
    return T(
        "reconcile.table",
        community=rec.community,
        month=month,
        lines=[stock_line(x) for x in rec.lines],
        verdict=T("reconcile.balanced") if not bad else T("reconcile.unbalanced", count=bad),
    )


def reconcile(ctx: Context, args: str) -> list[Reply]:
    month = None  # this month, in the community's zone
    if args.strip():
        try:
            month = Month.parse(args).label
        except InvalidInput:
            return [reply("reconcile.usage")]
    rec = ctx.services.shop.reconcile(ctx.actor.person_id, ctx.community_id, month)
    return [Reply(reconciliation_text(rec))]


# --- gifts (转赠) and donations (捐赠) ------------------------------------------------------------


def gift(ctx: Context, args: str) -> list[Reply]:
    """/gift NAME POINTS [message]: the message goes to the receiver with the points."""
    name, rest = name_and_rest(ctx, args)
    typed, said = next_word(rest)
    amount = parse_amount(typed) if typed else None
    if amount is None:
        return [reply("gift.usage")]
    message = clean_note(said)
    try:
        to = person_arg(ctx, name, lambda ref: f"/gift {ref} {amount} {message or ''}".strip())
    except NotFound:  # not in this community: family (亲情账户) in another one may still be given to
        kin = ctx.services.family.linked_relative(ctx.actor.person_id, name, either_way=True)
        if kin is None:
            raise
        to = Found(kin, name, None)
    if to.person_id == ctx.actor.person_id:
        return [reply("error.gift_self")]
    available = (ctx.services.points.balance(ctx.actor.person_id, ctx.community_id)).available
    if amount > available:  # said now, not after the person has confirmed
        return [reply("gift.not_enough", amount=amount, available=available)]
    ctx.goto("gift", "confirm", to=to.person_id, name=to.name, amount=amount, message=message, draft=_draft())
    return [_confirm_gift(ctx)]


def _confirm_gift(ctx: Context) -> Reply:
    d = ctx.data
    available = (ctx.services.points.balance(ctx.actor.person_id, ctx.community_id)).available
    return reply(
        "gift.confirm",
        option("yes", "gift.confirm_yes"),
        option("/cancel", "redeem.confirm_no"),
        columns=2,
        name=d["name"],
        amount=d["amount"],
        available=available,
        message=T("gift.with_message", message=d["message"]) if d.get("message") else "",
    )


def gift_confirm(ctx: Context, inp: Input) -> list[Reply]:
    if not _yes(inp):
        return [_confirm_gift(ctx)]
    d = ctx.data
    ctx.finish()
    result = ctx.services.points.gift(
        ctx.actor.person_id,
        ctx.community_id,
        d["to"],
        d["amount"],
        key=f"gift:{d['draft']}",
        message=d.get("message"),
    )
    available = (ctx.services.points.balance(ctx.actor.person_id, ctx.community_id)).available
    return [
        reply(
            "gift.already" if result.replayed else "gift.done", name=d["name"], amount=d["amount"], available=available
        )
    ]


def donate(ctx: Context, args: str) -> list[Reply]:
    amount = parse_amount(args) if args.strip() else None
    if amount is None:
        return [reply("donate.usage")]
    ctx.goto("donate", "confirm", amount=amount, draft=_draft())
    return [_confirm_donation(ctx)]


def _confirm_donation(ctx: Context) -> Reply:
    available = (ctx.services.points.balance(ctx.actor.person_id, ctx.community_id)).available
    return reply(
        "donate.confirm",
        option("yes", "donate.confirm_yes"),
        option("/cancel", "redeem.confirm_no"),
        columns=2,
        amount=ctx.data["amount"],
        available=available,
    )


def donate_confirm(ctx: Context, inp: Input) -> list[Reply]:
    if not _yes(inp):
        return [_confirm_donation(ctx)]
    amount, draft = ctx.data["amount"], ctx.data["draft"]
    ctx.finish()
    result = ctx.services.points.donate(ctx.actor.person_id, ctx.community_id, amount, key=f"donate:{draft}")
    available = (ctx.services.points.balance(ctx.actor.person_id, ctx.community_id)).available
    return [reply("donate.already" if result.replayed else "donate.done", amount=amount, available=available)]
