"""SQLAlchemy 2 typed tables, one module per aggregate. Importing this registers them all."""

from models.audit import AuditEntry, Consent
from models.base import Base
from models.certificates import Certificate, CertificateKey
from models.channels import AccessToken, Download, LinkCode, SendBudget
from models.community import Community, Grid
from models.family import ActingFor, CommunityMove, FamilyLink
from models.hours import ServiceCategory, ServiceLog
from models.inbox import InboxEntry
from models.ledger import Account, Transfer
from models.outbox import DialogState, JobRun, Notification
from models.people import Identity, InviteCode, Membership, Person
from models.privacy import ErasureRequest, IdDocument
from models.requests import ServiceRequest
from models.stars import AnnouncementGroup
from models.shop import Redemption, ShopItem, StockMovement
from models.teams import PersonTag, Team, TeamMember
from models.visits import Elder, ElderVolunteer, VisitAlert, VisitRecord
from models.webhooks import WebhookNonce

__all__ = [
    "AnnouncementGroup", "AuditEntry", "Account", "Base", "Community", "Grid", "Identity", "InviteCode",
    "Membership", "Person", "DialogState", "JobRun", "Notification", "ServiceCategory", "ServiceLog", "Transfer",
    "Redemption", "ShopItem", "StockMovement",
    "Elder", "ElderVolunteer", "VisitAlert", "VisitRecord",
    "AccessToken", "Download", "LinkCode", "SendBudget",
    "PersonTag", "Team", "TeamMember",
    "ActingFor", "CommunityMove", "FamilyLink",
    "InboxEntry",
    "ServiceRequest",
    "WebhookNonce",
    "Certificate", "CertificateKey",
    "Consent",
    "ErasureRequest", "IdDocument",
]
