"""db.in_transaction on PostgreSQL: a push's statements sent straight to psycopg, in one
transaction that SQLAlchemy commits or rolls back."""

from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from app.config import Settings
from app.db import in_transaction
from app.direct_sql import DirectConnection
from app.errors import NotFound
from app.main import create_app

INSERT = text("INSERT INTO probe (name) VALUES (:name)")


@pytest.fixture
def pg_client(make_app_settings: Callable[..., Settings], postgres_url: str
              ) -> Iterator[TestClient]:
    with create_engine(postgres_url).begin() as connection:
        connection.execute(text("CREATE TABLE probe (name text NOT NULL)"))
    with TestClient(create_app(make_app_settings(postgres_url))) as client:
        yield client


def run(client: TestClient, work: Callable[[DirectConnection], Any]) -> Any:
    """in_transaction as a route calls it, on the app's own event loop."""
    request: Any = SimpleNamespace(app=client.app)  # all in_transaction reads of a request
    assert client.portal is not None

    async def call() -> Any:
        return await in_transaction(request, work)

    return client.portal.call(call)


def names(client: TestClient) -> list[str]:
    """What another connection sees: only what was committed."""
    engine = client.app.state.engine  # type: ignore[attr-defined]
    with engine.connect() as connection:
        return list(connection.scalars(text("SELECT name FROM probe ORDER BY name")))


def test_work_that_returns_is_committed(pg_client: TestClient) -> None:
    def write(db: DirectConnection) -> str:
        db.execute(INSERT, {"name": "kept"})
        db.execute(INSERT, {"name": "kept too"})
        return "done"

    assert run(pg_client, write) == "done"
    assert names(pg_client) == ["kept", "kept too"]


def test_work_refused_after_writing_keeps_nothing(pg_client: TestClient) -> None:
    def write_then_refuse(db: DirectConnection) -> None:
        db.execute(INSERT, {"name": "undone"})
        raise NotFound("No such account.")

    with pytest.raises(NotFound):
        run(pg_client, write_then_refuse)
    assert names(pg_client) == []
    run(pg_client, lambda db: db.execute(INSERT, {"name": "next"}))  # the connection is fine
    assert names(pg_client) == ["next"]
