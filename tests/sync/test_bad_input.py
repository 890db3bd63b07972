"""Bad pushes: a clear 4xx (or a rejected mutation) and nothing stored."""

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from pydantic import TypeAdapter

from app.config import Settings
from app.main import create_app
from app.sync.schemas import Mutation
from tests.auth.helpers import Account, sign_up
from tests.sync.factories import make_rest, new_client_id, put


def stored(account: Account) -> list[dict]:
    return account.get("/api/history/rests").json()


class TestWholeBatchRefused:
    def test_oversized_body_is_413(self, sync_client: TestClient) -> None:
        account = sign_up(sync_client)
        body = {"client_id": new_client_id(),
                "mutations": [put(1, make_rest(note="x" * 2000))] * 600}
        response = account.post("/api/sync/push", json=body)
        assert response.status_code == 413
        assert response.json()["error"] == "PAYLOAD_TOO_LARGE"
        assert stored(account) == []

    def test_oversized_chunked_body_is_413(self, sync_client: TestClient) -> None:
        account = sign_up(sync_client)

        def chunks():  # no Content-Length: the server must stop reading at the limit
            yield b'{"client_id": "' + new_client_id().encode() + b'", "mutations": ['
            for _ in range(20_000):  # about 1.4 MB
                yield b'{"seq": 1, "op": "delete", "id": "' + new_client_id().encode() + b'"},'
            yield b"]}"

        response = account.post("/api/sync/push", content=chunks())
        assert response.status_code == 413
        assert stored(account) == []

    def test_too_many_mutations_is_413_with_a_code(
        self, make_app_settings: Callable[..., Settings]
    ) -> None:
        with TestClient(create_app(make_app_settings(sync_max_mutations=3))) as client:
            account = sign_up(client)
            mutations = [put(i, make_rest()) for i in range(1, 5)]
            response = account.post("/api/sync/push",
                                    json={"client_id": new_client_id(), "mutations": mutations})
            assert response.status_code == 413
            assert response.json()["error"] == "TOO_MANY_MUTATIONS"
            assert stored(account) == []

    @pytest.mark.parametrize("mutation", [
        {**put(1, make_rest()), "extra": 1},
        put(1, {**make_rest(), "mood": "calm"}),
        put(1, make_rest(minutes="fifteen")),
        put(1, make_rest(minutes="15")),
        put(1, make_rest(minutes=15.0)),
        put(1, make_rest(completed="true")),
        put(1, make_rest(updated_at=1_700_000_000)),
        put(1, make_rest(started_at="yesterday")),
        {"seq": 0, "op": "put", "id": make_rest()["id"], "rest": make_rest()},
        {"seq": 1, "op": "upsert", "id": make_rest()["id"]},
        {"seq": 1, "op": "put", "id": "not-a-uuid", "rest": make_rest(id="not-a-uuid")},
        {"seq": 1, "op": "delete", "id": make_rest()["id"], "rest": make_rest()},
    ], ids=["unknown-mutation-field", "unknown-rest-field", "wrong-type", "number-as-text",
            "float-for-int", "bool-as-text", "date-as-number", "unparsable-date",
            "seq-zero", "unknown-op", "bad-id", "delete-with-rest"])
    def test_malformed_batch_is_422(self, sync_client: TestClient, mutation: dict) -> None:
        account = sign_up(sync_client)
        response = account.post("/api/sync/push",
                                json={"client_id": new_client_id(), "mutations": [mutation]})
        assert response.status_code == 422
        assert response.json()["error"] == "VALIDATION_ERROR"
        assert stored(account) == []

    def test_unknown_top_level_field_is_422(self, sync_client: TestClient) -> None:
        account = sign_up(sync_client)
        response = account.post("/api/sync/push", json={
            "client_id": new_client_id(), "mutations": [], "force": True})
        assert response.status_code == 422


