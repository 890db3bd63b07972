"""A user's rests as the server keeps them: the client's record plus sync bookkeeping."""

from datetime import datetime

from sqlalchemy import Column, DateTime, ForeignKey, Index, Integer, text
from sqlmodel import Field, SQLModel

from app.models.media import utc_now


class Rest(SQLModel, table=True):
    """One rest, keyed by (user, client-made UUID). A tombstone keeps only id and versions.

    Content columns are nullable because a deleted rest (tombstone) drops its content.
    """

    __tablename__ = "rest"
    __table_args__ = (
        Index("ix_rest_user_id_sync_version", "user_id", "sync_version"),
        # Tombstones only: each push looks for old ones to purge, and most rests are not.
        Index("ix_rest_tombstones", "user_id", "deleted_at",
              sqlite_where=text("deleted IS 1"), postgresql_where=text("deleted IS true")),
    )

    user_id: int = Field(
        sa_column=Column(
            Integer,
            ForeignKey("user_account.id", ondelete="CASCADE"),
            primary_key=True,
        )
    )
    id: str = Field(primary_key=True, max_length=36)
    routine_id: str | None = Field(default=None, max_length=40)
    title: str | None = Field(default=None, max_length=120)
    minutes: int | None = None
    cue_density: str | None = Field(default=None, max_length=10)
    prep_s: int | None = None
    version: str | None = Field(default=None, max_length=64)
    started_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    ended_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    time_zone: str | None = Field(default=None, max_length=64)
    planned_s: int | None = None
    actual_s: int | None = None
    completed: bool | None = None
    before_rating: int | None = None
    after_rating: int | None = None
    note: str | None = Field(default=None, max_length=2000)
    updated_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    deleted: bool = Field(default=False)
    # The user's sync_version of the change that last wrote this row (server order).
    sync_version: int
    deleted_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    created_at: datetime = Field(
        default_factory=utc_now, sa_column=Column(DateTime(timezone=True), nullable=False)
    )
