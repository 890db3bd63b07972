"""Create account, sign in, sign out, me, cookies and CSRF."""

import logging
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from app.main import create_app
from tests.auth.helpers import COOKIE, CSRF, PASSWORD, new_email, sign_in, sign_up


def _set_cookie(response) -> str:  # type: ignore[no-untyped-def]
    return response.headers["set-cookie"]


class TestRegister:
    def test_creates_the_account_and_signs_in(self, auth_client: TestClient) -> None:
        email = new_email()
        response = auth_client.post("/api/auth/register", headers=CSRF,
                                    json={"email": email.upper(), "password": PASSWORD})
        assert response.status_code == 201
        assert response.json()["email"] == email
        cookie = _set_cookie(response).lower()
        assert cookie.startswith(f"{COOKIE}=")
        assert "httponly" in cookie and "samesite=lax" in cookie and "path=/" in cookie
        assert auth_client.get("/api/auth/me").json()["email"] == email

    def test_taken_email_is_409(self, auth_client: TestClient) -> None:
        account = sign_up(auth_client)
        response = auth_client.post("/api/auth/register", headers=CSRF,
                                    json={"email": account.email, "password": PASSWORD})
        assert response.status_code == 409
        assert response.json()["error"] == "EMAIL_TAKEN"

    def test_short_password_bad_email_and_unknown_fields_are_422(
        self, auth_client: TestClient
    ) -> None:
        for body in ({"email": new_email(), "password": "short"},
                     {"email": "not-an-email", "password": PASSWORD},
                     {"email": new_email(), "password": PASSWORD, "admin": True}):
            response = auth_client.post("/api/auth/register", headers=CSRF, json=body)
            assert response.status_code == 422, body
            assert response.json()["error"] == "VALIDATION_ERROR"

    def test_an_email_that_lower_casing_lengthens_past_the_limit_is_422(
        self, auth_client_on_any_db: TestClient
    ) -> None:
        email = "\u0130" * 200 + "@example.org"  # "İ" lower-cased is two characters
        assert len(email) <= 254 < len(email.lower())
        response = auth_client_on_any_db.post("/api/auth/register", headers=CSRF,
                                              json={"email": email, "password": PASSWORD})
        assert response.status_code == 422
        assert response.json()["error"] == "VALIDATION_ERROR"

    def test_password_is_stored_as_argon2id(self, auth_client: TestClient) -> None:
        from sqlmodel import Session, select

        from app.models import User

        account = sign_up(auth_client)
        with Session(auth_client.app.state.engine) as db:  # type: ignore[attr-defined]
            stored = db.exec(select(User).where(User.email == account.email)).one().password_hash
        assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
        assert PASSWORD not in stored


class TestSecureCookie:
    def test_outside_development_the_cookie_is_host_prefixed_and_secure(
        self, make_app_settings: Callable[..., Settings]
    ) -> None:
        with TestClient(create_app(make_app_settings(cookie_secure=True)),
                        base_url="https://testserver") as client:
            response = client.post("/api/auth/register", headers=CSRF,
                                   json={"email": new_email(), "password": PASSWORD})
            cookie = _set_cookie(response).lower()
            assert cookie.startswith("__host-crg_session=")
            assert "secure" in cookie and "httponly" in cookie and "path=/" in cookie
            assert "domain" not in cookie
            assert client.get("/api/auth/me").status_code == 200


class TestLogin:
    def test_right_password_signs_in(self, auth_client: TestClient) -> None:
        account = sign_up(auth_client)
        again = sign_in(auth_client, account.email)
        assert again.get("/api/auth/me").json()["email"] == account.email

    def test_unknown_email_and_wrong_password_answer_the_same(
        self, auth_client: TestClient
    ) -> None:
        account = sign_up(auth_client)
        wrong = auth_client.post("/api/auth/login", headers=CSRF,
                                 json={"email": account.email, "password": "wrong password"})
        unknown = auth_client.post("/api/auth/login", headers=CSRF,
                                   json={"email": new_email(), "password": "wrong password"})
        assert wrong.status_code == unknown.status_code == 401
        assert wrong.json() == unknown.json() == {
            "error": "INVALID_CREDENTIALS", "detail": "The email or the password is wrong."}
        assert "set-cookie" not in wrong.headers and "set-cookie" not in unknown.headers

    def test_sign_in_rotates_the_session_id(self, auth_client: TestClient) -> None:
        account = sign_up(auth_client)
        response = auth_client.post("/api/auth/login", headers=account.headers,
                                    json={"email": account.email, "password": PASSWORD})
        new_token = response.cookies[COOKIE]
        auth_client.cookies.clear()
        assert new_token != account.token
        assert account.get("/api/auth/me").status_code == 401
        assert auth_client.get("/api/auth/me",
                               headers={"Cookie": f"{COOKIE}={new_token}"}).status_code == 200


