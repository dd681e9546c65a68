"""Every log line is one JSON object: gunicorn's, uvicorn's, the app's and the access log.

gunicorn.conf.py hands LOGGING to gunicorn, whose Uvicorn worker gives uvicorn's error logger
the same handler. The app calls configure(), so the app's own lines are JSON under plain uvicorn
or a test client too. The request id sits in a context variable: any line logged while a
request is served (in an `async def` handler, or a `def` one in its thread) carries it.
"""

from __future__ import annotations

import json
import logging
import logging.config
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)


class JsonFormatter(logging.Formatter):
    """time, level, logger, message, pid; the request id while one is served; a traceback as one
    field. A record's `fields` (logger.info(..., extra={"fields": {...}})) are added as they are."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,
        }
        if (current := request_id.get()) is not None:
            line["request_id"] = current
        line.update(getattr(record, "fields", {}))
        if record.exc_info:
            line["traceback"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


LOGGING: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": JsonFormatter}},
    "handlers": {
        "stdout": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stdout"}
    },
    "root": {"level": "INFO", "handlers": ["stdout"]},
    # gunicorn's logger needs a handler of its own: the Uvicorn worker copies its handlers to
    # uvicorn's error logger, which does not propagate. Propagating too would write lines twice.
    "loggers": {"gunicorn.error": {"level": "INFO", "handlers": ["stdout"], "propagate": False}},
}


def configure() -> None:
    """Applies LOGGING, unless gunicorn already has (its handlers are then left as they are)."""
    if not any(isinstance(handler.formatter, JsonFormatter) for handler in logging.getLogger().handlers):
        logging.config.dictConfig(LOGGING)
