"""Per-device sync state: the last applied mutation number and the rejected mutations."""

from datetime import datetime

from sqlalchemy import Column, DateTime, ForeignKey, Integer
from sqlmodel import Field, SQLModel

from app.models.media import utc_now


class SyncClient(SQLModel, table=True):
    """One device (client id) of one user and the last mutation number applied for it."""

    __tablename__ = "sync_client"

    user_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True
        )
    )
    client_id: str = Field(primary_key=True, max_length=36)
    last_seq: int = Field(default=0)
    created_at: datetime = Field(
        default_factory=utc_now, sa_column=Column(DateTime(timezone=True), nullable=False)
    )
    updated_at: datetime = Field(
        default_factory=utc_now, sa_column=Column(DateTime(timezone=True), nullable=False)
    )


class SyncRejection(SQLModel, table=True):
    """A well-formed mutation that failed validation: acknowledged, never applied."""

    __tablename__ = "sync_rejection"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("user_account.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    client_id: str = Field(max_length=36)
    seq: int
    rest_id: str = Field(max_length=36)
    code: str = Field(max_length=40)
    detail: str = Field(max_length=1000)
    created_at: datetime = Field(
        default_factory=utc_now, sa_column=Column(DateTime(timezone=True), nullable=False)
    )
