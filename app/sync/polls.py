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

An answer with nothing new is kept (app/sync/kept_polls.py) while no instance writes to
its account. A write to any table a pull reads notifies every listening session at its
commit, naming the accounts it wrote to (migrations 0005 and 0006); each process listens
on a connection of its own and lets go the kept answers of those accounts at each
notification, and of the pushing account at its own pushes before they are answered.
Without that, every poll of every account would be read again after anyone's push.
Another instance's write goes unseen here for as long as its notification takes to
come, a few milliseconds: a poll in that moment is told, as a moment earlier, that
nothing is new, and its next poll brings the change. Kept answers are given only while
the listener shows that notifications reach it: every BEAT_EVERY_S it notifies itself
from a poll connection, and when that beat does not come back (the connection lost or
gone quiet, a pooler that does not keep LISTEN, the triggers missing) nothing is kept
or given until one does. A connection that goes quiet without a word can so hide a
write for at most twice BEAT_EVERY_S.
"""

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Sequence
from time import monotonic
from typing import Any

import anyio
import psycopg
from psycopg.rows import namedtuple_row
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

from app.auth.sessions import LiveSession, cookie_hash
from app.config import Settings
from app.observability.metrics import SYNC_WRITE_LISTENER_HEARING
from app.sync import service
from app.sync.kept_polls import KeptPolls

log = logging.getLogger(__name__)

# Each process keeps up to this many more PostgreSQL connections, opened as polls need
# them (docs/deployment.md counts them).
POLL_CONNECTIONS = 4
# The channel the triggers of migrations 0005 and 0006 notify, on writes to these tables
# (what a pull reads). A write's payload names the account written to; a TRUNCATE's is
# empty (every account). A beat, which a listener sends to know that it still hears,
# carries its own payload.
CHANNEL = "sync_changes"
NOTIFYING_TRIGGERS = tuple(f"{table}_notify_sync_{kind}"
                           for table in ("user_account", "auth_session", "sync_client", "rest")
                           for kind in ("change", "truncate"))
ACCOUNT = "account:"
BEAT = "beat:"
# Accounts whose latest write is remembered (for the reads under way); past it, every kept
# answer goes and the count starts over.
MAX_ACCOUNTS_REMEMBERED = 100_000
LISTENER_NAME = "sync write listener"  # as pg_stat_activity shows it
LISTEN_SQL = f"LISTEN {CHANNEL}"
TRIGGERS_SQL = "SELECT count(*) FROM pg_trigger WHERE tgname = ANY(%s) AND tgenabled <> 'D'"
BEAT_SQL = "SELECT pg_notify(%s, %s)"
# A listener sends a beat this often; kept answers are given for twice as long after one
# came back, and none once a beat is missed.
BEAT_EVERY_S = 2.0
# After a lost connection, a listener tries again this long after.
LISTEN_RETRY_S = 1.0


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
        self._kept = KeptPolls()
        # Counts what lets every kept answer go (every start and end of hearing, a write
        # to no account in particular), and the writes to accounts (notified, or this
        # process's own pushes), with the count at each account's latest: a poll's answer
        # is kept only if neither has moved, for its account, since before its read.
        self._changes = 0
        self._writes = 0
        self._latest_write_of: dict[int, int] = {}
        self._hearing_until = 0.0  # monotonic; kept answers are given only until then
        self._listener: asyncio.Task[None] | None = None
        self._outage_logged = False

    def start(self) -> None:
        """Start listening for the writes of every instance (on the running loop)."""
        self._listener = asyncio.get_running_loop().create_task(self._listen())

    async def signed_in_pull(self, token: str | None, settings: Settings,
                             client_id: str | None, since: int, limit: int,
                             question: bytes | None = None) -> tuple[LiveSession, bytes]:
        """service.signed_in_pull, for a page after a cookie, on the event loop. With a
        `question` (the query string as sent), an answer with nothing new is kept."""
        changes, writes = self._changes, self._writes  # before the read, for a write after it
        hashed = cookie_hash(token)
        answer = await self.pull(hashed, client_id, since, limit) if hashed else None
        session, body = service.signed_in_answer(hashed, answer, settings)
        if (changes == self._changes and self.hearing()
                and self._latest_write_of.get(session.user_id, 0) <= writes):
            self._kept.offer(question, session, answer, body, settings)
        return session, body

    def kept_answer(self, session_hash: str, question: bytes) -> bytes | None:
        """The body kept for the session's question, if no write has been heard of since
        it was read, the listener still hears, and the session needs no renewal."""
        return self._kept.get((session_hash, question)) if self.hearing() else None

    def hearing(self) -> bool:
        """Whether the listener showed, lately enough, that it hears of writes."""
        return monotonic() < self._hearing_until

    def written(self, account: int) -> None:
        """This process wrote to `account`: its kept answers go now, not when the
        notification is back (the push's own device may poll again at once)."""
        self._account_changed(account)

    def _account_changed(self, account: int) -> None:
        if (len(self._latest_write_of) >= MAX_ACCOUNTS_REMEMBERED
                and account not in self._latest_write_of):
            self._changed()
        self._writes += 1
        self._latest_write_of[account] = self._writes
        self._kept.forget_account(account)

    def _changed(self) -> None:
        self._changes += 1
        self._kept.clear()
        self._latest_write_of.clear()  # the reads under way see the count above move

    async def _listen(self) -> None:
        while not self._closed:
            connection = None
            try:
                connection = await psycopg.AsyncConnection.connect(
                    **{**self._connect_kwargs, "application_name": LISTENER_NAME},
                    autocommit=True)
                await connection.execute(LISTEN_SQL)
                cursor = await connection.execute(TRIGGERS_SQL, (list(NOTIFYING_TRIGGERS),))
                if (await cursor.fetchone()) != (len(NOTIFYING_TRIGGERS),):
                    raise RuntimeError("The triggers that notify of writes are missing: "
                                       "run the migrations (alembic upgrade head).")
                await self._hear(connection)
            except Exception:  # noqa: BLE001  (whatever it was, listen again)
                # Once per outage, not at every try.
                level = logging.DEBUG if self._outage_logged else logging.WARNING
                self._outage_logged = True
                log.log(level, "Not hearing of the database's writes: every poll is read "
                        "until that is back.", exc_info=True)
            finally:
                self._hearing_until = 0.0
                SYNC_WRITE_LISTENER_HEARING.set(0)
                self._changed()
                await close_quietly(connection)
            await asyncio.sleep(LISTEN_RETRY_S)

    async def _hear(self, connection: psycopg.AsyncConnection[Any]) -> None:
        """Let kept answers go at each write's notification, and send a beat every
        BEAT_EVERY_S; returns when one does not come back."""
        own_beat = BEAT + secrets.token_hex(8)
        while not self._closed:
            # From another connection: a session's own notifications come back with the
            # statement's answer, which would prove nothing of what reaches it unasked.
            await asyncio.wait_for(self._send_beat(own_beat), BEAT_EVERY_S)
            beat_heard = False
            async for notify in connection.notifies(timeout=BEAT_EVERY_S):
                if notify.payload == own_beat:
                    beat_heard = True
                    if not self.hearing():
                        self._begin_hearing()
                    self._hearing_until = monotonic() + 2 * BEAT_EVERY_S
                elif (account := _account_named(notify.payload)) is not None:
                    self._account_changed(account)
                elif not notify.payload.startswith(BEAT):  # other instances' beats
                    self._changed()
            if not beat_heard:
                raise TimeoutError("The listener's beat did not come back.")

    async def _send_beat(self, beat: str) -> None:
        await self._on_a_poll_connection(BEAT_SQL, (CHANNEL, beat))

    def _begin_hearing(self) -> None:
        # A poll read before the LISTEN, or while a beat was missing, may have missed a
        # write: none read before now is kept.
        self._changed()
        SYNC_WRITE_LISTENER_HEARING.set(1)
        if self._outage_logged:
            log.info("Hearing of the database's writes again.")
            self._outage_logged = False

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
        return await self._on_a_poll_connection(self._page.string,
                                                self._page.construct_params(values))

    async def _on_a_poll_connection(self, sql: str, params: Any) -> Sequence[Any]:
        async with self._admission:
            if self._closed:
                raise RuntimeError("The app is shutting down.")
            connection = self._idle.pop()
            try:
                connection, rows = await self._execute(connection, sql, params)
            except BaseException:
                self._idle.append(None)
                raise
            if self._closed:
                await close_quietly(connection)
            else:
                self._idle.append(connection)
            return rows

    async def _execute(self, connection: psycopg.AsyncConnection[Any] | None, sql: str,
                       params: Any) -> tuple[psycopg.AsyncConnection[Any], Any]:
        """The rows, and the connection that read them (a new one if the idle one died)."""
        for attempt in (1, 2):
            reused = connection is not None
            try:
                if connection is None:
                    connection = await psycopg.AsyncConnection.connect(
                        **self._connect_kwargs, autocommit=True, row_factory=namedtuple_row)
                cursor = await connection.execute(sql, params)
                return connection, await cursor.fetchall()
            except psycopg.Error as error:
                broken = connection is None or connection.broken
                await close_quietly(connection)  # never kept: dead, or in an unknown state
                if broken and reused and attempt == 1:
                    connection = None  # died while idle: once more, on a new connection
                    continue
                # As SQLAlchemy wraps it: a lost connection is a 503, anything else a 500.
                raise DBAPIError.instance(sql, params, error, psycopg.Error,
                                          hide_parameters=True,
                                          connection_invalidated=broken) from error
            except BaseException:
                await close_quietly(connection)  # cancelled mid-read
                raise
        raise AssertionError("unreachable")

    async def close(self) -> None:
        """Stop listening; close the idle connections (one still in use is closed when
        its poll ends)."""
        self._closed = True
        self._hearing_until = 0.0
        self._kept.clear()
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
        for index, connection in enumerate(self._idle):
            self._idle[index] = None
            if connection is not None:
                await close_quietly(connection)


def _account_named(payload: str) -> int | None:
    """The account a write's notification names; None for a write to every account."""
    if payload.startswith(ACCOUNT) and payload[len(ACCOUNT):].isdigit():
        return int(payload[len(ACCOUNT):])
    return None


async def close_quietly(connection: psycopg.AsyncConnection[Any] | None) -> None:
    """Close a connection of the polls' or the pushes' own, if any; one already broken may
    fail to, and is gone either way."""
    if connection is None:
        return
    try:
        await connection.close()
    except Exception:  # noqa: BLE001
        log.debug("A connection failed to close.", exc_info=True)
