"""SQLite's write-ahead log, copied into the database file off the request path.

Left to itself, SQLite checkpoints inside the commit that takes the log past 1,000 pages:
that one request copies the log and waits for the disk to sync it (10 to 15 ms in our
measurements, for a commit that otherwise takes well under one). The app's connections
move that limit far out (app/db.py) and this thread checkpoints instead, twenty times a
second, on a connection of its own. A PASSIVE checkpoint never waits for readers or
writers; what it cannot copy yet, the next one does. Several processes on one database
file each run one: SQLite lets one checkpoint run at a time, and the others find little
or nothing left to do. Should this thread fail, the far limit still bounds the log.

Copied is not yet started over: SQLite writes from the log's start again only for a
writer whose transaction begins with the whole log copied. Under steady pushes the
process's writer (app/sqlite_writer.py) always begins with its last commit not yet
copied, so the log grew to the far limit, where the commit that reached it checkpointed
and started the log over itself: that commit, and often the next, took 14-20 ms. Every
0.75 s, under fifty devices pushing at once, the slowest pushes waited twice as long as
the rest. So once a round has copied a long log whole, the writer copies the little
that came after itself, before its next transaction (restart_due): that transaction
starts the log over.
"""

import logging
import sqlite3
import threading

log = logging.getLogger(__name__)

# Often, so that each copy is small: once a second, under 50 devices pushing at once, each
# copy took enough of the one core to double the slowest pushes' wait (p99 72 ms against
# 46-50 ms); every 0.05 s rather than 0.1 s took their p99 from 34 to 30 ms. A round with
# nothing to copy costs microseconds.
CHECKPOINT_EVERY_S = 0.05
# Shutdown waits this long for the last checkpoint: a stalled disk must not hang it.
STOP_WAIT_S = 5.0
# A log this long (8 MiB of 4 KiB pages), copied whole, is started over by the writer.
RESTART_AFTER_FRAMES = 2048


class WalCheckpointer:
    def __init__(self, database: str, uri: bool = False,
                 every_s: float = CHECKPOINT_EVERY_S,
                 restart_after_frames: int = RESTART_AFTER_FRAMES) -> None:
        self.database = database
        self.uri = uri
        self.every_s = every_s
        self.restart_after_frames = restart_after_frames
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="wal-checkpoint", daemon=True)
        self._connection: sqlite3.Connection | None = None
        self._failing = False  # since the last round that worked
        self._restart_due = threading.Event()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop after a last checkpoint, so that a clean shutdown leaves a short log."""
        self._stopping.set()
        self._thread.join(STOP_WAIT_S)
        if self._thread.is_alive():
            log.warning("The last WAL checkpoint did not finish in %.0f s", STOP_WAIT_S)

    def _run(self) -> None:
        try:
            while not self._stopping.wait(self.every_s):
                self.checkpoint()
            self.checkpoint()
        finally:
            if self._connection is not None:
                self._connection.close()

    def checkpoint(self) -> None:
        try:
            if self._connection is None:
                self._connection = sqlite3.connect(self.database, uri=self.uri)
                self._connection.execute("PRAGMA busy_timeout=5000")
            # A read first: a connection opened before the file was switched to WAL
            # mode (a new database) learns of it only from a read of the file's header,
            # and until then its checkpoints copy nothing.
            self._connection.execute("PRAGMA schema_version").fetchall()
            _busy, logged, copied = self._connection.execute(
                "PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        except sqlite3.Error:
            # A full disk or a lost file: the log keeps every commit meanwhile, and the
            # next round tries again (on a new connection). Worth a look, never a crash;
            # one line when it starts failing and one when it works again, not ten a second.
            if not self._failing:
                log.warning("WAL checkpoint failed; will retry", exc_info=True)
            self._failing = True
            if self._connection is not None:
                self._connection.close()
                self._connection = None
            return
        if self._failing:
            log.info("WAL checkpoints work again")
            self._failing = False
        if logged >= self.restart_after_frames and copied == logged:
            self._restart_due.set()

    def restart_due(self) -> bool:
        """Whether a round has copied a long log whole since the last ask: the writer,
        between its transactions, then copies what came after and starts the log over
        (see the module's doc)."""
        if not self._restart_due.is_set():
            return False
        self._restart_due.clear()
        return True
