"""PostgreSQL: devices' polls read on the event loop, over a few connections of their own.

Imported only when the app runs on PostgreSQL: psycopg is an optional dependency.

A poll on a pooled SQLAlchemy connection takes a worker thread, and the hops there and
back, under load, cost more than the query's round trip. Here the same statement
(service.PULL_PAGE, compiled once for PostgreSQL) goes out through psycopg's asyncio
connection, in autocommit: one statement, one snapshot, no BEGIN or COMMIT, no thread.

Only a page after a cookie is read here (at most SYNC_PULL_LIMIT rows). A snapshot (from
0, or the rare page that turns into one because its cookie predates purged tombstones)
goes to a worker thread, so that no one's long history holds the event loop.

A connection that fails is closed and replaced by the next poll that needs one. An idle
connection found dead (the database restarted meanwhile) is replaced and the read tried
once more, as the pool's ping does for pooled connections. Errors go up as SQLAlchemy's
would, so that a lost database is answered with a 503, as on every route.
"""

import logging
from collections.abc import Sequence
from typing import Any

import anyio
import psycopg
from psycopg.rows import namedtuple_row
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

from app.auth.sessions import LiveSession, cookie_hash
from app.config import Settings
from app.sync import service

log = logging.getLogger(__name__)

# Each process keeps up to this many more PostgreSQL connections, opened as polls need
# them (docs/deployment.md counts them).
POLL_CONNECTIONS = 4


class PostgresPolls:
    def __init__(self, engine: Engine, connections: int = POLL_CONNECTIONS) -> None:
        # The connection arguments SQLAlchemy itself gives psycopg for this URL.
        _args, self._connect_kwargs = engine.dialect.create_connect_args(engine.url)
        self._page = service.PULL_PAGE.compile(dialect=engine.dialect)
        # Fair: a poll that waits for a connection is served in its turn (a queue's get()
        # lets a newcomer take a connection that was handed to a waiter, and the waiter
        # goes to the back: seconds of tail latency under load).
        self._admission = anyio.Semaphore(connections, fast_acquire=True)
        # Idle connections, or None where a poll has yet to connect one. Last in, first
        # out: the connections in use stay warm, and a quiet instance opens only one.
        self._idle: list[psycopg.AsyncConnection[Any] | None] = [None] * connections
        self._closed = False

    async def signed_in_pull(self, token: str | None, settings: Settings,
                             client_id: str | None, since: int, limit: int,
                             question: bytes | None = None) -> tuple[LiveSession, bytes]:
        """service.signed_in_pull, for a page after a cookie, on the event loop.

        No answer is kept (`question` is for SqlitePolls): whether another instance
        wrote meanwhile would take a round trip to know, as long as the poll's own.
        """
        hashed = cookie_hash(token)
        answer = await self.pull(hashed, client_id, since, limit) if hashed else None
        return service.signed_in_answer(hashed, answer, settings)

    async def pull(self, session_hash: str, client_id: str | None, since: int,
                   limit: int) -> service.Pulled | None:
        """service.pull for a page after a cookie (since > 0), on the event loop."""
        page = service.pull_page(since, limit)
        if page is None:
            raise service.SnapshotNeeded
        rows = await self._read(service.pull_params(session_hash, client_id, since, page))
        if service.needs_whole_snapshot(rows, limit):
            raise service.SnapshotNeeded
        return service.pulled(rows, since, limit)

    async def _read(self, values: dict[str, Any]) -> Sequence[Any]:
        async with self._admission:
            if self._closed:
                raise RuntimeError("The app is shutting down.")
            connection = self._idle.pop()
            try:
                connection, rows = await self._execute(connection, values)
            except BaseException:
                self._idle.append(None)
                raise
            if self._closed:
                await _close_quietly(connection)
            else:
                self._idle.append(connection)
            return rows

    async def _execute(self, connection: psycopg.AsyncConnection[Any] | None,
                       values: dict[str, Any]) -> tuple[psycopg.AsyncConnection[Any], Any]:
        """The rows, and the connection that read them (a new one if the idle one died)."""
        params = self._page.construct_params(values)
        for attempt in (1, 2):
            reused = connection is not None
            try:
                if connection is None:
                    connection = await psycopg.AsyncConnection.connect(
                        **self._connect_kwargs, autocommit=True, row_factory=namedtuple_row)
                cursor = await connection.execute(self._page.string, params)
                return connection, await cursor.fetchall()
            except psycopg.Error as error:
                broken = connection is None or connection.broken
                await _close_quietly(connection)  # never kept: dead, or in an unknown state
                if broken and reused and attempt == 1:
                    connection = None  # died while idle: once more, on a new connection
                    continue
                # As SQLAlchemy wraps it: a lost connection is a 503, anything else a 500.
                raise DBAPIError.instance(self._page.string, params, error, psycopg.Error,
                                          connection_invalidated=broken) from error
            except BaseException:
                await _close_quietly(connection)  # cancelled mid-read
                raise
        raise AssertionError("unreachable")

    async def close(self) -> None:
        """Close the idle connections; one still in use is closed when its poll ends."""
        self._closed = True
        for index, connection in enumerate(self._idle):
            self._idle[index] = None
            if connection is not None:
                await _close_quietly(connection)


async def _close_quietly(connection: psycopg.AsyncConnection[Any] | None) -> None:
    if connection is None:
        return
    try:
        await connection.close()
    except Exception:  # noqa: BLE001  (a broken connection may fail to close; it is gone)
        log.debug("A poll connection failed to close.", exc_info=True)
