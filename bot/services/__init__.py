"""Services decide: business rules and every database write live here, behind plain calls."""

from __future__ import annotations

from bot.clock import Clock
from bot.services.certificates import CertificatesService
from bot.db import Database, Offloaded
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


class Services:
    """Everything a channel adapter or a job may call, built once per process. Each service is
    synchronous; here it is `Offloaded`, so the async side awaits one hand-off per call, and
    `services.X.sync` is the service itself."""

    def __init__(self, db: Database, settings: Settings, clock: Clock | None = None) -> None:
        self.db, self.settings = db, settings
        self.clock = clock = clock or Clock()
        self.ledger = ledger = Ledger(clock)
        people = PeopleService(db, settings, clock, ledger)
        hours = HoursService(db, settings, clock, ledger)
        stars = StarsService(db, settings, clock)
        family = FamilyService(db, clock, ledger)
        built = {
            "people": people,
            "hours": hours,
            "points": PointsService(db, clock, ledger),
            "outbox": OutboxService(db, clock, settings.locale),
            "inbox": InboxService(db, clock, Pace(settings.inbox_burst, settings.inbox_per_minute)),
            "stars": stars,
            "reports": ReportsService(db, settings, clock, SECTIONS),
            "shop": ShopService(db, settings, clock, ledger),
            "visits": VisitsService(db, settings, clock, people, hours),
            "links": LinksService(db, clock),
            "tokens": TokenStore(db, clock),
            "budgets": SendBudgets(db, clock),
            "downloads": DownloadsService(db, clock),
            "star_posters": StarPostersService(db, clock, stars),
            "deadlines": DeadlinesService(db, clock),
            "teams": TeamsService(db, clock, hours),
            "family": family,
            "dialog_state": DialogStates(db, clock, family),
            "moves": MovesService(db, clock, ledger),
            "expiry": ExpiryService(db, clock, ledger),
            "requests": RequestsService(db, settings, clock, ledger, hours),
            "replay": ReplayGuard(db, clock),
            "certificates": CertificatesService(db, settings, clock),
            "star_levels": StarLevelsService(db, clock),
            "volunteer_hours": VolunteerHoursService(db, settings, clock),
            "trail": AuditTrail(db, clock),
            "mydata": MyDataService(db, clock),
            "forget": ForgetService(db, clock),
            "idnumbers": IdNumbersService(db, settings, clock),
            "retention": RetentionService(db, settings, clock),
        }
        built["parked"] = ParkedWork(db, built["inbox"], built["outbox"])  # type: ignore[arg-type]
        for name, service in built.items():
            setattr(self, name, Offloaded(service, db))
