"""ID numbers (居民身份证号码), kept only for certificates and the hours reported to the national
volunteer system, and only with the person's consent (its text names both uses).

The number is checked (18 characters, a real birth date, the GB 11643-1999 check digit), stored as
a Fernet token under LOVEBANK_DATA_KEY and shown masked everywhere (1101**********123X) but in the
volunteer-hours export, whose upload needs it whole (bot.reports.volunteer_hours). Without a
key nothing is stored: the person is told the bank cannot keep ID numbers yet and the operator
is told why in the log. The message that carried the number is masked in the inbox too, so the
plain number is kept nowhere, not even for the inbox's few days.

LOVEBANK_DATA_KEY may list several keys (comma-separated): the first encrypts, all decrypt, and
`rotate` re-encrypts every number under the first (MultiFernet), after which old keys can go."""

from __future__ import annotations

import logging
import re
from datetime import date
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from bot.kernel.audit import audit
from bot.kernel.clock import Clock
from bot.kernel.db import Database, reads, rowcount
from bot.kernel.errors import InvalidInput, NotAllowed
from bot.kernel.settings import Settings
from models import IdDocument, Identity, InboxEntry, Person

log = logging.getLogger(__name__)

RESIDENT_ID = "resident_id"
WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECKS = "10X98765432"  # GB 11643: the check character for (sum of weighted digits) mod 11
_SHAPE = re.compile(r"^[0-9]{17}[0-9X]$")


class DataKeyMissing(NotAllowed):
    """No usable LOVEBANK_DATA_KEY: ID numbers cannot be stored (the person is told, the log says why)."""


def check_digit(first17: str) -> str:
    return CHECKS[sum(int(d) * w for d, w in zip(first17, WEIGHTS)) % 11]


def normalise(text: str, today: date) -> str | None:
    """The ID number typed (spaces allowed, x for X), or None when it is not a valid one."""
    number = re.sub(r"[\s-]", "", text).upper()
    if not _SHAPE.match(number) or check_digit(number[:17]) != number[17]:
        return None
    try:
        born = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return None
    return number if date(1900, 1, 1) <= born <= today else None


def mask(number: str) -> str:
    """1101**********123X: the region and the last four, as certificates and lists show it."""
    return number[:4] + "*" * (len(number) - 8) + number[-4:]


def cipher(settings: Settings) -> MultiFernet | None:
    """The configured keys, or None when none is set or one is not a Fernet key."""
    if settings.data_key is None:
        return None
    keys = [k.strip() for k in settings.data_key.get_secret_value().split(",") if k.strip()]
    try:
        return MultiFernet([Fernet(k.encode()) for k in keys]) if keys else None
    except ValueError:
        return None


def reveal(settings: Settings, token: str) -> str | None:
    """The number behind a stored token (an export that must carry it), or None without the key."""
    found = cipher(settings)
    if found is None:
        return None
    try:
        return found.decrypt(token.encode()).decode()
    except InvalidToken:
        return None


def _masked_in(value: Any, number: str, masked: str) -> Any:
    if isinstance(value, str):
        return value.replace(number, masked).replace(number.lower(), masked)
    if isinstance(value, list):
        return [_masked_in(v, number, masked) for v in value]
    if isinstance(value, dict):
        return {k: _masked_in(v, number, masked) for k, v in value.items()}
    return value


class IdNumbersService:
    def __init__(self, db: Database, settings: Settings, clock: Clock) -> None:
        self.db, self.settings, self.clock = db, settings, clock

    def ready(self) -> bool:
        if cipher(self.settings) is None:
            log.warning(
                "ID numbers refused: LOVEBANK_DATA_KEY is %s (a Fernet key: "
                "python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')",
                "not set" if self.settings.data_key is None else "not a valid Fernet key",
            )
            return False
        return True

    @reads
    def masked(self, person_id: int) -> str | None:
        with self.db.read() as session:
            return session.scalar(select(IdDocument.masked).where(IdDocument.person_id == person_id))

    def save(self, person_id: int, text: str) -> str:
        """Keep the person's ID number (they consented in this dialog); returns it masked."""
        number = normalise(text, self.clock.now().date())
        if number is None:
            raise InvalidInput("idnumber.bad")
        if not self.ready():
            raise DataKeyMissing("idnumber.no_key")
        found = cipher(self.settings)
        assert found is not None
        token, masked = found.encrypt(number.encode()).decode(), mask(number)

        def work(session: Session) -> str:
            now = self.clock.now()
            doc = session.scalar(select(IdDocument).where(IdDocument.person_id == person_id).with_for_update())
            if doc is None:
                session.add(
                    IdDocument(
                        person_id=person_id,
                        id_type=RESIDENT_ID,
                        encrypted=token,
                        masked=masked,
                        consented_at=now,
                        created_at=now,
                    )
                )
            else:
                doc.encrypted, doc.masked, doc.consented_at = token, masked, now
            self._mask_inbox(session, person_id, number, masked)
            community_id = session.scalar(select(Person.community_id).where(Person.id == person_id))
            audit(
                session, self.clock, "id.save", person_id, community_id, "person", person_id, details={"masked": masked}
            )
            return masked

        return self.db.transaction(work)

    def remove(self, person_id: int) -> bool:
        """The person withdraws their consent: the number is deleted (certificates issued keep
        the masked number they printed)."""

        def work(session: Session) -> bool:
            gone = rowcount(session.execute(delete(IdDocument).where(IdDocument.person_id == person_id)))
            if gone:
                community_id = session.scalar(select(Person.community_id).where(Person.id == person_id))
                audit(session, self.clock, "id.remove", person_id, community_id, "person", person_id)
            return bool(gone)

        return self.db.transaction(work)

    def rotate(self) -> int:
        """Re-encrypt every stored number under the first configured key; returns how many."""
        found = cipher(self.settings)
        if found is None:
            raise DataKeyMissing("idnumber.no_key")

        def work(session: Session) -> int:
            docs = session.scalars(select(IdDocument).with_for_update()).all()
            for doc in docs:
                doc.encrypted = found.rotate(doc.encrypted.encode()).decode()
            audit(session, self.clock, "id.rotate", None, details={"count": len(docs)})
            return len(docs)

        return self.db.transaction(work)

    def _mask_inbox(self, session: Session, person_id: int, number: str, masked: str) -> None:
        """The message that carried the number (and any other of the person's still in the
        inbox) keeps only the masked form."""
        senders = session.execute(select(Identity.channel, Identity.external_id).where(Identity.person_id == person_id))
        for channel, sender in senders:
            for entry in session.scalars(
                select(InboxEntry).where(InboxEntry.channel == channel, InboxEntry.sender == sender)
            ):
                payload = _masked_in(entry.payload, number, masked)
                if payload != entry.payload:
                    entry.payload = payload
