"""Services decide: business rules and every database write live here, behind plain calls."""

from __future__ import annotations

from collections.abc import Callable
from typing import ParamSpec, TypeVar

from bot.clock import Clock
from bot.services.certificates import CertificatesService
from bot.db import Database
from bot.services.budgets import SendBudgets
from bot.services.dialog_state import DialogStates
from bot.services.downloads import DownloadsService
from bot.services.deadlines import DeadlinesService
from bot.services.expiry import ExpiryService
from bot.services.family import FamilyService
from bot.services.forget import ForgetService
from bot.services.hours import HoursService
from bot.services.idnumbers import IdNumbersService
from bot.services.inbox import InboxService, Pace
from bot.services.ledger import Ledger
from bot.services.links import LinksService
from bot.services.moves import MovesService
from bot.services.mydata import MyDataService
from bot.services.outbox import OutboxService
from bot.services.parked import ParkedWork
from bot.services.people import PeopleService
from bot.services.points import PointsService
from bot.services.replay import ReplayGuard
from bot.services.reports import ReportsService
from bot.services.retention import RetentionService
from bot.services.requests import RequestsService
from bot.services.star_posters import StarPostersService
from bot.services.star_levels import StarLevelsService
from bot.services.stars import StarsService
from bot.services.tokens import TokenStore
from bot.services.trail import AuditTrail
from bot.services.teams import TeamsService
from bot.services.shop import ShopService
from bot.services.visits import VisitsService
from bot.services.volunteer_hours import VolunteerHoursService
from bot.services.report_sections import SECTIONS
from bot.settings import Settings

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
        self.points = PointsService(db, clock, ledger)
        self.outbox = OutboxService(db, clock, settings.locale)
        self.inbox = InboxService(db, clock, Pace(settings.inbox_burst, settings.inbox_per_minute))
        self.stars = stars = StarsService(db, settings, clock)
        self.reports = ReportsService(db, settings, clock, SECTIONS)
        self.shop = ShopService(db, settings, clock, ledger)
        self.visits = VisitsService(db, settings, clock, people, hours)
        self.links = LinksService(db, clock)
        self.tokens = TokenStore(db, clock)
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

    async def run(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """One service call from the async side: its own unit of work on a database thread."""
        return await self.db.run(fn, *args, **kwargs)
