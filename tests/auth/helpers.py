"""Accounts for tests: each one carries its own session cookie, so one client can act as many."""

import uuid
from dataclasses import dataclass

from fastapi.testclient import TestClient

CSRF = {"X-Requested-With": "rest-guide"}
PASSWORD = "correct horse battery"
COOKIE = "crg_session"  # the relaxed name used in the test environment


@dataclass
class Account:
    client: TestClient
    email: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {**CSRF, "Cookie": f"{COOKIE}={self.token}"}

    def get(self, url: str, **kwargs: object):  # type: ignore[no-untyped-def]
        return self.client.get(url, headers=self.headers, **kwargs)  # type: ignore[arg-type]

    def post(self, url: str, **kwargs: object):  # type: ignore[no-untyped-def]
        return self.client.post(url, headers=self.headers, **kwargs)  # type: ignore[arg-type]

    def delete(self, url: str, **kwargs: object):  # type: ignore[no-untyped-def]
        return self.client.request("DELETE", url, headers=self.headers, **kwargs)  # type: ignore[arg-type]


def new_email() -> str:
    return f"user-{uuid.uuid4().hex[:12]}@example.org"


def sign_up(client: TestClient, email: str | None = None, password: str = PASSWORD) -> Account:
    email = email or new_email()
    response = client.post("/api/auth/register", json={"email": email, "password": password},
                           headers=CSRF)
    assert response.status_code == 201, response.text
    token = response.cookies[COOKIE]
    client.cookies.clear()
    return Account(client, email, token)


def sign_in(client: TestClient, email: str, password: str = PASSWORD) -> Account:
    response = client.post("/api/auth/login", json={"email": email, "password": password},
                           headers=CSRF)
    assert response.status_code == 200, response.text
    token = response.cookies[COOKIE]
    client.cookies.clear()
    return Account(client, email, token)
