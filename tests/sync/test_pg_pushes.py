"""PostgresPushes: a push's coroutine run on the event loop, over connections of the
pushes' own, each statement committed as it runs."""

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError

from app.errors import NotFound
from app.sync.pg_pushes import PUSHES_NAME, Connection, PostgresPushes
from tests.sync.probe import names

INSERT = "INSERT INTO probe (name) VALUES (%s)"
SLOW_INSERT = "INSERT INTO probe (name) SELECT %s FROM pg_sleep(2)"
Work = Callable[[Connection], Awaitable[Any]]


def inserting(name: str | None) -> Work:
    async def insert(connection: Connection) -> None:
        await connection.execute(INSERT, (name,))
    return insert


def pushes(client: TestClient) -> PostgresPushes:
    return client.app.state.postgres_pushes  # type: ignore[attr-defined, no-any-return]


def run(client: TestClient, work: Work) -> Any:
    """PostgresPushes.run as the push route calls it, on the app's own event loop."""
    assert client.portal is not None

    async def call() -> Any:
        return await pushes(client).run(work)

    return client.portal.call(call)


async def backend_of(connection: Connection) -> int:
    row = await (await connection.execute("SELECT pg_backend_pid()")).fetchone()
    assert row is not None
    return int(row[0])


def backend(client: TestClient) -> int:
    return int(run(client, backend_of))


async def refuse_after_reading(connection: Connection) -> None:
    """A push's work that reads, then is refused (a session gone, a batch too big)."""
    await (await connection.execute("SELECT count(*) FROM probe")).fetchone()
    raise NotFound("No such account.")


def test_work_runs_on_the_event_loop_and_each_statement_is_committed(
        probe_client: TestClient) -> None:
    assert probe_client.portal is not None
    loop_thread = probe_client.portal.call(threading.get_ident)

    async def write(connection: Connection) -> int:
        await connection.execute(INSERT, ("kept",))
        await connection.execute(INSERT, ("kept too",))
        return threading.get_ident()

    assert run(probe_client, write) == loop_thread  # no worker thread, no hand-over
    assert names(probe_client) == ["kept", "kept too"]


def test_refused_work_leaves_its_connection_to_the_next(probe_client: TestClient) -> None:
    first = backend(probe_client)

    with pytest.raises(NotFound):
        run(probe_client, refuse_after_reading)
    assert backend(probe_client) == first  # kept, not reconnected


def test_a_failed_statement_is_not_tried_again_and_its_connection_serves_the_next(
        probe_client: TestClient) -> None:
    first = backend(probe_client)  # a connection in use before: a reused one
    tries = []

    async def fail(connection: Connection) -> None:
        tries.append(1)
        await inserting(None)(connection)  # NOT NULL

    with pytest.raises(DBAPIError) as raised:
        run(probe_client, fail)
    assert "not-null" in str(raised.value.orig)
    assert len(tries) == 1  # only a connection found dead is worth another try
    run(probe_client, inserting("next"))
    assert names(probe_client) == ["next"]
    assert backend(probe_client) == first


def test_an_idle_connection_that_died_is_replaced_and_the_push_written_once(
        probe_client: TestClient) -> None:
    first = backend(probe_client)
    engine = probe_client.app.state.engine  # type: ignore[attr-defined]
    with engine.connect() as connection:  # as a database restart would
        connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first})

    run(probe_client, inserting("once"))
    assert names(probe_client) == ["once"]
    assert backend(probe_client) != first


def test_an_unreachable_database_is_a_lost_connection(probe_client: TestClient) -> None:
    engine = create_engine("postgresql+psycopg://postgres@127.0.0.1:1/test")
    unreachable = PostgresPushes(engine)

    async def push() -> None:
        await unreachable.run(inserting("never"))

    assert probe_client.portal is not None
    with pytest.raises(DBAPIError) as raised:
        probe_client.portal.call(push)  # on an event loop, as the app runs it
    assert raised.value.connection_invalidated  # answered 503, as every lost database


def test_a_push_cancelled_mid_statement_keeps_nothing(probe_client: TestClient) -> None:
    assert probe_client.portal is not None
    first = backend(probe_client)

    async def cancelled() -> None:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(pushes(probe_client).run(
                lambda connection: connection.execute(SLOW_INSERT, ("undone",))), 0.3)

    probe_client.portal.call(cancelled)
    time.sleep(2.5)  # past the statement's own end, had it gone on
    # psycopg cancels the statement on the server: its connection serves the next push.
    run(probe_client, inserting("next"))
    assert names(probe_client) == ["next"]
    assert backend(probe_client) == first


def pushes_connections(client: TestClient) -> int:
    engine = client.app.state.engine  # type: ignore[attr-defined]
    with engine.connect() as connection:
        return int(connection.scalar(
            text("SELECT count(*) FROM pg_stat_activity WHERE application_name = :name "
                 "AND datname = current_database()"), {"name": PUSHES_NAME}))


def test_after_close_no_push_runs_and_no_connection_stays(probe_client: TestClient) -> None:
    run(probe_client, inserting("before"))
    assert pushes_connections(probe_client) == 1
    assert probe_client.portal is not None
    probe_client.portal.call(pushes(probe_client).close)
    with pytest.raises(RuntimeError, match="shutting down"):
        run(probe_client, inserting("after"))
    assert names(probe_client) == ["before"]
    deadline = time.monotonic() + 5
    while pushes_connections(probe_client) and time.monotonic() < deadline:
        time.sleep(0.05)  # the server sees a closed connection go a moment later
    assert pushes_connections(probe_client) == 0
