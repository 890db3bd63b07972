"""POST /api/sync/push: once each, in order, in one transaction."""

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from app.models import SyncRejection
from tests.auth.helpers import Account, sign_up
from tests.sql import statements_sent
from tests.sync.factories import delete, make_rest, new_client_id, put


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
        self, sync_client: TestClient
    ) -> None:
        account = sign_up(sync_client)
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

    def test_the_batch_applies_up_to_the_gap(self, sync_client: TestClient) -> None:
        account = sign_up(sync_client)
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

    def test_a_push_asks_only_the_purge_for_rows_back(self, any_db_client: TestClient) -> None:
        # Written rows' ids are never read: a RETURNING on their INSERT is work for nothing.
        account = sign_up(any_db_client)
        state = any_db_client.app.state  # type: ignore[attr-defined]
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

    def test_delete_of_an_unknown_rest_leaves_a_tombstone(self, sync_client: TestClient) -> None:
        account = sign_up(sync_client)
        rest = make_rest()
        push(account, new_client_id(), [delete(1, rest["id"])])
        push(account, new_client_id(), [put(1, rest)])
        assert server_rests(account) == {}

    def test_push_needs_an_account(self, sync_client: TestClient) -> None:
        response = sync_client.post(
            "/api/sync/push", headers={"X-Requested-With": "rest-guide"},
            json={"client_id": new_client_id(), "mutations": [put(1, make_rest())]},
        )
        assert response.status_code == 401
        assert response.json()["error"] == "UNAUTHENTICATED"

    def test_a_stale_cookie_is_refused_before_the_batch_is_judged(
        self, sync_client: TestClient
    ) -> None:
        """A signed-out device hears 401 first, not a verdict on its batch (413)."""
        account = sign_up(sync_client)
        assert account.post("/api/auth/logout").status_code == 204
        too_many = [put(i + 1, make_rest()) for i in range(501)]

        pushed = account.post("/api/sync/push",
                              json={"client_id": new_client_id(), "mutations": too_many})
        pulled = account.get("/api/sync/pull")

        for response in (pushed, pulled):
            assert response.status_code == 401, response.text
            assert response.json()["error"] == "UNAUTHENTICATED"
