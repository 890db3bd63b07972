"""DirectPull: the common poll answered without routing, and everything else left to the route."""

import json
import sqlite3

import pytest
from fastapi.testclient import TestClient
from starlette.types import Message, Receive, Scope, Send

from app.sync.direct_pull import PULL_PATH, DirectPull, plain_pull_query
from tests.aio import run_async
from tests.auth.helpers import COOKIE, sign_up
from tests.observability.conftest import metric_value
from tests.sync.factories import device_with_history
from tests.sync.middleware import assert_outer_middleware_applied, installed

PHONE = "0f8fad5b-d9cb-469f-a165-70867728950e"


class TestPlainPullQuery:
    @pytest.mark.parametrize(("query", "expected"), [
        (b"", (0, None, None)),
        (b"since=0", (0, None, None)),
        (f"since=42&client_id={PHONE}".encode(), (42, PHONE, None)),
        (f"client_id={PHONE}&limit=5&since=7".encode(), (7, PHONE, 5)),
        (b"since=9007199254740992", (2**53, None, None)),
    ])
    def test_reads_the_form_devices_send(self, query: bytes,
                                         expected: tuple[int, str | None, int | None]) -> None:
        assert plain_pull_query(query) == expected

    @pytest.mark.parametrize("query", [
        b"since=1&since=2",  # repeated
        b"since=07",  # leading zero
        b"since=-1",
        b"since=%31",  # encoded
        b"since=9007199254740993",  # past 2**53
        b"since=1&limit=0",
        b"since=1&format=json",  # unknown
        b"since",
        b"client_id=0F8FAD5B-D9CB-469F-A165-70867728950E",  # the API's ids are lower case
        b"client_id=not-a-uuid",
        b"since=1&",
    ])
    def test_leaves_anything_else_to_the_route(self, query: bytes) -> None:
        assert plain_pull_query(query) is None


def _call(middleware: DirectPull, client: TestClient, query: bytes,
          cookie: str | None) -> list[Message]:
    """Send one GET of the pull's path through the middleware alone; its messages."""
    headers = [(b"cookie", f"{COOKIE}={cookie}".encode())] if cookie else []
    scope: Scope = {"type": "http", "method": "GET", "path": PULL_PATH, "query_string": query,
                    "headers": headers, "app": client.app}
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    run_async(middleware(scope, receive, send))
    return sent


class TestAnswers:
    def routed(self) -> tuple[DirectPull, list[Scope]]:
        """DirectPull over a stand-in for the router, which answers 418 and notes the call."""
        seen: list[Scope] = []

        async def router(scope: Scope, _receive: Receive, send: Send) -> None:
            seen.append(scope)
            await send({"type": "http.response.start", "status": 418, "headers": []})
            await send({"type": "http.response.body", "body": b""})

        return DirectPull(router, route="the pull route"), seen

    def test_a_signed_in_poll_is_answered_without_the_router(
        self, any_db_client: TestClient
    ) -> None:
        account, phone, cookie = device_with_history(any_db_client)
        middleware, seen = self.routed()
        query = f"since={cookie}&client_id={phone}".encode()
        sent = _call(middleware, any_db_client, query, account.token)
        assert seen == []
        assert sent[0]["status"] == 200
        routed_answer = account.get("/api/sync/pull",  # an unknown name: the route answers
                                    params={"since": cookie, "client_id": phone, "x": "1"})
        assert sent[1]["body"] == routed_answer.content
        assert routed_answer.json() == {"changes": [], "cookie": cookie, "has_more": False,
                                        "last_applied_seq": 1, "reset": False}

    def test_no_cookie_goes_to_the_route(self, sync_client: TestClient) -> None:
        middleware, seen = self.routed()
        sent = _call(middleware, sync_client, b"since=1", None)
        assert len(seen) == 1 and sent[0]["status"] == 418

    @pytest.mark.parametrize("since", [b"since=0", b"since=1"])  # the snapshot, and a poll
    def test_a_refusal_once_read_is_answered_here_as_the_route_would(
        self, sync_client: TestClient, since: bytes
    ) -> None:
        # Not read again through the route: behind a database that is down, every poll
        # would wait twice.
        middleware, seen = self.routed()
        sent = _call(middleware, sync_client, since, "not-a-session")
        assert seen == []
        assert sent[0]["status"] == 401
        assert json.loads(sent[1]["body"])["error"] == "UNAUTHENTICATED"

    def test_a_database_error_is_answered_here_after_one_read(
        self, sync_client: TestClient
    ) -> None:
        account, phone, cookie = device_with_history(sync_client)
        reads: list[str] = []

        class FailingDisk:  # the poll connection, on a disk that has just failed
            def execute(self, sql: str, _params: object = ()) -> None:
                reads.append(sql)
                raise sqlite3.OperationalError("disk I/O error")

            def close(self) -> None:
                pass

        sync_client.app.state.polls._connection = FailingDisk()  # type: ignore[attr-defined]
        middleware, seen = self.routed()
        sent = _call(middleware, sync_client, f"since={cookie}&client_id={phone}".encode(),
                     account.token)
        assert seen == [] and len(reads) == 1
        assert sent[0]["status"] == 503
        assert json.loads(sent[1]["body"])["error"] == "DATABASE_UNAVAILABLE"

    def test_an_unusual_query_goes_to_the_route(self, sync_client: TestClient) -> None:
        account, phone, cookie = device_with_history(sync_client)
        middleware, seen = self.routed()
        _call(middleware, sync_client, f"since={cookie}&since={cookie}".encode(), account.token)
        assert len(seen) == 1

    def test_the_route_still_refuses_what_the_direct_path_leaves(
        self, sync_client: TestClient
    ) -> None:
        account = sign_up(sync_client)
        assert account.get("/api/sync/pull", params={"since": -1}).status_code == 422
        assert sync_client.get("/api/sync/pull", params={"since": 1}).status_code == 401
        unknown = sync_client.get("/api/sync/pull", params={"since": 1},
                                  headers={"Cookie": f"{COOKIE}=not-a-session"})
        assert unknown.status_code == 401
        assert unknown.json()["error"] == "UNAUTHENTICATED"

    def test_a_direct_answer_has_every_header_log_and_metric_of_a_routed_one(
        self, sync_client: TestClient
    ) -> None:
        account, phone, cookie = device_with_history(sync_client)
        labels = {"method": "GET", "route": PULL_PATH, "status": "200"}
        before = metric_value(sync_client, "crg_http_requests_total", **labels)
        answer = sync_client.get("/api/sync/pull", params={"since": cookie, "client_id": phone},
                                 headers={**account.headers, "X-Request-ID": "poll-1"})
        assert_outer_middleware_applied(answer, "poll-1")
        assert metric_value(sync_client, "crg_http_requests_total", **labels) == before + 1


def test_the_direct_path_is_installed(sync_client: TestClient) -> None:
    # The app's middleware stack holds one DirectPull, which names the real pull route.
    found = installed(sync_client, DirectPull)
    assert len(found) == 1
    assert found[0].route.path == PULL_PATH
