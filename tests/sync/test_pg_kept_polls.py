"""PostgreSQL: a poll with nothing new is answered again from memory until any instance
writes (app/sync/polls.py, the notifications of migration 0005)."""

import time
from collections.abc import Callable, Iterator

import psycopg
import pytest
from alembic import command
from fastapi.testclient import TestClient
from httpx2 import Response

from app.config import Settings
from app.main import create_app
from app.migrate import alembic_config
from app.sync import polls as polls_module
from app.sync.polls import PostgresPolls
from tests.auth.helpers import Account, sign_in
from tests.sql import statements_sent
from tests.sync.factories import device_with_history, make_rest, new_client_id, put

# What a pull reads: a write to any of them is notified.
TABLES = ("user_account", "auth_session", "sync_client", "rest")


def _plain(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def _until(condition: Callable[[], bool], what: str, within_s: float = 10.0) -> None:
    deadline = time.monotonic() + within_s
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.01)


def _polls(client: TestClient) -> PostgresPolls:
    return client.app.state.polls  # type: ignore[attr-defined,no-any-return]


def _hearing_client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as client:
        _until(_polls(client).hearing, "the listener never heard its first beat")
        yield client


@pytest.fixture
def instance(make_app_settings: Callable[..., Settings],
             postgres_url: str) -> Iterator[TestClient]:
    yield from _hearing_client(make_app_settings(postgres_url))


@pytest.fixture
def other_instance(make_app_settings: Callable[..., Settings], postgres_url: str,
                   instance: TestClient) -> Iterator[TestClient]:
    """A second app on the same database, as another instance behind the balancer."""
    yield from _hearing_client(make_app_settings(postgres_url))


def _poll(account: Account, phone: str, cookie: int) -> Response:
    return account.get("/api/sync/pull", params={"since": cookie, "client_id": phone})


def _reads(client: TestClient) -> object:
    return statements_sent(client.app.state.engine)  # type: ignore[attr-defined]


def _pulls(statements: list[str]) -> int:
    return sum("from auth_session" in sql for sql in statements)


def _push_one(account: Account, note: str) -> None:
    pushed = account.post("/api/sync/push", json={
        "client_id": new_client_id(), "mutations": [put(1, make_rest(note=note))]})
    assert pushed.status_code == 200, pushed.text


def _heard_since(polls: PostgresPolls, changes: int) -> Callable[[], bool]:
    return lambda: polls._changes != changes


def test_a_poll_with_nothing_new_is_answered_again_without_a_query(
        instance: TestClient) -> None:
    account, phone, cookie = device_with_history(instance)
    with _reads(instance) as statements:  # type: ignore[attr-defined]
        answers = [_poll(account, phone, cookie) for _ in range(3)]
    assert _pulls(statements) == 1
    assert answers[0].json()["changes"] == [] and answers[0].json()["cookie"] == cookie
    assert [answer.content for answer in answers] == [answers[0].content] * 3
    assert "content-security-policy" in answers[2].headers


def test_this_instances_push_shows_at_the_next_poll(instance: TestClient,
                                                   postgres_url: str) -> None:
    account, phone, cookie = device_with_history(instance)
    assert _poll(account, phone, cookie).json()["changes"] == []
    # No notification at all: as if the push's were still on its way back.
    with psycopg.connect(_plain(postgres_url)) as admin:
        for table in TABLES:
            admin.execute(f"DROP TRIGGER {table}_notify_sync_change ON {table}")
    _push_one(account, "from the tablet")
    answer = _poll(account, phone, cookie).json()
    assert [change["rest"]["note"] for change in answer["changes"]] == ["from the tablet"]


def test_another_instances_push_shows_once_its_notification_is_heard(
        instance: TestClient, other_instance: TestClient) -> None:
    account, phone, cookie = device_with_history(instance)
    assert _poll(account, phone, cookie).json()["changes"] == []
    assert _poll(account, phone, cookie).json()["changes"] == []  # kept
    changes = _polls(instance)._changes
    tablet = sign_in(other_instance, account.email)
    _push_one(tablet, "through the other instance")
    _until(_heard_since(_polls(instance), changes), "the other instance's write went unheard")
    answer = _poll(account, phone, cookie).json()
    assert [change["rest"]["note"] for change in answer["changes"]] == [
        "through the other instance"]


def test_a_sign_out_on_another_instance_ends_the_kept_answers(
        instance: TestClient, other_instance: TestClient, postgres_url: str) -> None:
    account, phone, cookie = device_with_history(instance)
    assert _poll(account, phone, cookie).status_code == 200
    assert _poll(account, phone, cookie).status_code == 200
    changes = _polls(instance)._changes
    with psycopg.connect(_plain(postgres_url)) as elsewhere:
        elsewhere.execute("DELETE FROM auth_session")
    _until(_heard_since(_polls(instance), changes), "the sign-out went unheard")
    refused = _poll(account, phone, cookie)
    assert refused.status_code == 401, refused.text


def test_nothing_is_kept_while_the_listener_has_not_shown_it_hears(
        instance: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    account, phone, cookie = device_with_history(instance)
    assert _poll(account, phone, cookie).status_code == 200
    # The beat is late: as if the connection had gone quiet without a word.
    later = time.monotonic() + 3 * polls_module.BEAT_EVERY_S
    monkeypatch.setattr(polls_module, "monotonic", lambda: later)
    with _reads(instance) as statements:  # type: ignore[attr-defined]
        assert _poll(account, phone, cookie).status_code == 200
        assert _poll(account, phone, cookie).status_code == 200
    assert _pulls(statements) == 2


def test_a_lost_listener_lets_go_and_listens_again(
        instance: TestClient, other_instance: TestClient, postgres_url: str) -> None:
    account, phone, cookie = device_with_history(instance)
    assert _poll(account, phone, cookie).status_code == 200
    polls = _polls(instance)
    with psycopg.connect(_plain(postgres_url), autocommit=True) as admin:  # as a restart would
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                      "WHERE datname = current_database() AND query LIKE '%pg_notify%' "
                      "AND pid <> pg_backend_pid()")
    _until(lambda: not polls.hearing(), "the lost listener was not noticed")
    with _reads(instance) as statements:  # type: ignore[attr-defined]
        assert _poll(account, phone, cookie).status_code == 200
    assert _pulls(statements) == 1
    # Back again, it hears the other instance's writes.
    _until(polls.hearing, "the listener did not come back", within_s=15)
    assert _poll(account, phone, cookie).json()["changes"] == []
    changes = polls._changes
    tablet = sign_in(other_instance, account.email)
    _push_one(tablet, "after the outage")
    _until(_heard_since(polls, changes), "a write after the outage went unheard")
    answer = _poll(account, phone, cookie).json()
    assert [change["rest"]["note"] for change in answer["changes"]] == ["after the outage"]


def test_the_notifying_triggers_come_off_and_back(postgres_url: str) -> None:
    config = alembic_config(postgres_url)

    def triggers() -> set[str]:
        with psycopg.connect(_plain(postgres_url)) as check:
            return {name for (name,) in check.execute(
                "SELECT tgname FROM pg_trigger WHERE tgname LIKE '%notify_sync_change'")}

    expected = {f"{table}_notify_sync_change" for table in TABLES}
    assert triggers() == expected
    command.downgrade(config, "0004")
    assert triggers() == set()
    command.upgrade(config, "head")
    assert triggers() == expected
