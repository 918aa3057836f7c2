"""Logging for the long-running processes: one line per event with its time, level, logger and
request id, as text or (LOVEBANK_LOG_FORMAT=json) as one JSON object a line for a log shipper.

The request id ties together the lines of one piece of work: an HTTP request (the reverse
proxy's `X-Request-Id` when it sends one, else a fresh id) or the handling of one inbox entry
(`in<entry id>`). Set it with `request_id.set(...)` at the start of such work; a task started
from there inherits it.
"""

from __future__ import annotations

import json
import logging
from contextvars import ContextVar
from datetime import UTC, datetime

request_id: ContextVar[str] = ContextVar("request_id", default="-")
TEXT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"


class _RequestId(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "request_id": getattr(record, "request_id", request_id.get()),
            "message": record.getMessage(),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


def setup(log_format: str = "text", level: int = logging.INFO) -> None:
    """Replace the root logger's handlers with one line-per-event handler on stderr."""
    handler = logging.StreamHandler()
    handler.addFilter(_RequestId())
    handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(TEXT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
