"""A sign-up is one transaction: the account and its first session are kept together."""

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from app.auth.errors import EmailTaken
from app.auth.passwords import PasswordHashing
from app.auth.service import create_user
from app.config import Settings
from app.models import User
from tests.auth.helpers import CSRF, PASSWORD, new_email
from tests.race import migrated_engine, second_after_first


def test_a_sign_up_that_fails_after_the_account_row_keeps_no_account(
        auth_client_on_any_db: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    email = new_email()

    def no_session(*args: object, **kwargs: object) -> str:
        raise RuntimeError("the session could not be stored")

    with monkeypatch.context() as patch:
        patch.setattr("app.auth.router.start_session", no_session)
        failed = auth_client_on_any_db.post("/api/auth/register", headers=CSRF,
                                            json={"email": email, "password": PASSWORD})
    assert failed.status_code == 500
    # Nothing was kept: the same email signs up (not "taken"), and can sign in.
    again = auth_client_on_any_db.post("/api/auth/register", headers=CSRF,
                                       json={"email": email, "password": PASSWORD})
    assert again.status_code == 201, again.text
    assert auth_client_on_any_db.get("/api/auth/me").json()["email"] == email


def test_a_taken_email_is_refused_and_the_account_stays_as_it_was(
        auth_client_on_any_db: TestClient) -> None:
    email = new_email()
    first = auth_client_on_any_db.post("/api/auth/register", headers=CSRF,
                                       json={"email": email, "password": PASSWORD})
    assert first.status_code == 201
    auth_client_on_any_db.post("/api/auth/logout", headers=CSRF)
    taken = auth_client_on_any_db.post("/api/auth/register", headers=CSRF,
                                       json={"email": email, "password": "another-password-9"})
    assert (taken.status_code, taken.json()["error"]) == (409, "EMAIL_TAKEN")
    signed_in = auth_client_on_any_db.post("/api/auth/login", headers=CSRF,
                                           json={"email": email, "password": PASSWORD})
    assert signed_in.status_code == 200


def test_of_two_sign_ups_racing_for_one_email_the_second_is_told_it_is_taken(
        make_app_settings: Callable[..., Settings], database_url: str | None,
        monkeypatch: pytest.MonkeyPatch) -> None:
    hashing = PasswordHashing(2)
    email = new_email()
    created: list[int | None] = []
    # Both look before either has inserted, and find no account: each goes on to insert.
    monkeypatch.setattr("app.auth.service.find_user", lambda db, email: None)
    with migrated_engine(make_app_settings(database_url=database_url)) as engine:
        with pytest.raises(EmailTaken):
            second_after_first(
                engine, lambda db: created.append(create_user(db, hashing, email, PASSWORD).id),
                lambda db: create_user(db, hashing, email, PASSWORD))
        with Session(engine) as check:
            found = check.exec(select(User).where(User.email == email)).all()
            assert [user.id for user in found] == created
