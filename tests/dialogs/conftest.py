from __future__ import annotations

import pytest

from bot.dialogs.engine import Dialogs
from bot.services import Services
from tests.dialogs.chat import Chat


@pytest.fixture
def dialogs(services: Services) -> Dialogs:
    return Dialogs(services)


@pytest.fixture
def chat(dialogs: Dialogs):
    def open_chat(handle: str) -> Chat:
        return Chat(dialogs, handle)

    return open_chat
