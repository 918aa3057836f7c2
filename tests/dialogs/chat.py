"""Talking to the dialog engine as a person would, in tests."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from bot.dialogs.core import Caller, Input
from bot.dialogs.engine import Dialogs, Turn
from bot.services import Services
from models import DialogState, Identity


@dataclass
class Chat:
    dialogs: Dialogs
    handle: str
    channel: str = "console"
    last: Turn | None = None
    updates: int = 0

    @property
    def caller(self) -> Caller:
        return Caller(self.channel, self.handle, display_name=self.handle, handle=self.handle)

    async def send(self, inp: Input) -> str:
        self.last = await self.dialogs.handle(self.caller, inp)
        return "\n".join(self.dialogs.render(self.last.locale, self.last.replies))

    async def say(self, text: str, request_key: str | None = None) -> str:
        self.updates += 1
        return await self.send(Input(text=text, request_key=request_key or f"{self.handle}-{self.updates}"))

    async def press(self, value: str) -> str:
        return await self.send(Input(option=value))

    def options(self) -> list[str]:
        assert self.last is not None
        return [o.value for r in self.last.replies for o in r.options]

    def keys(self) -> list[str]:
        assert self.last is not None
        return [r.text.key for r in self.last.replies]


async def flow_of(services: Services, handle: str, channel: str = "console") -> tuple[str, str] | None:
    """The flow and step a person is in, as the engine saved them; None when in no flow."""
    with services.db.read() as session:
        row = (
            session.execute(
                select(DialogState.flow, DialogState.step)
                .join(Identity, Identity.id == DialogState.identity_id)
                .where(Identity.channel == channel, Identity.external_id == handle)
            )
        ).first()
    return None if row is None or not row.flow else (row.flow, row.step)
