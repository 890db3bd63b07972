"""Log set-up: JSON lines (production) or readable lines (development), each with a request id.

The request id lives in a context variable set by the request middleware; a log record
factory copies it onto every record when the record is made, so any handler (ours, pytest's
caplog, a library's) sees it, including lines written from a sync route's worker thread.
Access lines, logged per request through `log_access`, carry the id they were logged with
even when their record is made later, or never (see batched_handler).
"""

import logging
import os
import re
import sys
import time
from contextvars import ContextVar
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, NamedTuple, TextIO

import orjson

from app.config import Settings
from app.observability.batched_handler import BatchedStreamHandler, sole_batched_handler

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)

# A client-sent id is echoed into logs and headers, so only short, plain tokens are taken.
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:+/=-]{0,127}")
# Attributes every LogRecord has; anything else on a record came from `extra=`. Uvicorn
# adds the message again with terminal colour codes, for its own console formatter.
_STANDARD_ATTRS = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime",
                                                                 "color_message"}
# Belt and braces: an `extra` field whose name says it is a secret is never written out.
_SECRET_WORDS = ("password", "secret", "token", "cookie", "authorization", "session_id")
_HANDLER_MARK = "_crg_handler"


# Made ids are 128 random bits from the OS, drawn for 256 ids at a time: unique, opaque
# (they tell nothing of how many requests came before), and one system call per 256
# requests, where a uuid4 per request costs one each. A forked child draws its own.
_IDS_PER_DRAW = 256
_fresh_ids: list[str] = []


def _new_request_id() -> str:
    try:
        return _fresh_ids.pop()
    except IndexError:  # all used (or another thread took the last one): draw more
        drawn = os.urandom(16 * _IDS_PER_DRAW).hex()
        _fresh_ids.extend(drawn[start:start + 32] for start in range(32, len(drawn), 32))
        return drawn[:32]


os.register_at_fork(after_in_child=_fresh_ids.clear)


def accept_or_make_request_id(sent: str | None) -> str:
    """The client's X-Request-ID when it is a sane token, else a new one (32 hex digits)."""
    if sent and _SANE_REQUEST_ID.fullmatch(sent):
        return sent
    return _new_request_id()


def _install_record_factory() -> None:
    current = logging.getLogRecordFactory()
    if getattr(current, "_crg_request_id", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = current(*args, **kwargs)
        record.request_id = request_id_var.get()
        return record

    factory._crg_request_id = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)


@lru_cache(maxsize=256)
def _is_secret(key: str) -> bool:
    lowered = key.lower()
    return any(word in lowered for word in _SECRET_WORDS)


def _extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    # A set difference, not a loop over every attribute: this runs for each access line.
    keys = record.__dict__.keys() - _STANDARD_ATTRS
    keys.discard("request_id")
    return _shown({key: value for key, value in record.__dict__.items() if key in keys})


def _shown(fields: dict[str, Any]) -> dict[str, Any]:
    """Fields as a line shows them: none whose name starts with `_`, secrets redacted."""
    return {key: "[redacted]" if _is_secret(key) else value
            for key, value in fields.items() if key[0] != "_"}


# The last second written, with its text: lines come in time order, many to a second.
# One tuple, replaced whole, so that a thread never reads one second with another's text.
_last_second: tuple[int, str] = (-1, "")
_MILLISECOND_TEXTS = tuple(f".{millisecond:03d}+00:00" for millisecond in range(1000))


def _iso_time(created: float) -> str:
    """`2026-12-03T02:15:35.123+00:00`: UTC, to the millisecond (cut, as a record's msecs)."""
    global _last_second
    second = int(created)
    last, text = _last_second
    if second != last:
        text = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        _last_second = (second, text)
    return text + _MILLISECOND_TEXTS[int((created - second) * 1000)]


_ACCESS_LOGGER = "app.access"
access_log = logging.getLogger(_ACCESS_LOGGER)
_ACCESS_MESSAGE = "%s %s %d %.1f ms"  # method, path, status, duration


class AccessLine(NamedTuple):
    """One request's access line, as the request middleware logs it: the facts only.

    The record (or, in production, the JSON line) is made from them later, with its
    batch (see batched_handler); the time and request id are those of the moment it was
    logged.
    """

    level: int
    created: float
    request_id: str | None
    method: str
    route: str
    path: str  # without its query string: never headers, cookies or bodies
    status: int
    duration_s: float
    client: str | None

    def _message_args(self) -> tuple[str, str, int, float]:
        return self.method, self.path, self.status, self.duration_s * 1000

    def fields(self) -> dict[str, Any]:
        return {"method": self.method, "route": self.route, "path": self.path,
                "status": self.status, "duration_ms": round(self.duration_s * 1000, 2),
                "client": self.client}

    def make(self) -> logging.LogRecord:
        record = access_log.makeRecord(access_log.name, self.level, __file__, 0,
                                       _ACCESS_MESSAGE, self._message_args(), None,
                                       extra=self.fields())
        record.created = self.created
        record.msecs = int((self.created - int(self.created)) * 1000) + 0.0  # as LogRecord
        record.request_id = self.request_id
        return record


