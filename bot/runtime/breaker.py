"""A circuit breaker per channel: when the platform itself is down (a sender returned `Down`),
the channel's sending pauses instead of spending every message's tries, and resumes by itself.

    breaker = Breaker("wechat", first=2.0, cap=300.0)
    allowed = breaker.allowance()  # None: send freely; 1: one message may probe; 0: paused
    breaker.down(reason)           # a send found the platform down: pause (again), probe later
    breaker.up()                   # the platform answered (whatever it said about the message)

Closed → open on the first `Down`; the first probe comes `first` seconds later, then each failed
probe doubles the wait up to `cap`. A probe is one real message (the oldest due): when the
platform answers, the breaker closes and the rest follows. Every change is logged at WARNING
with its reason. The state is this process's: each process finds the outage and its end on its
own, with nothing to share."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from bot.runtime import metrics

log = logging.getLogger("bot.runtime.breaker")

CLOSED, OPEN, PROBING = "closed", "open", "probing"
METRIC_STATE = {CLOSED: "closed", OPEN: "open", PROBING: "half-open"}  # /metrics' names


class Breaker:
    def __init__(self, channel: str, *, first: float, cap: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.channel, self.first, self.cap, self.clock = channel, first, max(cap, first), clock
        self.state = CLOSED
        self.reason = ""
        self.wait = 0.0  # the current pause between probes
        self.probe_at = 0.0
        self.since = 0.0  # when it opened

    def allowance(self) -> int | None:
        if self.state == CLOSED:
            return None
        if self.state == OPEN and self.clock() >= self.probe_at:
            self._set(PROBING)
        return 1 if self.state == PROBING else 0

    def paused(self) -> bool:
        return self.state != CLOSED

    def seconds_to_probe(self) -> float:
        return max(self.probe_at - self.clock(), 0.0) if self.state == OPEN else 0.0

    def down(self, reason: str) -> None:
        now = self.clock()
        if self.state == CLOSED:
            self.wait, self.since = self.first, now
            log.warning(
                "%s: platform down (%s): sending paused, first probe in %.1f s", self.channel, reason, self.wait
            )
        elif self.state == PROBING:
            self.wait = min(self.wait * 2, self.cap)
            log.warning("%s: probe failed (%s): still paused, next probe in %.1f s", self.channel, reason, self.wait)
        else:
            return  # already open: another send of the same round found the same
        self.reason, self.probe_at = reason, now + self.wait
        self._set(OPEN)

    def up(self) -> None:
        if self.state == CLOSED:
            return
        log.warning(
            "%s: platform answers again after %.0f s: sending resumed (it was down: %s)",
            self.channel,
            self.clock() - self.since,
            self.reason,
        )
        self.reason, self.wait = "", 0.0
        self._set(CLOSED)

    def _set(self, state: str) -> None:
        self.state = state
        metrics.breaker_changed(self.channel, METRIC_STATE[state])


class Breakers(dict[str, Breaker]):
    """One breaker per channel, shared by a process's inbox and outbox workers."""

    def __init__(self, first: float = 2.0, cap: float = 300.0) -> None:
        super().__init__()
        self.first, self.cap = first, cap

    def __missing__(self, channel: str) -> Breaker:
        breaker = self[channel] = Breaker(channel, first=self.first, cap=self.cap)
        return breaker
