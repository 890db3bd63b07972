import logging
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from app.history import service as history_service
from app.main import create_app
from app.routines import service as routines_service
from app.sync import direct_pull
from tests.auth.helpers import sign_up


class TestErrorEnvelope:
    def test_unknown_api_path_is_404_in_the_envelope(self, client):
        response = client.get("/api/nothing-here")
        assert response.status_code == 404
        assert response.json() == {"error": "NOT_FOUND", "detail": "Not Found"}

    def test_wrong_method_is_405_in_the_envelope(self, client):
        response = client.post("/api/routines", headers={"X-Requested-With": "rest-guide"})
        assert response.status_code == 405
        assert response.json()["error"] == "METHOD_NOT_ALLOWED"

    def test_405_names_every_method_of_the_path(self, client):
        # Setting and removing a reminder are two routes on one path.
        response = client.post("/api/reminders", headers={"X-Requested-With": "rest-guide"},
                               json={})
        assert response.status_code == 405
        assert response.headers["allow"] == "PUT, DELETE"


def test_a_bug_is_a_500_with_every_header_and_its_request_id(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    def broken() -> bytes:
        raise RuntimeError("a bug")

    monkeypatch.setattr(routines_service, "routines_json", broken)
    # The test client raises what reaches the server: nothing does, the answer is whole.
    with caplog.at_level(logging.INFO), TestClient(create_app(settings)) as client:
        answer = client.get("/api/routines")
    assert answer.status_code == 500
    assert answer.json() == {"error": "INTERNAL_ERROR",
                             "detail": "Something went wrong on our side."}
    # As on every answer: the security headers, and a request id to quote.
    assert "object-src 'none'" in answer.headers["content-security-policy"]
    assert answer.headers["x-content-type-options"] == "nosniff"
    request_id = answer.headers["x-request-id"]
    # Logged once, with its traceback, under the id the client was given.
    bugs = [r for r in caplog.records if r.getMessage() == "unhandled error"]
    assert len(bugs) == 1 and bugs[0].exc_info is not None
    assert getattr(bugs[0], "request_id", None) == request_id
    access = [r for r in caplog.records if r.name == "app.access"]
    assert [(getattr(r, "request_id", None), getattr(r, "status", None)) for r in access] \
        == [(request_id, 500)]


def test_a_bug_in_the_poll_that_skips_routing_is_answered_the_same(
    settings: Settings, monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def broken(*_args: object, **_kwargs: object) -> bytes:
        raise RuntimeError("a bug")

    monkeypatch.setattr(direct_pull, "pull_answer", broken)
    with TestClient(create_app(settings)) as client:
        account = sign_up(client)
        answer = account.get("/api/sync/pull", params={"since": 1})
    assert answer.status_code == 500 and answer.json()["error"] == "INTERNAL_ERROR"
    assert "content-security-policy" in answer.headers and "x-request-id" in answer.headers


def test_a_bug_after_the_answer_has_started_still_reaches_the_server(
    settings: Settings, monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Nothing whole can be answered any more: the server must see it and cut the answer.
    def broken_lines(*_args: object, **_kwargs: object) -> Iterator[str]:
        yield "started_at,minutes\n"
        raise RuntimeError("a bug mid-download")

    monkeypatch.setattr(history_service, "csv_lines", broken_lines)
    with TestClient(create_app(settings)) as client:
        account = sign_up(client)
        with pytest.raises(RuntimeError, match="mid-download"):
            account.get("/api/history/export.csv")
