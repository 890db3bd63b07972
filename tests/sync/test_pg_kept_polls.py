"""PostgreSQL: a poll with nothing new is answered again from memory until any instance
writes to its account (app/sync/polls.py, the notifications of migrations 0005 and 0006)."""

import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager

import psycopg
import pytest
from alembic import command
from fastapi.testclient import TestClient
from httpx2 import Response
from prometheus_client.parser import text_string_to_metric_families

from app.config import Settings
from app.main import create_app
from app.migrate import alembic_config
from app.sync import polls as polls_module
from app.sync.polls import LISTENER_NAME, NOTIFYING_TRIGGERS, PostgresPolls, _account_named
from app.sync.service import Pulled
from tests.auth.helpers import Account, sign_in
from tests.sql import statements_sent
from tests.sync.factories import (
    account_id,
    device_with_history,
    make_rest,
    new_client_id,
    put,
)

# pg_trigger.tgtype: ROW (1), AFTER (no BEFORE bit), on INSERT (4), DELETE (8), UPDATE (16)
# and TRUNCATE (32).
AFTER_EACH_ROW_WRITTEN = 1 | 4 | 8 | 16
AFTER_EACH_TRUNCATE = 32
AFTER_EACH_WRITING_STATEMENT = 4 | 8 | 16 | 32  # migration 0005's


def _plain(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def _wait_for(condition: Callable[[], bool], what: str, within_s: float = 10.0) -> None:
    deadline = time.monotonic() + within_s
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.01)


def _polls(client: TestClient) -> PostgresPolls:
    return client.app.state.polls  # type: ignore[attr-defined,no-any-return]


@contextmanager
def _hearing_client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as client:
        _wait_for(_polls(client).hearing, "the listener never heard its first beat")
        yield client


@pytest.fixture
def instance(make_app_settings: Callable[..., Settings],
             postgres_url: str) -> Iterator[TestClient]:
    with _hearing_client(make_app_settings(postgres_url)) as client:
        yield client


@pytest.fixture
def other_instance(make_app_settings: Callable[..., Settings], postgres_url: str,
                   instance: TestClient) -> Iterator[TestClient]:
    """A second app on the same database, as another instance behind the balancer."""
    with _hearing_client(make_app_settings(postgres_url)) as client:
        yield client


def _poll(account: Account, phone: str, cookie: int) -> Response:
    return account.get("/api/sync/pull", params={"since": cookie, "client_id": phone})


def _sent(client: TestClient) -> AbstractContextManager[list[str]]:
    return statements_sent(client.app.state.engine)  # type: ignore[attr-defined]


def _reads_of(client: TestClient, poll: Callable[[], Response]) -> int:
    """How many pull statements one poll sent to the database (0: answered from memory)."""
    with _sent(client) as statements:
        assert poll().status_code in (200, 401)
    return sum("from auth_session" in sql for sql in statements)


def _kept_device(client: TestClient) -> tuple[Account, str, int]:
    """device_with_history, polled until its answer is given from memory (the
    notifications of its own writes may still come in and let the first ones go)."""
    account, phone, cookie = device_with_history(client)
    assert _poll(account, phone, cookie).json()["changes"] == []
    _wait_for(lambda: _reads_of(client, lambda: _poll(account, phone, cookie)) == 0,
              "a poll with nothing new was never answered from memory")
    return account, phone, cookie


def _push_one(account: Account, note: str) -> None:
    pushed = account.post("/api/sync/push", json={
        "client_id": new_client_id(), "mutations": [put(1, make_rest(note=note))]})
    assert pushed.status_code == 200, pushed.text


def _notes(answer: Response) -> list[str]:
    return [change["rest"]["note"] for change in answer.json()["changes"]]


def _listener_gauge(client: TestClient) -> float | None:
    for family in text_string_to_metric_families(client.get("/metrics").text):
        for sample in family.samples:
            if sample.name == "crg_sync_write_listener_hearing":
                return sample.value
    return None


def _heard_after(polls: PostgresPolls) -> Callable[[], bool]:
    """Whether a write was heard of since: to every account, or to one."""
    changes = polls._changes, polls._writes
    return lambda: (polls._changes, polls._writes) != changes


