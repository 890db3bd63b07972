"""DELETE /api/auth/account: erases the user's server data for real."""

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlmodel import Session

from app.models import AuthSession, Rest, SyncClient, SyncRejection, User
from tests.auth.helpers import CSRF, PASSWORD, sign_up
from tests.sync.factories import delete, make_rest, new_client_id, put


def _rows(client: TestClient, model: type) -> int:
    with Session(client.app.state.engine) as db:  # type: ignore[attr-defined]
        return int(db.scalar(select(func.count()).select_from(model)) or 0)


class TestDeleteAccount:
    def test_erases_user_sessions_rests_tombstones_and_devices(
        self, auth_client: TestClient
    ) -> None:
        account = sign_up(auth_client)
        kept, gone = make_rest(), make_rest()
        account.post("/api/sync/push", json={"client_id": new_client_id(), "mutations": [
            put(1, kept), put(2, gone), delete(3, gone["id"]), put(4, make_rest(after_rating=99))
        ]})
        response = account.delete("/api/auth/account", json={"password": PASSWORD})
        assert response.status_code == 200
        body = response.json()
        assert body["erased"] is True
        assert "erased" in body["detail"]
        assert (body["rests"], body["devices"], body["sessions"]) == (1, 1, 1)
        for model in (User, AuthSession, Rest, SyncClient, SyncRejection):
            assert _rows(auth_client, model) == 0, model
        assert account.get("/api/auth/me").status_code == 401
        login = auth_client.post("/api/auth/login", headers=CSRF,
                                 json={"email": account.email, "password": PASSWORD})
        assert login.status_code == 401

    def test_wrong_password_erases_nothing(self, auth_client: TestClient) -> None:
        account = sign_up(auth_client)
        response = account.delete("/api/auth/account", json={"password": "not my password"})
        assert response.status_code == 403
        assert response.json()["error"] == "WRONG_PASSWORD"
        assert account.get("/api/auth/me").status_code == 200

    def test_only_the_signed_in_account_is_erased(self, auth_client: TestClient) -> None:
        alice, mallory = sign_up(auth_client), sign_up(auth_client)
        alice.post("/api/sync/push", json={"client_id": new_client_id(),
                                           "mutations": [put(1, make_rest())]})
        assert mallory.delete("/api/auth/account", json={"password": PASSWORD}).status_code == 200
        assert alice.get("/api/auth/me").status_code == 200
        assert len(alice.get("/api/history/rests").json()) == 1

    def test_signed_out_is_401(self, auth_client: TestClient) -> None:
        response = auth_client.request("DELETE", "/api/auth/account", headers=CSRF,
                                       json={"password": PASSWORD})
        assert response.status_code == 401


class TestSignInWhileErased:
    def test_a_sign_in_whose_account_is_erased_meanwhile_is_refused_as_unknown(
        self, auth_client_on_any_db: TestClient, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        from app.auth import service

        client = auth_client_on_any_db
        account = sign_up(client)
        engine = client.app.state.engine  # type: ignore[attr-defined]
        checked = service.authenticate

        def erased_by_another_device_once_checked(*args: Any) -> User | None:
            user = checked(*args)
            assert user is not None
            with Session(engine) as other:  # the erasure commits between check and session
                erased = other.get(User, user.id)
                assert erased is not None
                service.erase_user(other, erased)
                other.commit()
            return user

        monkeypatch.setattr(service, "authenticate", erased_by_another_device_once_checked)
        response = client.post("/api/auth/login", headers=CSRF,
                               json={"email": account.email, "password": PASSWORD})
        assert response.status_code == 401
        assert response.json()["error"] == "INVALID_CREDENTIALS"
        assert "set-cookie" not in response.headers
        assert _rows(client, User) == _rows(client, AuthSession) == 0
