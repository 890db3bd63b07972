"""PostgresPushes: a push's blocking code run on the event loop, in a transaction of its
own, over connections of the pushes' own; and DirectConnection.pipeline on them."""

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable
from typing import Any

import anyio
import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Select, column, create_engine, func, select, table, text
from sqlalchemy.exc import DBAPIError

from app.direct_sql import DirectConnection
from app.errors import NotFound
from app.sync.pg_pushes import PUSHES_NAME, PostgresPushes
from tests.sync.probe import INSERT, names, write_then_refuse

# Core statements: direct statements give rows only for what SQLAlchemy compiles columns of.
COUNT = select(func.count()).select_from(table("probe"))
BACKEND = select(func.pg_backend_pid())
SLEEP = select(func.pg_sleep(5))


def pushes(client: TestClient) -> PostgresPushes:
    return client.app.state.postgres_pushes  # type: ignore[attr-defined, no-any-return]


def run(client: TestClient, work: Callable[[DirectConnection], Any]) -> Any:
    """PostgresPushes.run as the push route calls it, on the app's own event loop."""
    assert client.portal is not None

    async def call() -> Any:
        return await pushes(client).run(work)

    return client.portal.call(call)


def backend(client: TestClient) -> int:
    return int(run(client, lambda db: db.scalar(BACKEND)))


def test_work_runs_on_the_event_loop_and_is_committed(probe_client: TestClient) -> None:
    assert probe_client.portal is not None
    loop_thread = probe_client.portal.call(threading.get_ident)

    def write(db: DirectConnection) -> int:
        db.execute(INSERT, {"name": "kept"})
        db.execute(INSERT, {"name": "kept too"})
        return threading.get_ident()

    assert run(probe_client, write) == loop_thread  # no worker thread, no hand-over
    assert names(probe_client) == ["kept", "kept too"]


def test_refused_work_keeps_nothing_and_its_connection_serves_the_next(
        probe_client: TestClient) -> None:
    first = backend(probe_client)

    with pytest.raises(NotFound):
        run(probe_client, write_then_refuse)
    assert names(probe_client) == []
    assert backend(probe_client) == first  # rolled back and kept, not reconnected


def test_a_connection_that_could_not_roll_back_is_not_used_again(
        probe_client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    first = backend(probe_client)

    async def failing_rollback(_connection: Any) -> None:
        raise psycopg.OperationalError("injected: the rollback did not go through")

    with monkeypatch.context() as patched:
        patched.setattr(psycopg.AsyncConnection, "rollback", failing_rollback)
        with pytest.raises(NotFound):
            run(probe_client, write_then_refuse)
    # Kept, its open transaction would have gone out with the next push's commit.
    run(probe_client, lambda db: db.execute(INSERT, {"name": "next"}))
    assert names(probe_client) == ["next"]
    assert backend(probe_client) != first


def test_a_failed_statement_keeps_nothing_and_is_not_tried_again(
        probe_client: TestClient) -> None:
    backend(probe_client)  # a connection in use before: a reused one
    tries = []

    def write_then_fail(db: DirectConnection) -> None:
        tries.append(1)
        db.execute(INSERT, {"name": "undone"})
        db.execute(INSERT, {"name": None})  # NOT NULL

    with pytest.raises(DBAPIError) as raised:
        run(probe_client, write_then_fail)
    assert "not-null" in str(raised.value.orig)
    assert len(tries) == 1  # only a connection found dead is worth another try
    assert names(probe_client) == []
    run(probe_client, lambda db: db.execute(INSERT, {"name": "next"}))
    assert names(probe_client) == ["next"]


def test_an_idle_connection_that_died_is_replaced_and_the_push_written_once(
        probe_client: TestClient) -> None:
    first = backend(probe_client)
    engine = probe_client.app.state.engine  # type: ignore[attr-defined]
    with engine.connect() as connection:  # as a database restart would
        connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first})

    run(probe_client, lambda db: db.execute(INSERT, {"name": "once"}))
    assert names(probe_client) == ["once"]
    assert backend(probe_client) != first


def test_a_push_whose_statement_failed_unraised_is_not_committed(
        probe_client: TestClient) -> None:
    def write_then_swallow_a_failure(db: DirectConnection) -> None:
        db.execute(INSERT, {"name": "undone"})
        with contextlib.suppress(DBAPIError):
            db.execute(INSERT, {"name": None})

    with pytest.raises(DBAPIError, match="a statement of the push failed"):
        run(probe_client, write_then_swallow_a_failure)  # not answered as written
    assert names(probe_client) == []


def test_an_unreachable_database_is_a_lost_connection(probe_client: TestClient) -> None:
    engine = create_engine("postgresql+psycopg://postgres@127.0.0.1:1/test")
    unreachable = PostgresPushes(engine, {})

    async def push() -> None:
        await unreachable.run(lambda db: db.execute(INSERT, {"name": "never"}))

    assert probe_client.portal is not None
    with pytest.raises(DBAPIError) as raised:
        probe_client.portal.call(push)  # on an event loop, as the app runs it
    assert raised.value.connection_invalidated  # answered 503, as every lost database


