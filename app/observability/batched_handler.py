"""A log handler that writes lines in batches, as a web server's buffered access log does.

One write per line costs a system call per request. Here lines wait, briefly, and go out
together: when the batch would pass PIPE_BUF (a write to a pipe of at most 4096 bytes is
never interleaved with another worker's, so lines stay whole in a shared log stream; a
single longer line goes alone), at once for a WARNING or worse (with every line before it,
in order), and otherwise at most `flush_interval_s` after they were made, by a background
thread. Closing (at exit too, through logging.shutdown) writes what is left; a killed
process loses at most that last fraction of a second of INFO lines.
"""

import logging
import os
import threading
import weakref
from typing import TextIO

PIPE_BUF = 4096

_live: "weakref.WeakSet[BatchedStreamHandler]" = weakref.WeakSet()


class BatchedStreamHandler(logging.StreamHandler):  # type: ignore[type-arg]
    def __init__(self, stream: TextIO, flush_interval_s: float = 0.5) -> None:
        super().__init__(stream)
        self.flush_interval_s = flush_interval_s
        self._pending: list[str] = []
        self._pending_bytes = 0
        self._stopped = threading.Event()
        self._start_flusher()
        _live.add(self)

    def emit(self, record: logging.LogRecord) -> None:
        # Called with self.lock held (Handler.handle takes it).
        try:
            line = self.format(record) + self.terminator
            size = len(line.encode())
            if self._pending_bytes + size > PIPE_BUF:
                self._write_pending()
            self._pending.append(line)
            self._pending_bytes += size
            if record.levelno >= logging.WARNING:
                self._write_pending()
        except RecursionError:
            raise
        except Exception:
            self.handleError(record)

    def flush(self) -> None:
        with self.lock:  # type: ignore[union-attr]
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


def _restart_flushers_after_fork() -> None:
    # Threads do not survive fork: a worker forked from a parent that logged needs its own.
    for handler in list(_live):
        if not handler._stopped.is_set():
            handler._start_flusher()


os.register_at_fork(after_in_child=_restart_flushers_after_fork)
