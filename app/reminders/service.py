"""Reminders: saved and removed by devices, claimed when due by whichever instance looks.

The request is the transaction: these functions never commit.
"""

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from sqlalchemy import delete, update
from sqlmodel import Session, col, select

from app.auth.sessions import as_utc
from app.errors import AppError, NotFound
from app.models import Reminder
from app.reminders.schedule import iso_weekdays, next_reminder_at, weekdays_mask
from app.reminders.schemas import ReminderIn, ReminderPublic

# A reminder more than this late (the server was down at the time) is skipped, not sent:
# "time to rest" at breakfast for last night's rest helps nobody.
LATE_LIMIT = timedelta(hours=1)


class PushServiceNotAllowed(AppError):
    code = "PUSH_SERVICE_NOT_ALLOWED"
    status_code = 422


def endpoint_hash(endpoint: str) -> str:
    return hashlib.sha256(endpoint.encode()).hexdigest()


def is_allowed_endpoint(endpoint: str, services: list[str]) -> bool:
    """Whether `endpoint` is on one of the push services (origins; "*." for subdomains)."""
    target = urlsplit(endpoint)
    if target.username or target.password or not target.hostname:
        return False
    for service in services:
        allowed = urlsplit(service)
        host = allowed.hostname or ""
        if target.scheme != allowed.scheme or target.port != allowed.port:
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


def save_reminder(db: Session, body: ReminderIn, push_services: list[str],
                  now: datetime) -> ReminderPublic:
    """Create or replace the reminder of this subscription."""
    endpoint = body.subscription.endpoint
    if not is_allowed_endpoint(endpoint, push_services):
        raise PushServiceNotAllowed(
            "This subscription's endpoint is not on a push service this server sends to.")
    hours, minutes = (int(part) for part in body.time.split(":"))
    minute_of_day, weekdays = hours * 60 + minutes, weekdays_mask(body.weekdays)
    key = endpoint_hash(endpoint)
    reminder = db.exec(select(Reminder).where(col(Reminder.endpoint_hash) == key)
                       .with_for_update()).one_or_none()
    if reminder is None:
        reminder = Reminder(endpoint_hash=key, endpoint=endpoint, created_at=now,
                            p256dh="", auth="", minute_of_day=0, weekdays=0, time_zone="",
                            next_at=now)
        db.add(reminder)
    reminder.p256dh = body.subscription.keys.p256dh
    reminder.auth = body.subscription.keys.auth
    reminder.minute_of_day, reminder.weekdays = minute_of_day, weekdays
    reminder.time_zone = body.time_zone
    reminder.next_at = next_reminder_at(now, minute_of_day, weekdays, body.time_zone)
    reminder.updated_at = now
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
    reminder goes to exactly one of them (on PostgreSQL the second waits for the first's
    row lock, then finds the time changed; SQLite has one writer at a time).
    """
    rows = db.exec(select(Reminder).where(col(Reminder.next_at) <= now)
                   .order_by(col(Reminder.next_at)).limit(limit)).all()
    claimed = []
    for row in rows:
        late = as_utc(row.next_at) < now - LATE_LIMIT
        moved = db.execute(
            update(Reminder)
            .where(col(Reminder.id) == row.id, col(Reminder.next_at) == row.next_at)
            .values(next_at=next_reminder_at(now, row.minute_of_day, row.weekdays,
                                             row.time_zone),
                    last_sent_at=now))
        if moved.rowcount:  # type: ignore[attr-defined]
            assert row.id is not None
            claimed.append(DueReminder(row.id, row.endpoint, row.p256dh, row.auth, late))
    return claimed


def forget(db: Session, reminder_ids: list[int]) -> None:
    """Drop reminders whose subscription the push service says is gone."""
    db.execute(delete(Reminder).where(col(Reminder.id).in_(reminder_ids)))
