"""The account's rests on the server: list, one, JSON and CSV export."""

import csv
import io

import pytest
from fastapi.testclient import TestClient

from tests.auth.helpers import Account, sign_up
from tests.sync.factories import delete, make_rest, new_client_id, put


def seed(account: Account, *rests: dict, deleted: tuple[str, ...] = ()) -> None:
    mutations = [put(i + 1, r) for i, r in enumerate(rests)]
    mutations += [delete(len(mutations) + i + 1, rid) for i, rid in enumerate(deleted)]
    response = account.post("/api/sync/push",
                            json={"client_id": new_client_id(), "mutations": mutations})
    assert response.status_code == 200


class TestList:
    def test_newest_first_without_deleted(self, auth_client: TestClient) -> None:
        account = sign_up(auth_client)
        old = make_rest(started_at="2024-03-01T07:00:00.000Z", ended_at="2024-03-01T07:15:00.000Z")
        new, gone = make_rest(), make_rest()
        seed(account, old, new, gone, deleted=(gone["id"],))
        assert [r["id"] for r in account.get("/api/history/rests").json()] == [new["id"], old["id"]]

    def test_one_rest(self, auth_client: TestClient) -> None:
        account = sign_up(auth_client)
        rest = make_rest(note="warm back")
        seed(account, rest)
        assert account.get(f"/api/history/rests/{rest['id']}").json() == rest


class TestExport:
    def test_json_export_is_a_download_of_every_rest(self, auth_client: TestClient) -> None:
        account = sign_up(auth_client)
        rests = [make_rest(), make_rest()]
        seed(account, *rests)
        response = account.get("/api/history/export.json")
        assert response.status_code == 200
        assert "attachment" in response.headers["content-disposition"]
        body = response.json()
        assert body["account"] == account.email
        assert sorted(r["id"] for r in body["rests"]) == sorted(r["id"] for r in rests)

    def test_csv_export_has_a_header_and_one_row_per_rest(self, auth_client: TestClient) -> None:
        account = sign_up(auth_client)
        rest = make_rest(note="=HYPERLINK(\"x\")", before_rating=None)
        seed(account, rest)
        response = account.get("/api/history/export.csv")
        assert response.headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(response.text)))
        assert len(rows) == 1
        assert rows[0]["id"] == rest["id"]
        assert rows[0]["started_at"] == rest["started_at"]
        assert rows[0]["before_rating"] == ""
        assert rows[0]["completed"] == "true"
        # A formula is exported as text, not run by a spreadsheet.
        assert rows[0]["note"] == "'=HYPERLINK(\"x\")"


class TestOtherUsers:
    @pytest.mark.parametrize("path", ["/api/history/rests", "/api/history/export.json",
                                      "/api/history/export.csv"])
    def test_another_account_sees_none_of_it(self, auth_client: TestClient, path: str) -> None:
        alice, mallory = sign_up(auth_client), sign_up(auth_client)
        rest = make_rest(note="alice only")
        seed(alice, rest)
        response = mallory.get(path)
        assert response.status_code == 200
        assert rest["id"] not in response.text and "alice only" not in response.text

    def test_another_accounts_rest_is_404(self, auth_client: TestClient) -> None:
        alice, mallory = sign_up(auth_client), sign_up(auth_client)
        rest = make_rest()
        seed(alice, rest)
        response = mallory.get(f"/api/history/rests/{rest['id']}")
        assert response.status_code == 404
        assert response.json()["error"] == "NOT_FOUND"

    @pytest.mark.parametrize("path", ["/api/history/rests", "/api/history/export.json",
                                      "/api/history/export.csv"])
    def test_signed_out_is_401(self, auth_client: TestClient, path: str) -> None:
        assert auth_client.get(path).status_code == 401