class TestLogout:
    def test_sign_out_ends_the_session_on_the_server(self, auth_client: TestClient) -> None:
        account = sign_up(auth_client)
        response = account.post("/api/auth/logout")
        assert response.status_code == 204
        cleared = _set_cookie(response).lower()
        assert cleared.startswith(f"{COOKIE}=") and "max-age=0" in cleared
        # The old cookie value, replayed, is worthless.
        assert account.get("/api/auth/me").status_code == 401

    def test_sign_out_when_signed_out_is_harmless(self, auth_client: TestClient) -> None:
        assert auth_client.post("/api/auth/logout", headers=CSRF).status_code == 204


class TestMe:
    def test_signed_out_is_401(self, auth_client: TestClient) -> None:
        response = auth_client.get("/api/auth/me")
        assert response.status_code == 401
        assert response.json()["error"] == "UNAUTHENTICATED"

    def test_forged_cookie_is_401(self, auth_client: TestClient) -> None:
        response = auth_client.get("/api/auth/me", headers={"Cookie": f"{COOKIE}=forged"})
        assert response.status_code == 401


class TestCsrf:
    def test_write_without_the_header_is_refused(self, auth_client: TestClient) -> None:
        response = auth_client.post("/api/auth/register",
                                    json={"email": new_email(), "password": PASSWORD})
        assert response.status_code == 403
        assert response.json()["error"] == "CSRF_REJECTED"

    def test_cross_site_form_post_is_refused(self, auth_client: TestClient) -> None:
        account = sign_up(auth_client)
        response = auth_client.post(
            "/api/auth/logout", data={"x": "1"},
            headers={"Cookie": f"{COOKIE}={account.token}", "Origin": "https://evil.example"},
        )
        assert response.status_code == 403
        assert account.get("/api/auth/me").status_code == 200

    def test_foreign_origin_is_refused_even_with_the_header(
        self, auth_client: TestClient
    ) -> None:
        account = sign_up(auth_client)
        response = auth_client.post("/api/auth/logout",
                                    headers={**account.headers, "Origin": "http://evil.example"})
        assert response.status_code == 403
        assert response.json()["error"] == "CSRF_REJECTED"
        assert account.get("/api/auth/me").status_code == 200

    def test_same_origin_with_the_header_passes(self, auth_client: TestClient) -> None:
        response = auth_client.post("/api/auth/register",
                                    headers={**CSRF, "Origin": "http://testserver"},
                                    json={"email": new_email(), "password": PASSWORD})
        assert response.status_code == 201

    def test_reads_need_no_header(self, auth_client: TestClient) -> None:
        assert auth_client.get("/api/health").status_code == 200


class TestLogging:
    def test_a_failed_statement_is_logged_without_its_values(
        self, make_app_settings: Callable[..., Settings], caplog: pytest.LogCaptureFixture
    ) -> None:
        from sqlalchemy import text

        with TestClient(create_app(make_app_settings()), raise_server_exceptions=False) as client:
            with client.app.state.engine.begin() as db:  # type: ignore[attr-defined]
                db.execute(text("CREATE TRIGGER disk_trouble BEFORE INSERT ON user_account "
                                "BEGIN SELECT RAISE(ABORT, 'disk trouble'); END"))
            email = new_email()
            response = client.post("/api/auth/register", headers=CSRF,
                                   json={"email": email, "password": PASSWORD})
        assert response.status_code == 500
        assert "disk trouble" in caplog.text  # the failure is logged, with its SQL
        assert "INSERT INTO user_account" in caplog.text
        assert email not in caplog.text and "$argon2id$" not in caplog.text

    def test_sign_in_and_out_are_logged_without_secrets(
        self, auth_client: TestClient, caplog: pytest.LogCaptureFixture
    ) -> None:
        caplog.set_level(logging.INFO, logger="app.auth")
        account = sign_up(auth_client)
        auth_client.post("/api/auth/login", headers=CSRF,
                         json={"email": account.email, "password": "a wrong password"})
        signed_in = sign_in(auth_client, account.email)
        signed_in.post("/api/auth/logout")
        text = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("app.auth"))
        assert "account created" in text and "sign-in failed" in text
        assert "signed in" in text and "signed out" in text
        for secret in (PASSWORD, "a wrong password", account.token, signed_in.token,
                       account.email):
            assert secret not in text
