"""The Telegram channel (python-telegram-bot): see app.py."""

from handlers.telegram.app import build_application, run

__all__ = ["build_application", "run"]
