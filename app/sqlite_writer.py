"""SQLite: devices' pushes written on one connection of the process's own, in turn.

SQLite lets one writer at a time into the file. Pushes through the pool would each take a
connection and a worker thread, then wait for the write lock in SQLite's busy handler,
which sleeps and retries (up to 100 ms a time) rather than queueing: under load, a few
unlucky pushes wait many times longer than the rest. Here a push waits its turn on the
event loop, first come first served, and then writes at once, on a connection kept
open, through app.direct_sql (SQLAlchemy's machinery costs more than the push's SQL).

Pushes that ask while another is being written go together, in order, in the next
transaction (a group commit): one hop to a worker thread, one BEGIN and one COMMIT for all
of them, and the pages they share (the index pages of sessions and devices, say) written
to the WAL once, not once each. Each push in a group runs in a savepoint of its own, so a
push that fails leaves nothing, and the others are written as if it had never asked.
A failure of the transaction itself fails every push of the group, and nothing of any of
them is kept: a disk that fills up, even if only one push of the group filled it. Devices
send their pushes again. This needs asyncio (uvicorn's loop), not any anyio backend.

Other processes, and other writes of this one, still meet the lock in the busy handler,
as before. A connection that fails is closed; the next push opens a new one. Between
transactions, when the process's WalCheckpointer says so, the writer starts the
write-ahead log over (app/wal_checkpoint.py).
"""

import asyncio
import contextlib
import contextvars
import copy
import sqlite3
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from starlette.concurrency import run_in_threadpool

from app.db import apply_sqlite_pragmas, sqlite_connector
from app.direct_sql import DirectConnection, DirectStatements
from app.wal_checkpoint import WalCheckpointer

T = TypeVar("T")
Work = Callable[["DirectConnection"], Any]
# A group's pushes wait for each other's statements before anyone hears back: a bound keeps
# the first one's wait short. 50 devices pushing at once make two groups.
MAX_GROUP = 32


@dataclass
class _Failed:
    error: Exception


@dataclass
class _Turn:
    work: Work
    answer: "asyncio.Future[Any]" = field(
        default_factory=lambda: asyncio.get_running_loop().create_future())
    # The asking request's context (its request id, say), for whatever its work logs.
    context: contextvars.Context = field(default_factory=contextvars.copy_context)

    def run(self, db: DirectConnection) -> Any:
        return self.context.run(self.work, db)


def _answer(turn: _Turn, outcome: Any) -> None:
    if turn.answer.done():
        return  # its caller is gone
    if not isinstance(outcome, _Failed):
        turn.answer.set_result(outcome)
        return
    error: Exception = outcome.error
    if isinstance(error, StopIteration):  # a future cannot hold one, as a coroutine cannot
        cause = error
        error = RuntimeError(f"a push raised StopIteration: {cause!r}")
        error.__cause__ = cause
    turn.answer.set_exception(error)


def _each_its_own(error: Exception, count: int) -> list[_Failed]:
    """The failure of a whole group, once per push: one exception object raised in many
    tasks at once would gather all their tracebacks."""
    failures = [_Failed(error)]
    for _ in range(count - 1):
        try:
            copied = copy.copy(error)
        except Exception:
            failures.append(_Failed(error))  # cannot be copied: shared after all
            continue
        copied.__cause__ = error.__cause__
        failures.append(_Failed(copied))
    return failures


class SqliteWriter:
    def __init__(self, engine: Engine, max_group: int = MAX_GROUP,
                 checkpointer: WalCheckpointer | None = None) -> None:
        self._checkpointer = checkpointer
        self._open = sqlite_connector(engine)
        self._dialect = engine.dialect
        self._statements: DirectStatements = {}
        self.max_group = max_group
        self._waiting: deque[_Turn] = deque()  # in the order they asked
        self._writing: asyncio.Task[None] | None = None  # while there are groups to write
        # The worker thread's transaction: it runs to its end even if the task above is
        # cancelled, and nothing else may use the connection until then.
        self._in_flight: asyncio.Future[list[Any]] | None = None
        self._connection: DirectConnection | None = None

    async def run(self, work: Callable[[DirectConnection], T]) -> T:
        """Run work in a transaction, after every push that asked before it: committed
        when it returns (with the others of its group), undone when it raises."""
        turn = _Turn(work)
        self._waiting.append(turn)
        if self._writing is None:
            self._writing = asyncio.get_running_loop().create_task(self._write_groups())
        result: T = await turn.answer
        return result

    async def _write_groups(self) -> None:
        group: list[_Turn] = []
        try:
            await self._transaction_ended()
            while self._waiting:
                group = self._next_group()
                if not group:
                    continue
                self._in_flight = asyncio.ensure_future(
                    run_in_threadpool(self._transaction, [turn.run for turn in group]))
                try:
                    outcomes = await asyncio.shield(self._in_flight)
                except Exception as error:
                    outcomes = _each_its_own(error, len(group))
                for turn, outcome in zip(group, outcomes, strict=True):
                    _answer(turn, outcome)
                group = []
        finally:
            # Reached with turns left only if this task is cancelled (at shutdown, say):
            # whoever still waits hears so, rather than waiting forever.
            self._writing = None
            for turn in [*group, *self._waiting]:
                turn.answer.cancel()
            self._waiting.clear()

    def _next_group(self) -> list[_Turn]:
        group: list[_Turn] = []
        while self._waiting and len(group) < self.max_group:
            turn = self._waiting.popleft()
            if not turn.answer.done():  # a caller gone before its turn: skipped
                group.append(turn)
        return group

    async def _transaction_ended(self) -> None:
        if self._in_flight is not None and not self._in_flight.done():
            await asyncio.wait({self._in_flight})

    def _transaction(self, works: list[Work]) -> list[Any]:
        """Each work's result, or its error as _Failed; all committed together. An error of
        the transaction itself is raised, and nothing is kept."""
        raw = self._begin()
        try:
            if len(works) == 1:  # alone: its own error undoes the transaction, as before
                outcomes: list[Any] = [works[0](self._direct())]
            else:
                outcomes = [self._in_savepoint(raw, work) for work in works]
            _driver(raw.execute, "COMMIT")
            return outcomes
        except BaseException as error:
            self._end(raw, error)
            raise

    def _in_savepoint(self, raw: sqlite3.Connection, work: Work) -> Any:
        _driver(raw.execute, "SAVEPOINT push")
        try:
            result = work(self._direct())
        except Exception as error:
            try:
                _driver(raw.execute, "ROLLBACK TO push")
                _driver(raw.execute, "RELEASE push")
            except DBAPIError:
                # SQLite undid the whole transaction (a full disk, say): the group fails.
                raise error from None
            return _Failed(error)
        _driver(raw.execute, "RELEASE push")
        return result

    def _begin(self) -> sqlite3.Connection:
        """BEGIN IMMEDIATE: the write lock now, before anything is read (as lock_user's
        first write would take it), so that what the work reads stays true until it
        commits. A connection found closed is replaced once, unseen."""
        raw = self.connection()
        if self._checkpointer is not None and self._checkpointer.restart_due():
            # The few pages committed since the checkpointer's round: copied, so that this
            # transaction writes from the log's start (app/wal_checkpoint.py). Should the
            # copy fail, the transaction goes on as before, on a log that grows.
            with contextlib.suppress(sqlite3.Error):
                raw.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
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
        """Close the connection once the pushes that asked have been written."""
        while self._writing is not None:
            await asyncio.wait({self._writing})
        await self._transaction_ended()
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
