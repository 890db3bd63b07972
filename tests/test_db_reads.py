"""Reads on SQLite: a page runs on the event loop, a full snapshot takes a worker thread."""

import threading
from types import SimpleNamespace

import anyio
import pytest
from sqlalchemy import text

from app.db import in_read
from tests.aio import run_async


@pytest.mark.parametrize(("bounded", "on_loop"), [(True, True), (False, False)])
def test_where_a_read_runs(client, bounded, on_loop):
    request = SimpleNamespace(app=SimpleNamespace(state=SimpleNamespace(
        engine=client.app.state.engine, session_slots=anyio.Semaphore(1))))

    def work(connection):  # type: ignore[no-untyped-def]
        return threading.get_ident(), connection.execute(text("SELECT 1")).scalar_one()

    async def read() -> tuple[int, int, int]:
        loop_thread = threading.get_ident()
        worker, one = await in_read(request, work, bounded=bounded)  # type: ignore[arg-type]
        return loop_thread, worker, one

    loop_thread, worker, one = run_async(read())
    assert one == 1
    assert (worker == loop_thread) is on_loop
