"""The Bot API stand-in as a fixture: (api, port)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.standin import BotAPI, serve


@pytest.fixture
def bot_api() -> Any:
    api = BotAPI()
    server = serve(api)
    yield api, server.server_address[1]
    server.shutdown()
    server.server_close()
