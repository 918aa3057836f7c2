"""Communities, people, channel identities, invites, joining and roles."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, bindparam, func, select, update
from sqlalchemy.orm import Session

from bot.family.service import end_role_links
from bot.kernel.access import effective_role, get_community, get_person, require_admin, require_role, staff_scope
from bot.kernel.audit import audit
from bot.kernel.clock import Clock, CommunityClock
from bot.kernel.db import Database, reads, rowcount
from bot.kernel.errors import InvalidInput, NotAllowed, NotFound
from bot.kernel.names import NAME_MAX, clean_name, new_code
from bot.kernel.reference import ReferenceCache
from bot.kernel.settings import Settings
from bot.ledger.service import Ledger
from bot.messages.notify import notify, notify_workers
from models import Community, Consent, Identity, InviteCode, Membership, Person, ServiceCategory

# (中文名, English name) of the default service categories.
DEFAULT_CATEGORIES = (
    ("探访", "Visit"),
    ("助餐", "Meals"),
    ("助洁", "Cleaning"),
    ("助医", "Medical escort"),
    ("助急", "Emergency help"),
    ("助乐", "Recreation"),
    ("家政", "Housework"),
    ("培训辅导", "Tutoring"),
    ("咨询", "Consultation"),
    ("义务维修", "Repairs"),
    ("治安巡逻", "Patrol"),
    ("纠纷调解", "Mediation"),
    ("其他", "Other"),
)
DEFAULT_POINTS_PER_HOUR = 10
# A mainland mobile number: 11 digits starting 13–19 (a +86 / 0086 country code is dropped).
MOBILE = re.compile(r"1[3-9]\d{9}")
COUNTRY_CODE = re.compile(r"^(?:\+86|0086|86)(?=1\d{10}$)")


@dataclass(frozen=True)
class Member:
    person_id: int
    community_id: int
    role: str
    confirmed: bool
    invited_as: str | None = None  # set by join: the role the invite asks the newcomer to take


@dataclass(frozen=True)
class Found:
    """A person found by name in a community, with what tells two of the same name apart."""

    person_id: int
    name: str
    role: str | None  # in the community searched; None for someone not yet a member


@dataclass(frozen=True)
class StaffChat:
    """Where a worker or admin is reached on a channel, for menus that show their commands."""

    chat_id: str
    locale: str
    role: str | None  # in the community they act in now
    is_admin: bool


@dataclass(frozen=True)
class Waiting:
    """A volunteer waiting for a worker's confirmation."""

    person_id: int
    name: str
    phone: str | None
    joined_at: datetime


def looks_like_code(text: str) -> bool:
    """Whether a word could be an invite code (letters and digits, 6 to 16 of them), rather than
    a greeting or a sentence."""
    return re.fullmatch(r"[A-Za-z0-9]{6,16}", text.strip()) is not None


def clean_phone(raw: str) -> str:
    """'+86 138-0013-8000' → '13800138000'; anything not a mainland mobile number is refused."""
    phone = COUNTRY_CODE.sub("", re.sub(r"[\s\-()（）]", "", raw or ""))
    if not MOBILE.fullmatch(phone):
        raise InvalidInput("error.bad_phone")
    return phone