class TestMutationRejected:
    """Well-formed but invalid values: rejected, acknowledged, not stored."""

    @pytest.mark.parametrize("overrides, field", [
        ({"before_rating": -1}, "before_rating"),
        ({"after_rating": 11}, "after_rating"),
        ({"started_at": "1970-01-01T00:00:00.000Z", "ended_at": "1970-01-01T00:15:00.000Z"},
         "started_at"),
        ({"started_at": "2199-01-01T00:00:00.000Z", "ended_at": "2199-01-01T00:15:00.000Z"},
         "started_at"),
        ({"time_zone": "Mars/Olympus_Mons"}, "time_zone"),
        ({"actual_s": 99999}, "actual_s"),
        ({"note": "x" * 2001}, "note"),
        ({"cue_density": "loud"}, "cue_density"),
        ({"minutes": 0}, "minutes"),
    ], ids=["rating-below-0", "rating-above-10", "date-1970", "date-2199", "time-zone",
            "actual-over-planned", "note-too-long", "cue-density", "minutes"])
    def test_value_out_of_range(self, sync_client: TestClient, overrides: dict,
                                field: str) -> None:
        account = sign_up(sync_client)
        answer = account.post("/api/sync/push", json={
            "client_id": new_client_id(), "mutations": [put(1, make_rest(**overrides))]
        }).json()
        assert answer["last_applied_seq"] == 1
        assert answer["results"][0]["status"] == "rejected"
        assert answer["results"][0]["error"] == "VALIDATION_ERROR"
        assert answer["results"][0]["detail"].startswith(field)
        assert stored(account) == []

    def test_rest_id_must_match_the_mutation(self, sync_client: TestClient) -> None:
        account = sign_up(sync_client)
        rest = make_rest()
        mutation = {**put(1, rest), "id": make_rest()["id"]}
        answer = account.post("/api/sync/push", json={
            "client_id": new_client_id(), "mutations": [mutation]}).json()
        assert answer["results"][0]["status"] == "rejected"
        assert stored(account) == []


class TestValuesEitherDatabaseMustRefuse:
    """Values that pass the shape but that a database cannot hold, or that sit just past a
    limit, are rejected one by one on SQLite and PostgreSQL alike: the good mutations of
    the same batch are applied, and the device's queue moves on."""

    @pytest.mark.parametrize("overrides, field", [
        ({"note": "before\u0000after"}, "note"),
        ({"title": "Classic\u0000rest"}, "title"),
        ({"version": "a\u0000b"}, "version"),
        ({"routine_id": "a" * 40 + "\n"}, "routine_id"),
        ({"routine_id": "classic\n"}, "routine_id"),
        ({"title": " " * 10 + "t" * 120}, "title"),
        ({"started_at": "9999-12-31T23:59:59.000-01:00"}, "started_at"),
        ({"ended_at": "0001-01-01T00:00:00.000+01:00"}, "ended_at"),
    ], ids=["nul-in-note", "nul-in-title", "nul-in-version", "routine-id-41-with-newline",
            "routine-id-newline", "title-121-with-spaces", "after-year-9999-in-utc",
            "before-year-1-in-utc"])
    def test_rejected_and_the_rest_of_the_batch_applied(
            self, any_db_client: TestClient, overrides: dict, field: str) -> None:
        account = sign_up(any_db_client)
        good_before, bad, good_after = make_rest(), make_rest(**overrides), make_rest()
        response = account.post("/api/sync/push", json={
            "client_id": new_client_id(),
            "mutations": [put(1, good_before), put(2, bad), put(3, good_after)]})
        assert response.status_code == 200, response.text
        answer = response.json()
        assert [r["status"] for r in answer["results"]] == ["applied", "rejected", "applied"]
        assert answer["results"][1]["detail"].startswith(field)
        assert answer["last_applied_seq"] == 3
        assert {rest["id"] for rest in stored(account)} == {good_before["id"], good_after["id"]}


class TestPublishedSchema:
    def test_a_put_carries_a_rest_and_a_delete_none(self) -> None:
        schema = TypeAdapter(Mutation).json_schema()
        shapes = {name: schema["$defs"][name] for name in ("PutMutation", "DeleteMutation")}
        assert schema["discriminator"]["propertyName"] == "op"
        assert "rest" in shapes["PutMutation"]["required"]
        assert "rest" not in shapes["DeleteMutation"]["properties"]
        assert shapes["DeleteMutation"]["additionalProperties"] is False
