"""Server-side sign-in sessions: a random cookie value, stored only as its sha256."""

import hashlib
import secrets
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from fastapi import Response
from sqlalchemy import bindparam, delete, update
from sqlmodel import Session, select
from starlette.requests import cookie_parser
from starlette.types import Scope

from app.auth.errors import NotSignedIn
from app.config import Settings
from app.db import Database, core
from app.models import AuthSession, User


def session_token(scope: Scope, cookie_name: str) -> str | None:
    """The session cookie's value, as `Request(scope).cookies.get(cookie_name)` reads it
    (every Cookie header, a later one winning), without building a Request: every poll
    asks, and the request object and all its cookies cost three times the look."""
    token = None
    for name, value in scope["headers"]:
        if name == b"cookie":
            token = cookie_parser(value.decode("latin-1")).get(cookie_name, token)
    return token


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def as_utc(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes; every stored time is UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def start_session(db: Session, user: User, settings: Settings) -> str:
    """A new session for `user`; returns the cookie value (256 random bits)."""
    assert user.id is not None
    token = secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    db.add(AuthSession(
        token_hash=token_hash(token),
        user_id=user.id,
        created_at=now,
        expires_at=now + timedelta(days=settings.session_days),
    ))
    # Expired sessions of this user go now: there is no separate cleaner to run.
    db.execute(delete(AuthSession).where(
        AuthSession.user_id == user.id, AuthSession.expires_at < now  # type: ignore[arg-type]
    ))
    return token


def end_session(db: Session, token: str | None) -> None:
    if token:
        db.execute(delete(AuthSession).where(AuthSession.token_hash == token_hash(token)))  # type: ignore[arg-type]


# Built once: every signed-in request runs it, and building a statement costs more than
# SQLite takes to answer it.
_SESSION_BY_HASH = select(AuthSession.user_id, AuthSession.expires_at).where(
    AuthSession.token_hash == bindparam("token_hash")  # type: ignore[arg-type]
)
_RENEW = update(AuthSession).where(
    AuthSession.token_hash == bindparam("hashed")  # type: ignore[arg-type]
).values(expires_at=bindparam("renew_until"))


@dataclass(frozen=True)
class LiveSession:
    """A sign-in session that has not expired; `renew_until` is set when its expiry is
    due to slide forward (at most once a day, so most requests write nothing)."""

    user_id: int
    token_hash: str
    renew_until: datetime | None


def cookie_hash(token: str | None) -> str | None:
    """What the database stores of a cookie value; None for a value no session has."""
    if not token or len(token) > 100:
        return None
    return token_hash(token)


def live_session(db: Database, token: str | None,
                 settings: Settings) -> LiveSession | None:
    """The session behind a cookie value, or None when there is none or it has expired."""
    hashed = cookie_hash(token)
    if hashed is None:
        return None
    row = core(db).execute(_SESSION_BY_HASH, {"token_hash": hashed}).first()
    if row is None:
        return None
    return still_live(hashed, int(row.user_id), row.expires_at, settings)


def still_live(hashed: str, user_id: int, expires_at: datetime,
               settings: Settings) -> LiveSession | None:
    """A stored session as of now: None once it has expired."""
    now = datetime.now(UTC)
    expires_at = as_utc(expires_at)
    if expires_at <= now:
        return None
    if now > renewal_due_after(expires_at, settings):
        return LiveSession(user_id, hashed, now + timedelta(days=settings.session_days))
    return LiveSession(user_id, hashed, None)


def renewal_due_after(expires_at: datetime, settings: Settings) -> datetime:
    """The moment after which a session's expiry is due to slide forward again: a day
    after it was last set (never later than the expiry itself)."""
    return as_utc(expires_at) - timedelta(days=settings.session_days - 1)


# The renewals of the request under way, for its answer to set the cookie again
# (app/auth/cookie_renewal.py). A list, not a flag: a worker thread or the push writer
# runs a copy of the request's context, and the copy shares the list.
renewals: ContextVar[list[str] | None] = ContextVar("session_renewals", default=None)


def renew(db: Database, session: LiveSession) -> None:
    """Slide the expiry forward when it is due. A write that locks the session's row: a
    transaction that also locks the user's row renews last, so that, like erasing an
    account (the user, then its sessions), it takes the user's row first, and the two
    never wait on each other in a circle."""
    if session.renew_until is not None:
        core(db).execute(_RENEW, {"hashed": session.token_hash,
                                  "renew_until": session.renew_until})
        note_renewal(session)


def note_renewal(session: LiveSession) -> None:
    """Tell the request's answer that the session was renewed, to set its cookie again."""
    noted = renewals.get()
    if noted is not None:
        noted.append(session.token_hash)


def signed_in(db: Database, token: str, settings: Settings) -> LiveSession:
    """The caller's live session, not yet renewed (see renew); 401 when there is none."""
    session = live_session(db, token, settings)
    if session is None:
        raise NotSignedIn("Sign in first.")
    return session


def user_for_token(db: Session, token: str | None, settings: Settings,
                   slide: bool = True) -> User | None:
    """The signed-in user, sliding the session's expiry forward when due (see renew);
    `slide=False` leaves the expiry alone."""
    session = live_session(db, token, settings)
    if session is None:
        return None
    if slide:
        renew(db, session)
    return db.get(User, session.user_id)


def set_session_cookie(response: Response, token: str, settings: Settings) -> None:
    response.set_cookie(
        settings.session_cookie_name,
        token,
        max_age=settings.session_days * 86400,
        path="/",
        secure=settings.secure_cookies,
        httponly=True,
        samesite="lax",
    )


def clear_session_cookie(response: Response, settings: Settings) -> None:
    response.delete_cookie(
        settings.session_cookie_name, path="/", secure=settings.secure_cookies,
        httponly=True, samesite="lax",
    )
