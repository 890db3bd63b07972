"""A bug in the layers in front of FastAPI's (app.main.RestGuideApp) is answered as one
behind them: the JSON envelope, logged once."""

import logging
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from app.main import create_app
from app.response_cache import KeptAnswers
from app.sync.sqlite_polls import SqlitePolls

CSRF = {"X-Requested-With": "rest-guide"}


def bug(*_args: object) -> None:
    raise RuntimeError("injected")


def unhandled(caplog: pytest.LogCaptureFixture) -> int:
    return sum(record.getMessage() == "unhandled error" for record in caplog.records)


def logged_request_id(caplog: pytest.LogCaptureFixture) -> str:
    (record,) = [r for r in caplog.records if r.getMessage() == "unhandled error"]
    return str(record.request_id)  # type: ignore[attr-defined]


@pytest.fixture
def client(make_app_settings: Callable[..., Settings]) -> TestClient:
    return TestClient(create_app(make_app_settings()), raise_server_exceptions=False)


def test_a_bug_in_the_kept_poll_replay_is_a_json_500(
        client: TestClient, caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    with client:
        signed_up = client.post("/api/auth/register", headers=CSRF, json={
            "email": "front@example.org", "password": "calm floor rest"})
        assert signed_up.status_code == 201
        monkeypatch.setattr(SqlitePolls, "kept_answer", bug)
        with caplog.at_level(logging.ERROR):
            answer = client.get("/api/sync/pull", params={"since": 1})
    assert answer.status_code == 500
    assert answer.json()["error"] == "INTERNAL_ERROR"
    assert unhandled(caplog) == 1
    # As every answer: the id the log gave it, and the security headers.
    assert answer.headers["x-request-id"] == logged_request_id(caplog)
    assert answer.headers["content-security-policy"].startswith("default-src 'none'")
    assert answer.headers["x-content-type-options"] == "nosniff"


def test_a_bug_behind_fastapis_own_500_page_is_answered_and_logged_once(
        client: TestClient, caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(KeptAnswers, "get", bug)  # in ReplayUnchangingAnswers
    with client, caplog.at_level(logging.ERROR):
        answer = client.get("/api/routines", headers={"X-Request-ID": "front-bug-1"})
    assert answer.status_code == 500
    assert answer.json()["error"] == "INTERNAL_ERROR"
    assert unhandled(caplog) == 1
    assert answer.headers["x-request-id"] == "front-bug-1" == logged_request_id(caplog)
    assert answer.headers["referrer-policy"]
