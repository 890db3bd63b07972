import os
import re

import pytest
from starlette.testclient import TestClient

from app.observability.logging import accept_or_make_request_id
from app.observability.middleware import RequestObservability

GENERATED = re.compile(r"[0-9a-f]{32}")


class TestRequestId:
    def test_a_sane_client_id_is_echoed(self, obs_client):
        response = obs_client.get("/api/health", headers={"X-Request-ID": "lb-7f3a.42:retry-1"})
        assert response.headers["x-request-id"] == "lb-7f3a.42:retry-1"

    def test_an_id_is_generated_when_none_is_sent(self, obs_client):
        first = obs_client.get("/api/health").headers["x-request-id"]
        second = obs_client.get("/api/health").headers["x-request-id"]
        assert GENERATED.fullmatch(first) and GENERATED.fullmatch(second)
        assert first != second

    @pytest.mark.parametrize("sent", ["x" * 129, "has spaces in it", "<script>", "-leading-dash"])
    def test_an_unsafe_client_id_is_replaced(self, obs_client, sent):
        response = obs_client.get("/api/health", headers={"X-Request-ID": sent})
        assert GENERATED.fullmatch(response.headers["x-request-id"])

    def test_answers_from_middleware_carry_an_id_too(self, obs_client):
        # The CSRF guard refuses this write before any route runs.
        response = obs_client.post("/api/auth/logout")
        assert response.status_code == 403
        assert GENERATED.fullmatch(response.headers["x-request-id"])

    def test_range_answers_pass_intact(self, obs_client):
        script = obs_client.get("/api/routines/quick-reset/session",
                                params={"minutes": 3, "cues": "bells"}).json()
        url = script["audio"][0]["url"]
        whole = obs_client.get(url).content
        part = obs_client.get(url, headers={"Range": "bytes=100-199"})
        assert part.status_code == 206
        assert part.content == whole[100:200]
        assert GENERATED.fullmatch(part.headers["x-request-id"])

    @pytest.mark.parametrize("inner_name", [b"x-request-id", b"X-Request-ID"])
    def test_an_id_set_inside_is_replaced_by_ours(self, inner_name):
        async def sets_its_own(scope, receive, send):
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(inner_name, b"inner"), (b"content-length", b"2")]})
            await send({"type": "http.response.body", "body": b"ok"})

        client = TestClient(RequestObservability(sets_its_own))  # no lifespan: not entered
        response = client.get("/", headers={"X-Request-ID": "outer-1"})
        assert response.headers.get_list("x-request-id") == ["outer-1"]


def test_a_forked_worker_makes_ids_of_its_own() -> None:
    # A worker forked from a parent that has made ids must not make the parent's next ones.
    accept_or_make_request_id(None)  # the parent has drawn ids for later requests
    reading, writing = os.pipe()
    child = os.fork()
    if child == 0:  # the worker
        os.write(writing, ",".join(accept_or_make_request_id(None)
                                   for _ in range(3)).encode())
        os._exit(0)
    os.close(writing)
    with os.fdopen(reading) as pipe:
        childs = set(pipe.read().split(","))
    os.waitpid(child, 0)
    parents = {accept_or_make_request_id(None) for _ in range(300)}
    assert len(childs) == 3 and all(GENERATED.fullmatch(made) for made in childs)
    assert not childs & parents
