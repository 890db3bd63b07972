"""DirectPush: a valid push answered without routing, and everything else left to the route."""

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.types import Message, Receive, Scope, Send

from app.sync.direct_push import PUSH_PATH, DirectPush
from tests.aio import run_async
from tests.auth.helpers import COOKIE, sign_up
from tests.observability.conftest import metric_value
from tests.sync.factories import make_rest, new_client_id, put
from tests.sync.middleware import assert_outer_middleware_applied, installed


def routed() -> tuple[DirectPush, list[bytes]]:
    """DirectPush over a stand-in for the router, which answers 418 and keeps the body it
    was handed."""
    bodies: list[bytes] = []

    async def router(_scope: Scope, receive: Receive, send: Send) -> None:
        message = await receive()
        bodies.append(message.get("body", b""))
        await send({"type": "http.response.start", "status": 418, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    return DirectPush(router, route="the push route"), bodies


def _call(middleware: DirectPush, client: TestClient, body: bytes, cookie: str | None,
          content_type: bytes = b"application/json") -> list[Message]:
    """Send one POST of the push's path through the middleware alone; its messages."""
    headers = [(b"content-type", content_type)]
    if cookie:
        headers.append((b"cookie", f"{COOKIE}={cookie}".encode()))
    scope: Scope = {"type": "http", "method": "POST", "path": PUSH_PATH, "query_string": b"",
                    "headers": headers, "app": client.app}
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    run_async(middleware(scope, receive, send))
    return sent


def _batch(*mutations: dict[str, Any]) -> bytes:
    return json.dumps({"client_id": new_client_id(), "mutations": list(mutations)}).encode()


def test_a_valid_push_is_answered_without_the_router(sync_client: TestClient) -> None:
    account = sign_up(sync_client)
    middleware, bodies = routed()
    rest = make_rest()
    sent = _call(middleware, sync_client, _batch(put(1, rest), put(2, make_rest())),
                 account.token)
    assert bodies == []
    assert sent[0]["status"] == 200
    # The route's answer, as its response model writes it.
    assert json.loads(sent[1]["body"]) == {
        "last_applied_seq": 2, "sync_version": 2,
        "results": [{"seq": 1, "status": "applied", "error": None, "detail": None},
                    {"seq": 2, "status": "applied", "error": None, "detail": None}]}
    assert account.get("/api/sync/pull").json()["changes"][0]["rest"] == rest


@pytest.mark.parametrize("case", ["no cookie", "not JSON", "bad shape", "form body",
                                  "another JSON type", "JSON text sequence"])
def test_anything_else_goes_to_the_route_with_the_same_body(
    sync_client: TestClient, case: str
) -> None:
    account = sign_up(sync_client)
    body = _batch(put(1, make_rest()))
    cookie: str | None = account.token
    content_type = {"form body": b"application/x-www-form-urlencoded",
                    "another JSON type": b"application/jsonx",
                    "JSON text sequence": b"application/json-seq"}.get(case, b"application/json")
    if case == "no cookie":
        cookie = None
    elif case == "not JSON":
        body = b"{not json"
    elif case == "bad shape":
        body = _batch({"seq": "1", "op": "put"})
    middleware, bodies = routed()
    sent = _call(middleware, sync_client, body, cookie, content_type)
    assert bodies == [body] and sent[0]["status"] == 418


def test_json_with_a_charset_in_any_case_is_answered_directly(sync_client: TestClient) -> None:
    account = sign_up(sync_client)
    middleware, bodies = routed()
    sent = _call(middleware, sync_client, _batch(put(1, make_rest())), account.token,
                 b"Application/JSON; charset=utf-8")
    assert bodies == [] and sent[0]["status"] == 200


@pytest.mark.parametrize(("case", "status", "error"), [
    ("unknown session", 401, "UNAUTHENTICATED"),
    ("too many", 413, "TOO_MANY_MUTATIONS"),
])
def test_a_refusal_once_the_push_ran_is_answered_here_as_the_route_would(
    sync_client: TestClient, case: str, status: int, error: str
) -> None:
    # Not tried again through the route: that would do the work (and wait for the write
    # lock) twice.
    account = sign_up(sync_client)
    cookie, body = account.token, _batch(put(1, make_rest()))
    if case == "unknown session":
        cookie = "not-a-session"
    else:
        body = _batch(*(put(i + 1, make_rest()) for i in range(501)))
    middleware, bodies = routed()
    sent = _call(middleware, sync_client, body, cookie)
    assert bodies == []
    assert sent[0]["status"] == status
    assert json.loads(sent[1]["body"])["error"] == error


def test_a_client_gone_before_its_body_arrived_changes_nothing(
    sync_client: TestClient,
) -> None:
    account = sign_up(sync_client)
    middleware, bodies = routed()
    scope: Scope = {"type": "http", "method": "POST", "path": PUSH_PATH, "query_string": b"",
                    "headers": [(b"content-type", b"application/json"),
                                (b"cookie", f"{COOKIE}={account.token}".encode())],
                    "app": sync_client.app}
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    run_async(middleware(scope, receive, send))
    assert bodies == [] and sent[0]["status"] == 400
    assert account.get("/api/sync/pull").json()["changes"] == []


def test_the_route_still_refuses_what_the_direct_path_leaves(sync_client: TestClient) -> None:
    account = sign_up(sync_client)
    bad = account.post("/api/sync/push", json={"client_id": new_client_id(),
                                               "mutations": [{"seq": "1", "op": "put"}]})
    assert bad.status_code == 422 and bad.json()["error"] == "VALIDATION_ERROR"
    too_many = account.post("/api/sync/push", json=json.loads(
        _batch(*(put(i + 1, make_rest()) for i in range(501)))))
    assert too_many.status_code == 413 and too_many.json()["error"] == "TOO_MANY_MUTATIONS"
    unknown = sync_client.post("/api/sync/push", content=_batch(put(1, make_rest())),
                               headers={"Cookie": f"{COOKIE}=not-a-session",
                                        "X-Requested-With": "rest-guide",
                                        "Content-Type": "application/json"})
    assert unknown.status_code == 401 and unknown.json()["error"] == "UNAUTHENTICATED"


def test_a_direct_answer_has_every_header_log_and_metric_of_a_routed_one(
    sync_client: TestClient,
) -> None:
    account = sign_up(sync_client)
    labels = {"method": "POST", "route": PUSH_PATH, "status": "200"}
    before = metric_value(sync_client, "crg_http_requests_total", **labels)
    batches = metric_value(sync_client, "crg_sync_batches_total")
    answer = sync_client.post("/api/sync/push", content=_batch(put(1, make_rest())),
                              headers={**account.headers, "X-Request-ID": "push-1",
                                       "Content-Type": "application/json"})
    assert_outer_middleware_applied(answer, "push-1")
    assert metric_value(sync_client, "crg_http_requests_total", **labels) == before + 1
    assert metric_value(sync_client, "crg_sync_batches_total") == batches + 1


def test_the_csrf_check_still_comes_first(sync_client: TestClient) -> None:
    account = sign_up(sync_client)
    refused = sync_client.post("/api/sync/push", content=_batch(put(1, make_rest())),
                               headers={"Cookie": f"{COOKIE}={account.token}",
                                        "Content-Type": "application/json"})
    assert refused.status_code == 403


def test_the_direct_path_is_installed(sync_client: TestClient) -> None:
    found = installed(sync_client, DirectPush)
    assert len(found) == 1 and getattr(found[0].route, "path", None) == PUSH_PATH
