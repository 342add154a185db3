"""The one logging setup every Driftline process uses: text for people, or JSON lines for a log pipeline.

``log_format="json"`` writes one object per line: ``time`` (UTC, ISO-8601), ``level``, ``logger``, ``message``, every
``extra=`` field of the call, and the exception's traceback under ``exception``. The formatter is a few lines over
orjson (already a dependency) rather than python-json-logger: no new package for one small class, and orjson
serialises numpy scalars and datetimes as they come.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any, Literal

import orjson

LogFormat = Literal["text", "json"]
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# Every attribute a LogRecord has of its own; anything else on a record came from ``extra=``.
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_") and key not in entry:
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return orjson.dumps(entry, default=str, option=orjson.OPT_SERIALIZE_NUMPY).decode()


def logging_config(level: str | int, log_format: LogFormat) -> dict[str, Any]:
    """A ``logging.config.dictConfig`` dict: one handler on stderr at ``level``, text or JSON. faust's worker takes
    it as its ``logging_config``, so the workers log as every other process does."""
    formatter: dict[str, Any] = {"()": JsonFormatter} if log_format == "json" else {"format": TEXT_FORMAT}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"driftline": formatter},
        "handlers": {
            "default": {"class": "logging.StreamHandler", "formatter": "driftline", "stream": "ext://sys.stderr"}
        },
        "root": {"level": logging.getLevelName(level) if isinstance(level, int) else level, "handlers": ["default"]},
    }


def formatter_for(log_format: LogFormat) -> logging.Formatter:
    return JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)
