"""Another user's session never reads or changes someone else's rests."""

from fastapi.testclient import TestClient

from tests.auth.helpers import sign_up
from tests.sync.factories import delete, make_rest, new_client_id, put


class TestIsolation:
    def test_pull_never_shows_another_users_rests(self, any_db_client: TestClient) -> None:
        alice, mallory = sign_up(any_db_client), sign_up(any_db_client)
        device = new_client_id()
        alice.post("/api/sync/push", json={"client_id": device,
                                           "mutations": [put(1, make_rest())]})
        answer = mallory.get("/api/sync/pull", params={"client_id": device}).json()
        assert answer["changes"] == []
        # Alice's device id means nothing in Mallory's account.
        assert answer["last_applied_seq"] == 0

    def test_same_rest_id_in_another_account_changes_nothing(
        self, any_db_client: TestClient
    ) -> None:
        alice, mallory = sign_up(any_db_client), sign_up(any_db_client)
        rest = make_rest(note="alice's")
        alice.post("/api/sync/push", json={"client_id": new_client_id(),
                                           "mutations": [put(1, rest)]})
        mallory.post("/api/sync/push", json={"client_id": new_client_id(), "mutations": [
            put(1, {**rest, "note": "mallory's"}), delete(2, rest["id"])]})
        assert alice.get(f"/api/history/rests/{rest['id']}").json()["note"] == "alice's"
        assert mallory.get(f"/api/history/rests/{rest['id']}").status_code == 404

    def test_another_users_device_id_does_not_skip_mutations(
        self, sync_client: TestClient
    ) -> None:
        alice, mallory = sign_up(sync_client), sign_up(sync_client)
        device = new_client_id()
        alice.post("/api/sync/push", json={"client_id": device,
                                           "mutations": [put(1, make_rest())]})
        answer = mallory.post("/api/sync/push", json={
            "client_id": device, "mutations": [put(1, make_rest())]}).json()
        assert answer["results"][0]["status"] == "applied"
