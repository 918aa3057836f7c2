"""The month's service hours for the national volunteer system (全国志愿服务信息系统, 志愿中国) and
the offices that upload to it: one row per volunteer, activity (category) and service date, with
the name, the ID type and number, the hours and the recording organisation (谁记录谁证明: the
community, under the full name its certificates print).

Hours are service hours as bot.hours.service_hours defines them (approved logs, a service
request's hours included), by service date in the month. The column headers are fixed Chinese, the
same in every language, so an office maps them to its upload template once (the README lists
them).

The ID type and the full ID number are written for a volunteer who gave their number (with its
own consent, which names certificates and this record: the national system's upload needs the
whole number, so this is the one output that carries it, decrypted with LOVEBANK_DATA_KEY). With
no number on record, or no configured key that decrypts it, both cells stay empty; the masked form
is never written, since an upload would take it for the number. The audit entry counts the
numbers written."""

from __future__ import annotations

import logging

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.certificates.service import ID_TYPE_NAMES, issuer_of
from bot.hours import service_hours
from bot.kernel.access import get_community, require_role
from bot.kernel.audit import audit
from bot.kernel.clock import Clock
from bot.kernel.db import Database
from bot.kernel.errors import InvalidInput
from bot.kernel.settings import Settings
from bot.privacy.idnumbers import reveal
from bot.reports.service import Column, HoursBy, Report, ReportsService, Sheet
from models import IdDocument, Person, ServiceCategory, ServiceLog

log = logging.getLogger(__name__)

KEY = "volunteer-hours"  # the sheet's key: the CSV file is NAME-volunteer-hours.csv when split
TITLE = "志愿服务时长"
# The exact headers, in order (documented in the README for offices to map).
COLUMNS = (
    Column("姓名"),
    Column("证件类型"),
    Column("证件号码", width=22),
    Column("服务项目"),
    Column("服务日期", "date"),
    Column("服务时长（小时）", "hours"),
    Column("记录组织"),
)


class VolunteerHoursService:
    def __init__(self, db: Database, settings: Settings, clock: Clock) -> None:
        self.db, self.settings, self.clock = db, settings, clock

    def monthly(self, actor_id: int, community_id: int, month: str) -> Report:
        """A worker's (`/report hours`): their community's month; the export is audited."""

        def work(session: Session) -> Report:
            require_role(session, actor_id, community_id, "worker")
            report = self._build(session, community_id, month)
            self._audit(session, actor_id, report, "chat")
            return report

        return self.db.transaction(work)  # inside a turn: the turn's one transaction

    def export(self, community: str | None, month: str) -> Report:
        """The operator's `lovebank export volunteer-hours`: by community name, or the only one."""

        def work(session: Session) -> Report:
            report = self._build(session, ReportsService._community_named(session, community), month)
            self._audit(session, None, report, "cli")
            return report

        return self.db.transaction(work)

    def _build(self, session: Session, community_id: int, month_text: str) -> Report:
        community = get_community(session, community_id)
        clock = self.clock.community(community.timezone)
        month = clock.month(month_text)
        if month.after(clock.month()):
            raise InvalidInput("error.month_future")
        organisation = issuer_of(community).name
        entry = ServiceLog
        name = func.coalesce(Person.real_name, Person.display_name)
        rows = session.execute(
            select(
                entry.person_id,
                name,
                IdDocument.id_type,
                IdDocument.encrypted,
                ServiceCategory.name,
                entry.service_date,
                func.sum(entry.minutes),
            )
            .join(Person, Person.id == entry.person_id)
            .join(ServiceCategory, ServiceCategory.id == entry.category_id)
            .outerjoin(IdDocument, IdDocument.person_id == entry.person_id)  # one at most per person
            .where(*service_hours.counted(community_id, month.first, month.last))
            .group_by(
                entry.person_id,
                name,
                IdDocument.id_type,
                IdDocument.encrypted,
                ServiceCategory.name,
                entry.service_date,
            )
            .order_by(entry.service_date, name, entry.person_id, ServiceCategory.name)
        )
        ids: dict[int, tuple[str | None, str | None]] = {}  # decrypted once a person
        table = []
        for person_id, person, id_type, token, category, day, minutes in rows:
            if person_id not in ids:
                ids[person_id] = self._id_number(id_type, token)
            table.append((person, *ids[person_id], category, day, int(minutes) / 60, organisation))
        sheet = Sheet(KEY, TITLE, COLUMNS, table)
        return Report(community_id, community.name, month, "zh-CN", [sheet], self.clock.now(), HoursBy([], [], 0))

    def _id_number(self, id_type: str | None, token: str | None) -> tuple[str | None, str | None]:
        """The ID type's name and the full number, or both empty: none on record, or no configured
        key decrypts it (the operator is told why in the log)."""
        if id_type is None or token is None:
            return None, None
        number = reveal(self.settings, token)
        if number is None:
            log.warning(
                "volunteer-hours export: an ID number left empty: LOVEBANK_DATA_KEY is %s",
                "not set" if self.settings.data_key is None else "not a key that decrypts it",
            )
            return None, None
        return ID_TYPE_NAMES.get(id_type, id_type), number

    def _audit(self, session: Session, actor_id: int | None, report: Report, via: str) -> None:
        rows = report.sheets[0].rows  # the ID numbers written are counted (people, not rows)
        audit(
            session,
            self.clock,
            "export.volunteer_hours",
            actor_id,
            report.community_id,
            "community",
            report.community_id,
            {
                "month": report.month.label,
                "rows": len(rows),
                "via": via,
                "id_numbers": len({r[0] for r in rows if r[2] is not None}),
            },
        )
