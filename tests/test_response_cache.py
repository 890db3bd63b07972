"""Answers that cannot change are replayed without routing, and only those."""

import logging
from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient

from app.response_cache import (
    MAX_BODY_BYTES,
    KeptAnswer,
    KeptAnswers,
    ReplayUnchangingAnswers,
)
from app.routines.service import SessionScripts
from tests.aio import run_async

SESSION = "/api/routines/quick-reset/session?minutes=3&cues=bells"


@pytest.fixture
def counted_scripts(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Each time the session route itself runs, one entry."""
    scripts: SessionScripts = client.app.state.session_scripts  # type: ignore[attr-defined]
    calls: list[str] = []
    remembered = scripts.remembered

    def counting(routine, options):  # type: ignore[no-untyped-def]
        calls.append(routine.id)
        return remembered(routine, options)

    monkeypatch.setattr(scripts, "remembered", counting)
    return calls


def kept(client: TestClient) -> KeptAnswers:
    return client.app.state.kept_answers  # type: ignore[attr-defined,no-any-return]


def test_a_rendered_session_is_replayed_without_running_the_route(client, counted_scripts):
    first = client.get(SESSION)
    second = client.get(SESSION)
    assert first.status_code == second.status_code == 200
    assert second.content == first.content
    assert counted_scripts == ["quick-reset"]  # the second answer never reached the route
    assert len(kept(client)) == 1


def test_a_replay_carries_the_same_headers_and_its_own_request_id(client):
    first = client.get("/api/routines")
    second = client.get("/api/routines")
    ignore = {"x-request-id", "date"}
    assert ({k: v for k, v in second.headers.items() if k not in ignore}
            == {k: v for k, v in first.headers.items() if k not in ignore})
    assert "content-security-policy" in second.headers
    assert second.headers["x-request-id"] != first.headers["x-request-id"]


def routine_reads_counted(client: TestClient) -> float:
    series = ('crg_http_requests_total{method="GET",route="/api/routines/{routine_id}",'
              'status="200"} ')
    lines = [line for line in client.get("/metrics").text.splitlines()
             if line.startswith(series)]
    return float(lines[0][len(series):]) if lines else 0.0


def test_a_replay_is_logged_and_counted_under_its_route(client, caplog):
    client.get("/api/routines/classic")
    counted = routine_reads_counted(client)  # the registry is shared by every app in a run
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="app.access"):
        client.get("/api/routines/classic")
    (line,) = [r for r in caplog.records if r.name == "app.access"]
    assert line.route == "/api/routines/{routine_id}"  # type: ignore[attr-defined]
    assert line.status == 200  # type: ignore[attr-defined]
    assert routine_reads_counted(client) == counted + 1


def test_hsts_goes_with_https_replays_only(client):
    plain = [client.get("/api/routines") for _ in range(2)]
    secure = [client.get("https://testserver/api/routines") for _ in range(2)]
    assert all("strict-transport-security" not in answer.headers for answer in plain)
    assert all("strict-transport-security" in answer.headers for answer in secure)
    assert len(kept(client)) == 2


def test_a_get_with_a_body_is_never_replayed_and_meets_the_body_limit(client, counted_scripts):
    client.get(SESSION)
    assert len(kept(client)) == 1
    too_big = client.request("GET", SESSION, content=b"x" * 2_000_000)
    assert too_big.status_code == 413
    assert too_big.json()["error"] == "PAYLOAD_TOO_LARGE"
    with_body = client.request("GET", SESSION, content=b"{}")
    assert with_body.status_code == 200
    assert counted_scripts == ["quick-reset", "quick-reset"]  # answered by the route again


def test_refusals_and_errors_are_never_kept(client):
    for _ in range(2):
        assert client.get("/api/routines/no-such-routine/session").status_code == 404
        assert client.get("/api/routines/quick-reset/session?minutes=999").status_code == 422
        assert client.get("/api/routines/quick-reset/session?minutes=119").status_code == 422
    assert len(kept(client)) == 0


def test_other_routes_are_never_kept(client):
    client.get("/api/health")
    client.get("/api/health")
    client.head("/api/routines")
    assert len(kept(client)) == 0


def test_each_query_string_is_its_own_answer(client):
    short = client.get("/api/routines/quick-reset/session?minutes=3&cues=bells").json()
    longer = client.get("/api/routines/quick-reset/session?minutes=4&cues=bells").json()
    again = client.get("/api/routines/quick-reset/session?minutes=3&cues=bells").json()
    assert again == short != longer
    assert len(kept(client)) == 2


def test_the_least_recently_used_answer_goes_first():
    answers = KeptAnswers(max_entries=2)
    for path in ("/a", "/b"):
        answers.keep(("http", path, b""), KeptAnswer([], path.encode(), None))
    assert answers.get(("http", "/a", b"")) is not None  # /a is now the most recent
    answers.keep(("http", "/c", b""), KeptAnswer([], b"/c", None))
    assert len(answers) == 2
    assert answers.get(("http", "/b", b"")) is None
    assert answers.get(("http", "/a", b"")) is not None
    assert answers.get(("http", "/c", b"")) is not None


def test_an_answer_over_the_size_cap_passes_whole_but_is_not_kept():
    big = b"x" * (MAX_BODY_BYTES + 1)

    async def route(scope, receive, send):  # type: ignore[no-untyped-def]
        scope["route"] = SimpleNamespace(path_format="/big")
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": big[:10], "more_body": True})
        await send({"type": "http.response.body", "body": big[10:]})

    answers = KeptAnswers()
    app = ReplayUnchangingAnswers(route, answers, ["/big"])
    sent: list[bytes] = []

    async def send(message):  # type: ignore[no-untyped-def]
        sent.append(message.get("body", b""))

    scope = {"type": "http", "method": "GET", "scheme": "http", "path": "/big",
             "query_string": b"", "headers": []}
    run_async(app(scope, None, send))  # type: ignore[arg-type]
    assert b"".join(sent) == big
    assert len(answers) == 0
