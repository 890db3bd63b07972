"""A sign-in lasts `session_days` from its last use: the expiry slides, at most once a day."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update
from sqlmodel import Session

from app.auth.sessions import as_utc, token_hash
from app.models import AuthSession
from tests.auth.helpers import COOKIE, PASSWORD, Account, sign_up
from tests.sql import statements_sent
from tests.sync.factories import make_rest, put

DAYS = 90  # the default session_days


def expires_at(account: Account) -> datetime:
    with Session(account.client.app.state.engine) as db:  # type: ignore[attr-defined]
        row = db.get(AuthSession, token_hash(account.token))
        assert row is not None
        return as_utc(row.expires_at)


def set_expiry(account: Account, moment: datetime) -> None:
    with Session(account.client.app.state.engine) as db:  # type: ignore[attr-defined]
        db.execute(update(AuthSession)
                   .where(AuthSession.token_hash == token_hash(account.token))  # type: ignore[arg-type]
                   .values(expires_at=moment))
        db.commit()


USES = {
    "me": lambda a: a.get("/api/auth/me"),
    "pull": lambda a: a.get("/api/sync/pull"),
    "push": lambda a: a.post("/api/sync/push", json={"client_id": str(uuid.uuid4()),
                                                     "mutations": [put(1, make_rest())]}),
}


@pytest.mark.parametrize("use", USES)
def test_a_session_used_after_a_day_slides_forward(auth_client_on_any_db, use):
    account = sign_up(auth_client_on_any_db)
    set_expiry(account, datetime.now(UTC) + timedelta(days=DAYS - 2))
    before = datetime.now(UTC)
    assert USES[use](account).status_code == 200
    renewed = expires_at(account)
    assert before + timedelta(days=DAYS) <= renewed <= datetime.now(UTC) + timedelta(days=DAYS)


@pytest.mark.parametrize("use", USES)
def test_a_renewal_sets_the_cookie_again_for_the_full_length(auth_client_on_any_db, use):
    # The browser keeps the cookie for as long as it was last told: each slide says so anew.
    # (On PostgreSQL a push runs on connections of its own, and so does a pull.)
    account = sign_up(auth_client_on_any_db)
    set_expiry(account, datetime.now(UTC) + timedelta(days=DAYS - 2))
    response = USES[use](account)
    assert response.status_code == 200
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}={account.token};")
    assert f"Max-Age={DAYS * 86400}" in cookie
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie


@pytest.mark.parametrize("use", USES)
def test_no_cookie_is_set_while_no_renewal_is_due(auth_client, use):
    account = sign_up(auth_client)
    response = USES[use](account)
    assert response.status_code == 200
    assert "set-cookie" not in response.headers


@pytest.mark.parametrize("use", USES)
def test_a_session_used_within_the_day_is_left_as_it_is(auth_client, use):
    account = sign_up(auth_client)
    recent = (datetime.now(UTC) + timedelta(days=DAYS) - timedelta(hours=3)).replace(microsecond=0)
    set_expiry(account, recent)
    assert USES[use](account).status_code == 200
    assert expires_at(account) == recent


@pytest.mark.parametrize("use", USES)
def test_an_expired_session_is_refused(auth_client_on_any_db, use):
    account = sign_up(auth_client_on_any_db)
    set_expiry(account, datetime.now(UTC) - timedelta(seconds=1))
    response = USES[use](account)
    assert response.status_code == 401
    assert response.json()["error"] == "UNAUTHENTICATED"


def test_a_push_renews_its_session_only_after_its_own_writes(auth_client):
    # Erasing an account locks the user, then its sessions; a push must take them in that
    # order too, or the two could each wait for the other. (On PostgreSQL a push renews in
    # sync_push, migration 0008, which takes the user's lock first.)
    account = sign_up(auth_client)
    set_expiry(account, datetime.now(UTC) + timedelta(days=DAYS - 2))
    state = auth_client.app.state
    with statements_sent(state.engine, state.sqlite_writer) as statements:
        assert USES["push"](account).status_code == 200
    renewal = next(i for i, s in enumerate(statements) if s.startswith("update auth_session"))
    user_lock = next(i for i, s in enumerate(statements) if s.startswith("update user_account"))
    assert user_lock < renewal  # SQLite: a no-op UPDATE takes the write lock


def test_erasing_an_account_never_locks_its_session_before_its_user(auth_client):
    # The session goes with the account: renewing it first would take the locks in the
    # order a push does not (session, then user), and the two could deadlock.
    account = sign_up(auth_client)
    set_expiry(account, datetime.now(UTC) + timedelta(days=DAYS - 2))
    with statements_sent(auth_client.app.state.engine) as statements:
        erased = account.delete("/api/auth/account", json={"password": PASSWORD})
    assert erased.status_code == 200, erased.text
    assert not [s for s in statements if s.startswith("update auth_session")]
    assert any(s.startswith("update user_account") for s in statements)  # the user's lock
