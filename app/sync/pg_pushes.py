"""PostgreSQL: devices' pushes run on the event loop, over connections of their own.

Imported only when the app runs on PostgreSQL: psycopg is an optional dependency.

A push on a pooled connection runs on a worker thread, and each of its round trips ends
with that thread waiting for the GIL while the event loop runs other requests: with
fifty devices pushing at once, the process kept its core busy but held the GIL only
60 % of the time, the rest going to waking threads and handing the GIL over. Here the
push's own code (push_on_postgres.signed_in_push, through app.direct_sql) runs on the
event loop, in a greenlet (SQLAlchemy's greenlet_spawn, as its asyncio extension runs
the ORM), and each statement's wait is an await on psycopg's asyncio connection: no
thread and no hand-over.

Each statement is a transaction of its own (the connections are in autocommit): a push
is a call that writes, after one that reads where it could not decide on what the
session's last push left, and the write checks for itself that what it decided on still
holds (push_on_postgres.py). No BEGIN and no COMMIT cost a round trip. A connection
that fails is closed and replaced by the next push that needs one; a push whose idle
connection turns out dead (the database restarted meanwhile) runs once more on a new
one, as the pool's ping gives pooled connections a live one.
"""

from collections.abc import Callable
from typing import Any, TypeVar

import anyio
import psycopg
from psycopg.pq import TransactionStatus
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.util.concurrency import await_only, greenlet_spawn

from app.direct_sql import DirectConnection, DirectStatements
from app.sync.polls import close_quietly
from app.sync.push_on_postgres import KnownSessions

T = TypeVar("T")

# Each process keeps up to this many more PostgreSQL connections, opened as pushes need
# them (docs/deployment.md counts them). Pushes beyond them wait their turn, in order.
PUSH_CONNECTIONS = 8
PUSHES_NAME = "sync pushes"  # as pg_stat_activity shows their connections


class PostgresPushes:
    def __init__(self, engine: Engine, statements: DirectStatements,
                 connections: int = PUSH_CONNECTIONS) -> None:
        # The connection arguments SQLAlchemy itself gives psycopg for this URL.
        _args, self._connect_kwargs = engine.dialect.create_connect_args(engine.url)
        self._dialect = engine.dialect
        self._statements = statements
        # Fair, as the polls' (app/sync/polls.py): a push waits its turn for a connection.
        self._admission = anyio.Semaphore(connections, fast_acquire=True)
        # Idle connections, or None where a push has yet to connect one; last in, first out.
        self._idle: list[psycopg.AsyncConnection[Any] | None] = [None] * connections
        self._closed = False
        # What each session's last push left, for its next push (push_on_postgres.py).
        self.known_sessions = KnownSessions()

    async def run(self, work: Callable[[DirectConnection], T]) -> T:
        """work's outcome; each of its statements is committed as it runs."""
        async with self._admission:
            if self._closed:
                raise RuntimeError("The app is shutting down.")
            lease = _Lease(self._idle.pop())
            try:
                return await self._work_on(lease, work)
            finally:
                # The slot goes back before any await, so that no cancellation loses it.
                kept = lease.reusable() if not self._closed else None
                if kept is None:
                    self._idle.insert(0, None)  # live connections stay on top, taken first
                    await close_quietly(lease.connection)
                else:
                    self._idle.append(kept)

    async def _work_on(self, lease: "_Lease", work: Callable[[DirectConnection], T]) -> T:
        reused = lease.connection is not None
        try:
            return await self._work(lease, work)
        except DBAPIError:
            if not (reused and lease.connection is not None and lease.connection.broken):
                raise
        # The idle connection had died (the database restarted meanwhile): once more, on a
        # new connection. A push may run again: what it wrote is found applied.
        await close_quietly(lease.connection)
        lease.connection = None
        return await self._work(lease, work)

    async def _work(self, lease: "_Lease", work: Callable[[DirectConnection], T]) -> T:
        if lease.connection is None:
            try:
                lease.connection = await psycopg.AsyncConnection.connect(
                    **{**self._connect_kwargs, "application_name": PUSHES_NAME},
                    autocommit=True)
            except psycopg.Error as error:
                raise DBAPIError.instance("connect", None, error, psycopg.Error,
                                          connection_invalidated=True) from error
        db = DirectConnection(_Blocking(lease.connection), self._dialect, self._statements)
        return await greenlet_spawn(work, db)

    async def close(self) -> None:
        """Close the idle connections (one still in use is closed when its push ends)."""
        self._closed = True
        for index, connection in enumerate(self._idle):
            self._idle[index] = None
            await close_quietly(connection)


class _Lease:
    """The connection a push holds: the idle one it took, or the one that replaced it."""

    def __init__(self, connection: psycopg.AsyncConnection[Any] | None) -> None:
        self.connection = connection

    def reusable(self) -> psycopg.AsyncConnection[Any] | None:
        """The connection, if it may serve another push: alive and idle (a push cancelled
        mid-statement leaves it busy). Any other is to be closed."""
        connection = self.connection
        if (connection is not None and not connection.broken
                and connection.info.transaction_status == TransactionStatus.IDLE):
            return connection
        return None


class _Blocking:
    """psycopg's asyncio connection as its blocking one, for code that runs in a greenlet
    (app.direct_sql): each wait is an await on the event loop."""

    def __init__(self, connection: psycopg.AsyncConnection[Any]) -> None:
        self._connection = connection

    def cursor(self) -> "_BlockingCursor":
        return _BlockingCursor(self._connection.cursor())


class _BlockingCursor:
    def __init__(self, cursor: psycopg.AsyncCursor[Any]) -> None:
        self._cursor = cursor

    def execute(self, sql: str, params: Any = None) -> None:
        await_only(self._cursor.execute(sql, params))

    def executemany(self, sql: str, params: Any) -> None:
        await_only(self._cursor.executemany(sql, params))

    def fetchall(self) -> list[Any]:
        return await_only(self._cursor.fetchall())

    def close(self) -> None:
        await_only(self._cursor.close())
