"""PostgreSQL: devices' pushes run on the event loop, over connections of their own.

Imported only when the app runs on PostgreSQL: psycopg is an optional dependency.

A push on a pooled connection runs on a worker thread, and each of its round trips ends
with that thread waiting for the GIL while the event loop runs other requests: with
fifty devices pushing at once, the process kept its core busy but held the GIL only
60 % of the time, the rest going to waking threads and handing the GIL over. Here the
push (push_on_postgres.signed_in_push) is a coroutine on the event loop, and each of its
statements is an await on psycopg's asyncio connection: no thread and no hand-over, and
no layer between the push and the driver.

Each statement is a transaction of its own (the connections are in autocommit): a push
is a call that writes, after one that reads where it could not decide on what the
session's last push left, and the write checks for itself that what it decided on still
holds (push_on_postgres.py). No BEGIN and no COMMIT cost a round trip. A connection
that fails is closed and replaced by the next push that needs one; a push whose idle
connection turns out dead (the database restarted meanwhile) runs once more on a new
one, as the pool's ping gives pooled connections a live one. The driver's errors go up
as SQLAlchemy wraps them, so that a lost database is answered as on every route.
"""

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import anyio
import psycopg
from psycopg.pq import TransactionStatus
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

from app.sync.polls import close_quietly
from app.sync.push_on_postgres import KnownSessions

T = TypeVar("T")
Connection = psycopg.AsyncConnection[Any]

# Each process keeps up to this many more PostgreSQL connections, opened as pushes need
# them (docs/deployment.md counts them). Pushes beyond them wait their turn, in order.
PUSH_CONNECTIONS = 8
PUSHES_NAME = "sync pushes"  # as pg_stat_activity shows their connections


class PostgresPushes:
    def __init__(self, engine: Engine, connections: int = PUSH_CONNECTIONS) -> None:
        # The connection arguments SQLAlchemy itself gives psycopg for this URL.
        _args, self._connect_kwargs = engine.dialect.create_connect_args(engine.url)
        # Fair, as the polls' (app/sync/polls.py): a push waits its turn for a connection.
        self._admission = anyio.Semaphore(connections, fast_acquire=True)
        # Idle connections, or None where a push has yet to connect one; last in, first out.
        self._idle: list[Connection | None] = [None] * connections
        self._closed = False
        # What each session's last push left, for its next push (push_on_postgres.py).
        self.known_sessions = KnownSessions()

    async def run(self, work: Callable[[Connection], Awaitable[T]]) -> T:
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

    async def _work_on(self, lease: "_Lease", work: Callable[[Connection], Awaitable[T]]) -> T:
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

    async def _work(self, lease: "_Lease", work: Callable[[Connection], Awaitable[T]]) -> T:
        if lease.connection is None:
            try:
                lease.connection = await psycopg.AsyncConnection.connect(
                    **{**self._connect_kwargs, "application_name": PUSHES_NAME},
                    autocommit=True)
            except psycopg.Error as error:
                raise DBAPIError.instance("connect", None, error, psycopg.Error,
                                          connection_invalidated=True) from error
        try:
            return await work(lease.connection)
        except psycopg.Error as error:
            raise DBAPIError.instance(None, None, error, psycopg.Error,
                                      hide_parameters=True) from error

    async def close(self) -> None:
        """Close the idle connections (one still in use is closed when its push ends)."""
        self._closed = True
        for index, connection in enumerate(self._idle):
            self._idle[index] = None
            await close_quietly(connection)


class _Lease:
    """The connection a push holds: the idle one it took, or the one that replaced it."""

    def __init__(self, connection: Connection | None) -> None:
        self.connection = connection

    def reusable(self) -> Connection | None:
        """The connection, if it may serve another push: alive and idle (a push cancelled
        mid-statement leaves it busy). Any other is to be closed."""
        connection = self.connection
        if (connection is not None and not connection.broken
                and connection.info.transaction_status == TransactionStatus.IDLE):
            return connection
        return None
