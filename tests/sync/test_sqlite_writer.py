"""SQLite: pushes written on the writer's own connection, one at a time, as the pool would."""

import asyncio
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import column, create_engine, select, table
from sqlalchemy.exc import OperationalError

from app.config import Settings
from app.db import session_scope
from app.direct_sql import DirectConnection
from app.main import create_app
from app.observability.logging import request_id_var
from app.sqlite_writer import SqliteWriter
from app.sync import service
from app.sync.schemas import PushRequest
from tests.aio import run_async
from tests.auth.helpers import sign_up
from tests.sql import statements_sent, statements_sent_by_engine
from tests.sync.factories import (
    account_id,
    delete,
    device_with_history,
    make_rest,
    new_client_id,
    put,
)


def _writer(client: TestClient) -> SqliteWriter:
    writer = client.app.state.sqlite_writer  # type: ignore[attr-defined]
    assert isinstance(writer, SqliteWriter)
    return writer


def test_a_push_goes_out_on_the_writer_connection_not_the_pool(sync_client: TestClient) -> None:
    account = sign_up(sync_client)
    engine = sync_client.app.state.engine  # type: ignore[attr-defined]
    with statements_sent(engine, _writer(sync_client)) as everywhere, \
            statements_sent_by_engine(engine) as pooled:
        pushed = account.post("/api/sync/push", json={
            "client_id": new_client_id(), "mutations": [put(1, make_rest())]})
    assert pushed.status_code == 200, pushed.text
    assert pooled == []
    assert everywhere[0] == "begin immediate" and everywhere[-1] == "commit"
    assert any(statement.startswith("insert into rest") for statement in everywhere)


def test_the_writer_stores_exactly_what_the_pool_stores(sync_client: TestClient) -> None:
    # Every kind of value (text beyond ASCII, nulls, false, times), a new row, a changed
    # row, a tombstone and a rejection: the same batch through both paths, for two users,
    # must leave the same rows, byte for byte.
    engine = sync_client.app.state.engine  # type: ignore[attr-defined]
    kept, edited, gone = (make_rest(note="Hüfte ✓ 腰", before_rating=None, completed=False),
                          make_rest(), make_rest(after_rating=0))
    first = [put(1, kept), put(2, edited), put(3, gone)]
    second = [put(4, {**edited, "note": "later"}), delete(5, gone["id"]),
              put(6, make_rest(minutes=-5)), put(7, make_rest(id=kept["id"], note="again"))]
    device = new_client_id()
    users = {}
    for path in ("pool", "writer"):
        users[path] = account_id(sync_client, sign_up(sync_client))
        for mutations in (first, second):
            batch = PushRequest.model_validate({"client_id": device, "mutations": mutations})

            def apply(db: Any, user_id: int = users[path],
                      batch: PushRequest = batch) -> list[str]:
                outcome = service.push(db, user_id, device, batch.mutations, 30)
                return [result.status for result in outcome.results]

            if path == "pool":
                with session_scope(engine) as session:
                    statuses = apply(session)
            else:
                statuses = run_async(_writer(sync_client).run(apply))
            assert statuses in (["applied"] * 3, ["applied", "applied", "rejected", "applied"])

    def stored(user_id: int) -> dict[str, list[tuple[Any, ...]]]:
        with engine.connect() as connection:
            def rows(sql: str) -> list[tuple[Any, ...]]:
                return [tuple(row) for row in connection.exec_driver_sql(sql, (user_id,))]
            # created_at is the moment of each push: its form, not its value, must agree.
            return {
                "rests": rows("SELECT *, length(created_at), typeof(deleted_at) FROM rest "
                              "WHERE user_id = ? ORDER BY sync_version"),
                "devices": rows("SELECT client_id, last_seq, typeof(updated_at) "
                                "FROM sync_client WHERE user_id = ?"),
                "rejections": rows("SELECT client_id, seq, rest_id, code, detail "
                                   "FROM sync_rejection WHERE user_id = ?"),
                "counter": rows("SELECT sync_version FROM user_account WHERE id = ?"),
            }

    def without_own_columns(found: dict[str, list[tuple[Any, ...]]]) -> dict[str, Any]:
        columns = [c.name for c in service.REST.columns]
        own = {columns.index("user_id"), columns.index("created_at"),
               columns.index("deleted_at")}
        return {**found, "rests": [tuple(v for i, v in enumerate(row) if i not in own)
                                   for row in found["rests"]]}

    by_pool, by_writer = stored(users["pool"]), stored(users["writer"])
    assert len(by_pool["rests"]) == 3 and by_pool["rejections"]
    assert without_own_columns(by_writer) == without_own_columns(by_pool)


