"""Web Push, as the standards define it: no third-party push library.

- Message encryption (RFC 8291, `aes128gcm` content coding of RFC 8188): the payload is
  encrypted to the browser's subscription key, so the push service carries it blind.
- VAPID (RFC 8292): each request carries a JWT signed with this server's key, which the
  browser bound its subscription to (`applicationServerKey`).

The server's key is one P-256 key pair: from VAPID_PRIVATE_KEY (every instance must send
with the same key), or generated on first run into the data directory.
"""

import base64
import contextlib
import json
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

RECORD_SIZE = 4096  # one record: a reminder is far smaller
KEY_FILE = "vapid_private_key.pem"
TOKEN_LIFETIME_S = 12 * 3600  # RFC 8292: at most 24 hours


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def public_bytes(key: ec.EllipticCurvePublicKey) -> bytes:
    """The uncompressed point (65 bytes), as browsers give and take keys."""
    return key.public_bytes(serialization.Encoding.X962,
                            serialization.PublicFormat.UncompressedPoint)


def _hkdf(salt: bytes, ikm: bytes, info: bytes, length: int) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=info).derive(ikm)


def encrypt(payload: bytes, subscription_key: bytes, auth_secret: bytes,
            salt: bytes | None = None,
            sender_key: ec.EllipticCurvePrivateKey | None = None) -> bytes:
    """The `aes128gcm` body of a push message to one subscription (RFC 8291 section 3).

    `salt` and `sender_key` are fresh for every message; they are parameters only so that
    the RFC's example can be reproduced.
    """
    if len(payload) > RECORD_SIZE - 103:  # header, key, delimiter and tag share the record
        raise ValueError("A push payload holds at most 3993 bytes.")
    salt = salt if salt is not None else os.urandom(16)
    sender_key = sender_key or ec.generate_private_key(ec.SECP256R1())
    receiver = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), subscription_key)
    shared_secret = sender_key.exchange(ec.ECDH(), receiver)
    sender_public = public_bytes(sender_key.public_key())
    ikm = _hkdf(auth_secret, shared_secret,
                b"WebPush: info\x00" + subscription_key + sender_public, 32)
    content_key = _hkdf(salt, ikm, b"Content-Encoding: aes128gcm\x00", 16)
    nonce = _hkdf(salt, ikm, b"Content-Encoding: nonce\x00", 12)
    # One record, the last: the padding delimiter is 2 and no padding follows.
    ciphertext = AESGCM(content_key).encrypt(nonce, payload + b"\x02", None)
    header = salt + RECORD_SIZE.to_bytes(4, "big") + bytes([len(sender_public)]) + sender_public
    return header + ciphertext


@dataclass(frozen=True)
class VapidKey:
    private_key: ec.EllipticCurvePrivateKey

    @property
    def public_key(self) -> str:
        """The `applicationServerKey` browsers subscribe with (base64url)."""
        return b64url(public_bytes(self.private_key.public_key()))

    def authorization(self, endpoint: str, subject: str, now: float | None = None) -> str:
        """The `Authorization: vapid t=..., k=...` header for a request to `endpoint`."""
        parts = urlsplit(endpoint)
        claims = {"aud": f"{parts.scheme}://{parts.netloc}",
                  "exp": int((now or time.time()) + TOKEN_LIFETIME_S), "sub": subject}
        signing_input = ".".join(
            b64url(json.dumps(part, separators=(",", ":")).encode())
            for part in ({"typ": "JWT", "alg": "ES256"}, claims))
        der = self.private_key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)  # JWS wants the raw 64-byte r || s
        token = f"{signing_input}.{b64url(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"
        return f"vapid t={token}, k={self.public_key}"


def load_vapid_key(configured: str | None, data_dir: Path) -> VapidKey:
    """The configured key (PEM, or the raw private scalar in base64url), or the one kept
    in the data directory, made on first run."""
    if configured:
        text = configured.strip()
        if text.startswith("-----BEGIN"):
            key = serialization.load_pem_private_key(text.encode(), password=None)
        else:
            key = ec.derive_private_key(int.from_bytes(b64url_decode(text), "big"),
                                        ec.SECP256R1())
        if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
            raise ValueError("VAPID_PRIVATE_KEY must be a P-256 private key.")
        return VapidKey(key)
    path = data_dir / KEY_FILE
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption())
        # Written whole or not at all, readable by this user only (mkstemp makes it so);
        # instances racing on one data directory all keep the key that landed first.
        handle, temporary = tempfile.mkstemp(dir=data_dir, prefix=".vapid-", suffix=".tmp")
        try:
            with os.fdopen(handle, "wb") as file:
                file.write(pem)
            with contextlib.suppress(FileExistsError):
                os.link(temporary, path)
        finally:
            os.unlink(temporary)
    loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    assert isinstance(loaded, ec.EllipticCurvePrivateKey)
    return VapidKey(loaded)
