"""A device's daily reminder: its Web Push subscription and when to send."""

from datetime import datetime

from sqlalchemy import Column, DateTime
from sqlmodel import Field, SQLModel

from app.models.media import utc_now


class Reminder(SQLModel, table=True):
    """One browser's push subscription and its schedule, in its own time zone.

    Bound to the device, not to an account: reminders work without one. Knowing the
    subscription's endpoint (a secret URL the browser's push service made) is what lets a
    device change or remove its reminder.
    """

    __tablename__ = "reminder"

    id: int | None = Field(default=None, primary_key=True)
    # SHA-256 of the endpoint: the lookup key (endpoints run to hundreds of characters).
    endpoint_hash: str = Field(max_length=64, unique=True)
    endpoint: str = Field(max_length=2048)
    p256dh: str = Field(max_length=100)  # the subscription's public key (base64url)
    auth: str = Field(max_length=32)  # its authentication secret (base64url)
    minute_of_day: int  # local time, 0..1439
    weekdays: int  # bit 0 = Monday ... bit 6 = Sunday
    time_zone: str = Field(max_length=64)
    next_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False,
                                               index=True))
    created_at: datetime = Field(
        default_factory=utc_now, sa_column=Column(DateTime(timezone=True), nullable=False)
    )
    updated_at: datetime = Field(
        default_factory=utc_now, sa_column=Column(DateTime(timezone=True), nullable=False)
    )
