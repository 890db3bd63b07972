"""SQLite: a poll with nothing new is answered again from memory until anything is written
(app/sync/kept_polls.py, app/sync/sqlite_polls.py, ReplayKeptPolls in
app/sync/direct_pull.py). PostgreSQL's: test_pg_kept_polls.py."""

import asyncio
import logging
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime, timedelta, tzinfo

import pytest
from fastapi.testclient import TestClient
from httpx2 import Response

from app.auth import sessions
from app.auth.sessions import cookie_hash
from app.sync import kept_polls, service
from app.sync.sqlite_polls import SqlitePolls
from tests.auth.helpers import COOKIE, Account, sign_up
from tests.sql import statements_sent
from tests.sync.factories import device_with_history, make_rest, new_client_id, put


def _poll(account: Account, phone: str, cookie: int, **extra: object) -> Response:
    # The form devices send: since, then client_id.
    return account.get("/api/sync/pull", params={"since": cookie, "client_id": phone, **extra})


def _queries(client: TestClient) -> AbstractContextManager[list[str]]:
    return statements_sent(client.app.state.engine,  # type: ignore[attr-defined]
                           client.app.state.polls)  # type: ignore[attr-defined]


def _selects(statements: list[str]) -> int:
    return sum(sql.startswith("select") for sql in statements)


def _without_request_id(answer: Response) -> list[tuple[str, str]]:
    return [(k, v) for k, v in answer.headers.multi_items() if k != "x-request-id"]


def test_a_poll_with_nothing_new_is_answered_again_without_a_query(
    sync_client: TestClient,
) -> None:
    account, phone, cookie = device_with_history(sync_client)
    with _queries(sync_client) as statements:
        answers = [_poll(account, phone, cookie) for _ in range(3)]
    assert _selects(statements) == 1
    first = answers[0]
    assert first.status_code == 200
    assert first.json()["changes"] == [] and first.json()["cookie"] == cookie
    for again in answers[1:]:
        assert again.status_code == 200 and again.content == first.content
        # The same headers (security headers included), and a request id of its own.
        assert _without_request_id(again) == _without_request_id(first)
        assert again.headers["x-request-id"] != first.headers["x-request-id"]
        assert "content-security-policy" in again.headers


def test_a_repeated_answer_is_logged_at_debug_and_the_first_at_info(
    sync_client: TestClient, caplog: pytest.LogCaptureFixture,
) -> None:
    account, phone, cookie = device_with_history(sync_client, rests=2)
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="app.access"):
        for since in (cookie, cookie, cookie, cookie - 1, cookie - 1):
            _poll(account, phone, since)
    polls = [(record.levelname, record.status) for record in caplog.records  # type: ignore[attr-defined]
             if record.name == "app.access"]
    # Nothing new: the first answer, then its repeats. With changes: each answer.
    assert polls == [("INFO", 200), ("DEBUG", 200), ("DEBUG", 200), ("INFO", 200),
                     ("INFO", 200)]


def test_an_answer_with_changes_is_read_each_time(sync_client: TestClient) -> None:
    account, phone, cookie = device_with_history(sync_client, rests=2)
    with _queries(sync_client) as statements:
        answers = [_poll(account, phone, cookie - 1) for _ in range(2)]
    assert [len(answer.json()["changes"]) for answer in answers] == [1, 1]
    assert _selects(statements) == 2


def test_another_devices_push_shows_at_the_next_poll(sync_client: TestClient) -> None:
    account, phone, cookie = device_with_history(sync_client)
    assert _poll(account, phone, cookie).json()["changes"] == []
    pushed = account.post("/api/sync/push", json={
        "client_id": new_client_id(), "mutations": [put(1, make_rest(note="from the tablet"))]})
    assert pushed.status_code == 200
    answer = _poll(account, phone, cookie).json()
    assert [change["rest"]["note"] for change in answer["changes"]] == ["from the tablet"]
    assert answer["cookie"] > cookie


