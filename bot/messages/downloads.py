"""Files for channels that cannot carry them (WeChat): the file is kept for 24 hours behind a
link with an unguessable secret, served by `lovebank serve`, and every download is audited.
Only a hash of the secret is stored, so the database alone does not give the links away."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from bot.kernel.audit import audit
from bot.kernel.clock import Clock
from bot.kernel.db import Database
from bot.kernel.later import is_placeholder
from models import Download, Person

LIFETIME = timedelta(hours=24)
ROUTE = "/download/"  # where `lovebank serve` serves them


@dataclass(frozen=True)
class DownloadFile:
    filename: str
    content: bytes


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class DownloadsService:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db, self.clock = db, clock

    def offer(self, person_id: int, filename: str, content: bytes) -> str:
        """Keep the file for the person; returns the secret that goes into the link."""
        return self.db.transaction(lambda session: self.add(session, person_id, filename, content))

    def add(self, session: Session, person_id: int, filename: str, content: bytes) -> str:
        """`offer` inside a transaction of the caller's (the turn that made the file)."""
        secret = secrets.token_urlsafe(24)
        now = self.clock.now()
        session.execute(delete(Download).where(Download.expires_at < now))  # old files go
        session.add(
            Download(
                token_hash=_hash(secret),
                person_id=person_id,
                filename=filename[:200],
                content=content,
                downloads=0,
                expires_at=now + LIFETIME,
                created_at=now,
            )
        )
        return secret

    def fill(self, session: Session, drawn: dict[bytes, bytes | None]) -> None:
        """Files offered before they were made (a turn's placeholders) get their content."""
        for token, content in drawn.items():
            if content is None:
                session.execute(delete(Download).where(Download.content == token))
            else:
                session.execute(update(Download).where(Download.content == token).values(content=content))

    def take(self, secret: str, client: str | None = None) -> DownloadFile | None:
        """The file behind a link, or None when the link is wrong or expired; each download is
        written to the audit log with the address it came from (`client`)."""
        if not secret or len(secret) > 64:
            return None

        def work(session: Session) -> DownloadFile | None:
            now = self.clock.now()
            found = session.scalar(select(Download).where(Download.token_hash == _hash(secret)))
            if found is None or found.expires_at < now:
                return None
            if is_placeholder(found.content):  # offered by a turn, still being made: not a download yet
                return DownloadFile(found.filename, found.content)
            session.execute(update(Download).where(Download.id == found.id).values(downloads=Download.downloads + 1))
            community_id = session.scalar(select(Person.community_id).where(Person.id == found.person_id))
            audit(
                session,
                self.clock,
                "file.download",
                found.person_id,
                community_id,
                "download",
                found.id,
                details={"filename": found.filename, "client": client},
            )
            return DownloadFile(found.filename, found.content)

        return self.db.transaction(work)
