"""db.in_transaction on PostgreSQL: Core statements sent straight to psycopg, in one
transaction that SQLAlchemy commits or rolls back."""

from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.db import in_transaction
from app.direct_sql import DirectConnection
from app.errors import NotFound
from tests.sync.probe import INSERT, names, write_then_refuse


def run(client: TestClient, work: Callable[[DirectConnection], Any]) -> Any:
    """in_transaction as a route calls it, on the app's own event loop."""
    request: Any = SimpleNamespace(app=client.app)  # all in_transaction reads of a request
    assert client.portal is not None

    async def call() -> Any:
        return await in_transaction(request, work)

    return client.portal.call(call)


def test_work_that_returns_is_committed(probe_client: TestClient) -> None:
    def write(db: DirectConnection) -> str:
        db.execute(INSERT, {"name": "kept"})
        db.execute(INSERT, {"name": "kept too"})
        return "done"

    assert run(probe_client, write) == "done"
    assert names(probe_client) == ["kept", "kept too"]


def test_work_refused_after_writing_keeps_nothing(probe_client: TestClient) -> None:
    with pytest.raises(NotFound):
        run(probe_client, write_then_refuse)
    assert names(probe_client) == []
    run(probe_client, lambda db: db.execute(INSERT, {"name": "next"}))  # the connection is fine
    assert names(probe_client) == ["next"]
