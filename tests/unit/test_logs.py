"""The one logging setup: JSON lines parse, carry time/level/logger/message, extras and the exception."""

from __future__ import annotations

import io
import logging
import logging.config
from collections.abc import Iterator

import orjson
import pytest

from driftline.logs import JsonFormatter, formatter_for, logging_config


@pytest.fixture
def json_log() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("driftline.test_logs")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield logger, stream
    logger.removeHandler(handler)
    logger.propagate = True


def test_each_line_is_one_json_object(json_log: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = json_log
    logger.info("scored batch=%d", 17, extra={"partition": 3, "model_version": 2})
    logger.warning("multi\nline message")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2
    first, second = (orjson.loads(line) for line in lines)
    assert first["level"] == "INFO" and first["logger"] == "driftline.test_logs"
    assert first["message"] == "scored batch=17"
    assert first["partition"] == 3 and first["model_version"] == 2
    assert first["time"].endswith("+00:00") and "T" in first["time"]
    assert second["message"] == "multi\nline message" and second["level"] == "WARNING"
    assert "exception" not in first


def test_the_exception_has_a_key_of_its_own(json_log: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = json_log
    try:
        raise ValueError("bad value")
    except ValueError:
        logger.exception("batch failed", extra={"offset": 42})
    (line,) = stream.getvalue().splitlines()
    entry = orjson.loads(line)
    assert entry["message"] == "batch failed" and entry["offset"] == 42
    assert entry["exception"].startswith("Traceback") and "ValueError: bad value" in entry["exception"]


def test_unserialisable_extras_are_written_as_text(json_log: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = json_log
    logger.info("odd", extra={"where": object.__new__(type("Where", (), {"__str__": lambda self: "here"}))})
    assert orjson.loads(stream.getvalue())["where"] == "here"


def test_text_format_is_one_readable_line() -> None:
    record = logging.LogRecord("trainer.release", logging.INFO, __file__, 1, "released version=%d", (3,), None)
    text = formatter_for("text").format(record)
    assert text.endswith("INFO trainer.release: released version=3")
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(text)


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_the_config_faust_is_given_is_valid(log_format: str) -> None:
    config = logging_config("INFO", log_format)  # type: ignore[arg-type]
    config["root"] = {"level": "INFO", "handlers": []}  # leave the test run's own root logger alone
    config["loggers"] = {"driftline.test_logs.config": {"handlers": ["default"], "propagate": False}}
    logging.config.dictConfig(config)
    (handler,) = logging.getLogger("driftline.test_logs.config").handlers
    assert isinstance(handler.formatter, JsonFormatter) == (log_format == "json")
    logging.getLogger("driftline.test_logs.config").handlers.clear()