def test_a_push_cancelled_mid_statement_keeps_nothing(probe_client: TestClient) -> None:
    assert probe_client.portal is not None

    def write_then_wait(db: DirectConnection) -> None:
        db.execute(INSERT, {"name": "undone"})
        db.execute(SLEEP).all()

    async def cancelled() -> None:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(pushes(probe_client).run(write_then_wait), 0.3)

    probe_client.portal.call(cancelled)
    assert names(probe_client) == []
    run(probe_client, lambda db: db.execute(INSERT, {"name": "next"}))
    assert names(probe_client) == ["next"]


def test_a_push_cancelled_while_waiting_for_a_lock_keeps_nothing(
        probe_client: TestClient) -> None:
    assert probe_client.portal is not None
    run(probe_client, lambda db: db.execute(INSERT, {"name": "locked"}))
    locked_row: Select[tuple[Any]] = (select(column("name")).select_from(table("probe"))
                  .where(column("name") == "locked").with_for_update())

    def write_then_wait_for_the_lock(db: DirectConnection) -> None:
        with db.pipeline():
            db.execute(INSERT, {"name": "undone"})
            db.execute(locked_row).all()

    async def cancelled() -> None:
        with anyio.move_on_after(0.5) as scope:
            await pushes(probe_client).run(write_then_wait_for_the_lock)
        assert scope.cancelled_caught

    engine = probe_client.app.state.engine  # type: ignore[attr-defined]
    with engine.connect() as holder, holder.begin():
        holder.execute(locked_row).all()
        probe_client.portal.call(cancelled)
    run(probe_client, lambda db: db.execute(INSERT, {"name": "next"}))
    assert names(probe_client) == ["locked", "next"]


def pushes_connections(client: TestClient) -> int:
    engine = client.app.state.engine  # type: ignore[attr-defined]
    with engine.connect() as connection:
        return int(connection.scalar(
            text("SELECT count(*) FROM pg_stat_activity WHERE application_name = :name"),
            {"name": PUSHES_NAME}))


def test_after_close_no_push_runs_and_no_connection_stays(probe_client: TestClient) -> None:
    run(probe_client, lambda db: db.execute(INSERT, {"name": "before"}))
    assert pushes_connections(probe_client) == 1
    assert probe_client.portal is not None
    probe_client.portal.call(pushes(probe_client).close)
    with pytest.raises(RuntimeError, match="shutting down"):
        run(probe_client, lambda db: db.execute(INSERT, {"name": "after"}))
    assert names(probe_client) == ["before"]
    deadline = time.monotonic() + 5
    while pushes_connections(probe_client) and time.monotonic() < deadline:
        time.sleep(0.05)  # the server sees a closed connection go a moment later
    assert pushes_connections(probe_client) == 0


class TestPipeline:
    def test_rows_read_in_and_after_the_block_are_the_statements_own(
            self, probe_client: TestClient) -> None:
        def write_and_read(db: DirectConnection) -> tuple[int, int, int]:
            with db.pipeline():
                db.execute(INSERT, {"name": "a"})
                before = db.execute(COUNT)
                db.execute(INSERT, {"name": "b"})
                read_inside = before.scalar()
                after = db.execute(COUNT)
                db.execute(INSERT, {"name": "c"})
            return read_inside, after.scalar(), db.scalar(COUNT)

        assert run(probe_client, write_and_read) == (1, 2, 3)
        assert names(probe_client) == ["a", "b", "c"]

    def test_a_write_that_fails_in_the_block_fails_the_push(
            self, probe_client: TestClient) -> None:
        sent_on = []

        def failing_write(db: DirectConnection) -> None:
            with db.pipeline():
                db.execute(INSERT, {"name": "undone"})
                db.execute(INSERT, {"name": None})  # NOT NULL: met as the block ends
                sent_on.append("without waiting")  # sent, not yet answered
                db.execute(INSERT, {"name": "never"})

        with pytest.raises(DBAPIError) as raised:
            run(probe_client, failing_write)
        assert "not-null" in str(raised.value.orig)
        assert sent_on == ["without waiting"]
        assert names(probe_client) == []
        run(probe_client, lambda db: db.execute(INSERT, {"name": "next"}))
        assert names(probe_client) == ["next"]

    def test_a_read_after_a_failed_write_raises_the_writes_error(
            self, probe_client: TestClient) -> None:
        def read_after_failure(db: DirectConnection) -> None:
            with db.pipeline():
                db.execute(INSERT, {"name": None})
                db.execute(COUNT).scalar()

        with pytest.raises(DBAPIError) as raised:
            run(probe_client, read_after_failure)
        assert "not-null" in str(raised.value.orig)
        assert names(probe_client) == []
