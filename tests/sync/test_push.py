"""POST /api/sync/push: once each, in order, in one transaction."""

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlmodel import Session, select

from app.models import SyncRejection
from app.sync import push_on_postgres, service
from app.sync.schemas import PushRequest
from tests.auth.helpers import Account, sign_in, sign_up
from tests.observability.conftest import metric_value
from tests.sql import statements_sent
from tests.sync.factories import account_id, delete, make_rest, new_client_id, put


def push(account: Account, client_id: str, mutations: list[dict]) -> dict:
    response = account.post("/api/sync/push", json={"client_id": client_id, "mutations": mutations})
    assert response.status_code == 200, response.text
    return response.json()


def server_rests(account: Account) -> dict[str, dict]:
    return {rest["id"]: rest for rest in account.get("/api/history/rests").json()}


class TestPush:
    def test_new_rests_are_stored_and_acknowledged(self, any_db_client: TestClient) -> None:
        account = sign_up(any_db_client)
        first, second = make_rest(), make_rest(note="legs heavy")
        answer = push(account, new_client_id(), [put(1, first), put(2, second)])
        assert answer["last_applied_seq"] == 2
        assert [r["status"] for r in answer["results"]] == ["applied", "applied"]
        assert server_rests(account) == {first["id"]: first, second["id"]: second}

    def test_replayed_push_is_applied_once(self, any_db_client: TestClient) -> None:
        account = sign_up(any_db_client)
        client_id, rest = new_client_id(), make_rest(note="one")
        batch = [put(1, rest), put(2, {**rest, "note": "two"})]
        first = push(account, client_id, batch)
        replay = push(account, client_id, batch)
        assert [r["status"] for r in replay["results"]] == ["duplicate", "duplicate"]
        assert replay["sync_version"] == first["sync_version"] == 2
        assert server_rests(account)[rest["id"]]["note"] == "two"

    def test_old_batch_arriving_late_does_not_undo_a_newer_edit(
        self, any_db_client: TestClient
    ) -> None:
        account = sign_up(any_db_client)
        client_id, rest = new_client_id(), make_rest(note="old")
        push(account, client_id, [put(1, rest), put(2, {**rest, "note": "new"})])
        push(account, client_id, [put(1, rest)])
        assert server_rests(account)[rest["id"]]["note"] == "new"

    def test_a_gap_stops_the_batch(self, any_db_client: TestClient) -> None:
        account = sign_up(any_db_client)
        client_id = new_client_id()
        answer = push(account, client_id, [put(2, make_rest()), put(3, make_rest())])
        assert answer["last_applied_seq"] == 0
        assert [r["status"] for r in answer["results"]] == ["not_applied", "not_applied"]
        assert server_rests(account) == {}

    def test_the_batch_applies_up_to_the_gap(self, any_db_client: TestClient) -> None:
        account = sign_up(any_db_client)
        client_id, kept, lost = new_client_id(), make_rest(), make_rest()
        answer = push(account, client_id, [put(1, kept), put(3, lost)])
        assert answer["last_applied_seq"] == 1
        assert list(server_rests(account)) == [kept["id"]]

    def test_invalid_rest_is_rejected_but_acknowledged(self, any_db_client: TestClient) -> None:
        account = sign_up(any_db_client)
        client_id, good = new_client_id(), make_rest()
        answer = push(account, client_id, [put(1, make_rest(after_rating=11)), put(2, good)])
        assert answer["last_applied_seq"] == 2
        rejected, applied = answer["results"]
        assert rejected["status"] == "rejected"
        assert rejected["error"] == "VALIDATION_ERROR"
        assert "after_rating" in rejected["detail"]
        assert applied["status"] == "applied"
        assert list(server_rests(account)) == [good["id"]]

    def test_a_rejection_is_kept_for_the_operator(self, any_db_client: TestClient) -> None:
        account = sign_up(any_db_client)
        client_id, bad, untitled = new_client_id(), make_rest(after_rating=11), make_rest(title=" ")
        push(account, client_id, [put(1, bad), put(2, untitled)])
        with Session(any_db_client.app.state.engine) as db:  # type: ignore[attr-defined]
            kept = db.exec(select(SyncRejection).order_by(SyncRejection.seq)).all()  # type: ignore[arg-type]
        assert [(r.client_id, r.seq, r.rest_id, r.code) for r in kept] == [
            (client_id, 1, bad["id"], "VALIDATION_ERROR"),
            (client_id, 2, untitled["id"], "VALIDATION_ERROR"),
        ]
        assert "after_rating" in kept[0].detail and "title" in kept[1].detail

    def test_a_push_asks_only_the_purge_for_rows_back(self, sync_client: TestClient) -> None:
        # Written rows' ids are never read: a RETURNING on their INSERT is work for nothing.
        account = sign_up(sync_client)
        state = sync_client.app.state  # type: ignore[attr-defined]
        with statements_sent(state.engine, state.sqlite_writer) as statements:
            push(account, new_client_id(), [put(1, make_rest(after_rating=11)),
                                            put(2, make_rest())])
        inserts = [s for s in statements if s.startswith("insert into")]
        assert {s.split()[2] for s in inserts} == {"rest", "sync_rejection", "sync_client"}
        assert [s.split()[0] for s in statements if " returning " in s] == ["delete"]

    def test_last_writer_in_server_order_wins(self, any_db_client: TestClient) -> None:
        account = sign_up(any_db_client)
        phone, tablet, rest = new_client_id(), new_client_id(), make_rest(note="phone")
        push(account, phone, [put(1, rest)])
        # The tablet's clock is far behind, but it writes later: it wins.
        stale_clock = {**rest, "note": "tablet", "updated_at": "2021-01-01T00:00:00.000Z"}
        push(account, tablet, [put(1, stale_clock)])
        assert server_rests(account)[rest["id"]]["note"] == "tablet"

    def test_delete_wins_over_a_later_edit(self, any_db_client: TestClient) -> None:
        account = sign_up(any_db_client)
        phone, tablet, rest = new_client_id(), new_client_id(), make_rest()
        push(account, phone, [put(1, rest), delete(2, rest["id"])])
        answer = push(account, tablet, [put(1, {**rest, "note": "edited offline"})])
        assert answer["results"][0]["status"] == "superseded"
        assert server_rests(account) == {}

    def test_delete_of_an_unknown_rest_leaves_a_tombstone(self, any_db_client: TestClient) -> None:
        account = sign_up(any_db_client)
        rest = make_rest()
        push(account, new_client_id(), [delete(1, rest["id"])])
        push(account, new_client_id(), [put(1, rest)])
        assert server_rests(account) == {}

    def test_push_needs_an_account(self, any_db_client: TestClient) -> None:
        response = any_db_client.post(
            "/api/sync/push", headers={"X-Requested-With": "rest-guide"},
            json={"client_id": new_client_id(), "mutations": [put(1, make_rest())]},
        )
        assert response.status_code == 401
        assert response.json()["error"] == "UNAUTHENTICATED"

    def test_a_stale_cookie_is_refused_before_the_batch_is_judged(
        self, any_db_client: TestClient
    ) -> None:
        """A signed-out device hears 401 first, not a verdict on its batch (413)."""
        account = sign_up(any_db_client)
        assert account.post("/api/auth/logout").status_code == 204
        too_many = [put(i + 1, make_rest()) for i in range(501)]

        pushed = account.post("/api/sync/push",
                              json={"client_id": new_client_id(), "mutations": too_many})
        pulled = account.get("/api/sync/pull")

        for response in (pushed, pulled):
            assert response.status_code == 401, response.text
            assert response.json()["error"] == "UNAUTHENTICATED"