def test_a_sign_out_by_another_process_is_seen_at_once(sync_client: TestClient) -> None:
    # Another server process on the same file ends the session: the next poll here is
    # refused, not answered from memory.
    account, phone, cookie = device_with_history(sync_client)
    assert _poll(account, phone, cookie).status_code == 200
    assert _poll(account, phone, cookie).status_code == 200
    database = sync_client.app.state.engine.url.database  # type: ignore[attr-defined]
    elsewhere = sqlite3.connect(database)
    with elsewhere:
        elsewhere.execute("DELETE FROM auth_session")
    elsewhere.close()
    refused = _poll(account, phone, cookie)
    assert refused.status_code == 401, refused.text


def test_a_commit_while_a_poll_is_read_is_never_hidden(sync_client: TestClient) -> None:
    # Another process signs the device out just as the poll reads: the change counter is
    # read before the rows, so the rows can only be newer than the counter they are kept
    # under, and the next poll reads again. (Read after the rows, the signed-out
    # session's answer would be kept as current.)
    account, phone, cookie = device_with_history(sync_client)
    database = sync_client.app.state.engine.url.database  # type: ignore[attr-defined]
    connection = sync_client.app.state.polls.connection()  # type: ignore[attr-defined]
    signed_out: list[str] = []

    def sign_out_elsewhere(statement: str) -> None:
        if statement.lower().startswith("pragma data_version") and not signed_out:
            signed_out.append(statement)
            elsewhere = sqlite3.connect(database)
            with elsewhere:
                elsewhere.execute("DELETE FROM auth_session")
            elsewhere.close()

    connection.set_trace_callback(sign_out_elsewhere)
    try:
        _poll(account, phone, cookie)
    finally:
        connection.set_trace_callback(None)
    assert signed_out
    refused = _poll(account, phone, cookie)
    assert refused.status_code == 401, refused.text


def _kept_poll(client: TestClient, account: Account, phone: str,
               cookie: int) -> tuple[SqlitePolls, Callable[[], bytes | None]]:
    """The app's polls, once the device's poll with nothing new is kept, and a look for
    its kept answer, as ReplayKeptPolls looks."""
    assert _poll(account, phone, cookie).json()["changes"] == []
    polls = client.app.state.polls  # type: ignore[attr-defined]
    hashed = cookie_hash(account.token)
    assert hashed is not None
    question = f"since={cookie}&client_id={phone}".encode()  # as devices send it
    return polls, lambda: polls.kept_answer(hashed, question)


def test_the_change_counter_is_read_once_per_turn_of_the_event_loop(
    sync_client: TestClient,
) -> None:
    # Polls answered in one turn of the loop (all of which arrived before it began) share
    # one reading of data_version; a commit made after it is seen from the next turn on.
    account, phone, cookie = device_with_history(sync_client)
    polls, kept_answer = _kept_poll(sync_client, account, phone, cookie)
    database = sync_client.app.state.engine.url.database  # type: ignore[attr-defined]
    asked: list[str] = []

    def sign_out_elsewhere() -> None:
        elsewhere = sqlite3.connect(database)
        with elsewhere:
            elsewhere.execute("DELETE FROM auth_session")
        elsewhere.close()

    async def polls_over_two_turns() -> tuple[list[bytes | None], int, bytes | None]:
        connection = polls.connection()
        connection.set_trace_callback(asked.append)
        try:
            first_turn = [kept_answer() for _ in range(3)]
            sign_out_elsewhere()
            first_turn.append(kept_answer())
            read_in_first_turn = len(asked)
            await asyncio.sleep(0)  # the loop turns
            return first_turn, read_in_first_turn, kept_answer()
        finally:
            connection.set_trace_callback(None)

    assert sync_client.portal is not None
    first_turn, read_in_first_turn, next_turn = sync_client.portal.call(polls_over_two_turns)
    assert read_in_first_turn == 1
    assert all(body is not None for body in first_turn)
    assert next_turn is None and len(asked) == 2
    assert _poll(account, phone, cookie).status_code == 401


