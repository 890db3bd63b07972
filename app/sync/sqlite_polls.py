"""SQLite: devices' polls read on the event loop, on a connection of their own.

The SQLite twin of app/sync/polls.py. A page after a cookie (at most SYNC_PULL_LIMIT rows)
is read right on the event loop: in WAL mode a reader never waits for a writer, so the
read is as short as the query. It goes through the sqlite3 module directly, with the
statement compiled once (service.PULL_PAGE, through app.direct_sql) and SQLAlchemy's own
conversions of its parameters and columns: the pool checkout, the execution context and
the reset-on-return around a pooled connection cost several times the query itself.

One statement outside any transaction is its own snapshot, as in autocommit on
PostgreSQL. A kept connection found closed is replaced and the read tried once more,
unseen, as the PostgreSQL polls do with a connection that died while idle. A snapshot
(from 0, or a page that turns into one) goes to a worker thread through the pool, as
before, so that no one's long history holds the event loop.

Most polls find nothing new, poll after poll. The answer to such a poll, in the form
devices send it, is kept (app/sync/kept_polls.py) until anything at all is written to the
database, or the session is due for renewal. `PRAGMA data_version` tells of a write: it
changes whenever another connection (this process's writer and pool, or another process
on the same file) commits, and costs a fraction of the query.

It is asked once per turn of the event loop, not once per poll: at fifty devices polling
at once, a turn answers dozens. Every poll answered with it arrived before it was asked,
so none misses a commit made before the poll arrived. A request runs in a task, whose
steps the loop runs in the order they were scheduled (first in, first out); when the
counter is asked, the end of the turn is scheduled at once, so a poll whose request
arrives later has its task, and every step of it, scheduled after that end, and asks
anew. (An eager task factory would run a task's first step as the task is made, out of
that order: with one set, every poll asks; so does a call from another thread.)
"""

import asyncio
import sqlite3
from collections.abc import Sequence
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

from app.auth.sessions import LiveSession, cookie_hash
from app.config import Settings
from app.db import sqlite_connector
from app.direct_sql import DirectStatement
from app.sync import service
from app.sync.kept_polls import KeptPolls

# A read waits at most this long for a lock (WAL readers take one only while the log is
# recovered or reset, briefly); past it the poll fails as a lost database does: a 503.
BUSY_TIMEOUT_MS = 2000


class SqlitePolls:
    def __init__(self, engine: Engine) -> None:
        self._open = sqlite_connector(engine)
        self._page = DirectStatement(service.PULL_PAGE, engine.dialect)
        self._connection: sqlite3.Connection | None = None
        # Bodies of answers with nothing new, by (session hash, question), as of the
        # database's data_version on the connection that read them (each connection
        # counts on its own: a new one starts with none kept).
        self._kept = KeptPolls()
        self._kept_as_of: int | None = None
        # The loop in whose current turn data_version was read, if any.
        self._turn_loop: asyncio.AbstractEventLoop | None = None

    async def signed_in_pull(self, token: str | None, settings: Settings,
                             client_id: str | None, since: int, limit: int,
                             question: bytes | None = None) -> tuple[LiveSession, bytes]:
        """service.signed_in_pull, for a page after a cookie, on the event loop. With a
        `question` (the query string as sent), an answer with nothing new is kept."""
        hashed = cookie_hash(token)
        answer = self.pull(hashed, client_id, since, limit) if hashed else None
        session, body = service.signed_in_answer(hashed, answer, settings)
        # Kept as of the data_version that pull() read just before its rows, with no
        # await in between.
        self._kept.offer(question, session, answer, body, settings)
        return session, body

    def kept_answer(self, session_hash: str, question: bytes) -> bytes | None:
        """The body kept for the session's question, if the database is unchanged since
        it was read and the session still needs no renewal."""
        key = (session_hash, question)
        if key not in self._kept:
            return None
        try:
            standing = self._kept_still_stand(self.connection())
        except sqlite3.Error:
            # The poll goes the whole way, where the failure is answered as on any read
            # (a 503): one answer path for errors, for a case rare enough not to matter.
            self._drop()
            return None
        return self._kept.get(key) if standing else None

    def written(self, account: int) -> None:
        """Nothing to do: the next data_version read tells of this process's writes too."""

    def _kept_still_stand(self, connection: sqlite3.Connection) -> bool:
        """Whether nothing was committed since the kept answers were read; if something
        was, they are let go. Asked once per turn of the event loop (see the module)."""
        if self._turn_loop is not None and _running_loop() is self._turn_loop:
            return True  # as of this turn's answer: anything kept since is newer still
        (version,) = connection.execute("PRAGMA data_version").fetchone()
        self._hold_answer_for_this_turn()
        if version == self._kept_as_of:
            return True
        self._kept.clear()
        self._kept_as_of = version
        return False

    def _hold_answer_for_this_turn(self) -> None:
        loop = _running_loop()
        if loop is not None and loop.get_task_factory() is None:
            self._turn_loop = loop
            loop.call_soon(self._end_turn)
        # Outside a running loop (or with an eager task factory), every call asks.

    def _end_turn(self) -> None:
        self._turn_loop = None

    def pull(self, session_hash: str, client_id: str | None, since: int,
             limit: int) -> service.Pulled | None:
        """service.pull for a page after a cookie (since > 0), without a pooled connection."""
        page = service.pull_page(since, limit)
        if page is None:
            raise service.SnapshotNeeded
        rows = self._read(service.pull_params(session_hash, client_id, since, page))
        if service.needs_whole_snapshot(rows, limit):
            raise service.SnapshotNeeded
        return service.pulled(rows, since, limit)

    def _read(self, values: dict[str, Any]) -> Sequence[Any]:
        sql, params = self._page.parameters(values)
        for attempt in (1, 2):
            reused = self._connection is not None
            try:
                connection = self.connection()
                # Before the rows: a commit in between leaves rows newer than the
                # version they are kept under, let go at the next poll, never older.
                self._kept_still_stand(connection)
                raw_rows = connection.execute(sql, params).fetchall()
                # Rows by name, as SQLAlchemy's and psycopg's are (service.pulled reads
                # them so).
                return self._page.rows(raw_rows)
            except sqlite3.Error as error:
                self._drop()  # never kept: closed, or in an unknown state
                if reused and attempt == 1 and isinstance(error, sqlite3.ProgrammingError):
                    continue  # the kept one was found closed: once more, on a new one
                # As SQLAlchemy wraps it: the error handlers answer it as on every route.
                raise DBAPIError.instance(sql, params, error, sqlite3.Error,
                                              hide_parameters=True) from error
        raise AssertionError("unreachable")

    def connection(self) -> sqlite3.Connection:
        """The polls' connection, opened now if there is none."""
        if self._connection is None:
            self._connection = self._connect()
        return self._connection

    def _connect(self) -> sqlite3.Connection:
        # In autocommit mode each SELECT is its own read transaction, and no idle
        # connection holds a snapshot that would stop the log's checkpoint.
        connection = self._open()
        try:
            connection.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            connection.execute("PRAGMA query_only=ON")
        except sqlite3.Error:
            connection.close()  # never kept half set up
            raise
        return connection

    def _drop(self) -> None:
        connection, self._connection = self._connection, None
        self._kept.clear()
        self._kept_as_of = None
        self._turn_loop = None
        if connection is not None:
            connection.close()

    async def close(self) -> None:
        self._drop()


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:  # a thread with no running loop
        return None
