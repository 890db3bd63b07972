"""Reminders: saved and removed by devices, claimed when due by whichever instance looks.

The request is the transaction: these functions never commit.
"""

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import delete, update
from sqlmodel import Session, col, select

from app.auth.sessions import as_utc
from app.db import insert_unless_taken
from app.errors import NotFound
from app.models import Reminder
from app.reminders.errors import PushServiceNotAllowed
from app.reminders.schedule import iso_weekdays, next_reminder_at, weekdays_mask
from app.reminders.schemas import ReminderIn, ReminderPublic

log = logging.getLogger(__name__)

# A reminder more than this late (the server was down at the time) is skipped, not sent:
# "time to rest" at breakfast for last night's rest helps nobody.
LATE_LIMIT = timedelta(hours=1)


def endpoint_hash(endpoint: str) -> str:
    return hashlib.sha256(endpoint.encode()).hexdigest()


def is_allowed_endpoint(endpoint: str, services: list[str]) -> bool:
    """Whether `endpoint` is on one of the push services (origins; "*." for subdomains)."""
    target = urlsplit(endpoint)
    try:
        port = target.port
    except ValueError:  # "host:not-a-port"
        return False
    if target.username or target.password or not target.hostname:
        return False
    for service in services:
        allowed = urlsplit(service)
        host = allowed.hostname or ""
        if target.scheme != allowed.scheme or port != allowed.port:
            continue
        if target.hostname == host or (host.startswith("*.")
                                       and target.hostname.endswith(host[1:])):
            return True
    return False


def public(reminder: Reminder) -> ReminderPublic:
    return ReminderPublic(
        time=f"{reminder.minute_of_day // 60:02d}:{reminder.minute_of_day % 60:02d}",
        weekdays=iso_weekdays(reminder.weekdays), time_zone=reminder.time_zone,
        next_at=as_utc(reminder.next_at))


def _by_endpoint(db: Session, key: str) -> Reminder | None:
    return db.exec(select(Reminder).where(col(Reminder.endpoint_hash) == key)
                   .with_for_update()).one_or_none()


def save_reminder(db: Session, body: ReminderIn, push_services: list[str],
                  now: datetime) -> ReminderPublic:
    """Create or replace the reminder of this subscription."""
    endpoint = body.subscription.endpoint
    if not is_allowed_endpoint(endpoint, push_services):
        raise PushServiceNotAllowed(
            "This subscription's endpoint is not on a push service this server sends to.")
    hours, minutes = (int(part) for part in body.time.split(":"))
    minute_of_day, weekdays = hours * 60 + minutes, weekdays_mask(body.weekdays)
    values: dict[str, Any] = {
        "p256dh": body.subscription.keys.p256dh, "auth": body.subscription.keys.auth,
        "minute_of_day": minute_of_day, "weekdays": weekdays, "time_zone": body.time_zone,
        "next_at": next_reminder_at(now, minute_of_day, weekdays, body.time_zone),
        "updated_at": now,
    }
    key = endpoint_hash(endpoint)
    reminder = _by_endpoint(db, key)
    if reminder is None:
        new = Reminder(endpoint_hash=key, endpoint=endpoint, created_at=now, **values)
        reminder = db.scalar(insert_unless_taken(db, Reminder, "endpoint_hash")
                             .values(new.model_dump(exclude={"id"})).returning(Reminder))
        if reminder is not None:
            return public(reminder)
        # The same device saved twice at once: the other one won, and this save replaces it.
        reminder = _by_endpoint(db, key)
        assert reminder is not None
    for name, value in values.items():
        setattr(reminder, name, value)
    db.flush()
    return public(reminder)


def remove_reminder(db: Session, endpoint: str) -> None:
    removed = db.execute(delete(Reminder).where(
        col(Reminder.endpoint_hash) == endpoint_hash(endpoint)))
    if not removed.rowcount:  # type: ignore[attr-defined]
        raise NotFound("No reminder is set for this subscription.")


@dataclass(frozen=True)
class DueReminder:
    id: int
    endpoint: str
    p256dh: str
    auth: str
    late: bool  # past LATE_LIMIT: moved on to its next time, not sent


def claim_due(db: Session, now: datetime, limit: int) -> list[DueReminder]:
    """Due reminders, each moved on to its next time: claimed by this transaction only.

    The move is conditional on the time read, so when instances look at once, each due
    reminder goes to exactly one of them. On PostgreSQL the rows are also locked as they
    are read, skipping those another instance holds, in one order (most are due at the
    same minute), so two looks never wait on each other in a circle; SQLite has one
    writer at a time.
    """
    rows = db.exec(select(Reminder).where(col(Reminder.next_at) <= now)
                   .order_by(col(Reminder.next_at), col(Reminder.id)).limit(limit)
                   .with_for_update(skip_locked=True)).all()
    claimed = []
    for row in rows:
        assert row.id is not None
        late = as_utc(row.next_at) < now - LATE_LIMIT
        try:
            next_at = next_reminder_at(now, row.minute_of_day, row.weekdays, row.time_zone)
        except (ValueError, LookupError, OSError):
            # Say, a zone a newer tz database dropped: tried again tomorrow, and never
            # allowed to hold up every other reminder behind it.
            log.warning("reminders: reminder %s has no next time; retried tomorrow", row.id)
            next_at = now + timedelta(days=1)
        moved = db.execute(
            update(Reminder)
            .where(col(Reminder.id) == row.id, col(Reminder.next_at) == row.next_at)
            .values(next_at=next_at))
        if moved.rowcount:  # type: ignore[attr-defined]
            claimed.append(DueReminder(row.id, row.endpoint, row.p256dh, row.auth, late))
    return claimed


def forget(db: Session, reminder_ids: list[int]) -> None:
    """Drop reminders whose subscription the push service says is gone."""
    db.execute(delete(Reminder).where(col(Reminder.id).in_(reminder_ids)))