def test_a_poll_with_nothing_new_is_answered_again_without_a_query(
        instance: TestClient) -> None:
    account, phone, cookie = device_with_history(instance)
    first = _poll(account, phone, cookie)
    assert first.json()["changes"] == [] and first.json()["cookie"] == cookie
    _wait_for(lambda: _reads_of(instance, lambda: _poll(account, phone, cookie)) == 0,
              "a poll with nothing new was never answered from memory")
    with _sent(instance) as statements:
        again = [_poll(account, phone, cookie) for _ in range(2)]
    assert not any("from auth_session" in sql for sql in statements)
    assert [answer.content for answer in again] == [first.content] * 2
    assert "content-security-policy" in again[1].headers


def test_this_instances_push_shows_at_the_next_poll(instance: TestClient,
                                                   postgres_url: str) -> None:
    account, phone, cookie = _kept_device(instance)
    # No notification at all: as if the push's were still on its way back.
    with psycopg.connect(_plain(postgres_url)) as admin:
        for trigger in NOTIFYING_TRIGGERS:
            table = trigger.rsplit("_notify_sync_", 1)[0]
            admin.execute(f"DROP TRIGGER {trigger} ON {table}")
    _push_one(account, "from the tablet")
    assert _notes(_poll(account, phone, cookie)) == ["from the tablet"]


def test_another_instances_push_shows_once_its_notification_is_heard(
        instance: TestClient, other_instance: TestClient) -> None:
    account, phone, cookie = _kept_device(instance)
    tablet = sign_in(other_instance, account.email)  # a write too: its own answers go
    _wait_for(lambda: _reads_of(instance, lambda: _poll(account, phone, cookie)) == 0,
              "never answered from memory again")
    heard = _heard_after(_polls(instance))
    _push_one(tablet, "through the other instance")
    _wait_for(heard, "the other instance's write went unheard")
    assert _notes(_poll(account, phone, cookie)) == ["through the other instance"]


@pytest.mark.parametrize(("table", "write"), [
    ("user_account", "UPDATE user_account SET email = email"),
    ("auth_session", "UPDATE auth_session SET expires_at = expires_at"),
    ("sync_client", "UPDATE sync_client SET last_seq = last_seq"),
    ("rest", "UPDATE rest SET note = note"),
])
def test_a_write_to_any_table_a_pull_reads_lets_the_kept_answers_go(
        instance: TestClient, postgres_url: str, table: str, write: str) -> None:
    account, phone, cookie = _kept_device(instance)
    heard = _heard_after(_polls(instance))
    with psycopg.connect(_plain(postgres_url)) as elsewhere:
        elsewhere.execute(write)
    _wait_for(heard, f"a write to {table} went unheard")
    assert _reads_of(instance, lambda: _poll(account, phone, cookie)) == 1


def test_a_push_to_another_account_keeps_this_accounts_answer(
        instance: TestClient, other_instance: TestClient) -> None:
    account, phone, cookie = _kept_device(instance)
    neighbour, their_phone, their_cookie = _kept_device(instance)
    _push_one(neighbour, "the neighbour's, here")  # this instance's own push
    assert _reads_of(instance, lambda: _poll(account, phone, cookie)) == 0
    assert _notes(_poll(neighbour, their_phone, their_cookie)) == ["the neighbour's, here"]

    on_the_other = sign_in(other_instance, neighbour.email)  # a write to the neighbour too
    heard = _heard_after(_polls(instance))
    _push_one(on_the_other, "the neighbour's, there")
    _wait_for(heard, "the other instance's write went unheard")
    assert _reads_of(instance, lambda: _poll(account, phone, cookie)) == 0
    assert "the neighbour's, there" in _notes(_poll(neighbour, their_phone, their_cookie))


def test_a_sign_out_of_another_account_keeps_this_accounts_answer(
        instance: TestClient) -> None:
    account, phone, cookie = _kept_device(instance)
    neighbour, their_phone, their_cookie = _kept_device(instance)
    heard = _heard_after(_polls(instance))
    assert neighbour.post("/api/auth/logout").status_code in (200, 204)  # a DELETE
    _wait_for(heard, "the sign-out went unheard")
    assert _reads_of(instance, lambda: _poll(account, phone, cookie)) == 0
    assert _poll(neighbour, their_phone, their_cookie).status_code == 401


