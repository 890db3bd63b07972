"""Oversized request bodies are refused with 413 before they are read in full.

Every state-changing API endpoint is tried two ways: a declared Content-Length over the
limit (refused before a byte of the body is read) and a chunked body with no length
(read only up to the limit). In process, the body is an endless stream whose reads are
counted; against a real server, a client that sends only a sliver of a huge declared body
still gets its 413 at once.
"""

import asyncio
import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.types import Message

from app.config import Settings
from app.main import create_app
from tests.aio import run_async
from tests.conftest import make_settings
from tests.server_process import LiveServer, free_port

LIMIT = 64 * 1024
CHUNK = 16 * 1024
HUGE = 512 * 1024 * 1024
CSRF = (b"x-requested-with", b"rest-guide")
WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


def write_endpoints(app: FastAPI) -> list[tuple[str, str]]:
    """Every state-changing API operation the app publishes."""
    found = sorted(
        (method.upper(), path)
        for path, operations in app.openapi()["paths"].items() if path.startswith("/api/")
        for method in operations if method.upper() in WRITE_METHODS
    )
    assert found, "no state-changing endpoints found"
    return found


def concrete(path: str) -> str:
    """A real URL for a templated path: any value will do, the body is refused first."""
    return path.replace("{", "x").replace("}", "")


@pytest.fixture(scope="module")
def limit_settings(tmp_path_factory: pytest.TempPathFactory, speech_cache: Path) -> Settings:
    return make_settings(tmp_path_factory.mktemp("limits"), speech_cache, voice_enabled=False,
                         api_max_body_bytes=LIMIT)


@pytest.fixture(scope="module")
def app(limit_settings: Settings) -> Iterator[FastAPI]:
    application = create_app(limit_settings)
    with TestClient(application):  # runs the lifespan: engine, migrations
        yield application


ENDPOINTS = write_endpoints(create_app(Settings(voice_enabled=False)))


@dataclass
class EndlessBody:
    """An ASGI receive() that never ends, counting what the app pulls from it."""

    read: int = 0
    sent: list[Message] = field(default_factory=list)

    async def receive(self) -> Message:
        self.read += CHUNK
        return {"type": "http.request", "body": b"x" * CHUNK, "more_body": True}

    async def send(self, message: Message) -> None:
        self.sent.append(message)

    @property
    def status(self) -> int:
        return int(next(m["status"] for m in self.sent if m["type"] == "http.response.start"))

    @property
    def body(self) -> bytes:
        return b"".join(m.get("body", b"") for m in self.sent if m["type"] == "http.response.body")


def call(app: FastAPI, method: str, path: str, headers: list[tuple[bytes, bytes]]) -> EndlessBody:
    stream = EndlessBody()
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
        "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
        "root_path": "", "headers": [(b"host", b"testserver"), CSRF, *headers],
        "client": ("127.0.0.1", 50000), "server": ("testserver", 80), "state": {},
    }
    run_async(asyncio.wait_for(app(scope, stream.receive, stream.send), timeout=10))
    return stream


def assert_refused(stream: EndlessBody) -> None:
    assert stream.status == 413
    assert json.loads(stream.body)["error"] == "PAYLOAD_TOO_LARGE"


@pytest.mark.parametrize(("method", "path"), ENDPOINTS, ids=[f"{m} {p}" for m, p in ENDPOINTS])
class TestOversizedBodies:
    def test_declared_length_over_the_limit_is_refused_unread(
        self, app: FastAPI, method: str, path: str
    ) -> None:
        stream = call(app, method, concrete(path), [
            (b"content-type", b"application/json"), (b"content-length", str(HUGE).encode()),
        ])
        assert_refused(stream)
        assert stream.read == 0

    def test_chunked_body_is_read_only_up_to_the_limit(
        self, app: FastAPI, method: str, path: str
    ) -> None:
        stream = call(app, method, concrete(path), [(b"content-type", b"application/json")])
        assert_refused(stream)
        assert stream.read <= LIMIT + CHUNK


class TestBodiesWithinTheLimit:
    def test_a_body_of_exactly_the_limit_reaches_the_route(self, app: FastAPI) -> None:
        client = TestClient(app)
        head, tail = b'{"email": "', b'@example.org", "password": "x"}'
        body = head + b"a" * (LIMIT - len(head) - len(tail)) + tail
        assert len(body) == LIMIT
        response = client.post("/api/auth/login", content=body, headers={
            "X-Requested-With": "rest-guide", "Content-Type": "application/json"})
        assert response.status_code == 422  # the route saw it: the email is too long

    def test_a_small_chunked_body_reaches_the_route_intact(self, app: FastAPI) -> None:
        client = TestClient(app)

        def chunks() -> Iterator[bytes]:
            yield b'{"email": "nobody@example.org", '
            yield b'"password": "not the password"}'

        response = client.post("/api/auth/login", content=chunks(), headers={
            "X-Requested-With": "rest-guide", "Content-Type": "application/json"})
        assert response.status_code == 401
        assert response.json()["error"] == "INVALID_CREDENTIALS"


@pytest.fixture(scope="module")
def small_limit_server(tmp_path_factory: pytest.TempPathFactory,
                       speech_cache: Path) -> Iterator[LiveServer]:
    server = LiveServer(tmp_path_factory.mktemp("limit-server"), speech_cache, free_port())
    server.start({"API_MAX_BODY_BYTES": str(LIMIT), "VOICE_ENABLED": "false"})
    yield server
    server.stop()


def raw_exchange(port: int, request: bytes, body_sent: int) -> bytes:
    """Send the head and part of a body, then read the answer without sending the rest."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(request)
        sock.sendall(b"x" * body_sent)
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
        return answer


@pytest.mark.parametrize(("method", "path"), ENDPOINTS, ids=[f"{m} {p}" for m, p in ENDPOINTS])
def test_real_server_answers_413_without_waiting_for_the_body(
    small_limit_server: LiveServer, method: str, path: str
) -> None:
    head = (f"{method} {concrete(path)} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"X-Requested-With: rest-guide\r\nContent-Type: application/json\r\n"
            f"Content-Length: {HUGE}\r\n\r\n").encode()
    # The socket timeout (5 s) fails the test if the server waits for the 512 MiB.
    answer = raw_exchange(small_limit_server.port, head, body_sent=CHUNK)
    assert answer.startswith(b"HTTP/1.1 413 ")