def test_a_failed_push_leaves_nothing_and_the_next_one_writes(sync_client: TestClient) -> None:
    account = sign_up(sync_client)
    user_id = account_id(sync_client, account)
    device, rest = new_client_id(), make_rest()
    batch = PushRequest.model_validate({"client_id": device, "mutations": [put(1, rest)]})

    def push_then_fail(db: DirectConnection) -> None:
        service.push(db, user_id, device, batch.mutations, 30)
        raise RuntimeError("after the writes, before the commit")

    with pytest.raises(RuntimeError):
        run_async(_writer(sync_client).run(push_then_fail))
    pulled = account.get("/api/sync/pull", params={"client_id": device}).json()
    assert pulled["changes"] == [] and pulled["last_applied_seq"] == 0
    pushed = account.post("/api/sync/push", json={"client_id": device,
                                                  "mutations": [put(1, rest)]})
    assert pushed.json()["results"][0]["status"] == "applied"


def test_a_closed_connection_is_replaced_unseen(sync_client: TestClient) -> None:
    account, phone, _cookie = device_with_history(sync_client)
    writer = _writer(sync_client)
    broken = writer.connection()
    broken.close()  # as a failed connection would be: every use raises
    pushed = account.post("/api/sync/push", json={"client_id": phone,
                                                  "mutations": [put(2, make_rest())]})
    assert pushed.status_code == 200, pushed.text
    assert writer.connection() is not broken


