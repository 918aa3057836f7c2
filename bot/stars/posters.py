"""The star list as a poster. WeChat Official Accounts cannot post into groups, so every week
(Monday) and month (the 1st), in each community's own time zone, the community's workers who are
on WeChat get last period's list as a poster image to forward to their groups. Telegram
announcement groups get the same poster with the text as its caption (`poster_params` travels
with their post).

A notification carries the poster as `_poster` (title, subtitle, rows, already in the
community's language); a channel that can send pictures draws it with `draw`, others show the
text. Claimed per community and period, so a restart or a second process never sends twice."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from bot.kernel.channels import FORWARD_BY_HAND
from bot.kernel.clock import Clock
from bot.kernel.db import Database, claim
from bot.kernel.errors import InvalidInput
from bot.stars.drawing import PosterRow, star_poster
from bot.stars.service import POSTER, StarList, StarsService, _due_kinds, post_params
from bot.stars.service import _post_key as post_key
from models import Community, Identity, Membership, Notification

__all__ = ["POSTER", "PosterSummary", "StarPostersService", "draw"]

JOB = "star-poster"


@dataclass(frozen=True)
class PosterSummary:
    sent: int  # workers' notifications written
    already: int  # lists whose poster for the period went out before
    empty: int  # communities with no approved hours in the period

    def __str__(self) -> str:
        return f"star-poster: sent to {self.sent} workers, already sent {self.already}, nothing to send {self.empty}"


def draw(params: dict[str, Any]) -> bytes:
    """The PNG of a notification's `_poster`."""
    return star_poster(
        str(params["title"]),
        str(params["subtitle"]),
        [PosterRow(int(r), str(n), str(h)) for r, n, h in params["rows"]],
        hours_label=str(params["hours_label"]),
        footer=str(params["footer"]),
        empty=str(params.get("empty", "")),
    )


class StarPostersService:
    def __init__(self, db: Database, clock: Clock, stars: StarsService) -> None:
        self.db, self.clock, self.stars = db, clock, stars

    def send(self, now: datetime, kind: str | None = None) -> PosterSummary:
        """Last week's poster on a Monday, last month's on the 1st (or `kind` now) to the
        workers who forward it by hand (on a channel that cannot post into groups: WeChat) of
        every community that has some."""
        if kind is not None and kind not in ("week", "month"):
            raise InvalidInput("error.bad_period")
        forwards = exists().where(Identity.person_id == Membership.person_id, Identity.channel.in_(FORWARD_BY_HAND))
        with self.db.read() as session:
            rows = (
                session.execute(
                    select(Community.id, Community.timezone)
                    .where(
                        exists().where(Membership.community_id == Community.id, Membership.role == "worker", forwards)
                    )
                    .order_by(Community.id)
                )
            ).all()
        due: dict[str, list[int]] = {"week": [], "month": []}
        for community_id, tz in rows:
            for k in [kind] if kind else _due_kinds(self.clock.community(tz).date_of(now)):
                due[k].append(community_id)
        sent = already = empty = 0
        for k, ids in due.items():
            for community_id in ids:
                # One poster per list the community posts (the whole community's, a tag's, a team's).
                sections = [sl for sl in self.stars.compose(community_id, k) if sl.stars]
                if not sections:
                    empty += 1
                    continue
                for star_list in sections:
                    count = self.db.transaction(partial(self._send_once, star_list=star_list, now=now))
                    sent += count or 0
                    already += count is None
        return PosterSummary(sent, already, empty)

    def _send_once(self, session: Session, star_list: StarList, now: datetime) -> int | None:
        if not claim(session, JOB, str(star_list.community_id), post_key(star_list), now):
            return None
        params = post_params(star_list)  # the poster travels as its POSTER parameter
        workers = list(
            session.scalars(
                select(Membership.person_id).where(
                    Membership.community_id == star_list.community_id,
                    Membership.role == "worker",
                    exists().where(Identity.person_id == Membership.person_id, Identity.channel.in_(FORWARD_BY_HAND)),
                )
            )
        )
        key = (
            f"stars.poster_{star_list.period.kind}"
            if star_list.group is None
            else f"stars.poster_group_{star_list.period.kind}"
        )
        session.add_all(Notification(person_id=w, key=key, params=params, created_at=now) for w in workers)
        return len(workers)
