"""SQLite: devices' pushes written on one connection of the process's own, one at a time.

SQLite lets one writer at a time into the file. Pushes through the pool would each take a
connection and a worker thread, then wait for the write lock in SQLite's busy handler,
which sleeps and retries (up to 100 ms a time) rather than queueing: under load, a few
unlucky pushes wait many times longer than the rest. Here a push waits its turn on the
event loop, first come first served, and then writes at once, on a connection kept
open, through app.direct_sql (SQLAlchemy's machinery costs more than the push's SQL).

Other processes, and other writes of this one, still meet the lock in the busy handler,
as before. A connection that fails is closed; the next push opens a new one.
"""

import sqlite3
from collections.abc import Callable
from typing import TypeVar

import anyio
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from starlette.concurrency import run_in_threadpool

from app.db import apply_sqlite_pragmas, sqlite_connector
from app.direct_sql import DirectConnection, DirectStatement

T = TypeVar("T")


class SqliteWriter:
    def __init__(self, engine: Engine) -> None:
        self._open = sqlite_connector(engine)
        self._dialect = engine.dialect
        self._statements: dict[tuple[int, tuple[str, ...]], DirectStatement] = {}
        self._turn = anyio.Lock(fast_acquire=True)  # fair: waiters are served in order
        self._connection: DirectConnection | None = None

    async def run(self, work: Callable[[DirectConnection], T]) -> T:
        """Run work in one transaction (committed when it returns, rolled back when it
        raises), after every push that asked before it."""
        async with self._turn:
            return await run_in_threadpool(self._transaction, work)

    def _transaction(self, work: Callable[[DirectConnection], T]) -> T:
        raw = self._begin()
        try:
            result = work(self._direct())
            _driver(raw.execute, "COMMIT")
            return result
        except BaseException as error:
            self._end(raw, error)
            raise

    def _begin(self) -> sqlite3.Connection:
        """BEGIN IMMEDIATE: the write lock now, before anything is read (as lock_user's
        first write would take it), so that what the work reads stays true until it
        commits. A connection found closed is replaced once, unseen."""
        raw = self.connection()
        try:
            _driver(raw.execute, "BEGIN IMMEDIATE")
        except DBAPIError as error:
            if not isinstance(error.orig, sqlite3.ProgrammingError):
                raise  # locked past the busy timeout, or the disk failed: a 503
            self._drop()
            raw = self.connection()
            _driver(raw.execute, "BEGIN IMMEDIATE")
        return raw

    def _end(self, raw: sqlite3.Connection, error: BaseException) -> None:
        """Roll back; a connection whose driver failed (other than on a busy database) is
        closed, to be opened anew."""
        try:
            if raw.in_transaction:
                raw.execute("ROLLBACK")
        except sqlite3.Error:
            self._drop()
            return
        if isinstance(error, DBAPIError) and not _busy(error):
            self._drop()

    def connection(self) -> sqlite3.Connection:
        """The writer's connection, opened now if there is none."""
        raw: sqlite3.Connection = self._direct().driver_connection
        return raw

    def _direct(self) -> DirectConnection:
        return self._connection or self._connect()

    def _connect(self) -> DirectConnection:
        # In autocommit mode: the transaction is BEGIN ... COMMIT above.
        try:
            raw = self._open()
        except sqlite3.Error as error:
            raise DBAPIError.instance("connect", None, error, sqlite3.Error) from error
        try:
            apply_sqlite_pragmas(raw, None)
        except sqlite3.Error as error:
            raw.close()
            raise DBAPIError.instance("PRAGMA", None, error, sqlite3.Error) from error
        self._connection = DirectConnection(raw, self._dialect, self._statements)
        return self._connection

    def _drop(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.driver_connection.close()

    async def close(self) -> None:
        async with self._turn:
            self._drop()


def _driver(execute: Callable[[str], object], sql: str) -> None:
    """One statement of the writer's own; a failure goes up as SQLAlchemy would raise it,
    so that a lost or locked database is answered as on every route (503)."""
    try:
        execute(sql)
    except sqlite3.Error as error:
        raise DBAPIError.instance(sql, None, error, sqlite3.Error) from error


def _busy(error: DBAPIError) -> bool:
    """SQLite's write lock held elsewhere past the busy timeout: the connection is fine."""
    return getattr(error.orig, "sqlite_errorname", "") in {"SQLITE_BUSY", "SQLITE_LOCKED"}
