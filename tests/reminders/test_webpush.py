"""Web Push encryption (RFC 8291) and VAPID (RFC 8292), checked against the RFC's own
example and an independent decoder."""

import json
import os

import http_ece
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from app.reminders.webpush import (
    KEY_FILE,
    b64url,
    b64url_decode,
    encrypt,
    load_vapid_key,
    public_bytes,
)
from tests.push_service import verify_vapid


def private_key(scalar_b64: str) -> ec.EllipticCurvePrivateKey:
    return ec.derive_private_key(int.from_bytes(b64url_decode(scalar_b64), "big"),
                                 ec.SECP256R1())


class TestEncrypt:
    def test_reproduces_the_example_of_rfc_8291(self) -> None:
        # RFC 8291, section 5 and appendix A: every input given, the body known.
        browser_key = private_key("q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94")
        server_key = private_key("yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw")
        body = encrypt(b"When I grow up, I want to be a watermelon",
                       public_bytes(browser_key.public_key()),
                       b64url_decode("BTBZMqHH6r4Tts7J_aSIgg"),
                       salt=b64url_decode("DGv6ra1nlYgDCS1FRnbzlw"), sender_key=server_key)
        assert b64url(body) == (
            "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27ml"
            "mlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPT"
            "pK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN")

    def test_a_browser_decrypts_it_with_its_own_keys(self) -> None:
        browser_key = ec.generate_private_key(ec.SECP256R1())
        auth = os.urandom(16)
        payload = json.dumps({"title": "Time to rest", "body": "Ten quiet minutes"}).encode()
        body = encrypt(payload, public_bytes(browser_key.public_key()), auth)
        # http_ece: an implementation of the same RFCs, written by others.
        assert http_ece.decrypt(body, private_key=browser_key, auth_secret=auth,
                                version="aes128gcm") == payload

    def test_each_message_gets_a_fresh_salt_and_key(self) -> None:
        browser = public_bytes(ec.generate_private_key(ec.SECP256R1()).public_key())
        one, two = (encrypt(b"same", browser, b"a" * 16) for _ in range(2))
        assert one[:16] != two[:16] and one[21:86] != two[21:86]

    def test_a_payload_too_large_for_one_record_is_refused(self) -> None:
        browser = public_bytes(ec.generate_private_key(ec.SECP256R1()).public_key())
        with pytest.raises(ValueError, match="at most"):
            encrypt(b"x" * 4000, browser, b"a" * 16)


class TestVapid:
    def test_a_push_service_accepts_the_signed_token(self, tmp_path) -> None:  # type: ignore[no-untyped-def]
        key = load_vapid_key(None, tmp_path)
        header = key.authorization("https://push.example.net/push/abc?x=1",
                                   "mailto:ops@example.org")
        claims = verify_vapid(header, "https://push.example.net", key.public_key)
        assert claims["sub"] == "mailto:ops@example.org"

    def test_a_forged_token_fails_verification(self, tmp_path) -> None:  # type: ignore[no-untyped-def]
        key = load_vapid_key(None, tmp_path)
        other = load_vapid_key(None, tmp_path / "other")
        header = other.authorization("https://push.example.net/p", "mailto:a@example.org")
        forged = header.replace(other.public_key, key.public_key)
        with pytest.raises(InvalidSignature):
            verify_vapid(forged, "https://push.example.net", key.public_key)

    def test_the_key_is_made_once_and_kept_private(self, tmp_path) -> None:  # type: ignore[no-untyped-def]
        first = load_vapid_key(None, tmp_path)
        assert load_vapid_key(None, tmp_path).public_key == first.public_key
        assert (tmp_path / KEY_FILE).stat().st_mode & 0o077 == 0
        assert list(tmp_path.iterdir()) == [tmp_path / KEY_FILE]

    def test_a_configured_key_wins_in_either_form(self, tmp_path) -> None:  # type: ignore[no-untyped-def]
        key = ec.generate_private_key(ec.SECP256R1())
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
        scalar = b64url(key.private_numbers().private_value.to_bytes(32, "big"))
        expected = b64url(public_bytes(key.public_key()))
        assert load_vapid_key(pem, tmp_path).public_key == expected
        assert load_vapid_key(scalar, tmp_path).public_key == expected
        assert not (tmp_path / KEY_FILE).exists()
