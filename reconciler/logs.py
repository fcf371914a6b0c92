"""The daemon's log output: one line per record, as text or JSON (``--log-format json``);
for a verb that runs once, its warnings alone, as Python would print them, but rewritten.

Secrets stay out by construction: only our own loggers (``reconciler.*``), whose messages
our code writes, are shown in full. A library's record below WARNING is dropped (that is
where HTTP clients log URLs and headers); at WARNING or above only its logger and level are
shown. Tracebacks are reduced to the exception's type name, since an exception message
from a library, or a chained one, may quote a credential.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Literal, TextIO

LogFormat = Literal["text", "json"]
FORMATS: tuple[LogFormat, ...] = ("text", "json")

_OURS = "reconciler"
_MARK = "_reconciler_handler"
# Attributes every LogRecord has; anything else on a record came in through ``extra=``.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message",
    "asctime",
    "taskName",
}


def _is_ours(name: str) -> bool:
    return name == _OURS or name.startswith(_OURS + ".")


class _OwnMessagesOnly(logging.Filter):
    """Passes our records; withholds library records (see the module docstring)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if _is_ours(record.name):
            return True
        return record.levelno >= logging.WARNING


def _time(record: logging.LogRecord) -> str:
    moment = datetime.fromtimestamp(record.created, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _message(record: logging.LogRecord) -> str:
    if not _is_ours(record.name):
        return f"message withheld: {record.name} is a library and may log credentials"
    message = record.getMessage()
    if record.exc_info and record.exc_info[0] is not None:
        message += f" ({record.exc_info[0].__name__})"
    return message


def _extras(record: logging.LogRecord) -> dict[str, object]:
    if not _is_ours(record.name):
        return {}
    return {
        key: value
        for key, value in vars(record).items()
        if key not in _STANDARD and not key.startswith("_")
    }


def _jsonable(value: object) -> object:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _jsonable(item) for key, item in value.items()}
    return str(value)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, then the record's extras."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON."""
        line: dict[str, object] = {
            "time": _time(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": _message(record),
        }
        for key, value in _extras(record).items():
            line.setdefault(key, _jsonable(value))
        return json.dumps(line, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """``TIME LEVEL LOGGER: MESSAGE`` on one line (newlines in a message are escaped)."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of text."""
        message = _message(record).replace("\r", "\\r").replace("\n", "\\n")
        return f"{_time(record)} {record.levelname:<7} {record.name}: {message}"


class OneShotFormatter(logging.Formatter):
    """The message alone, as Python prints a warning when nothing is configured, passed
    through ``rewrite`` (``presenting.one_shot``: no promise of a next cycle)."""

    def __init__(self, rewrite: Callable[[str], str]) -> None:
        super().__init__()
        self._rewrite = rewrite

    def format(self, record: logging.LogRecord) -> str:
        """The record's message on one line, rewritten."""
        return self._rewrite(_message(record).replace("\r", "\\r").replace("\n", "\\n"))


def configure_one_shot_logging(
    rewrite: Callable[[str], str], *, stream: TextIO | None = None
) -> logging.Handler:
    """For a verb that runs once (`once`, `plan`, `status`): warnings and errors to
    ``stream`` (stderr), message only, through ``rewrite``; replaces an earlier call's."""
    return _install(OneShotFormatter(rewrite), logging.WARNING, stream)


def configure_logging(
    format: LogFormat = "text", level: int | str = "INFO", *, stream: TextIO | None = None
) -> logging.Handler:
    """Send every log record to ``stream`` (stderr) in ``format``; replaces an earlier call's."""
    if format not in FORMATS:
        raise ValueError(f"log format must be one of {', '.join(FORMATS)}, got {format!r}")
    formatter = JsonFormatter() if format == "json" else TextFormatter()
    return _install(formatter, level, stream)


def _install(
    formatter: logging.Formatter, level: int | str, stream: TextIO | None
) -> logging.Handler:
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _MARK, False)]:
        root.removeHandler(old)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter)
    handler.addFilter(_OwnMessagesOnly())
    setattr(handler, _MARK, True)
    root.addHandler(handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)
    return handler
