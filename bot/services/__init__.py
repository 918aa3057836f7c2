"""Services decide: business rules and every database write live here, behind plain calls."""

from __future__ import annotations

from bot.clock import Clock
from bot.db import Database
from bot.services.downloads import DownloadsService
from bot.services.deadlines import DeadlinesService
from bot.services.expiry import ExpiryService
from bot.services.family import FamilyService
from bot.services.hours import HoursService
from bot.services.inbox import InboxService
from bot.services.ledger import Ledger
from bot.services.links import LinksService
from bot.services.moves import MovesService
from bot.services.outbox import OutboxService
from bot.services.people import PeopleService
from bot.services.points import PointsService
from bot.services.reports import ReportsService
from bot.services.requests import RequestsService
from bot.services.star_posters import StarPostersService
from bot.services.stars import StarsService
from bot.services.tokens import TokenStore
from bot.services.teams import TeamsService
from bot.services.shop import ShopService
from bot.services.visits import VisitsService
from bot.services import report_sections  # noqa: F401  (the supermarket's and visits' report sheets)
from bot.settings import Settings


class Services:
    """Everything a channel adapter or a job may call, built once per process."""

    def __init__(self, db: Database, settings: Settings, clock: Clock | None = None) -> None:
        self.db, self.settings = db, settings
        self.clock = clock or Clock()
        self.ledger = Ledger(self.clock)
        self.people = PeopleService(db, settings, self.clock, self.ledger)
        self.hours = HoursService(db, settings, self.clock, self.ledger)
        self.points = PointsService(db, self.clock, self.ledger)
        self.outbox = OutboxService(db, self.clock, settings.locale)
        self.inbox = InboxService(db, self.clock)
        self.stars = StarsService(db, settings, self.clock)
        self.reports = ReportsService(db, settings, self.clock)
        self.shop = ShopService(db, settings, self.clock, self.ledger)
        self.visits = VisitsService(db, settings, self.clock, self.people, self.hours)
        self.links = LinksService(db, self.clock)
        self.tokens = TokenStore(db, self.clock)
        self.downloads = DownloadsService(db, self.clock)
        self.star_posters = StarPostersService(db, self.clock, self.stars)
        self.deadlines = DeadlinesService(db, self.clock)
        self.teams = TeamsService(db, self.clock, self.hours)
        self.family = FamilyService(db, self.clock, self.ledger)
        self.moves = MovesService(db, self.clock, self.ledger)
        self.expiry = ExpiryService(db, self.clock, self.ledger)
        self.requests = RequestsService(db, settings, self.clock, self.ledger, self.hours)
