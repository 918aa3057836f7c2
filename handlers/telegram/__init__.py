"""The Telegram channel (python-telegram-bot): the in-process Application (app.py), the
inbox/outbox channel (inbound.py), the webhook (webhook.py) and long polling (polling.py)."""

from handlers.telegram.app import build_application
from handlers.telegram.polling import run

__all__ = ["build_application", "run"]
