"""Services decide: business rules and every database write live here, behind plain calls."""

from __future__ import annotations

from collections.abc import Callable
from typing import ParamSpec, TypeVar

from bot.audit.trail import AuditTrail
from bot.certificates.service import CertificatesService
from bot.deadlines.service import DeadlinesService
from bot.desk.service import DeskService
from bot.dialogs.state import DialogStates
from bot.expiry.service import ExpiryService
from bot.family.service import FamilyService
from bot.hours.service import HoursService
from bot.kernel.clock import Clock
from bot.kernel.db import Database
from bot.kernel.settings import Settings
from bot.ledger.service import Ledger
from bot.links.service import LinksService
from bot.messages.budgets import SendBudgets
from bot.messages.downloads import DownloadsService
from bot.messages.inbox import InboxService, Pace
from bot.messages.outbox import OutboxService
from bot.messages.parked import ParkedWork
from bot.messages.replay import ReplayGuard
from bot.moves.service import MovesService
from bot.paper.service import PaperService
from bot.people.directory import Directory
from bot.people.grids import GridsService
from bot.people.service import PeopleService
from bot.points.service import PointsService
from bot.privacy.forget import ForgetService
from bot.privacy.idnumbers import IdNumbersService
from bot.privacy.mydata import MyDataService
from bot.privacy.retention import RetentionService
from bot.reports.sections import SECTIONS
from bot.reports.service import ReportsService
from bot.reports.volunteer_hours import VolunteerHoursService
from bot.requests.service import RequestsService
from bot.shop.service import ShopService
from bot.stars.levels import StarLevelsService
from bot.stars.posters import StarPostersService
from bot.stars.service import StarsService
from bot.teams.service import TeamsService
from bot.visits.checkin import Checkins
from bot.visits.service import VisitsService

P = ParamSpec("P")
T = TypeVar("T")


class Services:
    """Everything a channel adapter or a job may call, built once per process. Each service is
    synchronous: a dialog turn calls it on its database thread, inside the turn's unit of work;
    the async side hands one call over explicitly (`await services.db.run(services.hours.approve,
    ...)`), as its own unit of work."""

    def __init__(self, db: Database, settings: Settings, clock: Clock | None = None) -> None:
        self.db, self.settings = db, settings
        self.clock = clock = clock or Clock()
        self.ledger = ledger = Ledger(clock)
        self.people = people = PeopleService(db, settings, clock, ledger)
        self.hours = hours = HoursService(db, settings, clock, ledger)
        self.grids = GridsService(db, clock)
        self.directory = Directory(db, clock, hours)
        self.points = PointsService(db, clock, ledger)
        self.outbox = OutboxService(db, clock, settings.locale)
        self.inbox = InboxService(db, clock, Pace(settings.inbox_burst, settings.inbox_per_minute))
        self.stars = stars = StarsService(db, settings, clock)
        self.reports = ReportsService(db, settings, clock, SECTIONS)
        self.shop = ShopService(db, settings, clock, ledger)
        self.visits = VisitsService(db, settings, clock, people, hours)
        self.checkins = Checkins(db, clock)
        self.links = LinksService(db, clock)
        self.desk = DeskService(db, clock)
        self.budgets = SendBudgets(db, clock)
        self.downloads = DownloadsService(db, clock)
        self.star_posters = StarPostersService(db, clock, stars)
        self.deadlines = DeadlinesService(db, clock)
        self.teams = TeamsService(db, clock, hours)
        self.family = family = FamilyService(db, clock, ledger)
        self.dialog_state = DialogStates(db, clock, family)
        self.moves = MovesService(db, clock, ledger)
        self.expiry = ExpiryService(db, clock, ledger)
        self.requests = RequestsService(db, settings, clock, ledger, hours)
        self.replay = ReplayGuard(db, clock)
        self.certificates = CertificatesService(db, settings, clock)
        self.star_levels = StarLevelsService(db, clock)
        self.volunteer_hours = VolunteerHoursService(db, settings, clock)
        self.trail = AuditTrail(db, clock)
        self.mydata = MyDataService(db, clock)
        self.forget = ForgetService(db, clock)
        self.idnumbers = IdNumbersService(db, settings, clock)
        self.retention = RetentionService(db, settings, clock)
        self.parked = ParkedWork(db, self.inbox, self.outbox)
        self.paper = PaperService(db, settings, clock, hours, self.points, self.star_levels, self.shop, self.expiry)

    async def run(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """One service call from the async side: its own unit of work on a database thread."""
        return await self.db.run(fn, *args, **kwargs)
