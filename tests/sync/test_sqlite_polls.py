"""SQLite: polls after a cookie are read on the event loop, on a connection of their own."""

import sqlite3
from collections.abc import Callable

import orjson
import pytest
from fastapi.testclient import TestClient

from app.auth.sessions import cookie_hash
from app.config import Settings
from app.main import create_app
from app.sync import service
from app.sync.sqlite_polls import SqlitePolls
from tests.sql import statements_sent, statements_sent_by_engine
from tests.sync.factories import delete, device_with_history, make_rest, new_client_id, put


def _polls(client: TestClient) -> SqlitePolls:
    polls = client.app.state.polls  # type: ignore[attr-defined]
    assert isinstance(polls, SqlitePolls)
    return polls


def test_a_poll_goes_out_on_the_poll_connection_not_the_pool(sync_client: TestClient) -> None:
    account, phone, cookie = device_with_history(sync_client)
    engine = sync_client.app.state.engine  # type: ignore[attr-defined]
    polls = _polls(sync_client)
    with statements_sent(engine, polls) as everywhere, \
            statements_sent_by_engine(engine) as pooled:
        # The direct query form and the route's both read here.
        for params in ({"since": cookie, "client_id": phone},
                       {"since": cookie, "client_id": phone, "other": "1"}):
            answer = account.get("/api/sync/pull", params=params)
            assert answer.status_code == 200
            assert answer.json()["last_applied_seq"] == 1
    # (Each read asks the change counter first: see test_kept_polls.py.)
    assert [sql.split()[0] for sql in everywhere] == ["pragma", "select"] * 2
    assert pooled == []


def test_a_snapshot_from_scratch_is_read_through_the_pool(sync_client: TestClient) -> None:
    account, phone, _cookie = device_with_history(sync_client, rests=2)
    engine = sync_client.app.state.engine  # type: ignore[attr-defined]
    with statements_sent_by_engine(engine) as pooled:
        answer = account.get("/api/sync/pull", params={"since": 0, "client_id": phone})
    assert answer.status_code == 200 and len(answer.json()["changes"]) == 2
    assert len(pooled) == 1


@pytest.mark.parametrize("limit", [1, 2, 3, 50])
def test_pages_are_the_ones_the_pool_reads(sync_client: TestClient, limit: int) -> None:
    # Every kind of value a rest holds (booleans, nulls, text, times) and tombstones come
    # out as SQLAlchemy itself gives them, page after page.
    account, phone, _cookie = device_with_history(sync_client)
    rests = [make_rest(completed=False, note="Hüfte ✓", before_rating=None),
             make_rest(), make_rest(after_rating=0)]
    account.post("/api/sync/push", json={"client_id": phone, "mutations": [
        put(2, rests[0]), put(3, rests[1]), delete(4, rests[1]["id"]), put(5, rests[2])]})
    token = cookie_hash(account.token)
    assert token is not None
    engine = sync_client.app.state.engine  # type: ignore[attr-defined]
    for since in range(1, 6):
        with engine.connect() as connection:
            expected = service.pull(connection, token, phone, since, limit)
        read = _polls(sync_client).pull(token, phone, since, limit)
        assert expected is not None and read is not None
        # As devices get it: JSON's true is not 1, though Python holds them equal.
        assert orjson.dumps(read.answer) == orjson.dumps(expected.answer)
        assert (read.user_id, read.session_expires_at) == \
            (expected.user_id, expected.session_expires_at)


def test_an_unknown_session_reads_nothing(sync_client: TestClient) -> None:
    assert _polls(sync_client).pull("0" * 64, new_client_id(), 1, 10) is None


def test_a_broken_connection_is_replaced_unseen(sync_client: TestClient) -> None:
    account, phone, cookie = device_with_history(sync_client)
    polls = _polls(sync_client)
    # The poll devices send (answered by DirectPull) and one the route answers.
    for params in ({"since": cookie, "client_id": phone},
                   {"since": cookie, "client_id": phone, "other": "1"}):
        broken = polls.connection()
        broken.close()  # as a failed connection would be: every use raises
        answer = account.get("/api/sync/pull", params=params)
        assert answer.status_code == 200, answer.text
        assert answer.json()["last_applied_seq"] == 1
        assert polls.connection() is not broken


def test_the_poll_connection_cannot_write(sync_client: TestClient) -> None:
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        _polls(sync_client).connection().execute("DELETE FROM rest")


def test_shutdown_closes_the_poll_connection(
    make_app_settings: Callable[..., Settings],
) -> None:
    with TestClient(create_app(make_app_settings())) as client:
        device_with_history(client)
        connection = _polls(client).connection()
        connection.execute("SELECT 1")
    with pytest.raises(sqlite3.ProgrammingError):
        connection.execute("SELECT 1")
