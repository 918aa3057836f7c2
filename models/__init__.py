"""SQLAlchemy 2 typed tables, one module per aggregate. Importing this registers them all."""

from models.audit import AuditEntry, Consent
from models.base import Base
from models.certificates import Certificate, CertificateKey
from models.channels import AccessToken, Download, LinkCode, SendBudget
from models.community import Community, Grid, GridCoordinator
from models.desk import DeskLogin
from models.family import ActingFor, CommunityMove, FamilyLink
from models.hours import ServiceCategory, ServiceLog
from models.inbox import InboxEntry
from models.ledger import Account, Transfer
from models.outbox import DialogState, JobRun, Notification
from models.paper import EventSheet
from models.people import Identity, InviteCode, Membership, Person
from models.privacy import ErasureRequest, IdDocument
from models.requests import ServiceRequest
from models.shop import Redemption, ShopItem, StockMovement
from models.stars import AnnouncementGroup
from models.teams import PersonTag, Team, TeamMember
from models.visits import Elder, ElderVolunteer, VisitAlert, VisitCheckin, VisitRecord
from models.webhooks import WebhookNonce

__all__ = [
    "AccessToken",
    "Account",
    "ActingFor",
    "AnnouncementGroup",
    "AuditEntry",
    "Base",
    "Certificate",
    "CertificateKey",
    "Community",
    "CommunityMove",
    "Consent",
    "DeskLogin",
    "DialogState",
    "Download",
    "Elder",
    "ElderVolunteer",
    "ErasureRequest",
    "EventSheet",
    "FamilyLink",
    "Grid",
    "GridCoordinator",
    "IdDocument",
    "Identity",
    "InboxEntry",
    "InviteCode",
    "JobRun",
    "LinkCode",
    "Membership",
    "Notification",
    "Person",
    "PersonTag",
    "Redemption",
    "SendBudget",
    "ServiceCategory",
    "ServiceLog",
    "ServiceRequest",
    "ShopItem",
    "StockMovement",
    "Team",
    "TeamMember",
    "Transfer",
    "VisitAlert",
    "VisitCheckin",
    "VisitRecord",
    "WebhookNonce",
]
