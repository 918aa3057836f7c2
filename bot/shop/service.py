"""The love supermarket (爱心超市): catalogue, stock, two-phase redemptions, pickup codes, hold
expiry and the monthly stock reconciliation (账物相符).

A redemption reserves the goods and holds the points in one transaction: a guarded stock UPDATE
(`stock >= :q`, row count checked) and the ledger's guarded hold, so neither can go below zero
under concurrency. Locks are always taken in the same order — redemption row, item row, then the
person's account — so a redeem racing a reject or an expiry cannot deadlock. Every ledger move
has a key derived from the redemption (`redeem:R7:hold`, `:post`, `:void`, `:expire`), and every
decision claims the redemption with a guarded status UPDATE, so a second press or a redelivered
update changes nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from bot.family.service import may_act_for, tell_of_proxy, why_not
from bot.kernel.access import require_role
from bot.kernel.audit import audit
from bot.kernel.clock import Clock, Month
from bot.kernel.db import Database, reads, rowcount
from bot.kernel.errors import (
    AlreadyDecided,
    DomainError,
    IdempotencyConflict,
    InvalidInput,
    NotAllowed,
    NotFound,
    OutOfStock,
)
from bot.kernel.i18n import T
from bot.kernel.names import CODE_ALPHABET, new_code
from bot.kernel.settings import Settings
from bot.ledger.service import Ledger, Ref
from bot.messages.notify import notify, notify_workers
from models import AuditEntry, Community, Person, Redemption, ShopItem, StockMovement
from models.shop import MOVEMENT_KINDS

OPEN = ("pending", "approved")  # statuses that still hold points and goods
CODE_LENGTH = 6
MAX_QUANTITY = 20
MAX_PRICE = 100_000
MAX_STOCK = 100_000
NAME_MAX = 50
DONOR_MAX = 100
EDITABLE = ("name", "price", "donor")
_CODE = re.compile(rf"^[{CODE_ALPHABET}]{{{CODE_LENGTH}}}$")
_SYNC = {"synchronize_session": False}  # guarded UPDATEs; fresh values are read back explicitly


@dataclass(frozen=True)
class ItemView:
    id: int
    community_id: int
    name: str
    price: int
    stock: int | None  # None: unlimited
    active: bool
    photo: str | None
    donor: str | None


@dataclass(frozen=True)
class ShelfItem:
    item: ItemView
    can_buy: int  # how many the asker could redeem now (points, stock and the per-order cap)
    available: int  # the asker's available points


@dataclass(frozen=True)
class ShopPage:
    items: list[ShelfItem]
    available: int
    page: int
    has_more: bool


@dataclass(frozen=True)
class RedemptionView:
    id: int
    community_id: int
    person_id: int
    person_name: str
    item_id: int
    item_name: str
    quantity: int
    unit_price: int
    total: int
    status: str
    pickup_code: str | None
    reason: str | None
    created_at: datetime
    decided_at: datetime | None
    closed_at: datetime | None


@dataclass(frozen=True)
class Outcome:
    redemption: RedemptionView
    changed: bool  # False when it was already so (a second press, a redelivered request)


@dataclass(frozen=True)
class StockLine:
    item_id: int
    name: str
    unlimited: bool
    opening: int | None  # None for unlimited items
    restocked: int  # net: write-offs count negative
    reserved: int
    handed_over: int
    released: int
    closing: int | None
    shelf: int | None  # the stock column now, when the month is the current one
    redemptions_match: bool  # reserved / released / handed over agree with the redemptions

    @property
    def balanced(self) -> bool:
        if not self.redemptions_match:
            return False
        if self.unlimited:
            return True
        assert self.opening is not None and self.closing is not None
        identity = self.opening + self.restocked - self.reserved + self.released == self.closing
        return identity and (self.shelf is None or self.shelf == self.closing)


@dataclass(frozen=True)
class Reconciliation:
    community_id: int
    community: str
    month: Month
    lines: list[StockLine]

    @property
    def balanced(self) -> bool:
        return all(line.balanced for line in self.lines)


def clean_item_name(raw: str) -> str:
    name = " ".join((raw or "").split())
    if not name or len(name) > NAME_MAX or name.startswith("/"):
        raise InvalidInput("error.bad_item_name", max=NAME_MAX)
    return name


def check_price(price: object) -> int:
    if not isinstance(price, int) or isinstance(price, bool) or not 1 <= price <= MAX_PRICE:
        raise InvalidInput("error.bad_price", max=MAX_PRICE)
    return price


def check_quantity(quantity: object) -> int:
    if not isinstance(quantity, int) or isinstance(quantity, bool) or not 1 <= quantity <= MAX_QUANTITY:
        raise InvalidInput("error.bad_quantity", max=MAX_QUANTITY)
    return quantity


def clean_code(raw: str) -> str:
    return re.sub(r"[\s\-]", "", raw or "").upper()


class ShopService:
    def __init__(self, db: Database, settings: Settings, clock: Clock, ledger: Ledger) -> None:
        self.db, self.settings, self.clock, self.ledger = db, settings, clock, ledger

    # --- the catalogue (workers of the item's community) ------------------------------------

    def add_item(
        self,
        actor_id: int,
        community_id: int,
        name: str,
        price: int,
        stock: int | None,
        *,
        donor: str | None = None,
        photo: str | None = None,
    ) -> ItemView:
        name, price = clean_item_name(name), check_price(price)
        if stock is not None and (not isinstance(stock, int) or not 0 <= stock <= MAX_STOCK):
            raise InvalidInput("error.bad_stock", max=MAX_STOCK)
        donor = clean_donor(donor)

        def work(session: Session) -> ItemView:
            require_role(session, actor_id, community_id, "worker")
            existing = session.scalar(
                select(ShopItem.id).where(ShopItem.community_id == community_id, ShopItem.name == name)
            )
            if existing is not None:
                raise InvalidInput("error.item_exists", item=f"I{existing}", name=name)
            now = self.clock.now()
            item = ShopItem(
                community_id=community_id,
                name=name,
                price=price,
                stock=stock,
                active=True,
                photo=photo,
                donor=donor,
                created_by_id=actor_id,
                created_at=now,
            )
            session.add(item)
            session.flush()
            if stock:
                session.add(
                    StockMovement(
                        community_id=community_id,
                        item_id=item.id,
                        kind="restock",
                        delta=stock,
                        quantity=stock,
                        reason="initial stock",
                        actor_id=actor_id,
                        created_at=now,
                    )
                )
            audit(
                session,
                self.clock,
                "catalogue.add",
                actor_id,
                community_id,
                "item",
                item.id,
                {"name": name, "price": price, "stock": stock, "donor": donor},
            )
            return _item_view(item)

        return self.db.transaction(work)

    def edit_item(self, actor_id: int, item_id: int, field: str, value: str | int | None) -> ItemView:
        if field not in EDITABLE:
            raise InvalidInput("error.bad_item_field")
        if field == "name":
            value = clean_item_name(str(value or ""))
        elif field == "price":
            value = check_price(value)
        else:
            value = clean_donor(value if isinstance(value, str) else None)

        def work(session: Session) -> ItemView:
            item = self._managed_item(session, actor_id, item_id)
            if (
                field == "name"
                and value != item.name
                and session.scalar(
                    select(ShopItem.id).where(ShopItem.community_id == item.community_id, ShopItem.name == value)
                )
            ):
                raise InvalidInput("error.item_exists", item=f"I{item_id}", name=value)
            old = getattr(item, field)
            setattr(item, field, value)
            audit(
                session,
                self.clock,
                "catalogue.edit",
                actor_id,
                item.community_id,
                "item",
                item_id,
                {"field": field, "old": old, "new": value},
            )
            session.flush()
            return _item_view(item)

        return self.db.transaction(work)

    def set_photo(self, actor_id: int, item_id: int, photo: str | None) -> ItemView:
        def work(session: Session) -> ItemView:
            item = self._managed_item(session, actor_id, item_id)
            audit(
                session,
                self.clock,
                "catalogue.edit",
                actor_id,
                item.community_id,
                "item",
                item_id,
                {"field": "photo", "old": item.photo, "new": photo},
            )
            item.photo = photo
            session.flush()
            return _item_view(item)

        return self.db.transaction(work)

    def restock(
        self, actor_id: int, item_id: int, quantity: int, reason: str, *, request_key: str | None = None
    ) -> tuple[ItemView, bool]:
        """Put goods on the shelf, or write damaged ones off with a negative quantity. A reason
        is required and the change is audited. Returns the item and whether anything changed."""
        reason = " ".join((reason or "").split())[:300]
        if not reason:
            raise InvalidInput("error.reason_required")
        if not isinstance(quantity, int) or quantity == 0 or abs(quantity) > MAX_STOCK:
            raise InvalidInput("error.bad_restock", max=MAX_STOCK)

        def work(session: Session) -> tuple[ItemView, bool]:
            item = self._managed_item(session, actor_id, item_id)
            if request_key and session.scalar(select(StockMovement.id).where(StockMovement.request_key == request_key)):
                return self._item(session, item_id), False
            if item.stock is None:
                raise InvalidInput("error.unlimited_stock", item=item.name)
            moved = session.execute(
                update(ShopItem)
                .where(ShopItem.id == item_id, ShopItem.stock.is_not(None), ShopItem.stock + quantity >= 0)
                .values(stock=ShopItem.stock + quantity)
                .execution_options(**_SYNC)
            )
            if rowcount(moved) != 1:
                left = session.scalar(select(ShopItem.stock).where(ShopItem.id == item_id))
                raise OutOfStock(item=item.name, left=left or 0)
            session.add(
                StockMovement(
                    community_id=item.community_id,
                    item_id=item_id,
                    kind="restock",
                    delta=quantity,
                    quantity=abs(quantity),
                    reason=reason,
                    actor_id=actor_id,
                    request_key=request_key,
                    created_at=self.clock.now(),
                )
            )
            audit(
                session,
                self.clock,
                "catalogue.restock",
                actor_id,
                item.community_id,
                "item",
                item_id,
                {"quantity": quantity, "reason": reason},
            )
            return self._item(session, item_id), True

        return self.db.transaction(work)

    def set_active(self, actor_id: int, item_id: int, active: bool) -> ItemView:
        """Deactivate (下架) or bring back an item. Open redemptions of it go on as they were."""

        def work(session: Session) -> ItemView:
            item = self._managed_item(session, actor_id, item_id)
            if item.active != active:
                item.active = active
                audit(
                    session,
                    self.clock,
                    "catalogue.activate" if active else "catalogue.deactivate",
                    actor_id,
                    item.community_id,
                    "item",
                    item_id,
                )
            session.flush()
            return _item_view(item)

        return self.db.transaction(work)

    def _managed_item(self, session: Session, actor_id: int, item_id: int) -> ShopItem:
        item = session.get(ShopItem, item_id)
        if item is None:
            raise NotFound("error.no_item", item=f"I{item_id}")
        require_role(session, actor_id, item.community_id, "worker")
        return item

    # --- browsing -----------------------------------------------------------------------------

    def browse(self, person_id: int, community_id: int, page: int = 0, page_size: int = 6) -> ShopPage:
        """Active items, page by page, with how many of each the asker can afford right now."""
        with self.db.uow() as session:
            require_role(session, person_id, community_id, "resident")
            rows = list(
                session.scalars(
                    select(ShopItem)
                    .where(ShopItem.community_id == community_id, ShopItem.active.is_(True))
                    .order_by(ShopItem.id)
                    .offset(page * page_size)
                    .limit(page_size + 1)
                )
            )
            available = (self.ledger.balance(session, community_id, person_id)).available
            shelf = [
                ShelfItem(_item_view(i), _can_buy(i.price, i.stock, available), available) for i in rows[:page_size]
            ]
            return ShopPage(shelf, available, page, len(rows) > page_size)

    def item(self, person_id: int, community_id: int, item_id: int) -> ShelfItem:
        """One active item of the asker's community, as the redeem flow shows it."""
        with self.db.uow() as session:
            require_role(session, person_id, community_id, "resident")
            item = session.get(ShopItem, item_id)
            if item is None or item.community_id != community_id:
                raise NotFound("error.no_item", item=f"I{item_id}")
            if not item.active:
                raise InvalidInput("error.item_inactive", name=item.name)
            available = (self.ledger.balance(session, community_id, person_id)).available
            return ShelfItem(_item_view(item), _can_buy(item.price, item.stock, available), available)

    def catalogue(self, actor_id: int, community_id: int) -> list[ItemView]:
        """Every item, active or not, for the workers who manage them."""
        with self.db.uow() as session:
            require_role(session, actor_id, community_id, "worker")
            rows = session.scalars(select(ShopItem).where(ShopItem.community_id == community_id).order_by(ShopItem.id))
            return [_item_view(i) for i in rows]

    # --- redeeming ------------------------------------------------------------------------------

    def redeem(
        self,
        person_id: int,
        community_id: int,
        item_id: int,
        quantity: int,
        *,
        request_key: str | None = None,
        proxy_id: int | None = None,
    ) -> Outcome:
        """Reserve the goods and hold the points in one transaction; a worker decides later.
        The same request key again returns the first redemption and changes nothing.
        `proxy_id` is the family member redeeming for the person (the dialog checked they may):
        recorded with the redemption and as the hold's actor, and the one told the pickup code."""
        check_quantity(quantity)

        def work(session: Session) -> Outcome:
            if request_key:
                found = session.scalar(select(Redemption).where(Redemption.request_key == request_key))
                if found is not None:
                    if (found.person_id, found.community_id, found.item_id, found.quantity) != (
                        person_id,
                        community_id,
                        item_id,
                        quantity,
                    ):
                        raise IdempotencyConflict(key=request_key)
                    return Outcome(_view(session, found.id), changed=False)
            require_role(session, person_id, community_id, "resident")
            if proxy_id is not None and not may_act_for(session, proxy_id, person_id):
                raise why_not(session, proxy_id, person_id)
            # The guarded decrement: it takes the row lock, and returns the price read under it.
            taken = (
                session.execute(
                    update(ShopItem)
                    .where(
                        ShopItem.id == item_id,
                        ShopItem.community_id == community_id,
                        ShopItem.active.is_(True),
                        or_(ShopItem.stock.is_(None), ShopItem.stock >= quantity),
                    )
                    .values(stock=ShopItem.stock - quantity)  # NULL (unlimited) stays NULL
                    .returning(ShopItem.price)
                    .execution_options(**_SYNC)
                )
            ).first()
            if taken is None:
                raise _why_not_taken(session, community_id, item_id)
            price = taken.price
            now = self.clock.now()
            redemption = Redemption(
                community_id=community_id,
                person_id=person_id,
                item_id=item_id,
                quantity=quantity,
                unit_price=price,
                total=price * quantity,
                status="pending",
                request_key=request_key,
                proxy_id=proxy_id,
                created_at=now,
            )
            session.add(redemption)
            session.flush()
            hold = self.ledger.hold(
                session,
                community_id=community_id,
                person_id=person_id,
                amount=redemption.total,
                key=_key(redemption, "hold"),
                ref=Ref("redemption", redemption.id),
                actor_id=proxy_id or person_id,
            )
            redemption.hold_transfer_id = hold.id
            session.add(
                StockMovement(
                    community_id=community_id,
                    item_id=item_id,
                    kind="reserve",
                    delta=-quantity,
                    quantity=quantity,
                    actor_id=person_id,
                    redemption_id=redemption.id,
                    created_at=now,
                )
            )
            session.flush()
            notify_workers(
                session,
                self.clock,
                community_id,
                "shop.notify.new_redemption",
                coalesce="pending_redemptions",
                exclude=person_id,
            )
            view = _view(session, redemption.id)
            if proxy_id is not None:
                tell_of_proxy(
                    session,
                    self.clock,
                    "redeem",
                    proxy_id,
                    person_id,
                    community_id,
                    ("redemption", redemption.id),
                    id=f"R{redemption.id}",
                    item=view.item_name,
                    quantity=quantity,
                    total=redemption.total,
                )
            return Outcome(view, changed=True)

        return self.db.transaction(work)

    def cancel(self, person_id: int, redemption_id: int, *, proxy_id: int | None = None) -> Outcome:
        """The volunteer takes back their own redemption before a worker approved it (or
        `proxy_id`, acting for them: they and their family are told)."""

        def work(session: Session) -> Outcome:
            r = session.get(Redemption, redemption_id)
            if r is None or r.person_id != person_id:
                raise NotFound("error.no_redemption", id=f"R{redemption_id}")
            now = self.clock.now()
            claimed = session.execute(
                update(Redemption)
                .where(Redemption.id == redemption_id, Redemption.status == "pending")
                .values(status="cancelled", closed_at=now)
                .execution_options(**_SYNC)
            )
            if rowcount(claimed) != 1:
                return self._already(session, redemption_id, "cancelled", "error.cannot_cancel")
            self._release(session, r, person_id, now)
            self.ledger.void(session, pending_id=_hold(r), key=_key(r, "void"), actor_id=proxy_id or person_id)
            view = _view(session, redemption_id)
            if proxy_id is not None:
                tell_of_proxy(
                    session,
                    self.clock,
                    "cancel_order",
                    proxy_id,
                    person_id,
                    r.community_id,
                    ("redemption", r.id),
                    id=f"R{r.id}",
                    item=view.item_name,
                )
            return Outcome(view, changed=True)

        return self.db.transaction(work)

    # --- the worker's decisions ---------------------------------------------------------------

    def approve(self, worker_id: int, redemption_id: int) -> Outcome:
        """Approve and give the volunteer a pickup code; the points stay held until hand-over."""

        def work(session: Session) -> Outcome:
            r = self._decidable(session, worker_id, redemption_id)
            if r.proxy_id == worker_id:  # four eyes: who redeemed for someone never approves it
                raise NotAllowed("error.own_proxy_action")
            code = self._free_code(session, r.community_id)
            now = self.clock.now()
            claimed = session.execute(
                update(Redemption)
                .where(Redemption.id == redemption_id, Redemption.status == "pending")
                .values(status="approved", pickup_code=code, decided_by_id=worker_id, decided_at=now)
                .execution_options(**_SYNC)
            )
            if rowcount(claimed) != 1:
                return self._already(session, redemption_id, "approved")
            audit(
                session,
                self.clock,
                "redemption.approve",
                worker_id,
                r.community_id,
                "redemption",
                r.id,
                {"total": r.total},
                person_id=r.person_id,
            )
            view = _view(session, redemption_id)
            notify(
                session,
                self.clock,
                r.proxy_id or r.person_id,
                "shop.notify.approved",
                id=f"R{r.id}",
                item=view.item_name,
                quantity=r.quantity,
                code=code,
                days=self.settings.hold_expiry_days,
            )
            return Outcome(view, changed=True)

        return self.db.transaction(work)

    def reject(self, worker_id: int, redemption_id: int, reason: str) -> Outcome:
        """Reject a pending redemption, or an approved one whose goods cannot be handed over:
        the goods go back on the shelf and the held points are released."""
        reason = " ".join((reason or "").split())[:300]
        if not reason:
            raise InvalidInput("error.reason_required")

        def work(session: Session) -> Outcome:
            r = self._decidable(session, worker_id, redemption_id)
            now = self.clock.now()
            claimed = session.execute(
                update(Redemption)
                .where(Redemption.id == redemption_id, Redemption.status.in_(OPEN))
                .values(status="rejected", reason=reason, decided_by_id=worker_id, decided_at=now, closed_at=now)
                .execution_options(**_SYNC)
            )
            if rowcount(claimed) != 1:
                return self._already(session, redemption_id, "rejected")
            audit(
                session,
                self.clock,
                "redemption.reject",
                worker_id,
                r.community_id,
                "redemption",
                r.id,
                {"total": r.total, "reason": reason},
                person_id=r.person_id,
            )
            self._release(session, r, worker_id, now)
            self.ledger.void(session, pending_id=_hold(r), key=_key(r, "void"), actor_id=worker_id)
            view = _view(session, redemption_id)
            notify(
                session,
                self.clock,
                r.proxy_id or r.person_id,
                "shop.notify.rejected",
                id=f"R{r.id}",
                item=view.item_name,
                quantity=r.quantity,
                reason=reason,
                total=r.total,
            )
            return Outcome(view, changed=True)

        return self.db.transaction(work)

    @reads
    def rejectable(self, worker_id: int, redemption_id: int) -> RedemptionView:
        """What `reject` would refuse before it is given a reason, so a worker is not asked for one
        in vain: the redemption must exist, be theirs to decide and still be open."""
        with self.db.read() as session:
            r = self._decidable(session, worker_id, redemption_id)
            if r.status not in OPEN:
                raise AlreadyDecided("error.redemption_decided", id=f"R{r.id}", status=T(f"shop.status.{r.status}"))
            return _view(session, redemption_id)

    def pickup(self, worker_id: int, community_id: int, code: str) -> Outcome:
        """Hand-over (核销): the code names an approved redemption of this community; the held
        points post and the redemption is done. A wrong or used code changes nothing."""
        code = clean_code(code)
        self._check_guesses(worker_id)
        if not _CODE.match(code):
            raise self._wrong_code(worker_id, community_id, code)

        def work(session: Session) -> Outcome:
            require_role(session, worker_id, community_id, "worker")
            r = session.scalar(
                select(Redemption).where(Redemption.community_id == community_id, Redemption.pickup_code == code)
            )
            if r is None:
                raise NotFound("error.bad_pickup_code", code=code)
            if r.person_id == worker_id:
                raise NotAllowed("error.own_redemption")
            if r.proxy_id == worker_id:  # nor hands it over
                raise NotAllowed("error.own_proxy_action")
            now = self.clock.now()
            claimed = session.execute(
                update(Redemption)
                .where(Redemption.id == r.id, Redemption.status == "approved")
                .values(status="done", handed_over_by_id=worker_id, closed_at=now)
                .execution_options(**_SYNC)
            )
            if rowcount(claimed) != 1:
                status = session.scalar(select(Redemption.status).where(Redemption.id == r.id))
                key = "error.pickup_code_used" if status == "done" else "error.pickup_code_void"
                raise AlreadyDecided(key, id=f"R{r.id}", status=T(f"shop.status.{status}"))
            self.ledger.post(session, pending_id=_hold(r), key=_key(r, "post"), actor_id=worker_id)
            audit(
                session,
                self.clock,
                "redemption.handover",
                worker_id,
                community_id,
                "redemption",
                r.id,
                {"total": r.total},
                person_id=r.person_id,
            )
            session.add(
                StockMovement(
                    community_id=community_id,
                    item_id=r.item_id,
                    kind="handover",
                    delta=0,
                    quantity=r.quantity,
                    actor_id=worker_id,
                    redemption_id=r.id,
                    created_at=now,
                )
            )
            session.flush()
            return Outcome(_view(session, r.id), changed=True)

        try:
            return self.db.transaction(work)
        except NotFound as exc:
            if exc.key != "error.bad_pickup_code":
                raise
            raise self._wrong_code(worker_id, community_id, code) from None

    # Pickup codes are 6 characters of 32: guessing is slow only if wrong guesses are limited.
    GUESSES = 10
    GUESS_WINDOW = timedelta(minutes=10)

    def _recent_guesses(self, session: Session, worker_id: int) -> int:
        return (
            session.scalar(
                select(func.count())
                .select_from(AuditEntry)
                .where(
                    AuditEntry.actor_id == worker_id,
                    AuditEntry.action == "handover.wrong_code",
                    AuditEntry.created_at > self.clock.now() - self.GUESS_WINDOW,
                )
            )
            or 0
        )

    def _check_guesses(self, worker_id: int) -> None:
        """A worker who typed GUESSES wrong codes in the window waits before trying again."""
        with self.db.read() as session:
            if self._recent_guesses(session, worker_id) >= self.GUESSES:
                raise NotAllowed("error.pickup_locked", minutes=int(self.GUESS_WINDOW.total_seconds() // 60))

    def _wrong_code(self, worker_id: int, community_id: int, code: str) -> DomainError:
        """Audits a wrong code in its own transaction (the refused hand-over wrote nothing) and
        says how many tries are left."""

        def work(session: Session) -> int:
            audit(session, self.clock, "handover.wrong_code", worker_id, community_id, details={"code": code[:12]})
            session.flush()
            return self._recent_guesses(session, worker_id)

        used = self.db.transaction(work)
        if used >= self.GUESSES:
            return NotAllowed("error.pickup_locked", minutes=int(self.GUESS_WINDOW.total_seconds() // 60))
        return NotFound("error.bad_pickup_code_left", code=code[:12], left=self.GUESSES - used)

    def expire_holds(self, now: datetime | None = None) -> int:
        """Redemptions not handed over within `hold_expiry_days` of being made expire: the goods
        go back, the points are released, the volunteer and the workers are told. Each in its own
        transaction, claimed by a guarded UPDATE, so overlapping runs expire each one once."""
        now = now or self.clock.now()
        cutoff = now - timedelta(days=self.settings.hold_expiry_days)
        with self.db.uow() as session:
            ids = list(
                session.scalars(
                    select(Redemption.id)
                    .where(Redemption.status.in_(OPEN), Redemption.created_at < cutoff)
                    .order_by(Redemption.id)
                )
            )
        expired = 0
        for redemption_id in ids:
            expired += self.db.transaction(
                partial(self._expire_one, redemption_id=redemption_id, now=now, cutoff=cutoff)
            )
        return expired

    def _expire_one(self, session: Session, redemption_id: int, now: datetime, cutoff: datetime) -> bool:
        r = session.get(Redemption, redemption_id)
        assert r is not None
        # Claimed per status, so the message says truly what it waited for: a worker's approval
        # (never approved) or the volunteer's pickup.
        for status, why in zip(OPEN, ("_unapproved", ""), strict=True):
            claimed = session.execute(
                update(Redemption)
                .where(Redemption.id == redemption_id, Redemption.status == status, Redemption.created_at < cutoff)
                .values(status="expired", closed_at=now)
                .execution_options(**_SYNC)
            )
            if rowcount(claimed) == 1:
                break
        else:
            return False
        self._release(session, r, None, now)
        self.ledger.expire(session, pending_id=_hold(r), key=_key(r, "expire"))
        view = _view(session, redemption_id)
        days = self.settings.hold_expiry_days
        notify(
            session,
            self.clock,
            r.proxy_id or r.person_id,
            f"shop.notify.expired{why}",
            id=f"R{r.id}",
            item=view.item_name,
            quantity=r.quantity,
            total=r.total,
            days=days,
        )
        notify_workers(
            session,
            self.clock,
            r.community_id,
            f"shop.notify.expired{why}_worker",
            coalesce=f"expired_redemptions{why}",
            exclude=r.person_id,
            id=f"R{r.id}",
            name=view.person_name,
            item=view.item_name,
            quantity=r.quantity,
            days=days,
        )
        return True

    def _release(self, session: Session, r: Redemption, actor_id: int | None, now: datetime) -> None:
        """Put the reserved goods back on the shelf (unlimited items stay unlimited)."""
        session.execute(
            update(ShopItem)
            .where(ShopItem.id == r.item_id)
            .values(stock=ShopItem.stock + r.quantity)
            .execution_options(**_SYNC)
        )
        session.add(
            StockMovement(
                community_id=r.community_id,
                item_id=r.item_id,
                kind="release",
                delta=r.quantity,
                quantity=r.quantity,
                actor_id=actor_id,
                redemption_id=r.id,
                created_at=now,
            )
        )
        session.flush()

    def _decidable(self, session: Session, worker_id: int, redemption_id: int) -> Redemption:
        r = session.get(Redemption, redemption_id)
        if r is None:
            raise NotFound("error.no_redemption", id=f"R{redemption_id}")
        require_role(session, worker_id, r.community_id, "worker")
        if r.person_id == worker_id:
            raise NotAllowed("error.own_redemption")
        return r

    def _already(
        self, session: Session, redemption_id: int, wanted: str, refusal: str = "error.redemption_decided"
    ) -> Outcome:
        view = _view(session, redemption_id)
        if view.status != wanted:
            raise AlreadyDecided(refusal, id=f"R{redemption_id}", status=T(f"shop.status.{view.status}"))
        return Outcome(view, changed=False)

    def _free_code(self, session: Session, community_id: int) -> str:
        # 32^6 ≈ 10^9 codes: a clash is rare, and the unique constraint (with the transaction
        # retry) covers two approvals drawing the same code at once.
        for _ in range(10):
            code = new_code(CODE_LENGTH)
            if not session.scalar(
                select(Redemption.id).where(Redemption.community_id == community_id, Redemption.pickup_code == code)
            ):
                return code
        raise AssertionError("no free pickup code after 10 draws")

    # --- reading --------------------------------------------------------------------------------

    def pending(self, worker_id: int, community_id: int, limit: int = 50) -> list[RedemptionView]:
        """Redemptions waiting for a decision, oldest first."""
        with self.db.uow() as session:
            require_role(session, worker_id, community_id, "worker")
            ids = session.scalars(
                select(Redemption.id)
                .where(Redemption.community_id == community_id, Redemption.status == "pending")
                .order_by(Redemption.created_at, Redemption.id)
                .limit(limit)
            )
            return [_view(session, i) for i in ids]

    def orders(self, person_id: int, community_id: int, limit: int = 15) -> list[RedemptionView]:
        with self.db.uow() as session:
            ids = session.scalars(
                select(Redemption.id)
                .where(Redemption.person_id == person_id, Redemption.community_id == community_id)
                .order_by(Redemption.id.desc())
                .limit(limit)
            )
            return [_view(session, i) for i in ids]

    # --- stock reconciliation (账物相符) ---------------------------------------------------------

    def reconcile(self, actor_id: int | None, community_id: int, month: str | None = None) -> Reconciliation:
        """Per item for the month (YYYY-MM; None: this month in the community's zone): opening +
        restocked − reserved + released = closing, with handed over coming out of what was
        reserved; and the movements checked against the redemptions themselves. `actor_id` None
        is the operator (CLI)."""
        with self.db.snapshot() as session:
            if actor_id is not None:
                require_role(session, actor_id, community_id, "worker")
            community = session.get(Community, community_id)
            if community is None:
                raise NotFound("error.no_community")
            return reconcile_in(
                session, community, self.clock.community(community.timezone).month(month), self.clock.now()
            )

    def reconcile_all(self, month: str) -> list[Reconciliation]:
        """Every community that has a catalogue, for the operator's export; the month (YYYY-MM)
        in each community's own zone."""
        with self.db.snapshot() as session:
            communities = session.scalars(
                select(Community).where(Community.id.in_(select(ShopItem.community_id))).order_by(Community.id)
            )
            return [
                reconcile_in(session, c, self.clock.community(c.timezone).month(month), self.clock.now())
                for c in list(communities)
            ]

    def _item(self, session: Session, item_id: int) -> ItemView:
        item = (
            session.execute(select(ShopItem).where(ShopItem.id == item_id).execution_options(populate_existing=True))
        ).scalar_one()
        return _item_view(item)


def _why_not_taken(session: Session, community_id: int, item_id: int) -> DomainError:
    """The refusal for a stock decrement that matched no row."""
    item = (
        session.execute(
            select(ShopItem.community_id, ShopItem.name, ShopItem.active, ShopItem.stock).where(ShopItem.id == item_id)
        )
    ).first()
    if item is None or item.community_id != community_id:
        return NotFound("error.no_item", item=f"I{item_id}")
    if not item.active:
        return InvalidInput("error.item_inactive", name=item.name)
    return OutOfStock(item=item.name, left=item.stock or 0)


def _hold(r: Redemption) -> int:
    """The ledger hold of a redemption: made in the transaction that created it."""
    assert r.hold_transfer_id is not None, f"redemption {r.id} has no hold"
    return r.hold_transfer_id


def _key(r: Redemption, phase: str) -> str:
    """The ledger key of a redemption's hold and its one resolution: a second press or a
    redelivered update reuses it, so the ledger moves the points once."""
    return f"redeem:R{r.id}:{phase}"


def clean_donor(raw: str | None) -> str | None:
    """A donor's name as kept; longer than DONOR_MAX is refused, never cut short."""
    donor = " ".join((raw or "").split())
    if donor in ("", "-"):
        return None
    if len(donor) > DONOR_MAX:
        raise InvalidInput("error.bad_donor", max=DONOR_MAX)
    return donor


def _can_buy(price: int, stock: int | None, available: int) -> int:
    affordable = max(available, 0) // price
    return min(affordable, MAX_QUANTITY, affordable if stock is None else stock)


def _item_view(i: ShopItem) -> ItemView:
    return ItemView(i.id, i.community_id, i.name, i.price, i.stock, i.active, i.photo, i.donor)


def _view(session: Session, redemption_id: int) -> RedemptionView:
    row = (
        session.execute(
            select(Redemption, Person.display_name, ShopItem.name)
            .join(Person, Person.id == Redemption.person_id)
            .join(ShopItem, ShopItem.id == Redemption.item_id)
            .where(Redemption.id == redemption_id)
            .execution_options(populate_existing=True)
        )
    ).first()
    if row is None:
        raise NotFound("error.no_redemption", id=f"R{redemption_id}")
    r, name, item = row
    return RedemptionView(
        r.id,
        r.community_id,
        r.person_id,
        name,
        r.item_id,
        item,
        r.quantity,
        r.unit_price,
        r.total,
        r.status,
        r.pickup_code,
        r.reason,
        r.created_at,
        r.decided_at,
        r.closed_at,
    )


def reconcile_in(session: Session, community: Community, month: Month, now: datetime) -> Reconciliation:
    """The month's stock reconciliation, read inside the caller's session."""
    start, end = month.start, month.end
    current = start <= now < end
    items = list(
        session.scalars(
            select(ShopItem)
            .where(ShopItem.community_id == community.id, ShopItem.created_at < end)
            .order_by(ShopItem.id)
        )
    )
    m = StockMovement
    before = dict(
        (
            session.execute(
                select(m.item_id, func.sum(m.delta))
                .where(m.community_id == community.id, m.created_at < start)
                .group_by(m.item_id)
            )
        ).all()
    )
    until_end = dict(
        (
            session.execute(
                select(m.item_id, func.sum(m.delta))
                .where(m.community_id == community.id, m.created_at < end)
                .group_by(m.item_id)
            )
        ).all()
    )
    in_month: dict[tuple[int, str], tuple[int, int]] = {
        (row.item_id, row.kind): (int(row.delta), int(row.quantity))
        for row in (
            session.execute(
                select(m.item_id, m.kind, func.sum(m.delta).label("delta"), func.sum(m.quantity).label("quantity"))
                .where(m.community_id == community.id, m.created_at >= start, m.created_at < end)
                .group_by(m.item_id, m.kind)
            )
        ).all()
    }
    by_redemptions = _redemption_totals(session, community.id, start, end)
    lines = []
    for item in items:
        moved = {kind: in_month.get((item.id, kind), (0, 0)) for kind in MOVEMENT_KINDS}
        counts = (moved["reserve"][1], moved["release"][1], moved["handover"][1])
        unlimited = item.stock is None
        lines.append(
            StockLine(
                item_id=item.id,
                name=item.name,
                unlimited=unlimited,
                opening=None if unlimited else int(before.get(item.id) or 0),
                restocked=moved["restock"][0],
                reserved=counts[0],
                handed_over=counts[2],
                released=counts[1],
                closing=None if unlimited else int(until_end.get(item.id) or 0),
                shelf=item.stock if current and not unlimited else None,
                redemptions_match=counts == by_redemptions.get(item.id, (0, 0, 0)),
            )
        )
    return Reconciliation(community.id, community.name, month, lines)


def _redemption_totals(
    session: Session, community_id: int, start: datetime, end: datetime
) -> dict[int, tuple[int, int, int]]:
    """(reserved, released, handed over) per item, counted from the redemptions."""
    r = Redemption
    totals: dict[int, list[int]] = {}
    made = session.execute(
        select(r.item_id, func.sum(r.quantity))
        .where(r.community_id == community_id, r.created_at >= start, r.created_at < end)
        .group_by(r.item_id)
    )
    for item_id, quantity in made.all():
        totals.setdefault(item_id, [0, 0, 0])[0] = int(quantity)
    closed = session.execute(
        select(r.item_id, r.status, func.sum(r.quantity))
        .where(
            r.community_id == community_id,
            r.closed_at >= start,
            r.closed_at < end,
            r.status.in_(("rejected", "cancelled", "expired", "done")),
        )
        .group_by(r.item_id, r.status)
    )
    for item_id, status, quantity in closed.all():
        totals.setdefault(item_id, [0, 0, 0])[2 if status == "done" else 1] += int(quantity)
    return {item_id: (a, b, c) for item_id, (a, b, c) in totals.items()}
