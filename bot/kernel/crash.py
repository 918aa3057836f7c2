"""A test-only hook for the crash test (tests/e2e/test_turn_crash.py): with
`LOVEBANK_TEST_CRASH=0.2` the process kills itself (SIGKILL, as `kill -9` does) with that chance at
each named point of a turn (`0.2@turn.settled`: at that point only), so crashes land between a
turn's writes and its reply. Unset (always, outside that test), `point` does nothing."""

from __future__ import annotations

import logging
import os
import random
import signal

log = logging.getLogger(__name__)

_chance, _, ONLY = (os.environ.get("LOVEBANK_TEST_CRASH") or "0").partition("@")
CHANCE = float(_chance)


def point(name: str) -> None:
    if CHANCE and (not ONLY or name == ONLY) and random.random() < CHANCE:
        log.warning("test crash at %s", name)
        os.kill(os.getpid(), signal.SIGKILL)
