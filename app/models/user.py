"""Accounts and their sign-in sessions."""

from datetime import datetime

from sqlalchemy import Column, DateTime, ForeignKey, Integer
from sqlmodel import Field, SQLModel

from app.models.media import utc_now


class User(SQLModel, table=True):
    """An account. `sync_version` is the per-user change counter that orders every sync write."""

    __tablename__ = "user_account"

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=254, unique=True, index=True)
    password_hash: str = Field(max_length=200)
    sync_version: int = Field(default=0)
    # Tombstones at or below this version have been purged: a device whose cookie is older
    # must take a full snapshot (pull answers `reset: true`).
    purged_through_version: int = Field(default=0)
    created_at: datetime = Field(
        default_factory=utc_now, sa_column=Column(DateTime(timezone=True), nullable=False)
    )


class AuthSession(SQLModel, table=True):
    """A signed-in browser. Only the sha256 of the cookie value is stored."""

    __tablename__ = "auth_session"

    token_hash: str = Field(primary_key=True, max_length=64)
    user_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("user_account.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    created_at: datetime = Field(
        default_factory=utc_now, sa_column=Column(DateTime(timezone=True), nullable=False)
    )
    expires_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
