"""Once start-up is done the process leaves what it built to live: the garbage collector's full
collections walk only what came after, and what came after is still collected."""

from __future__ import annotations

import gc
import weakref

from bot.runtime.app import settle_memory


class Node:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: only the collector frees it


def test_what_start_up_built_is_out_of_sight_and_later_garbage_still_goes() -> None:
    built = Node()
    assert any(o is built for o in gc.get_objects())
    settle_memory()
    try:
        assert not any(o is built for o in gc.get_objects())
        later = Node()
        gone = weakref.ref(later)
        del later
        gc.collect()
        assert gone() is None
    finally:
        gc.unfreeze()
