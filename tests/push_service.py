"""A Web Push service played by the tests (the edge of the world: the real ones are on
the internet), and what a browser keeps of its subscription to it."""

import json
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import http_ece
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from app.reminders.webpush import b64url, b64url_decode, public_bytes


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


@contextmanager
def running_push_service() -> Iterator[PushService]:
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


def new_browser(service: PushService, path: str = "/push/") -> Browser:
    """A new subscription of a browser to `service`, with keys of its own."""
    return Browser(f"{service.origin}{path}{b64url(os.urandom(12))}",
                   ec.generate_private_key(ec.SECP256R1()), os.urandom(16))


def verify_vapid(header: str, endpoint_origin: str, public_key_b64: str) -> dict:
    """What a push service checks: the key, the ES256 signature, the audience, the expiry."""
    scheme, _, params = header.partition(" ")
    assert scheme == "vapid"
    fields = dict(part.strip().split("=", 1) for part in params.split(","))
    assert fields["k"] == public_key_b64
    head_b64, claims_b64, signature_b64 = fields["t"].split(".")
    assert json.loads(b64url_decode(head_b64)) == {"typ": "JWT", "alg": "ES256"}
    raw = b64url_decode(signature_b64)
    assert len(raw) == 64
    key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(),
                                                       b64url_decode(public_key_b64))
    key.verify(encode_dss_signature(int.from_bytes(raw[:32], "big"),
                                    int.from_bytes(raw[32:], "big")),
               f"{head_b64}.{claims_b64}".encode(), ec.ECDSA(hashes.SHA256()))
    claims = json.loads(b64url_decode(claims_b64))
    assert claims["aud"] == endpoint_origin
    assert time.time() < claims["exp"] <= time.time() + 24 * 3600
    return claims
