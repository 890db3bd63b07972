"""A sign-up is one transaction: the account and its first session are kept together."""

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from app.auth.errors import EmailTaken
from app.auth.passwords import PasswordHashing
from app.auth.service import create_user
from app.db import make_engine
from app.migrate import upgrade_to_head
from app.models import User
from tests.auth.helpers import CSRF, PASSWORD, new_email
from tests.conftest import make_settings


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
        tmp_path: Path, speech_cache: Path, database_url: str | None,
        monkeypatch: pytest.MonkeyPatch) -> None:
    settings = make_settings(tmp_path / "data", speech_cache, voice_enabled=False,
                             database_url=database_url, migrate_on_start=True)
    settings.data_dir.mkdir(parents=True)
    upgrade_to_head(settings.resolved_database_url)
    engine = make_engine(settings)
    hashing = PasswordHashing(2)
    email = new_email()
    # Both look before either has inserted, and find no account: each goes on to insert.
    monkeypatch.setattr("app.auth.service.find_user", lambda db, email: None)
    try:
        with Session(engine) as first, Session(engine) as second:
            # The first inserts, not yet committed.
            created_id = create_user(first, hashing, email, PASSWORD).id
            with ThreadPoolExecutor(1) as pool:
                # The second waits for the first's lock, then finds the email taken.
                racing = pool.submit(create_user, second, hashing, email, PASSWORD)
                time.sleep(0.3)
                assert not racing.done()
                first.commit()
                with pytest.raises(EmailTaken):
                    racing.result(timeout=20)
            second.rollback()
        with Session(engine) as check:
            found = check.exec(select(User).where(User.email == email)).all()
            assert [user.id for user in found] == [created_id]
    finally:
        engine.dispose()