class TestPushOnPostgres:
    """push_on_postgres.py: one call of sync_push that reads, one that writes if nothing
    read has changed meanwhile; a session's next push, often in the one that writes."""

    def test_a_push_is_one_call_that_reads_and_one_that_writes(
        self, postgres_client: TestClient
    ) -> None:
        account = sign_up(postgres_client)
        rest, device = make_rest(), new_client_id()
        state = postgres_client.app.state  # type: ignore[attr-defined]
        with statements_sent(state.engine) as statements:
            answer = push(account, device, [put(1, make_rest(after_rating=11)), put(2, rest),
                                            put(3, {**rest, "note": "again"}),
                                            delete(4, make_rest()["id"])])
        assert len(statements) == 2, statements
        assert statements[0].startswith("select * from sync_push(")
        assert "jsonb" not in statements[0]  # it reads
        assert statements[1].startswith("select * from sync_push(")
        assert "jsonb" in statements[1]  # it writes
        assert [r["status"] for r in answer["results"]] == \
            ["rejected", "applied", "applied", "applied"]
        assert server_rests(account)[rest["id"]]["note"] == "again"

    def test_the_sessions_next_push_of_new_rests_is_one_call(
        self, postgres_client: TestClient
    ) -> None:
        account = sign_up(postgres_client)
        device, first, second = new_client_id(), make_rest(), make_rest()
        push(account, device, [put(1, first)])
        state = postgres_client.app.state  # type: ignore[attr-defined]
        with statements_sent(state.engine) as statements:
            answer = push(account, device, [put(2, second), put(3, make_rest())])
        assert len(statements) == 1, statements
        assert (answer["last_applied_seq"], answer["sync_version"]) == (3, 3)
        assert [r["status"] for r in answer["results"]] == ["applied", "applied"]
        changes = account.get("/api/sync/pull").json()["changes"]
        assert [(c["id"], c["sync_version"]) for c in changes][:2] == \
            [(first["id"], 1), (second["id"], 2)]

    def test_a_batch_with_deletes_reads_first(self, postgres_client: TestClient) -> None:
        account = sign_up(postgres_client)
        device, rest = new_client_id(), make_rest()
        push(account, device, [put(1, rest)])
        state = postgres_client.app.state  # type: ignore[attr-defined]
        with statements_sent(state.engine) as statements:
            answer = push(account, device, [put(2, make_rest()), delete(3, rest["id"])])
        assert ["jsonb" in statement for statement in statements] == [False, True]
        assert [r["status"] for r in answer["results"]] == ["applied", "applied"]
        assert rest["id"] not in server_rests(account)

    def test_a_device_new_to_the_session_is_guessed_new_and_checked(
        self, postgres_client: TestClient
    ) -> None:
        account, user_id, engine = signed_up_on(postgres_client)
        state = postgres_client.app.state  # type: ignore[attr-defined]
        push(account, new_client_id(), [put(1, make_rest())])
        # A device known to the account, through another instance: the counter moved.
        known = new_client_id()
        _push_with(engine, user_id, PushRequest.model_validate(
            {"client_id": known, "mutations": [put(1, make_rest())]}))
        calls = []
        for device, mutations in ((new_client_id(), [put(1, make_rest())]),
                                  (known, [put(1, make_rest()), put(2, make_rest())]),
                                  (new_client_id(), [put(1, make_rest())])):
            with statements_sent(state.engine) as statements:
                answer = push(account, device, mutations)
            calls.append(len(statements))
            if device == known:  # its seq was read, not guessed
                assert [r["status"] for r in answer["results"]] == ["duplicate", "applied"]
        assert calls == [2, 2, 1]  # counter moved; device not new; guessed right
        assert answer["sync_version"] == 5

    def test_an_edit_of_a_rest_taken_as_new_is_read_and_written_as_an_edit(
        self, postgres_client: TestClient
    ) -> None:
        account = sign_up(postgres_client)
        device, rest = new_client_id(), make_rest()
        push(account, device, [put(1, rest)])
        state = postgres_client.app.state  # type: ignore[attr-defined]
        with statements_sent(state.engine) as statements:
            answer = push(account, device, [put(2, {**rest, "note": "edited"})])
        assert len(statements) == 2, statements  # guessed (it answered the read), written
        assert [r["status"] for r in answer["results"]] == ["applied"]
        assert server_rests(account)[rest["id"]]["note"] == "edited"

    def test_a_guess_on_a_session_renewed_elsewhere_reads_again(
        self, postgres_client: TestClient
    ) -> None:
        account, _, engine = signed_up_on(postgres_client)
        device = new_client_id()
        push(account, device, [put(1, make_rest())])
        with engine.begin() as connection:  # another instance renewed it meanwhile
            connection.execute(text("UPDATE auth_session SET expires_at = expires_at "
                                     "+ interval '1 hour'"))
        state = postgres_client.app.state  # type: ignore[attr-defined]
        with statements_sent(state.engine) as statements:
            answer = push(account, device, [put(2, make_rest())])
        assert len(statements) == 2, statements
        assert answer["sync_version"] == 2

    def test_a_guess_on_a_session_signed_out_is_refused_and_writes_nothing(
        self, postgres_client: TestClient
    ) -> None:
        account, _, engine = signed_up_on(postgres_client)
        device = new_client_id()
        push(account, device, [put(1, make_rest())])
        assert account.post("/api/auth/logout").status_code == 204
        response = account.post("/api/sync/push", json={"client_id": device,
                                                        "mutations": [put(2, make_rest())]})
        assert response.status_code == 401, response.text
        with engine.connect() as connection:
            assert connection.scalar(text("SELECT count(*) FROM rest")) == 1

    def test_no_guess_after_another_session_of_the_account_pushed_here(
        self, postgres_client: TestClient
    ) -> None:
        # The phone and the tablet of one account, through one instance: the phone's
        # state is behind the tablet's push, so the phone's next push reads first.
        phone = sign_up(postgres_client)
        tablet = sign_in(postgres_client, phone.email)
        device = new_client_id()
        push(phone, device, [put(1, make_rest())])
        push(tablet, new_client_id(), [put(1, make_rest())])
        state = postgres_client.app.state  # type: ignore[attr-defined]
        with statements_sent(state.engine) as statements:
            answer = push(phone, device, [put(2, make_rest())])
        assert ["jsonb" in statement for statement in statements] == [False, True]
        assert answer["sync_version"] == 3

    def test_the_write_refuses_a_session_past_its_expiry(
        self, postgres_client: TestClient
    ) -> None:
        # The app checks the expiry before it decides; the write checks it again, under the
        # account's lock, against the moment the push decided at.
        account, user_id, engine = signed_up_on(postgres_client)
        past = datetime.now(UTC) - timedelta(minutes=1)
        with engine.begin() as connection:
            connection.execute(text("UPDATE auth_session SET expires_at = :past"),
                               {"past": past})
            token_hash = connection.scalar(text("SELECT token_hash FROM auth_session"))
            written = connection.scalar(text("""
                SELECT written FROM sync_push(
                    CAST(:token_hash AS text), 'device', ARRAY[]::text[],
                    CAST(:user_id AS integer), CAST(:past AS timestamptz), 0, NULL,
                    false, 0, 0, now(), now(), '[]', '[]', '[]', NULL)"""),
                {"token_hash": token_hash, "user_id": user_id, "past": past})
            assert written is False
            assert connection.scalar(text("SELECT count(*) FROM sync_client")) == 0

    def test_known_sessions_keep_the_latest_pushers(self) -> None:
        known = push_on_postgres.KnownSessions()
        known.MAX_SESSIONS = 2
        moment = datetime.now(UTC)
        accounts = {"a": 1, "b": 2, "c": 3}
        for name in "abac":
            known.note(name, push_on_postgres.SessionState(accounts[name], moment, 1,
                                                           "device", 1))
        assert [known.guess(name, "device") is not None for name in "abc"] == \
            [True, False, True]
        assert known.guess("a", "another device") == \
            push_on_postgres.SessionState(1, moment, 1, "another device", None)

    def test_a_session_behind_its_accounts_latest_push_here_gets_no_guess(self) -> None:
        known = push_on_postgres.KnownSessions()
        moment = datetime.now(UTC)
        known.note("phone", push_on_postgres.SessionState(1, moment, 1, "device", 1))
        known.note("tablet", push_on_postgres.SessionState(1, moment, 3, "tablet", 1))
        # A push written before the tablet's, noted after it.
        known.note("laptop", push_on_postgres.SessionState(1, moment, 2, "laptop", 1))
        assert [known.guess(name, name) is not None for name in ("phone", "laptop")] == \
            [False, False]
        assert known.guess("tablet", "tablet") is not None

    def test_an_empty_batch_makes_the_device_known(self, postgres_client: TestClient) -> None:
        account = sign_up(postgres_client)
        device = new_client_id()
        assert push(account, device, []) == {"last_applied_seq": 0, "sync_version": 0,
                                              "results": []}
        engine = postgres_client.app.state.engine  # type: ignore[attr-defined]
        with engine.connect() as connection:
            assert connection.scalar(text("SELECT last_seq FROM sync_client WHERE client_id = "
                                          ":device"), {"device": device}) == 0

    def test_a_push_that_another_overtook_reads_again_and_comes_after_it(
        self, postgres_client: TestClient, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        account, user_id, engine = signed_up_on(postgres_client)
        theirs, ours = make_rest(note="theirs"), make_rest(note="ours")
        overtaking = PushRequest.model_validate(
            {"client_id": new_client_id(), "mutations": [put(1, theirs)]})
        reads = overtaken_after(monkeypatch, lambda: _push_with(engine, user_id, overtaking))
        overtaken = metric_value(postgres_client, "crg_sync_pushes_overtaken_total")

        answer = push(account, new_client_id(), [put(1, ours)])

        assert reads == [1, 2]  # read, lost the race, read again
        assert metric_value(postgres_client, "crg_sync_pushes_overtaken_total") == overtaken + 1
        assert answer["sync_version"] == 2 and answer["results"][0]["status"] == "applied"
        changes = account.get("/api/sync/pull").json()["changes"]
        assert {c["rest"]["note"]: c["sync_version"] for c in changes} == \
            {"theirs": 1, "ours": 2}

    def test_a_push_of_its_own_device_in_between_is_seen_by_its_seq_alone(
        self, postgres_client: TestClient, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # A batch whose only mutation is rejected moves the device's seq, not the counter.
        account, user_id, engine = signed_up_on(postgres_client)
        device, first, second = new_client_id(), make_rest(), make_rest()
        rejected = PushRequest.model_validate(
            {"client_id": device, "mutations": [put(1, {**first, "after_rating": 11})]})
        reads = overtaken_after(monkeypatch, lambda: _push_with(engine, user_id, rejected))

        answer = push(account, device, [put(1, first), put(2, second)])

        assert reads == [1, 2]
        assert [r["status"] for r in answer["results"]] == ["duplicate", "applied"]
        assert answer["last_applied_seq"] == 2 and answer["sync_version"] == 1
        assert list(server_rests(account)) == [second["id"]]

    def test_a_push_overtaken_at_every_try_is_told_to_come_back(
        self, postgres_client: TestClient, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        account, user_id, engine = signed_up_on(postgres_client)
        ours = make_rest()

        def another_device_pushes() -> None:
            _push_with(engine, user_id, PushRequest.model_validate(
                {"client_id": new_client_id(), "mutations": [put(1, make_rest())]}))

        reads = overtaken_after(monkeypatch, another_device_pushes,
                                reads_overtaken=push_on_postgres.MAX_TRIES)
        response = account.post("/api/sync/push", json={"client_id": new_client_id(),
                                                        "mutations": [put(1, ours)]})

        assert response.status_code == 503, response.text
        assert response.json()["error"] == "SYNC_BUSY"
        assert response.headers["retry-after"] == "1"
        assert len(reads) == push_on_postgres.MAX_TRIES
        assert ours["id"] not in server_rests(account)

    def test_an_account_erased_between_the_read_and_the_write_gets_nothing_written(
        self, postgres_client: TestClient, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # Its sessions went with it: the write finds none, and the device is to sign in.
        account, user_id, engine = signed_up_on(postgres_client)

        def erase() -> None:
            with engine.begin() as connection:
                connection.execute(text("DELETE FROM user_account WHERE id = :id"),
                                   {"id": user_id})

        overtaken_after(monkeypatch, erase)
        response = account.post("/api/sync/push", json={"client_id": new_client_id(),
                                                        "mutations": [put(1, make_rest())]})
        assert response.status_code == 401, response.text
        with engine.connect() as connection:
            assert connection.scalar(text("SELECT count(*) FROM rest")) == 0


class TestCancelledPushOnPostgres:
    def test_a_push_cancelled_while_its_write_waits_is_applied_once_in_all(
        self, postgres_client: TestClient
    ) -> None:
        """Cancelled while its write waits for the account's lock, a push may yet be written
        once the lock comes free (each statement commits on its own): the device's next
        try of the same batch is then answered as duplicates, never applied twice."""
        account = sign_up(postgres_client)
        user_id = account_id(postgres_client, account)
        state = postgres_client.app.state  # type: ignore[attr-defined]
        settings = state.settings
        batch = PushRequest.model_validate(
            {"client_id": new_client_id(), "mutations": [put(1, make_rest()),
                                                         put(2, make_rest())]})

        async def cancelled() -> None:
            with anyio.move_on_after(0.5) as scope:
                await state.postgres_pushes.run(lambda connection: push_on_postgres.signed_in_push(
                    connection, account.token, settings, batch.client_id, batch.mutations))
            assert scope.cancelled_caught

        assert postgres_client.portal is not None
        with state.engine.connect() as holder, holder.begin():
            holder.execute(text("SELECT 1 FROM user_account WHERE id = :id FOR UPDATE"),
                           {"id": user_id})
            postgres_client.portal.call(cancelled)
        time.sleep(0.5)  # the lock is free: a write still waiting goes on

        again = push(account, batch.client_id, batch.model_dump(mode="json")["mutations"])
        statuses = {r["status"] for r in again["results"]}
        assert statuses in ({"applied"}, {"duplicate"})
        changes = account.get("/api/sync/pull").json()["changes"]
        assert sorted(c["sync_version"] for c in changes) == [1, 2]
        assert again["sync_version"] == 2 and again["last_applied_seq"] == 2


def signed_up_on(client: TestClient) -> tuple[Account, int, Engine]:
    """A new account, its id, and the app's engine: for statements of another instance."""
    account = sign_up(client)
    return account, account_id(client, account), client.app.state.engine  # type: ignore[attr-defined]


def overtaken_after(monkeypatch: pytest.MonkeyPatch, meanwhile: Callable[[], None],
                    reads_overtaken: int = 1) -> list[int]:
    """Runs `meanwhile`, on a connection of its own, right after each of a push's first
    `reads_overtaken` reads (calls of sync_push that answered what to decide on); returns
    the list of reads, which grows as the push reads."""
    reads: list[int] = []
    call = push_on_postgres._call

    async def watched(connection: Any, sql: str, parameters: tuple[Any, ...]) -> Any:
        answer = await call(connection, sql, parameters)
        if answer is not None and not answer[0]:
            reads.append(len(reads) + 1)
            if len(reads) <= reads_overtaken:
                meanwhile()
        return answer

    monkeypatch.setattr(push_on_postgres, "_call", watched)
    return reads


def _push_with(engine: Engine, user_id: int, batch: PushRequest) -> None:
    """Another device's push, as another instance would write it, committed."""
    with engine.begin() as connection:
        service.push(connection, user_id, batch.client_id, batch.mutations, 30)
