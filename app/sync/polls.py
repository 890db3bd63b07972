"""PostgreSQL: devices' polls read on the event loop, over a few connections of their own.

A poll on a pooled SQLAlchemy connection takes a worker thread, and the hops there and
back, under load, cost more than the query's round trip. Here the same statement
(service.PULL_PAGE, compiled once for PostgreSQL) goes out through psycopg's asyncio
connection, in autocommit: one statement, one snapshot, no BEGIN or COMMIT, no thread.

Only bounded reads come here (a page after a cookie); a snapshot from scratch still goes
to a worker thread, so that no one's large history holds the event loop. A connection
that fails is closed and replaced by the next poll that needs one; its error goes up as
SQLAlchemy's would, so that a lost database is answered with a 503 as on every route.
"""

import logging
from collections.abc import Sequence
from typing import Any

import anyio
import psycopg
from psycopg.rows import namedtuple_row
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

from app.sync import service

log = logging.getLogger(__name__)

# Each instance keeps this many more PostgreSQL connections (docs/deployment.md counts them).
POLL_CONNECTIONS = 4


class PostgresPolls:
    def __init__(self, engine: Engine, connections: int = POLL_CONNECTIONS) -> None:
        # The connection arguments SQLAlchemy itself gives psycopg for this URL.
        _args, self._connect_kwargs = engine.dialect.create_connect_args(engine.url)
        self._page = service.PULL_PAGE.compile(dialect=engine.dialect)
        self._whole = service.PULL_WHOLE.compile(dialect=engine.dialect)
        # Fair: a poll that waits for a connection is served in its turn (a queue's get()
        # lets a newcomer take a connection that was handed to a waiter, and the waiter
        # goes to the back: seconds of tail latency under load).
        self._admission = anyio.Semaphore(connections)
        # Idle connections, or None where a poll has yet to connect one. Last in, first
        # out: the connections in use stay warm, and a quiet instance opens only one.
        self._idle: list[psycopg.AsyncConnection[Any] | None] = [None] * connections

    async def pull(self, session_hash: str, client_id: str | None, since: int,
                   limit: int) -> service.Pulled | None:
        """service.pull for a bounded read (since > 0), on the event loop."""
        page = service.pull_page(since, limit)
        if page is None:
            raise ValueError("A snapshot from scratch is not read on the event loop.")
        rows = await self._read(self._page, service.pull_params(session_hash, client_id,
                                                                  since, page))
        if service.needs_whole_snapshot(rows, limit):
            rows = await self._read(self._whole, service.pull_params(session_hash, client_id,
                                                                       since, None))
        return service.pulled(rows, since, limit)

    async def _read(self, compiled: Any, values: dict[str, Any]) -> Sequence[Any]:
        try:
            self._admission.acquire_nowait()  # no pass through the event loop when free
        except anyio.WouldBlock:
            await self._admission.acquire()
        connection = self._idle.pop()
        try:
            if connection is None:
                connection = await psycopg.AsyncConnection.connect(
                    **self._connect_kwargs, autocommit=True, row_factory=namedtuple_row)
            cursor = await connection.execute(compiled.string,
                                              compiled.construct_params(values))
            rows = await cursor.fetchall()
        except BaseException as error:
            self._idle.append(None)
            if connection is not None:
                await _close_quietly(connection)
            if isinstance(error, psycopg.Error):
                # As SQLAlchemy wraps it: the app answers a lost database with a 503.
                raise DBAPIError.instance(compiled.string, values, error, psycopg.Error,
                                          connection_invalidated=True) from error
            raise
        else:
            self._idle.append(connection)
        finally:
            self._admission.release()
        return rows

    async def close(self) -> None:
        while self._idle:
            connection = self._idle.pop()
            if connection is not None:
                await _close_quietly(connection)


async def _close_quietly(connection: psycopg.AsyncConnection[Any]) -> None:
    try:
        await connection.close()
    except Exception:  # noqa: BLE001  (a broken connection may fail to close; it is gone)
        log.debug("A poll connection failed to close.", exc_info=True)
