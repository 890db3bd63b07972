"""PostgreSQL: polls after a cookie are read on the event loop, over connections of their own."""

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from app.main import create_app
from app.sync.polls import PostgresPolls
from tests.auth.helpers import sign_up
from tests.sql import statements_sent
from tests.sync.factories import make_rest, new_client_id, put


@pytest.fixture
def pg_client(make_app_settings: Callable[..., Settings],
              postgres_url: str) -> Iterator[TestClient]:
    with TestClient(create_app(make_app_settings(postgres_url))) as client:
        yield client


def _opened(polls: PostgresPolls) -> list[Any]:
    return [connection for connection in polls._idle if connection is not None]


def test_a_poll_goes_out_on_a_poll_connection_not_the_pool(pg_client: TestClient) -> None:
    account = sign_up(pg_client)
    phone = new_client_id()
    account.post("/api/sync/push", json={"client_id": phone, "mutations": [put(1, make_rest())]})
    cookie = account.get("/api/sync/pull", params={"client_id": phone}).json()["cookie"]
    engine = pg_client.app.state.engine  # type: ignore[attr-defined]
    polls: PostgresPolls = pg_client.app.state.polls  # type: ignore[attr-defined]
    checked_out = engine.pool.checkedout()
    with statements_sent(engine) as statements:
        # The route's query form and the direct one both read here.
        for params in ({"since": cookie, "client_id": phone},
                       {"since": cookie, "client_id": phone, "other": "1"}):
            answer = account.get("/api/sync/pull", params=params)
            assert answer.status_code == 200
            assert answer.json()["last_applied_seq"] == 1
    assert len(statements) == 2
    assert engine.pool.checkedout() == checked_out
    assert len(_opened(polls)) == 1  # one at a time: one connection, kept warm


def test_a_snapshot_from_scratch_stays_on_a_worker_thread(pg_client: TestClient) -> None:
    account = sign_up(pg_client)
    polls: PostgresPolls = pg_client.app.state.polls  # type: ignore[attr-defined]
    assert account.get("/api/sync/pull", params={"since": 0}).status_code == 200
    assert _opened(polls) == []


def test_shutdown_closes_the_poll_connections(
    make_app_settings: Callable[..., Settings], postgres_url: str
) -> None:
    with TestClient(create_app(make_app_settings(postgres_url))) as client:
        account = sign_up(client)
        account.post("/api/sync/push",
                     json={"client_id": new_client_id(), "mutations": [put(1, make_rest())]})
        assert account.get("/api/sync/pull", params={"since": 1}).status_code == 200
        polls: PostgresPolls = client.app.state.polls  # type: ignore[attr-defined]
        connections = _opened(polls)
        assert len(connections) == 1 and not connections[0].closed
    assert connections[0].closed


def test_sqlite_has_no_poll_connections(sync_client: TestClient) -> None:
    assert sync_client.app.state.polls is None  # type: ignore[attr-defined]
