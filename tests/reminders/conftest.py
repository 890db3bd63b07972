"""A push service the tests play themselves, browsers' subscriptions to it, and apps."""

import json
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import http_ece
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi.testclient import TestClient

from app.config import Settings
from app.main import create_app
from app.reminders.webpush import b64url, public_bytes
from tests.conftest import make_settings
from tests.sync.conftest import database_url, postgres_url  # noqa: F401  (fixtures)


@dataclass
class Delivery:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class PushService:
    """Answers each POST with the status its path asks for (`/gone/...` 410, `/down/...`
    500), 201 otherwise, and keeps what it was sent."""

    origin: str
    deliveries: list[Delivery] = field(default_factory=list)


@pytest.fixture
def push_service() -> Iterator[PushService]:
    service = PushService(origin="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802  (http.server's name)
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            service.deliveries.append(Delivery(self.path, dict(self.headers.items()), body))
            status = 410 if self.path.startswith("/gone/") else \
                500 if self.path.startswith("/down/") else 201
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_args: object) -> None:
            pass

    class Server(ThreadingHTTPServer):
        request_queue_size = 64  # every send of two instances at once finds a place

    server = Server(("127.0.0.1", 0), Handler)
    service.origin = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield service
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class Browser:
    """What a browser keeps of its push subscription: its private key and auth secret."""

    endpoint: str
    private_key: ec.EllipticCurvePrivateKey
    auth: bytes

    def subscription(self) -> dict[str, object]:
        return {"endpoint": self.endpoint, "expirationTime": None, "keys": {
            "p256dh": b64url(public_bytes(self.private_key.public_key())),
            "auth": b64url(self.auth)}}

    def decrypt(self, body: bytes) -> dict[str, object]:
        data: dict[str, object] = json.loads(http_ece.decrypt(
            body, private_key=self.private_key, auth_secret=self.auth, version="aes128gcm"))
        return data


@pytest.fixture
def subscribe(push_service: PushService) -> Callable[..., Browser]:
    def make(path: str = "/push/") -> Browser:
        return Browser(f"{push_service.origin}{path}{b64url(os.urandom(12))}",
                       ec.generate_private_key(ec.SECP256R1()), os.urandom(16))
    return make


@pytest.fixture
def make_app_settings(tmp_path: Path, speech_cache: Path,
                      push_service: PushService) -> Callable[..., Settings]:
    def build(url: str | None = None, **overrides: object) -> Settings:
        options: dict[str, object] = {
            "voice_enabled": False, "push_services": [push_service.origin],
            "reminders_enabled": False,  # tests call send_due themselves, at chosen times
            "migrate_on_start": True, **overrides}
        return make_settings(tmp_path / "data", speech_cache, database_url=url, **options)
    return build


@pytest.fixture
def reminders_client(make_app_settings: Callable[..., Settings]) -> Iterator[TestClient]:
    with TestClient(create_app(make_app_settings())) as client:
        yield client
