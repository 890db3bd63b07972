"""Rendered sessions and their media, shared by every instance through the database."""

from datetime import UTC, datetime

from sqlalchemy import Column, DateTime, LargeBinary
from sqlmodel import Field, SQLModel


def utc_now() -> datetime:
    return datetime.now(UTC)


class RenderedSession(SQLModel, table=True):
    """A compiled and rendered session script, keyed by the hash of its inputs."""

    __tablename__ = "rendered_session"

    version: str = Field(primary_key=True, max_length=64)
    routine_id: str = Field(max_length=40, index=True)
    minutes: int
    cue_density: str = Field(max_length=10)
    prep_s: int
    script_json: str
    created_at: datetime = Field(
        default_factory=utc_now, sa_column=Column(DateTime(timezone=True), nullable=False)
    )


class MediaAsset(SQLModel, table=True):
    """One immutable file (audio or captions) named by the sha256 of its bytes.

    The bytes live here so that any instance can answer a media URL another
    instance handed out; each instance keeps a copy on its own disk to serve it.
    """

    __tablename__ = "media_asset"

    name: str = Field(primary_key=True, max_length=80)
    sha256: str = Field(max_length=64)
    mime: str = Field(max_length=60)
    size_bytes: int
    data: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    created_at: datetime = Field(
        default_factory=utc_now, sa_column=Column(DateTime(timezone=True), nullable=False)
    )
