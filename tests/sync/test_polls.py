"""PostgreSQL: polls after a cookie are read on the event loop, over connections of their own."""

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from app.main import create_app
from app.sync.polls import POLL_CONNECTIONS, PostgresPolls
from tests.auth.helpers import Account, sign_up
from tests.sql import statements_sent, statements_sent_by_engine
from tests.sync.factories import device_with_history


def _settings(make_app_settings: Callable[..., Settings], postgres_url: str) -> Settings:
    # Not listening for writes: its beats would take a poll connection now and then
    # (test_pg_kept_polls.py tests the listener).
    return make_app_settings(postgres_url, listen_for_writes=False)


@pytest.fixture
def pg_client(make_app_settings: Callable[..., Settings],
              postgres_url: str) -> Iterator[TestClient]:
    with TestClient(create_app(_settings(make_app_settings, postgres_url))) as client:
        yield client


def _opened(polls: PostgresPolls) -> list[Any]:
    return [connection for connection in polls._idle if connection is not None]


def _polled_device(client: TestClient, rests: int = 1) -> tuple[Account, str, int]:
    """device_with_history, and a first poll after its cookie: the reader's first
    connection is open."""
    account, phone, cookie = device_with_history(client, rests)
    assert account.get("/api/sync/pull", params={"since": cookie}).status_code == 200
    return account, phone, cookie


def test_a_poll_goes_out_on_a_poll_connection_not_the_pool(pg_client: TestClient) -> None:
    account, phone, cookie = _polled_device(pg_client)
    engine = pg_client.app.state.engine  # type: ignore[attr-defined]
    polls: PostgresPolls = pg_client.app.state.polls  # type: ignore[attr-defined]
    with statements_sent(engine) as everywhere, statements_sent_by_engine(engine) as pooled:
        # The route's query form and the direct one both read here.
        for params in ({"since": cookie, "client_id": phone},
                       {"since": cookie, "client_id": phone, "other": "1"}):
            answer = account.get("/api/sync/pull", params=params)
            assert answer.status_code == 200
            assert answer.json()["last_applied_seq"] == 1
    assert len(everywhere) == 2 and pooled == []
    assert len(_opened(polls)) == 1  # one at a time: one connection, kept warm


def test_many_polls_at_once_share_the_few_connections(pg_client: TestClient) -> None:
    account, phone, cookie = _polled_device(pg_client)
    params = {"since": cookie, "client_id": phone}
    with ThreadPoolExecutor(max_workers=12) as pool:
        answers = list(pool.map(lambda _: account.get("/api/sync/pull", params=params),
                                range(48)))
    assert {answer.status_code for answer in answers} == {200}
    polls: PostgresPolls = pg_client.app.state.polls  # type: ignore[attr-defined]
    assert 1 <= len(_opened(polls)) <= POLL_CONNECTIONS


def test_a_connection_that_died_while_idle_is_replaced_unseen(
    pg_client: TestClient, postgres_url: str
) -> None:
    account, phone, cookie = _polled_device(pg_client)
    polls: PostgresPolls = pg_client.app.state.polls  # type: ignore[attr-defined]
    (idle,) = _opened(polls)
    admin = postgres_url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(admin, autocommit=True) as connection:  # as a restart would
        connection.execute("SELECT pg_terminate_backend(%s)", [idle.info.backend_pid])
    # The route's form: no direct path to fall back from, the reader itself recovers.
    answer = account.get("/api/sync/pull", params={"since": cookie, "client_id": phone,
                                                   "other": "1"})
    assert answer.status_code == 200
    assert idle.closed and len(_opened(polls)) == 1


def test_a_snapshot_from_scratch_stays_on_a_worker_thread(pg_client: TestClient) -> None:
    account = sign_up(pg_client)
    polls: PostgresPolls = pg_client.app.state.polls  # type: ignore[attr-defined]
    assert account.get("/api/sync/pull", params={"since": 0}).status_code == 200
    assert _opened(polls) == []


def test_shutdown_closes_the_poll_connections(
    make_app_settings: Callable[..., Settings], postgres_url: str
) -> None:
    with TestClient(create_app(_settings(make_app_settings, postgres_url))) as client:
        _polled_device(client)
        polls: PostgresPolls = client.app.state.polls  # type: ignore[attr-defined]
        connections = _opened(polls)
        assert len(connections) == 1 and not connections[0].closed
    assert connections[0].closed