def log_access(level: int, method: str, route: str, path: str, status: int,
               duration_s: float, client: str | None) -> None:
    """Log one request's access line on `app.access`, as `logger.handle(record)` would
    (the caller has checked `isEnabledFor(level)`).

    When the app's batched handler is the only place the line can go (production), it
    gets the line's facts and formats them with its batch (see batched_handler);
    otherwise (tests, another handler) the record is made and handled now.
    """
    line = AccessLine(level, time.time(), request_id_var.get(), method, route, path, status,
                      duration_s, client)
    handler = sole_batched_handler(access_log, level)
    if handler is None:
        access_log.handle(line.make())
    else:
        handler.defer(line)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request id, extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry = _entry(record.created, record.levelname, record.name, record.getMessage(),
                       getattr(record, "request_id", None), _extra_fields(record))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return _dumps(entry)

    def format_deferred(self, line: AccessLine) -> str:
        """The text `format(line.make())` gives, straight from the line's facts: its
        fields are fixed, and none is a secret. One dict, in the order `format` writes
        it: this runs for every request."""
        duration_ms = line.duration_s * 1000
        entry = {"time": _iso_time(line.created), "level": logging.getLevelName(line.level),
                 "logger": _ACCESS_LOGGER,
                 # _ACCESS_MESSAGE's text; an f-string takes two thirds of the time of `%`.
                 "message": f"{line.method} {line.path} {line.status} {duration_ms:.1f} ms",
                 "request_id": line.request_id,
                 "method": line.method, "route": line.route, "path": line.path,
                 "status": line.status, "duration_ms": round(duration_ms, 2),
                 "client": line.client}
        if not line.request_id:
            del entry["request_id"]
        return _dumps(entry)


def _entry(created: float, level: str, logger: str, message: str, request_id: str | None,
           fields: dict[str, Any]) -> dict[str, Any]:
    entry: dict[str, Any] = {"time": _iso_time(created), "level": level, "logger": logger,
                             "message": message}
    if request_id:
        entry["request_id"] = request_id
    entry.update(fields)
    return entry


def _dumps(entry: dict[str, Any]) -> str:
    # orjson: a tenth of the standard module's time, on a line written per request.
    return orjson.dumps(entry, default=str).decode()


class HumanFormatter(logging.Formatter):
    """`12:00:01 INFO app.access [3f2a9c1e] GET /api/routines 200 4.2 ms`."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s%(rid)s %(message)s", "%H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        request_id = getattr(record, "request_id", None)
        setattr(record, "rid", f" [{request_id[:8]}]" if request_id else "")  # noqa: B010
        try:
            return super().format(record)
        finally:
            delattr(record, "rid")


def configure_logging(settings: Settings, stream: TextIO | None = None) -> logging.Handler:
    """Install (or replace) this app's handler on the root logger; other handlers stay.

    Lines to the process's stderr go out in batches (BatchedStreamHandler); a stream
    given here (tests) gets each line at once.
    """
    _install_record_factory()
    # No line shows the thread or process, and looking them up costs on every record.
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, _HANDLER_MARK, False)]:
        root.removeHandler(handler)
        handler.close()  # writes what it holds; a batched handler's thread ends
    handler = (logging.StreamHandler(stream) if stream is not None
               else BatchedStreamHandler(sys.stderr))
    handler.setFormatter(JsonFormatter() if settings.json_logs else HumanFormatter())
    setattr(handler, _HANDLER_MARK, True)
    root.addHandler(handler)
    root.setLevel(settings.log_level)
    # Uvicorn's own lines go through our handler (so they are JSON too); its access log is
    # replaced by ours, which carries the request id, route template and duration.
    for name in ("uvicorn", "uvicorn.error"):
        uvicorn_logger = logging.getLogger(name)
        uvicorn_logger.handlers.clear()
        uvicorn_logger.propagate = True
    logging.getLogger("uvicorn.access").disabled = True
    # httpx logs each request's URL at INFO; a reminder's URL is the phone's secret
    # push address.
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
    return handler