def test_a_truncate_lets_every_kept_answer_go(instance: TestClient,
                                              postgres_url: str) -> None:
    account, phone, cookie = _kept_device(instance)
    heard = _heard_after(_polls(instance))
    with psycopg.connect(_plain(postgres_url)) as elsewhere:
        elsewhere.execute("TRUNCATE sync_client")  # no row to name an account by
    _wait_for(heard, "the truncate went unheard")
    assert _reads_of(instance, lambda: _poll(account, phone, cookie)) == 1


@pytest.mark.parametrize(("payload", "account"), [
    ("account:42", 42), ("", None), ("account:", None), ("account:4x", None),
    ("beat:0a1b", None),
])
def test_a_notification_names_an_account_or_every_one(payload: str,
                                                      account: int | None) -> None:
    assert _account_named(payload) == account


def test_a_sign_out_on_another_instance_ends_the_kept_answers(
        instance: TestClient, postgres_url: str) -> None:
    account, phone, cookie = _kept_device(instance)
    heard = _heard_after(_polls(instance))
    with psycopg.connect(_plain(postgres_url)) as elsewhere:
        elsewhere.execute("DELETE FROM auth_session")
    _wait_for(heard, "the sign-out went unheard")
    refused = _poll(account, phone, cookie)
    assert refused.status_code == 401, refused.text


def _other_question(account: Account, cookie: int) -> Response:
    """A poll in the plain form, but not the one _kept_device's answer is kept for."""
    return account.get("/api/sync/pull", params={"since": cookie})


