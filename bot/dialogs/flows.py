"""Every flow, listed here: importing a module registers its commands and steps (`@command`,
`@step`), in the order /help and the menus show them, and what waits for a worker is registered
below in the order /pending lists it."""

from bot.audit import flow as audit
from bot.certificates import flow as certificates
from bot.deadlines import flow as deadlines
from bot.decisions import flow as decisions
from bot.desk import flow as desk
from bot.dialogs import common
from bot.elders import flow as elders
from bot.expiry import flow as expiry
from bot.family import flow as family
from bot.hours import flow as hours
from bot.links import flow as link
from bot.moves import flow as moves
from bot.paper import flow as paper
from bot.people import flow as start
from bot.privacy import consent_flow as consent
from bot.privacy import flow as privacy
from bot.reports import flow as reports
from bot.requests import flow as requests
from bot.shop import flow as shop
from bot.stars import flow as stars
from bot.teams import flow as teams
from bot.visits import flow as visits

FLOWS = (
    common,
    deadlines,
    decisions,
    desk,
    elders,
    expiry,
    family,
    hours,
    link,
    moves,
    paper,
    reports,
    requests,
    shop,
    teams,
    stars,
    start,
    visits,
    certificates,
    audit,
    consent,
    privacy,
)

decisions.register(
    (
        hours.DECIDER,
        moves.DECIDER,
        requests.DECIDER,
        shop.DECIDER,
        start.DECIDER,
        family.DECIDER,
        certificates.DECIDER,
        privacy.DECIDER,
    )
)