def test_off_the_loop_or_with_a_task_factory_every_poll_reads_the_counter(
    sync_client: TestClient,
) -> None:
    # A thread with no running loop cannot rely on the loop's turn; nor can a loop whose
    # task factory may run a task's first step out of turn (an eager one).
    polls, kept_answer = _kept_poll(sync_client, *device_with_history(sync_client))
    asked: list[str] = []

    async def read_in_a_turn_then_from_a_thread() -> list[bytes | None]:
        answers = [kept_answer()]
        # The loop waits for the thread: its turn is still the one that read.
        thread = threading.Thread(
            target=lambda: answers.append(kept_answer()))
        thread.start()
        thread.join()
        return answers

    async def read_with_a_task_factory() -> list[bytes | None]:
        loop = asyncio.get_running_loop()
        loop.set_task_factory(lambda loop, coro, **kwargs: asyncio.Task(coro, loop=loop,
                                                                        **kwargs))
        try:
            return [kept_answer() for _ in range(2)]
        finally:
            loop.set_task_factory(None)

    connection = polls.connection()
    connection.set_trace_callback(asked.append)
    try:
        assert sync_client.portal is not None
        answers = sync_client.portal.call(read_in_a_turn_then_from_a_thread)
        answers += sync_client.portal.call(read_with_a_task_factory)
    finally:
        connection.set_trace_callback(None)
    assert all(body is not None for body in answers)
    assert len(asked) == 4 and all("data_version" in sql.lower() for sql in asked)


def test_an_answer_is_kept_for_its_own_session_only(sync_client: TestClient) -> None:
    account, phone, cookie = device_with_history(sync_client)
    stranger = sign_up(sync_client)
    assert _poll(account, phone, cookie).status_code == 200  # kept from here on
    # The same question from another account: its own answer (none of the rests, and
    # its own counter), not the one kept for the first session.
    answer = _poll(stranger, phone, cookie)
    assert answer.status_code == 200
    assert answer.json()["reset"] is True and answer.json()["cookie"] == 0
    # And without a session, no answer at all.
    anonymous = sync_client.get("/api/sync/pull", params={"since": cookie, "client_id": phone})
    assert anonymous.status_code == 401


def test_hsts_goes_with_https_only(sync_client: TestClient) -> None:
    account, phone, cookie = device_with_history(sync_client)
    secure = TestClient(sync_client.app, base_url="https://testserver")
    url = f"/api/sync/pull?since={cookie}&client_id={phone}"
    first, kept = (secure.get(url, headers=account.headers) for _ in range(2))
    assert first.status_code == kept.status_code == 200
    assert "strict-transport-security" in kept.headers
    assert _without_request_id(kept) == _without_request_id(first)
    plain = _poll(account, phone, cookie)  # the same kept answer, over plain HTTP
    assert plain.content == kept.content
    assert "strict-transport-security" not in plain.headers


def test_a_poll_with_a_body_or_by_head_is_not_replayed(sync_client: TestClient) -> None:
    account, phone, cookie = device_with_history(sync_client)
    assert _poll(account, phone, cookie).status_code == 200  # kept from here on
    url = f"/api/sync/pull?since={cookie}&client_id={phone}"
    with _queries(sync_client) as statements:
        with_body = sync_client.request("GET", url, headers=account.headers, content=b"{}")
    assert with_body.status_code == 200 and _selects(statements) == 1
    head = sync_client.head(url, headers=account.headers)
    assert head.status_code == 405 and head.content == b""


def test_the_session_is_the_one_the_cookie_names(sync_client: TestClient) -> None:
    # Two Cookie headers: the later one names the session, as everywhere in the app.
    account, phone, cookie = device_with_history(sync_client)
    stranger = sign_up(sync_client)
    assert _poll(account, phone, cookie).status_code == 200  # kept for the first session
    url = f"/api/sync/pull?since={cookie}&client_id={phone}"
    for order in ((account, stranger), (stranger, account)):
        headers = [("cookie", f"{COOKIE}={who.token}") for who in order]
        answer = sync_client.get(url, headers=headers)
        assert answer.status_code == 200
        assert answer.json()["reset"] is (order[-1] is stranger)


