"""Server-side sign-in sessions: a random cookie value, stored only as its sha256."""

import hashlib
import secrets
from datetime import UTC, datetime, timedelta

from fastapi import Response
from sqlalchemy import bindparam, delete, update
from sqlmodel import Session, select

from app.auth.errors import NotSignedIn
from app.config import Settings
from app.models import AuthSession, User


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


def user_id_for_token(db: Session, token: str | None, settings: Settings) -> int | None:
    """The signed-in user's id, sliding the expiry forward at most once a day."""
    if not token or len(token) > 100:
        return None
    hashed = token_hash(token)
    row = db.execute(_SESSION_BY_HASH, {"token_hash": hashed}).first()
    now = datetime.now(UTC)
    if row is None or as_utc(row.expires_at) <= now:
        return None
    renewed = now + timedelta(days=settings.session_days)
    if renewed - as_utc(row.expires_at) > timedelta(days=1):
        db.execute(update(AuthSession).where(AuthSession.token_hash == hashed)  # type: ignore[arg-type]
                   .values(expires_at=renewed))
    return int(row.user_id)


def signed_in_user_id(db: Session, token: str, settings: Settings) -> int:
    """The user behind a session token, inside the caller's transaction; 401 when none."""
    user_id = user_id_for_token(db, token, settings)
    if user_id is None:
        raise NotSignedIn("Sign in first.")
    return user_id


def user_for_token(db: Session, token: str | None, settings: Settings) -> User | None:
    """The signed-in user (see user_id_for_token)."""
    user_id = user_id_for_token(db, token, settings)
    return None if user_id is None else db.get(User, user_id)


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