def test_an_answer_read_while_a_write_is_heard_is_not_kept(
        instance: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    account, _phone, cookie = _kept_device(instance)  # its own writes' notifications in
    polls = _polls(instance)
    read = polls.pull

    async def pull_while_a_write_is_heard(*args: object) -> Pulled | None:
        answer = await read(*args)  # type: ignore[arg-type]
        polls._changed()  # the notification of a write that the read may not have seen
        return answer

    monkeypatch.setattr(polls, "pull", pull_while_a_write_is_heard)
    assert _other_question(account, cookie).status_code == 200
    monkeypatch.undo()
    assert _reads_of(instance, lambda: _other_question(account, cookie)) == 1


@pytest.mark.parametrize(("to_whom", "reads_after"), [("its own", 1), ("another", 0)])
def test_an_answer_read_while_a_write_to_an_account_is_heard(
        instance: TestClient, monkeypatch: pytest.MonkeyPatch, to_whom: str,
        reads_after: int) -> None:
    account, _phone, cookie = _kept_device(instance)
    own = account_id(instance, account)
    written_to = own if to_whom == "its own" else own + 1_000_000
    polls = _polls(instance)
    read = polls.pull

    async def pull_while_a_write_is_heard(*args: object) -> Pulled | None:
        answer = await read(*args)  # type: ignore[arg-type]
        polls._account_changed(written_to)  # a write the read may not have seen
        return answer

    monkeypatch.setattr(polls, "pull", pull_while_a_write_is_heard)
    assert _other_question(account, cookie).status_code == 200
    monkeypatch.undo()
    # Kept only if the write was to another account.
    assert _reads_of(instance, lambda: _other_question(account, cookie)) == reads_after


def test_an_answer_read_while_not_hearing_is_not_kept(
        instance: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    account, _phone, cookie = _kept_device(instance)
    polls = _polls(instance)
    monkeypatch.setattr(polls, "hearing", lambda: False)
    assert _other_question(account, cookie).status_code == 200
    monkeypatch.undo()
    assert polls.hearing()
    assert _reads_of(instance, lambda: _other_question(account, cookie)) == 1


def test_nothing_is_kept_once_the_beat_stops_coming_back(
        make_app_settings: Callable[..., Settings], postgres_url: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(polls_module, "BEAT_EVERY_S", 0.2)
    with _hearing_client(make_app_settings(postgres_url)) as client:
        account, phone, cookie = _kept_device(client)
        polls = _polls(client)

        async def lost(_beat: str) -> None:
            """A beat that never arrives: a connection gone quiet, or a pooler's."""

        monkeypatch.setattr(polls, "_send_beat", lost)
        _wait_for(lambda: not polls.hearing(), "a listener without beats still hears",
                  within_s=3)
        for _ in range(2):
            assert _reads_of(client, lambda: _poll(account, phone, cookie)) == 1


def test_no_kept_answer_is_given_past_the_bound_of_the_last_beat(
        instance: TestClient) -> None:
    account, phone, cookie = _kept_device(instance)
    # The bound passed, and the listener has yet to notice that a beat is missing.
    _polls(instance)._hearing_until = time.monotonic()
    assert _reads_of(instance, lambda: _poll(account, phone, cookie)) == 1


def test_a_write_while_the_listener_was_lost_shows_after_it_is_back(
        instance: TestClient, postgres_url: str) -> None:
    account, phone, cookie = _kept_device(instance)
    polls = _polls(instance)
    with psycopg.connect(_plain(postgres_url), autocommit=True) as admin:  # a restart would
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                      "WHERE datname = current_database() AND application_name = %s",
                      [LISTENER_NAME])
        _wait_for(lambda: not polls.hearing(), "the lost listener was not noticed")
        admin.execute("DELETE FROM auth_session")  # a sign-out, meanwhile
    _wait_for(polls.hearing, "the listener did not come back")
    refused = _poll(account, phone, cookie)
    assert refused.status_code == 401, refused.text


def test_a_lost_listener_listens_again(instance: TestClient, other_instance: TestClient,
                                       postgres_url: str) -> None:
    polls = _polls(instance)
    with psycopg.connect(_plain(postgres_url), autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                      "WHERE datname = current_database() AND application_name = %s",
                      [LISTENER_NAME])
    _wait_for(lambda: not polls.hearing(), "the lost listener was not noticed")
    assert _listener_gauge(instance) == 0  # operators see it
    _wait_for(polls.hearing, "the listener did not come back")
    assert _listener_gauge(instance) == 1
    account, phone, cookie = _kept_device(instance)
    tablet = sign_in(other_instance, account.email)
    heard = _heard_after(polls)
    _push_one(tablet, "after the outage")
    _wait_for(heard, "a write after the outage went unheard")
    assert _notes(_poll(account, phone, cookie)) == ["after the outage"]


def test_without_the_triggers_nothing_is_kept(
        make_app_settings: Callable[..., Settings], postgres_url: str,
        caplog: pytest.LogCaptureFixture) -> None:
    command.downgrade(alembic_config(postgres_url), "0004")
    settings = make_app_settings(postgres_url).model_copy(update={"migrate_on_start": False})
    with TestClient(create_app(settings)) as client:
        account, phone, cookie = device_with_history(client)
        _wait_for(lambda: "triggers that notify of writes are missing" in caplog.text,
                  "the missing triggers went unreported")
        assert not _polls(client).hearing()
        for _ in range(2):
            assert _reads_of(client, lambda: _poll(account, phone, cookie)) == 1


def test_the_listener_can_be_turned_off(make_app_settings: Callable[..., Settings],
                                        postgres_url: str) -> None:
    settings = make_app_settings(postgres_url, listen_for_writes=False)
    with TestClient(create_app(settings)) as client:
        account, phone, cookie = device_with_history(client)
        for _ in range(2):
            assert _reads_of(client, lambda: _poll(account, phone, cookie)) == 1
        with psycopg.connect(_plain(postgres_url)) as check:
            assert check.execute("SELECT count(*) FROM pg_stat_activity "
                                 "WHERE application_name = %s",
                                 [LISTENER_NAME]).fetchone() == (0,)


def test_the_notifying_triggers_come_off_and_back(postgres_url: str) -> None:
    config = alembic_config(postgres_url)

    def triggers() -> dict[str, int]:
        with psycopg.connect(_plain(postgres_url)) as check:
            return dict(check.execute(
                "SELECT tgname, tgtype FROM pg_trigger WHERE tgname = ANY(%s)",
                [list(NOTIFYING_TRIGGERS)]).fetchall())

    expected = {name: AFTER_EACH_TRUNCATE if name.endswith("_truncate")
                else AFTER_EACH_ROW_WRITTEN for name in NOTIFYING_TRIGGERS}
    assert triggers() == expected
    command.downgrade(config, "0005")
    assert triggers() == {name: AFTER_EACH_WRITING_STATEMENT for name in NOTIFYING_TRIGGERS
                          if name.endswith("_change")}
    command.downgrade(config, "0004")
    assert triggers() == {}
    command.upgrade(config, "head")
    assert triggers() == expected
