"""Certificates of service hours (志愿服务证明, 民发〔2015〕149号; "谁记录谁证明").

A volunteer asks for one for a period (this year, last year, all, or two dates); it waits for a
worker of their community like any decision (`C12` in /pending, with the deadlines of
bot.deadlines.service), and the worker who issues it is its handler (经办人). A worker may also
issue one at once for a member without a phone. What it certifies is fixed at issue: the approved
service hours the community recorded for the period (a service request's hours are approved
service logs too), per category, with the names of the person, the issuer, the person in charge
and the handler. So a reprint and the verification page always show what was signed.

Certificates are free: nothing here touches the ledger. Each issued certificate has a number
unique in the deployment and a check value (an HMAC of the number under the deployment's key,
kept in the database), printed as the QR code's link: `/verify/<number>?k=<check>`. The number
alone proves nothing; a wrong pair is refused without saying which part was wrong."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.deadlines.waiting import WAITING_SOURCES, Item
from bot.hours import service_hours
from bot.kernel.access import get_community, get_person, require_role, role_in
from bot.kernel.audit import audit
from bot.kernel.clock import Clock
from bot.kernel.db import Database, reads
from bot.kernel.errors import AlreadyDecided, InvalidInput, NotAllowed, NotFound
from bot.kernel.settings import Settings, public_base
from bot.messages.notify import notify, notify_workers
from bot.stars import levels as star_levels
from models import Certificate, CertificateKey, Community, IdDocument, Person

ROUTE = "/verify/"  # where `lovebank serve` answers
CHECK_LENGTH = 16  # hex digits of the HMAC printed and linked: 64 bits, short enough for a QR code
EARLIEST = date(2000, 1, 1)
MAX_NAME = 100
_NUMBER = re.compile(r"^LB\d{4}-\d{6,9}$")
_YEAR, _DATE = re.compile(r"[0-9]{4}"), re.compile(r"[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}")
_NAME = func.coalesce(Person.real_name, Person.display_name)
ALL_WORDS = ("all", "全部", "所有")
ID_TYPE_NAMES = {"resident_id": "居民身份证"}  # as a certificate prints the kind of ID on record


@dataclass(frozen=True)
class Period:
    start: date | None  # None: from the first hour recorded
    end: date


@dataclass(frozen=True)
class IssuedLine:
    number: str
    person_name: str | None
    period_start: date | None
    period_end: date
    minutes: int | None
    status: str  # issued or revoked
    issued_on: date | None


@dataclass(frozen=True)
class Facts:
    """An issued certificate, as printed and as verified."""

    id: int
    number: str
    check: str
    person_id: int
    person_name: str
    id_type: str | None  # no ID number is on record today: None, printed as "—"
    id_number_masked: str | None
    period: Period
    minutes: int
    content: list[tuple[str, int]]  # (category, minutes), largest first
    issuer: str
    head: str | None  # 负责人
    handler: str  # 经办人
    issued_on: date
    revoked: bool
    revoked_on: date | None
    verify_url: str  # absolute when the public address is configured, else the path
    star_level: int = 0  # 0: none; 1 一星 … 5 五星, on the holder's all-time hours at issue


@dataclass(frozen=True)
class Asked:
    id: int
    period: Period
    again: bool  # the same period was already waiting: nothing new was made


@dataclass(frozen=True)
class Waiting:
    id: int
    person_name: str
    period: Period
    submitted_at: datetime


@dataclass(frozen=True)
class Issued:
    facts: Facts
    changed: bool  # False: it had been issued already (a second /approve)


@dataclass(frozen=True)
class Refused:
    id: int
    person_name: str
    changed: bool


@dataclass(frozen=True)
class Choices:
    this_year: int
    last_year: int
    mine: list[str]  # numbers of the asker's valid certificates, newest first


@dataclass(frozen=True)
class Issuer:
    name: str  # the full name printed (the community's name until one is set)
    head: str | None


@dataclass(frozen=True)
class Verified:
    number: str
    masked_name: str
    period: Period
    minutes: int
    issuer: str
    issued_on: date
    revoked: bool
    revoked_on: date | None


def mask_name(name: str) -> str:
    """王小明 → 王**: enough for the holder to recognise, not enough to find them."""
    name = name.strip()
    return name[:1] + "*" * max(1, len(name) - 1) if name else "*"


def hours_text(minutes: int) -> str:
    """Minutes as hours the way a certificate says them: 750 → "12.5", 45 → "0.75"."""
    return f"{minutes / 60:.2f}".rstrip("0").rstrip(".")


def parse_period(text: str, today: date) -> Period:
    """ "2026" (that year, up to today), "all"/"全部", or two dates "2026-01-01 2026-06-30"."""
    words = text.split()
    if len(words) == 1 and words[0].lower() in ALL_WORDS:
        return Period(None, today)
    if len(words) == 1 and words[0].isdecimal() and words[0].isascii() and len(words[0]) == 4:
        year = int(words[0])
        if not EARLIEST.year <= year <= today.year:
            raise InvalidInput("certificate.bad_period")
        return Period(date(year, 1, 1), min(date(year, 12, 31), today))
    if len(words) == 2:
        try:
            start, end = date.fromisoformat(words[0]), date.fromisoformat(words[1])
        except ValueError:
            raise InvalidInput("certificate.bad_period") from None
        if EARLIEST <= start <= end <= today:
            return Period(start, end)
    raise InvalidInput("certificate.bad_period")


def is_period(text: str) -> bool:
    """Whether the words are meant as a period (a year, "all", two dates), right or wrong: the
    request then says what is wrong with it, rather than taking it for a name."""
    words = text.split()
    if len(words) == 1:
        return words[0].lower() in ALL_WORDS or bool(_YEAR.fullmatch(words[0]))
    return len(words) == 2 and all(_DATE.fullmatch(w) for w in words)


class CertificatesService:
    def __init__(self, db: Database, settings: Settings, clock: Clock) -> None:
        self.db, self.settings, self.clock = db, settings, clock

    # --- asking -------------------------------------------------------------------------------

    @reads
    def choices(self, person_id: int, community_id: int) -> Choices:
        with self.db.read() as session:
            today = self._today(session, community_id)
            numbers = list(
                session.scalars(
                    select(Certificate.number)
                    .where(
                        Certificate.person_id == person_id,
                        Certificate.community_id == community_id,
                        Certificate.status == "issued",
                    )
                    .order_by(Certificate.id.desc())
                    .limit(3)
                )
            )
        return Choices(today.year, today.year - 1, [n for n in numbers if n])

    def request(self, person_id: int, community_id: int, period_text: str) -> Asked:
        """A volunteer asks; the community's workers are told. The same period asked again while
        it waits is the same request."""

        def work(session: Session) -> Asked:
            require_role(session, person_id, community_id, "volunteer")
            period = parse_period(period_text, self._today(session, community_id))
            c = Certificate
            waiting = session.scalar(
                select(c.id).where(
                    c.person_id == person_id,
                    c.community_id == community_id,
                    c.status == "pending",
                    c.period_end == period.end,
                    c.period_start.is_(None) if period.start is None else c.period_start == period.start,
                )
            )
            if waiting is not None:
                return Asked(waiting, period, True)
            cert = Certificate(
                community_id=community_id,
                person_id=person_id,
                requested_by_id=person_id,
                period_start=period.start,
                period_end=period.end,
                status="pending",
                created_at=self.clock.now(),
            )
            session.add(cert)
            session.flush()
            name = session.scalar(select(_NAME).where(Person.id == person_id))
            notify_workers(
                session,
                self.clock,
                community_id,
                "certificate.worker_asked",
                exclude=person_id,
                coalesce="pending_certificates",
                id=f"C{cert.id}",
                name=name,
            )
            audit(session, self.clock, "cert.request", person_id, community_id, "certificate", cert.id)
            return Asked(cert.id, period, False)

        return self.db.transaction(work)

    @reads
    def waiting(self, worker_id: int, community_id: int) -> list[Waiting]:
        """What /pending lists, oldest first; never a worker's own."""
        with self.db.read() as session:
            require_role(session, worker_id, community_id, "worker")
            c = Certificate
            rows = session.execute(
                select(c.id, _NAME, c.period_start, c.period_end, c.created_at)
                .join(Person, Person.id == c.person_id)
                .where(c.community_id == community_id, c.status == "pending", c.person_id != worker_id)
                .order_by(c.created_at, c.id)
            )
            return [Waiting(i, n, Period(s, e), at) for i, n, s, e, at in rows]

    # --- deciding -----------------------------------------------------------------------------

    def issue(self, worker_id: int, certificate_id: int) -> Issued:
        """`/approve C12`: the worker issues the certificate asked for, and is its handler."""

        def work(session: Session) -> Issued:
            cert = self._decidable(session, worker_id, certificate_id)
            if cert.status != "pending":
                if cert.status in ("issued", "revoked"):
                    return Issued(self._facts(session, cert), False)
                raise AlreadyDecided("certificate.already_decided", id=f"C{cert.id}")
            self._fix(session, cert, worker_id)
            notify(
                session,
                self.clock,
                cert.person_id,
                "certificate.issued",
                number=cert.number,
                hours=hours_text(cert.minutes or 0),
            )
            return Issued(self._facts(session, cert), True)

        return self.db.transaction(work)

    def issue_for(self, worker_id: int, community_id: int, person_id: int, period_text: str) -> Facts:
        """A worker issues one at once for a member (who may have no phone), to print."""

        def work(session: Session) -> Facts:
            require_role(session, worker_id, community_id, "worker")
            if person_id == worker_id:
                raise NotAllowed("certificate.not_own")
            if role_in(session, person_id, community_id) is None:
                raise NotFound("error.no_person")
            period = parse_period(period_text, self._today(session, community_id))
            cert = Certificate(
                community_id=community_id,
                person_id=person_id,
                requested_by_id=worker_id,
                period_start=period.start,
                period_end=period.end,
                status="pending",
                created_at=self.clock.now(),
            )
            session.add(cert)
            session.flush()
            self._fix(session, cert, worker_id)
            return self._facts(session, cert)

        return self.db.transaction(work)

    def refuse(self, worker_id: int, certificate_id: int, reason: str) -> Refused:
        reason = reason.strip()[:500]
        if not reason:
            raise InvalidInput("certificate.need_reason")

        def work(session: Session) -> Refused:
            cert = self._decidable(session, worker_id, certificate_id)
            name = session.scalar(select(_NAME).where(Person.id == cert.person_id)) or ""
            if cert.status == "refused":
                return Refused(cert.id, name, False)
            if cert.status != "pending":
                raise AlreadyDecided("certificate.already_decided", id=f"C{cert.id}")
            cert.status, cert.refuse_reason = "refused", reason
            cert.handler_id, cert.decided_at = worker_id, self.clock.now()
            notify(session, self.clock, cert.person_id, "certificate.refused", id=f"C{cert.id}", reason=reason)
            audit(
                session,
                self.clock,
                "cert.refuse",
                worker_id,
                cert.community_id,
                "certificate",
                cert.id,
                details={"reason": reason},
            )
            return Refused(cert.id, name, True)

        return self.db.transaction(work)

    def revoke(self, worker_id: int, community_id: int, number: str, reason: str) -> Facts:
        """A worker of the issuing community voids a certificate; the verification page says so."""
        reason = reason.strip()[:500]
        if not reason:
            raise InvalidInput("certificate.revoke_usage")

        def work(session: Session) -> Facts:
            require_role(session, worker_id, community_id, "worker")
            cert = session.scalar(select(Certificate).where(Certificate.number == number.strip().upper()))
            if cert is None or cert.community_id != community_id:
                raise NotFound("certificate.no_such", number=number[:32])
            if cert.status == "issued":
                cert.status, cert.revoked_by_id, cert.revoked_at = "revoked", worker_id, self.clock.now()
                cert.revoke_reason = reason
                notify(session, self.clock, cert.person_id, "certificate.revoked", number=cert.number, reason=reason)
                audit(
                    session,
                    self.clock,
                    "cert.revoke",
                    worker_id,
                    community_id,
                    "certificate",
                    cert.id,
                    details={"reason": reason},
                )
            return self._facts(session, cert)

        return self.db.transaction(work)

    # --- reading ------------------------------------------------------------------------------

    @reads
    def fetch(self, person_id: int, number: str) -> Facts:
        """An issued certificate again (the same figures), for its holder or a worker of the
        issuing community (to print); anyone else is told there is no such certificate."""
        with self.db.read() as session:
            cert = session.scalar(select(Certificate).where(Certificate.number == number.strip().upper()))
            if cert is None or cert.number is None:
                raise NotFound("certificate.no_such", number=number[:32])
            reader = get_person(session, person_id)
            if (
                cert.person_id != person_id
                and not reader.is_admin
                and role_in(session, person_id, cert.community_id) != "worker"
            ):
                raise NotFound("certificate.no_such", number=number[:32])
            return self._facts(session, cert)

    @reads
    def issued_in(self, worker_id: int, community_id: int, limit: int = 50) -> list[IssuedLine]:
        """The community's issued (and revoked) certificates, the newest first, for its workers
        and the admins: what the desk lists to print again."""
        with self.db.read() as session:
            require_role(session, worker_id, community_id, "worker")
            rows = session.execute(
                select(
                    Certificate.number,
                    Certificate.person_name,
                    Certificate.period_start,
                    Certificate.period_end,
                    Certificate.minutes,
                    Certificate.status,
                    Certificate.issued_on,
                )
                .where(Certificate.community_id == community_id, Certificate.number.is_not(None))
                .order_by(Certificate.id.desc())
                .limit(limit)
            )
            return [
                IssuedLine(str(number), name, start, end, minutes, status, issued_on)
                for number, name, start, end, minutes, status, issued_on in rows
            ]

    @reads
    def verify(self, number: str, check: str) -> Verified | None:
        """The verification page's facts, or None for an unknown number or a wrong check value
        (the same answer for both)."""
        if not _NUMBER.match(number or "") or not check or len(check) > 64:
            return None
        with self.db.read() as session:
            cert = session.scalar(select(Certificate).where(Certificate.number == number))
            if cert is None or cert.number is None:
                return None
            if not hmac.compare_digest(self._check(session, number), check.lower()):
                return None
            f = self._facts(session, cert)
        return Verified(
            f.number, mask_name(f.person_name), f.period, f.minutes, f.issuer, f.issued_on, f.revoked, f.revoked_on
        )

    # --- the issuing organisation -------------------------------------------------------------

    @reads
    def issuer(self, community_id: int) -> Issuer:
        with self.db.read() as session:
            return _issuer(get_community(session, community_id))

    def set_issuer(
        self, worker_id: int, community_id: int, *, full_name: str | None = None, head: str | None = None
    ) -> Issuer:
        """The organisation's full name (e.g. XX街道XX社区居民委员会) and the person in charge,
        as certificates print them from now on (those issued keep theirs)."""
        values = {k: v.strip() for k, v in (("name", full_name), ("head", head)) if v is not None}
        if any(not v or len(v) > (200 if k == "name" else MAX_NAME) for k, v in values.items()):
            raise InvalidInput("certificate.bad_issuer")

        def work(session: Session) -> Issuer:
            require_role(session, worker_id, community_id, "worker")
            community = get_community(session, community_id)
            options = dict(community.options or {})
            options["certificate"] = {**options.get("certificate", {}), **values}
            community.options = options
            audit(session, self.clock, "cert.issuer", worker_id, community_id, details=values)
            return _issuer(community)

        return self.db.transaction(work)

    # --- inside ---------------------------------------------------------------------------------

    def _today(self, session: Session, community_id: int) -> date:
        return self.clock.community(get_community(session, community_id).timezone).today()

    def _decidable(self, session: Session, worker_id: int, certificate_id: int) -> Certificate:
        cert = session.get(Certificate, certificate_id, with_for_update=True)
        # Another community's certificate is as unknown as a missing one.
        if (
            cert is None
            or role_in(session, worker_id, cert.community_id) != "worker"
            and not get_person(session, worker_id).is_admin
        ):
            raise NotFound("certificate.no_such", number=f"C{certificate_id}")
        if cert.person_id == worker_id:
            raise NotAllowed("certificate.not_own")
        return cert

    def _fix(self, session: Session, cert: Certificate, worker_id: int) -> None:
        """Issue: the figures, names and number are fixed now."""
        community = get_community(session, cert.community_id)
        content = service_hours.by_category(
            session, cert.person_id, cert.community_id, cert.period_start, cert.period_end
        )
        issuer = _issuer(community)
        today = self.clock.community(community.timezone).today()
        cert.status, cert.minutes, cert.content = "issued", sum(m for _, m in content), [list(r) for r in content]
        cert.person_name = session.scalar(select(_NAME).where(Person.id == cert.person_id))
        cert.star_level = star_levels.standing(session, cert.person_id, cert.community_id).level
        on_record = session.execute(
            select(IdDocument.id_type, IdDocument.masked).where(IdDocument.person_id == cert.person_id)
        ).first()
        cert.id_type, cert.id_number_masked = (
            (ID_TYPE_NAMES.get(on_record[0], on_record[0]), on_record[1]) if on_record else (None, None)
        )
        cert.issuer_name, cert.head_name = issuer.name, issuer.head
        cert.handler_id, cert.handler_name = worker_id, session.scalar(select(_NAME).where(Person.id == worker_id))
        cert.issued_on, cert.decided_at = today, self.clock.now()
        cert.number = f"LB{today.year}-{cert.id:06d}"  # the row id: unique in the deployment
        self._check(session, cert.number, create=True)
        audit(
            session,
            self.clock,
            "cert.issue",
            worker_id,
            cert.community_id,
            "certificate",
            cert.id,
            details={"number": cert.number, "minutes": cert.minutes},
        )

    def _check(self, session: Session, number: str, *, create: bool = False) -> str:
        """The check value of a number. The key is made by the first issue (in its transaction:
        two processes making it at once collide on the one row, and the loser's transaction
        reruns and reads the winner's)."""
        key = session.scalar(select(CertificateKey.secret).where(CertificateKey.id == 1))
        if key is None and create:
            key = secrets.token_hex(32)
            session.add(CertificateKey(id=1, secret=key, created_at=self.clock.now()))
            session.flush()
        if key is None:  # nothing was ever issued (or the key was deleted): nothing verifies
            raise NotFound("certificate.no_such", number=number)
        return hmac.new(key.encode(), number.encode(), hashlib.sha256).hexdigest()[:CHECK_LENGTH]

    def _facts(self, session: Session, cert: Certificate) -> Facts:
        assert cert.number is not None and cert.issued_on is not None
        check = self._check(session, cert.number)
        path = f"{ROUTE}{cert.number}?k={check}"
        base = public_base(self.settings)
        return Facts(
            cert.id,
            cert.number,
            check,
            cert.person_id,
            cert.person_name or "",
            cert.id_type,
            cert.id_number_masked,
            Period(cert.period_start, cert.period_end),
            cert.minutes or 0,
            [(str(n), int(m)) for n, m in cert.content or []],
            cert.issuer_name or "",
            cert.head_name,
            cert.handler_name or "",
            cert.issued_on,
            cert.status == "revoked",
            self.clock.community(get_community(session, cert.community_id).timezone).date_of(cert.revoked_at)
            if cert.revoked_at
            else None,
            f"{base}{path}" if base else path,
            star_level=cert.star_level or 0,
        )


def _issuer(community: Community) -> Issuer:
    found = (community.options or {}).get("certificate", {})
    return Issuer(found.get("name") or community.name, found.get("head"))


issuer_of = _issuer  # the recording organisation, as other records name it (the hours export)


def deadline_items(
    session: Session, community_ids: list[int], start: datetime | None, end: datetime | None
) -> list[Item]:
    """Certificates asked for, as decisions on time count them (a source of WAITING_SOURCES):
    waiting from the ask until a worker issues or refuses it."""
    c = Certificate
    stmt = (
        select(c.id, c.community_id, c.person_id, _NAME, c.created_at, c.decided_at, c.handler_id)
        .join(Person, Person.id == c.person_id)
        .where(c.community_id.in_(community_ids), c.requested_by_id == c.person_id)
    )
    if start is None:
        stmt = stmt.where(c.status == "pending")
    else:
        stmt = stmt.where(c.created_at < end, (c.status == "pending") | (c.decided_at >= start))
    return [Item(f"C{i}", cid, p, n, at, ended, by) for i, cid, p, n, at, ended, by in session.execute(stmt)]


WAITING_SOURCES.append(deadline_items)