def test_a_database_that_stays_locked_is_a_503_not_a_500(sync_client: TestClient) -> None:
    account, phone, _cookie = device_with_history(sync_client)
    engine = sync_client.app.state.engine  # type: ignore[attr-defined]
    _writer(sync_client).connection().execute("PRAGMA busy_timeout=50")
    holder = sqlite3.connect(engine.url.database, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process's write, never finished
    started = time.monotonic()
    try:
        refused = account.post("/api/sync/push", json={"client_id": phone,
                                                       "mutations": [put(2, make_rest())]})
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert refused.status_code == 503
    assert refused.json()["error"] == "DATABASE_UNAVAILABLE"
    # One wait for the lock, on the same connection (not a second one through the route,
    # on a new connection with the default 15 s).
    assert time.monotonic() - started < 5
    retried = account.post("/api/sync/push", json={"client_id": phone,
                                                   "mutations": [put(2, make_rest())]})
    assert retried.json()["results"][0]["status"] == "applied"


def test_pushes_take_turns_in_the_order_they_asked(
    make_app_settings: Callable[..., Settings],
) -> None:
    with TestClient(create_app(make_app_settings())) as client:
        engine = client.app.state.engine  # type: ignore[attr-defined]
    spans: list[tuple[int, float, float]] = []
    inside = threading.Lock()

    async def push_in_turn() -> None:
        writer = SqliteWriter(engine)  # made in this event loop, which it serves

        def work(number: int) -> Callable[[DirectConnection], None]:
            def run(_db: DirectConnection) -> None:
                assert inside.acquire(blocking=False), "two pushes at once"
                started = time.monotonic()
                time.sleep(0.01)
                spans.append((number, started, time.monotonic()))
                inside.release()
            return run

        async with anyio.create_task_group() as tasks:
            for number in range(6):
                tasks.start_soon(writer.run, work(number))
                await anyio.sleep(0.001)  # asked in this order
        await writer.close()

    run_async(push_in_turn())
    assert [number for number, _, _ in spans] == list(range(6))
    assert all(ended <= next_start for (_, _, ended), (_, next_start, _)
               in zip(spans, spans[1:], strict=False))


def test_shutdown_closes_the_writer_connection(
    make_app_settings: Callable[..., Settings],
) -> None:
    with TestClient(create_app(make_app_settings())) as client:
        device_with_history(client)
        connection = _writer(client).connection()
        connection.execute("SELECT 1")
    with pytest.raises(sqlite3.ProgrammingError):
        connection.execute("SELECT 1")


def test_errors_of_direct_statements_go_up_as_sqlalchemy_raises_them(
    sync_client: TestClient,
) -> None:
    # So that the app's handlers answer them as on every route (a 503 for a lost database).
    def read_a_missing_table(db: DirectConnection) -> None:
        db.execute(select(column("x")).select_from(table("no_such_table")))

    with pytest.raises(OperationalError, match="no such table"):
        run_async(_writer(sync_client).run(read_a_missing_table))


def test_a_database_that_cannot_be_opened_is_a_503_not_a_500(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'missing' / 'rest.db'}")
    writer = SqliteWriter(engine)
    with pytest.raises(OperationalError):
        run_async(writer.run(lambda _db: None))


# -- group commit: pushes that ask while another is written go together ------------------

@pytest.fixture
def probe_engine(make_app_settings: Callable[..., Settings]) -> Any:
    """The app's migrated SQLite file, with a table each test's work writes its name to."""
    with TestClient(create_app(make_app_settings())) as client:
        engine = client.app.state.engine  # type: ignore[attr-defined]
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE probe (name TEXT NOT NULL)")
    return engine


def _written(engine: Any) -> list[str]:
    with engine.connect() as connection:
        rows = connection.exec_driver_sql("SELECT name FROM probe ORDER BY rowid")
        return [name for name, in rows]


def _write(name: str, then: Callable[[DirectConnection], None] = lambda _db: None
           ) -> Callable[[DirectConnection], str]:
    def work(db: DirectConnection) -> str:
        db.driver_connection.execute("INSERT INTO probe VALUES (?)", (name,))
        then(db)
        return f"{name} done"
    return work


def _in_one_go(engine: Any, works: list[Callable[[DirectConnection], Any]],
               statements: list[str] | None = None) -> list[Any]:
    """Each work's result (or error), the first asked alone and the rest while it writes."""
    async def ask() -> list[Any]:
        writer = SqliteWriter(engine)  # made in this event loop, which it serves
        if statements is not None:
            writer.connection().set_trace_callback(
                lambda sql: statements.append(sql.split()[0].lower()))
        outcomes: list[Any] = [None] * len(works)

        async def one(index: int) -> None:
            try:
                outcomes[index] = await writer.run(works[index])
            except Exception as error:
                outcomes[index] = error

        async with anyio.create_task_group() as tasks:
            for index in range(len(works)):
                tasks.start_soon(one, index)
                await anyio.sleep(0)  # asked in this order
        await writer.close()
        return outcomes

    return run_async(ask())


def _slowly(_db: DirectConnection) -> None:
    time.sleep(0.05)  # the others ask meanwhile


def test_pushes_asking_meanwhile_are_written_in_one_transaction_each_with_its_answer(
    probe_engine: Any,
) -> None:
    statements: list[str] = []
    names = [f"push {i}" for i in range(6)]
    works = [_write(names[0], _slowly)] + [_write(name) for name in names[1:]]
    outcomes = _in_one_go(probe_engine, works, statements)
    assert outcomes == [f"{name} done" for name in names]
    assert _written(probe_engine) == names  # in the order they asked
    assert statements.count("begin") == 2 and statements.count("commit") == 2


def test_a_push_failing_in_a_group_leaves_nothing_and_the_others_are_written(
    probe_engine: Any,
) -> None:
    def fail(_db: DirectConnection) -> None:
        raise RuntimeError("refused after writing")

    works = [_write("first", _slowly), _write("second"), _write("refused", fail),
             _write("fourth")]
    outcomes = _in_one_go(probe_engine, works)
    assert outcomes[:2] == ["first done", "second done"] and outcomes[3] == "fourth done"
    assert isinstance(outcomes[2], RuntimeError)
    assert _written(probe_engine) == ["first", "second", "fourth"]


def test_a_failed_transaction_fails_every_push_of_its_group_and_keeps_none(
    probe_engine: Any,
) -> None:
    def disk_failure(db: DirectConnection) -> None:
        # As SQLite does on a full disk: the whole transaction is undone, then the error.
        db.driver_connection.execute("ROLLBACK")
        raise OperationalError("INSERT", None, sqlite3.OperationalError("database or disk is full"))

    works = [_write("alone", _slowly), _write("before"), _write("failing", disk_failure),
             _write("after")]
    outcomes = _in_one_go(probe_engine, works)
    assert outcomes[0] == "alone done"
    assert all(isinstance(outcome, OperationalError) for outcome in outcomes[1:])
    # One exception object each: raised in three tasks, one would gather all their tracebacks.
    assert len({id(outcome) for outcome in outcomes[1:]}) == 3
    assert _written(probe_engine) == ["alone"]
    assert _in_one_go(probe_engine, [_write("next")]) == ["next done"]
    assert _written(probe_engine) == ["alone", "next"]


def test_a_caller_gone_before_its_turn_is_not_written(probe_engine: Any) -> None:
    async def ask_then_leave() -> list[str]:
        writer = SqliteWriter(probe_engine)
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(writer.run, _write("stays", _slowly))
            await anyio.sleep(0.01)
            with anyio.move_on_after(0.01):  # gives up while the first one writes
                await writer.run(_write("left"))
            tasks.start_soon(writer.run, _write("asked later"))
        await writer.close()
        return _written(probe_engine)

    assert run_async(ask_then_leave()) == ["stays", "asked later"]


def test_each_push_of_a_group_runs_in_its_own_request_context(probe_engine: Any) -> None:
    # What a push logs carries its own request's id, not that of the group's first push.
    async def ask() -> list[str | None]:
        writer = SqliteWriter(probe_engine)

        async def one(request_id: str, slow: bool) -> str | None:
            request_id_var.set(request_id)

            def work(_db: DirectConnection) -> str | None:
                if slow:
                    time.sleep(0.05)
                return request_id_var.get()
            return await writer.run(work)

        answers: dict[str, str | None] = {}

        async def keep(request_id: str, slow: bool) -> None:
            answers[request_id] = await one(request_id, slow)

        async with anyio.create_task_group() as tasks:
            for number in range(4):
                tasks.start_soon(keep, f"req-{number}", number == 0)
                await anyio.sleep(0)
        await writer.close()
        return [answers[f"req-{number}"] for number in range(4)]

    assert run_async(ask()) == [f"req-{number}" for number in range(4)]


def test_closing_writes_every_push_that_asked_first(probe_engine: Any) -> None:
    async def ask_then_close() -> list[str]:
        writer = SqliteWriter(probe_engine, max_group=2)
        asked = [asyncio.ensure_future(writer.run(_write(f"push {i}", _slowly)))
                 for i in range(5)]
        await asyncio.sleep(0)
        await writer.close()  # three groups still to write
        assert [push.result() for push in asked] == [f"push {i} done" for i in range(5)]
        return _written(probe_engine)

    assert run_async(ask_then_close()) == [f"push {i}" for i in range(5)]


def test_a_push_raising_stop_iteration_is_answered_and_its_group_goes_on(
    probe_engine: Any,
) -> None:
    def stray_next(_db: DirectConnection) -> None:
        next(iter(()))

    works = [_write("first", _slowly), _write("second"), _write("odd", stray_next),
             _write("fourth")]
    outcomes = _in_one_go(probe_engine, works)
    assert isinstance(outcomes[2], RuntimeError)
    assert [outcomes[i] for i in (0, 1, 3)] == ["first done", "second done", "fourth done"]
    assert _written(probe_engine) == ["first", "second", "fourth"]


def test_a_caller_gone_while_its_group_is_written_is_still_written_and_others_go_on(
    probe_engine: Any,
) -> None:
    being_written, may_finish = threading.Event(), threading.Event()

    def hold(_db: DirectConnection) -> None:
        being_written.set()
        may_finish.wait(10)

    async def leave_mid_group() -> tuple[list[str], str]:
        writer = SqliteWriter(probe_engine)
        first = asyncio.ensure_future(writer.run(_write("first", _slowly)))
        await asyncio.sleep(0.01)
        left = asyncio.ensure_future(writer.run(_write("left while written", hold)))
        await asyncio.to_thread(being_written.wait, 10)
        left.cancel()
        may_finish.set()
        later = await writer.run(_write("later"))
        await first
        await writer.close()
        return _written(probe_engine), later

    written, later = run_async(leave_mid_group())
    assert written == ["first", "left while written", "later"] and later == "later done"


def test_a_transaction_outlives_a_cancelled_writer_and_close_waits_for_it(
    probe_engine: Any,
) -> None:
    # The writer task cancelled under a group (as at shutdown): the worker thread still
    # ends its transaction, and the connection is closed only after it.
    async def cancel_mid_group() -> bool:
        writer = SqliteWriter(probe_engine)
        asked = asyncio.ensure_future(writer.run(_write("in flight", _slowly)))
        await asyncio.sleep(0.01)
        assert writer._writing is not None
        writer._writing.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asked  # its caller hears that the writer stopped
        await writer.close()
        return True

    assert run_async(cancel_mid_group())
    assert _written(probe_engine) == ["in flight"]
