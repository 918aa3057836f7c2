"""What a channel's sender reports after trying to send, and what happens next.

A sender (one per channel, in `handlers/<channel>/`) tries one message and returns an outcome;
it never raises for a platform's refusal and never writes to the database. The inbox (replies)
and the outbox (notifications) turn the outcome into the message's next state:

- `Sent()` — it went out: marked delivered.
- `Retry(after)` — the platform asked us to slow down (Telegram 429 `retry_after`): tried again
  after `after` seconds; not counted as a failure.
- `Unreachable(reason)` — the platform will not deliver to this person (Telegram 403: blocked,
  left the group): the identity is marked unreachable and its notifications wait until the person
  writes to us again; nothing is retried for it meanwhile. `since`: any message received after it
  counts as writing again (default: the moment the outcome is recorded) — a channel that decided
  by what it read earlier says when it looked, so a message that came meanwhile is not missed.
- `Down(reason)` — the platform itself is not working (no connection, timeouts, 5xx, WeChat's
  -1 "system busy" or 45009 day quota, credentials it refuses): nothing is wrong with this message.
  The channel's circuit breaker (`bot.runtime.breaker`) pauses the channel's sending and probes until the
  platform answers; the message waits and is not counted as a failure.
- `Held(reason)` — the channel keeps it for the person's next message (WeChat: its message
  budget for them is spent): not tried again until the person writes, then carried by the
  answer; never parked.
- `Failed(error, final=False)` — anything else about this one message (a bad request): tried
  again with exponential backoff, parked after `MAX_TRIES` tries (or at once when `final`).

`parts` says how many parts of a multi-part message (a reply of several Bot API calls) went out
before the outcome, so a retry resumes after them instead of repeating them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

MAX_TRIES = 5
BACKOFF_CAP = timedelta(minutes=10)


@dataclass(frozen=True)
class Sent:
    parts: int = 0
    via: str | None = None  # how, when a channel has several ways (WeChat: message, template)


@dataclass(frozen=True)
class Retry:
    after: float
    parts: int = 0


@dataclass(frozen=True)
class Unreachable:
    reason: str
    parts: int = 0
    since: datetime | None = None


@dataclass(frozen=True)
class Down:
    reason: str
    parts: int = 0


@dataclass(frozen=True)
class Failed:
    error: str
    final: bool = False
    parts: int = 0


@dataclass(frozen=True)
class Held:
    reason: str
    parts: int = 0


Outcome = Sent | Retry | Unreachable | Down | Failed | Held


def backoff(attempts: int) -> timedelta:
    """2, 4, 8 … seconds after the 1st, 2nd, 3rd … failure, at most ten minutes."""
    return min(timedelta(seconds=2 ** max(attempts, 1)), BACKOFF_CAP)


def short(error: object, limit: int = 500) -> str:
    text = str(error) or type(error).__name__
    return text[:limit]
