from __future__ import annotations

import pytest

from bot.dialogs.engine import Dialogs
from bot.services import Services
from tests.dialogs.chat import Chat
from tests.world import World, make_world


@pytest.fixture
async def world(services: Services) -> World:
    return await make_world(services)


@pytest.fixture
def dialogs(services: Services) -> Dialogs:
    return Dialogs(services)


@pytest.fixture
def chat(dialogs: Dialogs):  # noqa: ANN201 - a factory
    def open_chat(handle: str) -> Chat:
        return Chat(dialogs, handle)

    return open_chat
