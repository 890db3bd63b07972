"""The database engine and the per-request session (the request is the transaction)."""

import logging
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from functools import partial
from typing import Annotated, Any, TypeVar

import anyio
import anyio.to_thread
from fastapi import Depends, Request
from sqlalchemy import Connection, Insert, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.exc import DisconnectionError
from sqlmodel import Session, SQLModel, create_engine
from starlette.concurrency import run_in_threadpool

from app.config import Settings
from app.direct_sql import DirectConnection, DirectStatements

log = logging.getLogger(__name__)

WAL_FAR_LIMIT_PAGES = 16_384  # 64 MiB of 4 KiB pages
WAL_KEPT_BYTES = 16 * 1024 * 1024


def apply_sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers proceed while a writer commits; busy_timeout waits
    # for a lock instead of failing at once under concurrent requests.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=15000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    # The app's WalCheckpointer copies the log into the database file 10 times a second:
    # a commit that crosses the default limit (1,000 pages) would otherwise do it and wait
    # for the disk. The far limit only bounds the log should that thread fail, and a log
    # grown by a burst is cut back once it has been copied.
    cursor.execute(f"PRAGMA wal_autocheckpoint={WAL_FAR_LIMIT_PAGES}")
    cursor.execute(f"PRAGMA journal_size_limit={WAL_KEPT_BYTES}")
    cursor.close()


def sqlite_connector(engine: Engine) -> Callable[[], sqlite3.Connection]:
    """Opens connections of the app's own to the engine's SQLite file (or URI), with the
    options SQLAlchemy itself gives sqlite3 for its URL, outside the pool. In autocommit
    mode (isolation_level None): each statement is its own transaction unless a BEGIN
    says otherwise. Usable from any thread, one at a time."""
    args, options = engine.dialect.create_connect_args(engine.url)
    return partial(sqlite3.connect, args[0],
                   **{**options, "isolation_level": None, "check_same_thread": False})


# Health probes (app/health) run at most this many at once, on threads of their own.
PROBE_CONNECTIONS = 4


def make_engine(settings: Settings) -> Engine:
    url = settings.resolved_database_url
    if settings.is_sqlite:
        if sqlite3.sqlite_version_info < (3, 35):
            # The push purges tombstones with DELETE ... RETURNING (SQLite 3.35, 2021).
            raise RuntimeError(f"SQLite 3.35 or newer is needed; this Python has "
                               f"{sqlite3.sqlite_version}. Use a newer base image.")
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            # A failing statement's values (an email, a password's hash, a session's token
            # hash) would otherwise reach the error log with its SQL.
            hide_parameters=True,
            connect_args={"check_same_thread": False},
            pool_size=settings.db_connections,
            # Requests hold one session slot per pooled connection; health probes hold
            # none. The spare connections are for probes, so that a request with a slot
            # finds a connection free, and a pull on the event loop does not wait for one
            # (only probes abandoned past their deadline, on a stalled disk, could still
            # hold more).
            max_overflow=PROBE_CONNECTIONS,
        )
        event.listen(engine, "connect", apply_sqlite_pragmas)
        return engine
    engine = create_engine(
        url,
        hide_parameters=True,  # as above
        pool_size=settings.db_connections - settings.db_max_overflow,
        # As on SQLite: a health probe finds a connection even when requests hold all of
        # theirs, so a busy instance still answers its load balancer in time.
        max_overflow=settings.db_max_overflow + PROBE_CONNECTIONS,
    )
    event.listen(engine, "checkin", _note_checkin)
    event.listen(engine, "checkout", partial(_ping_if_idle, engine.dialect))
    return engine


# A connection back in the pool this recently was alive then. Pinging every checkout
# (pool_pre_ping) costs a round trip on every request; a database that restarts under
# load fails the requests in flight either way, and the first such failure marks the
# whole pool stale, so the next checkouts connect afresh.
PING_AFTER_IDLE_S = 1.0


def _note_checkin(_dbapi_connection: Any, record: Any) -> None:
    record.info["checked_in_at"] = time.monotonic()


