"""Dialogs: flows written once, presented by every channel."""

from bot.dialogs.core import Actor, Caller, Context, Document, Input, Option, Reply, command, step
from bot.dialogs.engine import Dialogs, Turn

__all__ = ["Actor", "Caller", "Context", "Dialogs", "Document", "Input", "Option", "Reply", "command", "step", "Turn"]