class PeopleService:
    def __init__(self, db: Database, settings: Settings, clock: Clock, ledger: Ledger) -> None:
        self.db, self.settings, self.clock, self.ledger = db, settings, clock, ledger
        self.reference = ReferenceCache()  # nothing here changes a community's zone once made

    # --- identities -------------------------------------------------------------------------

    def identify(
        self,
        channel: str,
        external_id: str,
        *,
        display_name: str,
        handle: str | None = None,
        chat_id: str | None = None,
    ) -> tuple[Person, Identity]:
        """The person behind a channel account, created on first contact. Admins named in
        LOVEBANK_ADMINS become admins here."""

        def work(session: Session) -> tuple[Person, Identity]:
            identity = session.scalar(
                select(Identity).where(Identity.channel == channel, Identity.external_id == external_id)
            )
            is_admin = f"{channel}:{external_id}" in self.settings.admins
            if identity is not None:
                person = get_person(session, identity.person_id)
                if is_admin and not person.is_admin:
                    person.is_admin = True
                if chat_id and identity.chat_id != chat_id:
                    identity.chat_id = chat_id
                return person, identity
            person = Person(
                display_name=(display_name or external_id)[:NAME_MAX],
                locale=self.settings.locale,
                is_admin=is_admin,
                created_at=self.clock.now(),
            )
            session.add(person)
            session.flush()
            identity = Identity(
                person_id=person.id,
                channel=channel,
                external_id=external_id,
                chat_id=chat_id,
                handle=handle,
            )
            session.add(identity)
            session.flush()
            return person, identity

        return self.db.transaction(work)

    def find(
        self,
        session: Session,
        community_id: int,
        name: str,
        *,
        anyone_by_handle: bool = False,
        grids: frozenset[int] | None = None,
    ) -> list[Found]:
        """The people of a community a typed name means: `#12` (a choice made earlier), else
        the real name, else the name shown, else the handle (console name, @username), the
        first of these that matches anyone. Several matches are returned for the asker to choose
        from. Handles are not names: a handle 李明 never wins over a member whose name is 李明.
        `anyone_by_handle`: someone outside the community may be found by handle (an admin
        appointing a newcomer who has written to the bot). `grids`: members of these only."""
        name = name.strip()
        member = select(Person.id, Person.display_name, Membership.role, Membership.confirmed).join(
            Membership, and_(Membership.person_id == Person.id, Membership.community_id == community_id)
        )
        if grids is not None:  # members of these grids only
            member = member.where(Membership.grid_id.in_(sorted(grids)))
        if re.fullmatch(r"#\d{1,9}", name):
            tiers = [member.where(Person.id == int(name[1:]))]
        else:
            bare = name.lstrip("@").lower()
            by_handle = Person.id.in_(select(Identity.person_id).where(func.lower(Identity.handle) == bare))
            tiers = [
                member.where(func.lower(Person.real_name) == name.lower()),
                member.where(func.lower(Person.display_name) == name.lower()),
                member.where(by_handle),
            ]
            if name.startswith("@"):  # @username names a handle, nothing else
                tiers = tiers[2:]
        for tier in tiers:
            rows = (session.execute(tier.order_by(Person.id).limit(10))).all()
            if rows:
                return [Found(pid, shown, effective_role(role, confirmed)) for pid, shown, role, confirmed in rows]
        if anyone_by_handle and not name.startswith("#"):
            anyone = (
                session.execute(
                    select(Person.id, Person.display_name)
                    .where(
                        Person.id.in_(
                            select(Identity.person_id).where(func.lower(Identity.handle) == name.lstrip("@").lower())
                        )
                    )
                    .order_by(Person.id)
                    .limit(10)
                )
            ).all()
            return [Found(pid, shown, None) for pid, shown in anyone]
        return []

    @reads
    def name_of(self, person_id: int) -> str:
        """The name workers know a person by: the registered real name when there is one."""
        with self.db.read() as session:
            person = get_person(session, person_id)
            return person.real_name or person.display_name

    @reads
    def spaced_name_at(self, community_id: int, text: str) -> str | None:
        """The longest real or shown name with a space in it (Anna Lee) of a member of the
        community that `text` starts with, as whole words in any case; None if there is none."""
        typed = [w.lower() for w in text.split()]
        if len(typed) < 2:
            return None
        with self.db.read() as session:
            names = session.scalars(
                select(Person.real_name)
                .join(Membership, Membership.person_id == Person.id)
                .where(Membership.community_id == community_id, Person.real_name.like("% %"))
                .union(
                    select(Person.display_name)
                    .join(Membership, Membership.person_id == Person.id)
                    .where(Membership.community_id == community_id, Person.display_name.like("% %"))
                )
            ).all()
        fits = [n for n in names if n and [w.lower() for w in n.split()] == typed[: len(n.split())]]
        return max(fits, key=lambda n: len(n.split()), default=None)

    @reads
    def people_named(
        self, community_id: int, name: str, *, anyone_by_handle: bool = False, managed_by: int | None = None
    ) -> list[Found]:
        """`find`; with `managed_by`, a grid coordinator's choice is among their grids' members
        only (a name another grid shares is not theirs to learn of); a worker's is everyone."""
        with self.db.read() as session:
            scope = None if managed_by is None else staff_scope(session, managed_by, community_id)
            grids = None if scope is None or scope.everything else scope.grids
            return self.find(session, community_id, name, anyone_by_handle=anyone_by_handle, grids=grids)

    # --- communities ------------------------------------------------------------------------

    @reads
    def clock_of(self, community_id: int) -> CommunityClock:
        """The community's calendar: a flow reads "today" in the community's zone, as the
        services that check its dates do, not in the zone the bot runs in. The zone is reference
        data, kept in the process (bot.kernel.reference): no query while it is fresh."""
        timezone = self.reference.get("timezone", community_id)
        if timezone is None:
            timezone = self.timezone_of(community_id)
        return self.clock.community(timezone)

    @reads
    def timezone_of(self, community_id: int) -> str:
        with self.db.read() as session:
            timezone = session.scalar(_TIMEZONE, {"community_id": community_id})
        if timezone is None:
            raise NotFound("error.no_community")
        return self.reference.put("timezone", community_id, timezone)

    def community_name(self, community_id: int) -> str:
        with self.db.read() as session:
            return session.scalar(select(Community.name).where(Community.id == community_id)) or ""

    def create_community(
        self,
        name: str,
        *,
        actor_id: int | None = None,
        timezone: str | None = None,
        locale: str | None = None,
    ) -> Community:
        """A community with its system accounts and the default categories. `actor_id` None
        is the operator (CLI, demo); otherwise only an admin may."""
        name = clean_name(name)

        def work(session: Session) -> Community:
            if actor_id is not None:
                require_admin(session, actor_id)
            if session.scalar(select(Community.id).where(Community.name == name)):
                raise InvalidInput("error.community_exists", name=name)
            community = Community(
                name=name,
                timezone=timezone or self.settings.timezone,
                locale=locale or self.settings.locale,
                options={},
                created_at=self.clock.now(),
            )
            session.add(community)
            session.flush()
            self.ledger.open_system_accounts(session, community.id)
            session.add_all(
                ServiceCategory(
                    community_id=community.id,
                    name=zh,
                    name_en=en,
                    points_per_hour=DEFAULT_POINTS_PER_HOUR,
                    position=i,
                    active=True,
                )
                for i, (zh, en) in enumerate(DEFAULT_CATEGORIES, start=1)
            )
            audit(session, self.clock, "community.create", actor_id, community.id, details={"name": name})
            return community

        return self.db.transaction(work)

    def create_invite(
        self, actor_id: int | None, community_id: int, *, role: str = "volunteer", max_uses: int | None = None
    ) -> str:
        """A worker's invite code; `actor_id` None is the operator (an invite poster)."""
        if role not in ("resident", "volunteer"):
            raise InvalidInput("error.bad_role")

        def work(session: Session) -> str:
            if actor_id is not None:
                require_role(session, actor_id, community_id, "worker")
            else:
                get_community(session, community_id)
            code = new_code()
            session.add(
                InviteCode(
                    code=code,
                    community_id=community_id,
                    role=role,
                    created_by_id=actor_id,
                    max_uses=max_uses,
                    uses=0,
                    created_at=self.clock.now(),
                )
            )
            return code

        return self.db.transaction(work)

    def join(self, person_id: int, code: str) -> Member:
        """Join the invite's community. Joining again changes nothing; an invite never lowers
        a role the person already has there."""
        code = (code or "").strip().upper()

        def work(session: Session) -> Member:
            invite = session.scalar(select(InviteCode).where(InviteCode.code == code))
            now = self.clock.now()
            if invite is None or (invite.expires_at and invite.expires_at < now):
                raise NotFound("error.bad_invite")
            existing = self._membership(session, person_id, invite.community_id)
            person = get_person(session, person_id)
            person.community_id = invite.community_id
            if existing is not None:
                return _member(existing, invite.role)
            used = session.execute(
                update(InviteCode)
                .where(
                    InviteCode.id == invite.id,
                    (InviteCode.max_uses.is_(None)) | (InviteCode.uses < InviteCode.max_uses),
                )
                .values(uses=InviteCode.uses + 1)
            )
            if rowcount(used) != 1:
                raise NotFound("error.bad_invite")
            membership = Membership(
                person_id=person_id,
                community_id=invite.community_id,
                role="resident",
                confirmed=True,
                joined_at=now,
            )
            session.add(membership)
            session.flush()
            self.ledger.open_person_account(session, invite.community_id, person_id)
            return _member(membership, invite.role)

        return self.db.transaction(work)

    def register_volunteer(self, person_id: int, community_id: int, real_name: str, phone: str) -> Member:
        """Real name and phone make a member a volunteer; some communities want a worker to
        confirm first."""
        real_name, phone = clean_name(real_name), clean_phone(phone)

        def work(session: Session) -> Member:
            membership = self._membership(session, person_id, community_id)
            if membership is None:
                raise NotAllowed("error.not_member")
            person = get_person(session, person_id)
            # One name per person: the real name given here is the name shown everywhere from now on
            # (logs, redemptions, pickups, alerts, the star list, reports), not a channel's nickname.
            person.real_name, person.display_name, person.phone = real_name, real_name, phone
            # The chat showed the privacy notice before asking for the name: registering is consenting.
            self._consent(session, person_id, community_id)
            if membership.role == "resident":
                community = get_community(session, community_id)
                membership.role = "volunteer"
                membership.confirmed = not community.confirm_volunteers
                if not membership.confirmed:  # someone is waiting: the workers hear of it
                    notify_workers(session, self.clock, community_id, "notify.volunteer_waiting", name=real_name)
            return _member(membership)

        return self.db.transaction(work)

    def consent(self, person_id: int, community_id: int) -> None:
        """A volunteer agrees to the privacy notice now in force (asked again after it changed)."""
        self.db.transaction(lambda session: self._consent(session, person_id, community_id))

    def _consent(self, session: Session, person_id: int, community_id: int) -> None:
        version = self.settings.privacy_notice_version
        if session.scalar(
            select(Consent.id).where(
                Consent.person_id == person_id, Consent.kind == "volunteer", Consent.notice_version == version
            )
        ):
            return  # agreed to this version already: a replayed answer records nothing twice
        session.add(
            Consent(
                community_id=community_id,
                person_id=person_id,
                kind="volunteer",
                notice_version=version,
                obtained="chat",
                by_id=None,
                created_at=self.clock.now(),
            )
        )
        audit(
            session, self.clock, "consent.volunteer", person_id, community_id, "person", person_id, {"version": version}
        )

    @reads
    def privacy_notice(self, community_id: int) -> tuple[str, str, str]:
        """What the notice names: the community, who to contact there (its workers), the version."""
        with self.db.read() as session:
            community = get_community(session, community_id)
            workers = session.scalars(
                select(func.coalesce(Person.real_name, Person.display_name))
                .join(Membership, Membership.person_id == Person.id)
                .where(Membership.community_id == community_id, Membership.role == "worker")
                .order_by(Membership.id)
                .limit(3)
            ).all()
            return community.name, "、".join(workers) or community.name, self.settings.privacy_notice_version

    def confirm_volunteer(self, actor_id: int, community_id: int, person_id: int) -> Member:
        """A worker confirms a registered volunteer, who is told. Confirming again changes nothing."""

        def work(session: Session) -> Member:
            require_role(session, actor_id, community_id, "worker")
            membership = self._membership(session, person_id, community_id)
            if membership is None:
                raise NotFound("error.not_member")
            if membership.role == "resident":
                raise InvalidInput("error.not_registered")
            if not membership.confirmed:
                membership.confirmed = True
                audit(session, self.clock, "volunteer.confirm", actor_id, community_id, "person", person_id)
                community = get_community(session, community_id)
                notify(session, self.clock, person_id, "notify.volunteer_confirmed", community=community.name)
            return _member(membership)

        return self.db.transaction(work)

    @reads
    def awaiting_confirmation(self, worker_id: int, community_id: int, limit: int = 1000) -> list[Waiting]:
        """Registered volunteers a worker has not confirmed yet, longest waiting first."""
        with self.db.read() as session:
            require_role(session, worker_id, community_id, "worker")
            rows = (
                session.execute(
                    select(
                        Person.id,
                        func.coalesce(Person.real_name, Person.display_name),
                        Person.phone,
                        Membership.joined_at,
                    )
                    .join(Membership, Membership.person_id == Person.id)
                    .where(
                        Membership.community_id == community_id,
                        Membership.role == "volunteer",
                        Membership.confirmed.is_(False),
                    )
                    .order_by(Membership.joined_at, Person.id)
                    .limit(limit)
                )
            ).all()
        return [Waiting(*row) for row in rows]

    def require_confirmation(self, actor_id: int, community_id: int, required: bool) -> None:
        """Whether new volunteers wait for a worker's /confirm before they may log hours."""

        def work(session: Session) -> None:
            require_role(session, actor_id, community_id, "worker")
            community = get_community(session, community_id)
            if community.confirm_volunteers != required:
                community.confirm_volunteers = required
                audit(
                    session,
                    self.clock,
                    "volunteers.confirmation",
                    actor_id,
                    community_id,
                    details={"required": required},
                )

        self.db.transaction(work)

    def appoint_worker(
        self,
        actor_id: int | None,
        community_id: int,
        person_id: int,
        *,
        tell: bool = False,
    ) -> Member:
        """Admins appoint workers (the operator too, with actor_id None). `tell`: the new worker
        is told which community (an appointment in the chat; setting up a community is quiet)."""

        def work(session: Session) -> Member:
            if actor_id is not None:
                require_admin(session, actor_id)
            membership = self._membership(session, person_id, community_id)
            was_worker = membership is not None and membership.role == "worker" and membership.confirmed
            if membership is None:
                membership = Membership(
                    person_id=person_id,
                    community_id=community_id,
                    role="worker",
                    confirmed=True,
                    joined_at=self.clock.now(),
                )
                session.add(membership)
            membership.role, membership.confirmed = "worker", True
            person = get_person(session, person_id)
            if tell and not was_worker and person_id != actor_id:
                community = get_community(session, community_id)
                notify(session, self.clock, person_id, "notify.appointed", community=community.name)
            person.community_id = person.community_id or community_id
            session.flush()
            self.ledger.open_person_account(session, community_id, person_id)
            audit(session, self.clock, "worker.appoint", actor_id, community_id, "person", person_id)
            return _member(membership)

        return self.db.transaction(work)

    def unappoint_worker(self, actor_id: int, community_id: int, person_id: int) -> int:
        """Admins end a worker's role: they stay a member (a volunteer when registered, else a
        resident), are told, and the family links made under the role end with it. Returns how
        many links ended."""

        def work(session: Session) -> int:
            require_admin(session, actor_id)
            membership = self._membership(session, person_id, community_id)
            person = get_person(session, person_id)
            if membership is None or membership.role != "worker":
                raise InvalidInput("error.not_a_worker", name=person.display_name)
            registered = bool(person.real_name and person.phone)
            membership.role, membership.confirmed = ("volunteer" if registered else "resident"), True
            membership.away_since = None
            ended = end_role_links(session, self.clock, actor_id, person_id, community_id)
            community = get_community(session, community_id)
            audit(
                session,
                self.clock,
                "worker.unappoint",
                actor_id,
                community_id,
                "person",
                person_id,
                {"links_ended": ended},
            )
            notify(session, self.clock, person_id, "notify.unappointed", community=community.name)
            return ended

        return self.db.transaction(work)

    def switch_community(self, person_id: int, name: str) -> Community:
        """Act in another community: one the person belongs to, or any for an admin."""

        def work(session: Session) -> Community:
            person = get_person(session, person_id)
            community = session.scalar(select(Community).where(Community.name == name.strip()))
            if community is None:
                raise NotFound("error.no_community")
            if not person.is_admin and self._membership(session, person_id, community.id) is None:
                raise NotAllowed("error.not_member_of", community=community.name)
            person.community_id = community.id
            return community

        return self.db.transaction(work)

    @reads
    def communities(self, person_id: int) -> list[str]:
        """Names of the communities the person may switch to."""
        with self.db.read() as session:
            person = get_person(session, person_id)
            stmt = select(Community.name).order_by(Community.id)
            if not person.is_admin:
                stmt = stmt.join(Membership, Membership.community_id == Community.id).where(
                    Membership.person_id == person_id
                )
            return list(session.scalars(stmt))

    def set_locale(self, person_id: int, locale: str) -> None:
        if locale not in ("zh-CN", "en"):
            raise InvalidInput("error.bad_locale")

        def work(session: Session) -> None:
            (get_person(session, person_id)).locale = locale

        self.db.transaction(work)

    @reads
    def membership(self, person_id: int, community_id: int) -> Member | None:
        with self.db.read() as session:
            found = self._membership(session, person_id, community_id)
            return None if found is None else _member(found)

    def staff_chats(self, channel: str) -> list[StaffChat]:
        """Workers (in the community they act in now) and admins reachable on `channel`."""
        with self.db.uow() as session:
            rows = (
                session.execute(
                    select(Identity.chat_id, Identity.external_id, Person.locale, Membership.role, Person.is_admin)
                    .join(Person, Person.id == Identity.person_id)
                    .outerjoin(
                        Membership,
                        (Membership.person_id == Person.id)
                        & (Membership.community_id == Person.community_id)
                        & Membership.confirmed.is_(True),
                    )
                    .where(Identity.channel == channel, (Membership.role == "worker") | Person.is_admin.is_(True))
                    .order_by(Identity.id)
                )
            ).all()
        return [
            StaffChat(chat_id or external_id, locale, role, bool(is_admin))
            for chat_id, external_id, locale, role, is_admin in rows
        ]

    @staticmethod
    def _membership(session: Session, person_id: int, community_id: int) -> Membership | None:
        return session.scalar(
            select(Membership).where(Membership.person_id == person_id, Membership.community_id == community_id)
        )


def _member(m: Membership, invited_as: str | None = None) -> Member:
    return Member(m.person_id, m.community_id, m.role, m.confirmed, invited_as)


_TIMEZONE = select(Community.timezone).where(Community.id == bindparam("community_id"))
