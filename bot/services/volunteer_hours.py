"""The month's service hours for the national volunteer system (全国志愿服务信息系统, 志愿中国) and
the offices that upload to it: one row per volunteer, activity (category) and service date, with
the name, the ID type and number, the hours and the recording organisation (谁记录谁证明: the
community, under the full name its certificates print).

Hours are service hours as bot.services.service_hours defines them (approved logs, a service
request's hours included), by service date in the month. The column headers are fixed Chinese, the
same in every language, so an office maps them to its upload template once (the README lists
them). No ID number is kept in this version: the two ID columns are written and left empty."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.clock import Clock
from bot.db import Database
from bot.errors import InvalidInput
from bot.services import service_hours
from bot.services.access import get_community, require_role
from bot.services.audit import audit
from bot.services.certificates import issuer_of
from bot.services.reports import Column, HoursBy, Report, ReportsService, Sheet
from models import Person, ServiceCategory, ServiceLog

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
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db, self.clock = db, clock

    def monthly(self, actor_id: int, community_id: int, month: str) -> Report:
        """A worker's (`/report hours`): their community's month; the export is audited."""
        with self.db.uow() as session:
            require_role(session, actor_id, community_id, "worker")
            report = self._build(session, community_id, month)
            self._audit(session, actor_id, report, "chat")
            session.commit()
        return report

    def export(self, community: str | None, month: str) -> Report:
        """The operator's `lovebank export volunteer-hours`: by community name, or the only one."""
        with self.db.uow() as session:
            report = self._build(session, ReportsService._community_named(session, community), month)
            self._audit(session, None, report, "cli")
            session.commit()
        return report

    def _build(self, session: Session, community_id: int, month_text: str) -> Report:
        community = get_community(session, community_id)
        clock = self.clock.community(community.timezone)
        month = clock.month(month_text)
        if month.after(clock.month()):
            raise InvalidInput("error.month_future")
        organisation = issuer_of(community).name
        log = ServiceLog
        name = func.coalesce(Person.real_name, Person.display_name)
        rows = session.execute(
            select(log.person_id, name, ServiceCategory.name, log.service_date, func.sum(log.minutes))
            .join(Person, Person.id == log.person_id)
            .join(ServiceCategory, ServiceCategory.id == log.category_id)
            .where(*service_hours.counted(community_id, month.first, month.last))
            .group_by(log.person_id, name, ServiceCategory.name, log.service_date)
            .order_by(log.service_date, name, log.person_id, ServiceCategory.name)
        )
        # ID type and number: none is on record in this version (written empty, never made up).
        table = [(person, None, None, category, day, int(minutes) / 60, organisation)
                 for _, person, category, day, minutes in rows]
        sheet = Sheet(KEY, TITLE, COLUMNS, table)
        return Report(community_id, community.name, month, "zh-CN", [sheet], self.clock.now(), HoursBy([], [], 0))

    def _audit(self, session: Session, actor_id: int | None, report: Report, via: str) -> None:
        audit(session, self.clock, "export.volunteer_hours", actor_id, report.community_id, "community",
              report.community_id, {"month": report.month.label, "rows": len(report.sheets[0].rows), "via": via})