def _ping_if_idle(dialect: Dialect, dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    idle_s = time.monotonic() - record.info.get("checked_in_at", float("-inf"))
    if idle_s < PING_AFTER_IDLE_S:
        return
    try:
        dialect.do_ping(dbapi_connection)
    except Exception as error:
        # The pool drops this connection and checks out another (up to three tries).
        raise DisconnectionError() from error


def warn_if_autovacuum_is_off(engine: Engine, retry_every_s: float | None = None) -> None:
    """Warn the operator of a PostgreSQL server that runs without autovacuum: every edit
    and delete of a rest leaves a dead row that later pulls wade through, and the planner
    keeps its first statistics. Measured under the load test's mix, the rate fell by a
    third within 150 s. A database out of reach is asked again every `retry_every_s`
    (None: not again), as an app often starts before its database."""
    while True:
        try:
            with engine.connect() as connection:
                setting = connection.exec_driver_sql("SHOW autovacuum").scalar()
            break
        except Exception as error:  # noqa: BLE001  (a database down: readiness tells)
            log.debug("autovacuum setting not read: %s", type(error).__name__)
            if retry_every_s is None:
                return
            time.sleep(retry_every_s)
    if setting == "off":
        log.warning("PostgreSQL runs with autovacuum off: sync reads slow down as rests "
                    "are edited and deleted. Turn it on, or VACUUM (ANALYZE) often.")


def make_session_slots(settings: Settings) -> anyio.Semaphore:
    """Admit at most as many requests to the database as there are connections.

    A sync route takes several worker-thread hops (dependencies, the body, the response
    model) while its session holds a connection, and maybe a lock. Unbounded, every worker
    thread can end up waiting for a connection or a lock held by a request that itself
    waits for a free thread: a deadlock that only a timeout breaks. Requests beyond the
    slots wait in the event loop instead, and the thread pool is sized above the slots,
    so an admitted request always finds a thread.
    """
    limiter = anyio.to_thread.current_default_thread_limiter()
    limiter.total_tokens = max(limiter.total_tokens, settings.db_connections + 8)
    # fast_acquire: a free slot is taken without a pass through the event loop, which
    # costs as much as a poll's query on SQLite. Waiters are still served in turn.
    return anyio.Semaphore(settings.db_connections, fast_acquire=True)


async def session_slot(request: Request) -> AsyncIterator[None]:
    async with request.app.state.session_slots:
        yield


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """One transaction: commit when the work succeeds, roll back when it raises."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def get_session(
    request: Request, _slot: Annotated[None, Depends(session_slot)]
) -> Iterator[Session]:
    """The request is the transaction."""
    with session_scope(request.app.state.engine) as session:
        yield session


def insert_unless_taken(db: Session, model: type[SQLModel], unique_column: str) -> Insert:
    """INSERT ... ON CONFLICT (unique_column) DO NOTHING, for the session's database: a row
    that a concurrent request inserted first makes this one insert nothing (add RETURNING
    to tell). Not a savepoint around a plain INSERT: on SQLite, a savepoint that opens the
    transaction commits on its own when it is released, apart from what follows it."""
    dialects = {"postgresql": postgresql, "sqlite": sqlite}
    dialect = dialects[db.get_bind().dialect.name]  # the two this app runs on
    return dialect.insert(model).on_conflict_do_nothing(index_elements=[unique_column])


T = TypeVar("T")


async def in_session(request: Request, work: Callable[[Session], T]) -> T:
    """Run work in its own transaction, in one hop to a worker thread.

    For async routes: one that needs the database only sometimes (a warm answer takes no
    slot and no thread), and the hot sync routes, where each hop a dependency would add
    costs more than their queries.
    """
    async with request.app.state.session_slots:

        def run() -> T:
            with session_scope(request.app.state.engine) as session:
                return work(session)

        return await run_in_threadpool(run)


async def in_transaction(request: Request, work: Callable[[DirectConnection], T]) -> T:
    """Run work in its own transaction on a pooled connection, in one hop to a worker
    thread, its Core statements sent straight to the driver (app.direct_sql).

    For a device's push in a SQLite database in memory, which neither SqliteWriter nor
    PostgresPushes takes: SQLAlchemy's session and execution path cost more of the
    process's CPU than the statements.
    Committed when work returns, rolled back when it raises.
    """
    engine: Engine = request.app.state.engine
    statements: DirectStatements = request.app.state.direct_statements

    def run() -> T:
        # Commit and rollback go through SQLAlchemy, which drops a connection found lost.
        with engine.connect() as connection, connection.begin():
            driver = connection.connection.driver_connection
            return work(DirectConnection(driver, engine.dialect, statements))

    async with request.app.state.session_slots:
        return await run_in_threadpool(run)


# What the hot paths' Core statements run on: a session, a connection, or a driver
# connection of app.direct_sql.
Database = Session | Connection | DirectConnection


def core(db: Database) -> Connection | DirectConnection:
    """The connection under a session: Core statements sent through it skip the ORM's
    execution path, which costs as much as SQLite takes to answer a small query."""
    return db.connection() if isinstance(db, Session) else db


async def in_read(request: Request, work: Callable[[Connection], T],
                  bounded: bool = True) -> T:
    """Run read-only work whose every answer comes from one statement (a pull).

    On SQLite, `bounded` work (a page of rows) runs right here, on the event loop: in WAL
    mode a reader never waits for a writer, and the hop to a worker thread costs more
    than the query. Unbounded work (a full snapshot) takes the hop, so that no one's large
    history holds the loop. On PostgreSQL it runs in one hop to a worker thread, on a
    connection in autocommit: each statement is its own transaction with its own
    snapshot, and there are no BEGIN or COMMIT round trips. `work` must not write: on
    SQLite a write could wait for a lock, and the whole event loop would wait with it
    (use in_session).
    """
    engine: Engine = request.app.state.engine
    sqlite = engine.dialect.name == "sqlite"

    def run() -> T:
        connection = engine.connect()
        if not sqlite:
            connection = connection.execution_options(isolation_level="AUTOCOMMIT")
        with connection:
            return work(connection)

    async with request.app.state.session_slots:
        return run() if sqlite and bounded else await run_in_threadpool(run)
