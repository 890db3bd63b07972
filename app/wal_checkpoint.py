"""SQLite's write-ahead log, copied into the database file off the request path.

Left to itself, SQLite checkpoints inside the commit that takes the log past 1,000 pages:
that one request copies the log and waits for the disk to sync it (10 to 15 ms in our
measurements, for a commit that otherwise takes well under one). The app's connections
turn that off (`PRAGMA wal_autocheckpoint=0`, in app/db.py) and this thread checkpoints
instead, every second, on a connection of its own. A PASSIVE checkpoint never waits for
readers or writers; what it cannot copy yet, the next one does. Several processes on one
database file each run one: SQLite lets one checkpoint run at a time, and the others find
little or nothing left to do.
"""

import logging
import sqlite3
import threading
from pathlib import Path

log = logging.getLogger(__name__)

CHECKPOINT_EVERY_S = 1.0


class WalCheckpointer:
    def __init__(self, database: Path, every_s: float = CHECKPOINT_EVERY_S) -> None:
        self.database = database
        self.every_s = every_s
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="wal-checkpoint", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop and checkpoint what is left, so a clean shutdown leaves a short log."""
        self._stopping.set()
        self._thread.join()

    def _run(self) -> None:
        connection = sqlite3.connect(self.database, check_same_thread=False)
        try:
            connection.execute("PRAGMA busy_timeout=5000")
            while not self._stopping.wait(self.every_s):
                self.checkpoint(connection)
            self.checkpoint(connection)
        finally:
            connection.close()

    def checkpoint(self, connection: sqlite3.Connection) -> None:
        try:
            connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except sqlite3.Error:
            # A full disk or a lost file: the log keeps every commit meanwhile, and the
            # next round tries again. Worth an operator's look, never a crash.
            log.warning("WAL checkpoint failed; will retry", exc_info=True)
