"""A log handler that writes lines in batches, as a web server's buffered access log does.

One write per line costs a system call per request. Here lines wait, briefly, and go out
together: when the batch nears PIPE_BUF (a write to a pipe of at most 4096 bytes is never
interleaved with another worker's, so lines stay whole in a shared log stream), at once
for a WARNING or worse (with every line before it, in order), and otherwise at most
`flush_interval_s` after they were made, by a background thread. Closing (at exit too,
through logging.shutdown) writes what is left; a killed process loses at most that last
fraction of a second of INFO lines.
"""

import logging
import threading
from typing import TextIO

PIPE_BUF = 4096
# In characters: a little room for the odd character that takes more than one byte.
BATCH_CHARS = 3072


class BatchedStreamHandler(logging.StreamHandler):  # type: ignore[type-arg]
    def __init__(self, stream: TextIO, flush_interval_s: float = 0.5) -> None:
        super().__init__(stream)
        self._pending: list[str] = []
        self._pending_chars = 0
        self._closed = threading.Event()
        self._flusher = threading.Thread(target=self._flush_every, args=(flush_interval_s,),
                                         name="log-flusher", daemon=True)
        self._flusher.start()

    def emit(self, record: logging.LogRecord) -> None:
        # Called with self.lock held (Handler.handle takes it).
        try:
            line = self.format(record) + self.terminator
            if self._pending_chars + len(line) > BATCH_CHARS:
                self._write_pending()
            self._pending.append(line)
            self._pending_chars += len(line)
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
        self._closed.set()
        self.flush()
        super().close()

    def _write_pending(self) -> None:
        if self._pending:
            text = "".join(self._pending)
            self._pending.clear()
            self._pending_chars = 0
            self.stream.write(text)
        if self.stream and hasattr(self.stream, "flush"):
            self.stream.flush()

    def _flush_every(self, interval_s: float) -> None:
        while not self._closed.wait(interval_s):
            try:
                self.flush()
            except Exception:  # a closed stream at exit: nothing left to do
                return
