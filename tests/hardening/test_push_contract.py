"""The push contract at its edges, as the schema fuzzing first found them.

1. A push whose fields have the wrong JSON type is malformed: the whole batch is refused
   with 422 (only well-formed but invalid values are rejected-and-acknowledged), never
   quietly converted ("15" to 15, "true" to True, a number to a date) and stored.
2. The published schema says what the server accepts: a put carries a rest, a delete none,
   and a JSON number the schema calls an integer (3.0 is one, for JSON Schema) is taken.
"""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from tests.auth.helpers import Account, sign_up
from tests.conftest import make_settings
from tests.sync.factories import delete, make_rest, new_client_id, put


@pytest.fixture(scope="module")
def account(tmp_path_factory: pytest.TempPathFactory, speech_cache: Path) -> Iterator[Account]:
    settings = make_settings(tmp_path_factory.mktemp("strict"), speech_cache,
                             voice_enabled=False)
    with TestClient(create_app(settings)) as client:
        yield sign_up(client)


@pytest.mark.parametrize("wrong_type", [
    {"minutes": "15"},
    {"completed": "true"},
    {"before_rating": "6"},
    {"minutes": 15.0},
    {"updated_at": 1_700_000_000},
], ids=lambda field: next(iter(field)))
def test_wrong_json_type_in_a_rest_is_refused(account: Account,
                                              wrong_type: dict[str, Any]) -> None:
    rest = make_rest(**wrong_type)
    response = account.post("/api/sync/push",
                            json={"client_id": new_client_id(), "mutations": [put(1, rest)]})
    assert response.status_code == 422
    assert response.json()["error"] == "VALIDATION_ERROR"
    assert account.get("/api/history/rests").json() == []


def _resolve(document: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = document["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]]
    return node


def test_schema_says_a_put_carries_a_rest_and_a_delete_none(account: Account) -> None:
    document = account.get("/api/openapi.json").json()
    push = document["paths"]["/api/sync/push"]["post"]["requestBody"]["content"]
    body = _resolve(document, push["application/json"]["schema"])
    items = _resolve(document, body["properties"]["mutations"]["items"])
    shapes = {}
    for variant in items["oneOf"]:
        shape = _resolve(document, variant)
        shapes[shape["properties"]["op"]["const"]] = shape
    assert "rest" in shapes["put"]["required"]
    assert "rest" not in shapes["delete"]["properties"]
    assert shapes["delete"].get("additionalProperties") is False


@pytest.mark.xfail(strict=True, reason="app/sync/schemas.py: strict int refuses 3.0")
def test_an_integral_number_is_an_integer_as_the_schema_says(account: Account) -> None:
    mutation = {**delete(1, make_rest()["id"]), "seq": 1.0}
    response = account.post("/api/sync/push",
                            json={"client_id": new_client_id(), "mutations": [mutation]})
    assert response.status_code == 200, response.text