def test_only_the_plain_form_is_kept(sync_client: TestClient) -> None:
    account, phone, cookie = device_with_history(sync_client)
    with _queries(sync_client) as statements:
        for _ in range(2):
            assert _poll(account, phone, cookie, other="1").status_code == 200
    assert _selects(statements) == 2


@contextmanager
def _clock_at(monkeypatch: pytest.MonkeyPatch, moment: datetime) -> Iterator[None]:
    """Every clock a poll reads, moved to `moment`."""

    class Moved(datetime):
        @classmethod
        def now(cls, tz: tzinfo | None = None) -> "Moved":
            return cls.fromtimestamp(moment.timestamp(), tz)

    with monkeypatch.context() as patch:
        patch.setattr(sessions, "datetime", Moved)
        patch.setattr(service, "datetime", Moved)
        patch.setattr(kept_polls, "unix_time", moment.timestamp)
        yield


def _expiry(client: TestClient) -> datetime:
    database = client.app.state.engine.url.database  # type: ignore[attr-defined]
    with sqlite3.connect(database) as connection:
        (expires_at,) = connection.execute("SELECT expires_at FROM auth_session").fetchone()
    return sessions.as_utc(datetime.fromisoformat(expires_at))


def test_a_kept_answer_ends_with_its_session(
    sync_client: TestClient, monkeypatch: pytest.MonkeyPatch,
) -> None:
    account, phone, cookie = device_with_history(sync_client)
    assert _poll(account, phone, cookie).status_code == 200
    with _clock_at(monkeypatch, _expiry(sync_client) + timedelta(seconds=1)):
        refused = _poll(account, phone, cookie)
    assert refused.status_code == 401, refused.text


def test_a_device_that_only_polls_still_has_its_session_renewed(
    sync_client: TestClient, monkeypatch: pytest.MonkeyPatch,
) -> None:
    account, phone, cookie = device_with_history(sync_client)
    assert _poll(account, phone, cookie).status_code == 200
    expiry = _expiry(sync_client)
    days = sync_client.app.state.settings.session_days  # type: ignore[attr-defined]
    # A day and a minute after the expiry was last set: due to slide forward.
    with _clock_at(monkeypatch, expiry - timedelta(days=days) + timedelta(days=1, minutes=1)):
        answer = _poll(account, phone, cookie)
    assert answer.status_code == 200 and answer.json()["changes"] == []
    assert _expiry(sync_client) > expiry


def test_kept_answers_are_bounded(
    sync_client: TestClient, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(kept_polls, "MAX_KEPT_ANSWERS", 2)
    account, phone, cookie = device_with_history(sync_client)
    devices = [phone, *(new_client_id() for _ in range(3))]
    for device in devices:  # four devices' polls, one after another
        assert _poll(account, device, cookie).status_code == 200
    with _queries(sync_client) as statements:
        for device in [*devices[2:], devices[0]]:
            assert _poll(account, device, cookie).status_code == 200
    assert _selects(statements) == 1  # the last two were kept; the first was let go


def test_an_account_forgotten_loses_its_answers_only_even_after_evictions(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(kept_polls, "MAX_KEPT_ANSWERS", 3)
    kept = kept_polls.KeptPolls()
    until = datetime.now() + timedelta(days=1)  # noqa: DTZ005 (only its timestamp counts)
    for session, account in [("a1", 1), ("a2", 1), ("b1", 2), ("c1", 3)]:  # a1 let go
        kept._keep((session, b"q"), session.encode(), until, account)
    kept._keep(("a2", b"q"), b"a2 again", until, 1)  # renewed: now the newest
    kept.forget_account(1)
    assert [kept.get((s, b"q")) for s in ("a1", "a2", "b1", "c1")] == [None, None, b"b1", b"c1"]
    kept._keep(("d1", b"q"), b"d1", until, 4)
    kept._keep(("e1", b"q"), b"e1", until, 5)  # b1 let go, the oldest
    kept.forget_account(2)  # nothing left of it: no error
    assert [kept.get((s, b"q")) for s in ("c1", "d1", "e1")] == [b"c1", b"d1", b"e1"]
