"""Every flow, listed here: importing a module registers its commands and steps (`@command`,
`@step`), in the order /help and the menus show them, and what waits for a worker is registered
below in the order /pending lists it."""

from bot.flows import (
    common, deadlines, decisions, elders, expiry, family, hours, link, moves, reports, requests, shop, stars,
    start, teams, visits,
    certificates, audit, consent, privacy,
)

FLOWS = (
    common, deadlines, decisions, elders, expiry, family, hours, link, moves, reports, requests, shop, teams, stars,
    start, visits, certificates, audit, consent, privacy,
)

decisions.register((hours.DECIDER, moves.DECIDER, requests.DECIDER, shop.DECIDER, start.DECIDER, family.DECIDER,
                    certificates.DECIDER, privacy.DECIDER))
