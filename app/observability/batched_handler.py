"""A log handler that writes lines in batches, as a web server's buffered access log does.

One write per line costs a system call per request. Here lines wait, briefly, and go out
together: when the batch would pass PIPE_BUF (a write to a pipe of at most 4096 bytes is
never interleaved with another worker's, so lines stay whole in a shared log stream; a
single longer line goes alone), at once for a WARNING or worse (with every line before it,
in order), and otherwise at most `flush_interval_s` after they were made, by a background
thread. Closing (at exit too, through logging.shutdown) writes what is left; a killed
process loses at most that last fraction of a second of INFO lines.

A line logged on every request can also skip logging's machinery: `defer` takes what the
record would be made of, and the line is formatted with its batch, just before it is
written (by the formatter straight from those facts, when it knows how; else from the
record, made then). Made and formatted one at a time, among a request's other work, an access
line cost about as much as the rest of a replayed answer; in a batch, a fraction of that.
"""

import contextlib
import logging
import os
import threading
import weakref
from typing import Protocol, TextIO

PIPE_BUF = 4096
# Deferred records wait for at most this many others: a moment, at the rates that matter.
DEFERRED_BATCH = 32


class Deferred(Protocol):
    """What a log record will be made of."""

    @property
    def level(self) -> int: ...

    def make(self) -> logging.LogRecord: ...

_live: "weakref.WeakSet[BatchedStreamHandler]" = weakref.WeakSet()


class BatchedStreamHandler(logging.StreamHandler):  # type: ignore[type-arg]
    def __init__(self, stream: TextIO, flush_interval_s: float = 0.5) -> None:
        super().__init__(stream)
        self.flush_interval_s = flush_interval_s
        self._pending: list[str] = []
        self._pending_bytes = 0
        self._deferred: list[Deferred] = []
        self._stopped = threading.Event()
        self._start_flusher()
        _live.add(self)

    def emit(self, record: logging.LogRecord) -> None:
        # Called with self.lock held (Handler.handle takes it).
        self._format_deferred()  # lines logged before this one go before it
        try:
            self._add(self.format(record) + self.terminator, record.levelno)
        except RecursionError:
            raise
        except Exception:
            self.handleError(record)

    def defer(self, deferred: Deferred) -> None:
        """Log a record that is made (and formatted) later, with its batch. A formatter
        with a `format_deferred` method formats it without making it."""
        with self.lock:  # type: ignore[union-attr]
            self._deferred.append(deferred)
            if deferred.level >= logging.WARNING or len(self._deferred) >= DEFERRED_BATCH:
                self._format_deferred()

    def flush(self) -> None:
        with self.lock:  # type: ignore[union-attr]
            self._format_deferred()
            self._write_pending()

    def _format_deferred(self) -> None:
        batch, self._deferred = self._deferred, []
        format_deferred = getattr(self.formatter, "format_deferred", None)
        for deferred in batch:
            try:
                line = (format_deferred(deferred) if format_deferred
                        else self.format(deferred.make()))
                self._add(line + self.terminator, deferred.level)
            except RecursionError:
                raise
            except Exception:
                with contextlib.suppress(Exception):  # a record that cannot even be made
                    self.handleError(deferred.make())

    def _add(self, line: str, level: int) -> None:
        size = len(line) if line.isascii() else len(line.encode())  # bytes, cheaply
        if self._pending_bytes + size > PIPE_BUF:
            self._write_pending()
        self._pending.append(line)
        self._pending_bytes += size
        if level >= logging.WARNING:
            self._write_pending()

    def close(self) -> None:
        self._stopped.set()
        _live.discard(self)
        try:
            self.flush()
        finally:
            super().close()

    def _write_pending(self) -> None:
        # The batch is dropped even when the write fails, as a plain StreamHandler loses
        # its line: a stream that keeps failing must not make the batch grow forever.
        text = "".join(self._pending)
        self._pending.clear()
        self._pending_bytes = 0
        if text:
            self.stream.write(text)
        if self.stream and hasattr(self.stream, "flush"):
            self.stream.flush()

    def _start_flusher(self) -> None:
        self._flusher = threading.Thread(target=self._flush_every, name="log-flusher",
                                         daemon=True)
        self._flusher.start()

    def _flush_every(self) -> None:
        while not self._stopped.wait(self.flush_interval_s):
            try:
                self.flush()
            except Exception:  # noqa: S112  (a failed write: the next batch tries again)
                continue


def sole_batched_handler(logger: logging.Logger, level: int) -> BatchedStreamHandler | None:
    """The handler that `logger.handle` would give a record of `level` to, when that is a
    batched handler, the only one, and no filter could turn the record away; else None."""
    if logger.disabled:
        return None  # logger.handle drops the record
    found = None
    current: logging.Logger | None = logger
    while current is not None:
        if current.filters:
            return None
        for handler in current.handlers:
            if level < handler.level:
                continue  # logger.handle passes it by
            if found is not None or not isinstance(handler, BatchedStreamHandler) \
                    or handler.filters:
                return None
            found = handler
        if not current.propagate:
            break
        current = current.parent
    return found


def _flush_before_fork() -> None:
    # Lines still held would be written twice: by the parent and by the child.
    for handler in list(_live):
        with contextlib.suppress(Exception):  # a failing stream must not stop the fork
            handler.flush()


def _restart_flushers_after_fork() -> None:
    # Threads do not survive fork: a worker forked from a parent that logged needs its own.
    for handler in list(_live):
        if not handler._stopped.is_set():
            handler._start_flusher()


os.register_at_fork(before=_flush_before_fork, after_in_child=_restart_flushers_after_fork)
