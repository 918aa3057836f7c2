"""The Telegram channel (python-telegram-bot): the update ↔ dialog translation and the
inbox/outbox channel (inbound.py, replies.py), the webhook of `lovebank serve` (webhook.py) and
the long polling of `lovebank run` (polling.py)."""

from handlers.telegram.polling import run

__all__ = ["run"]
