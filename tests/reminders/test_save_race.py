"""Two first saves of one device's reminder at once: one reminder, the later save's."""

from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from sqlmodel import Session, select

from app.config import Settings
from app.models import Reminder
from app.reminders import service
from app.reminders.schemas import ReminderIn
from tests.push_service import Browser, PushService
from tests.race import migrated_engine, second_after_first


def test_of_two_first_saves_racing_for_one_device_the_later_replaces_the_earlier(
        make_app_settings: Callable[..., Settings], subscribe: Callable[..., Browser],
        push_service: PushService, database_url: str | None,
        monkeypatch: pytest.MonkeyPatch) -> None:
    subscription = subscribe().subscription()
    morning, evening = (ReminderIn.model_validate({
        "subscription": subscription, "time": at, "weekdays": [1, 2, 3, 4, 5],
        "time_zone": "Europe/Paris"}) for at in ("07:00", "21:30"))
    # Both look before either has inserted, and find no reminder: each goes on to insert.
    first_looks: set[int] = set()
    look = service._by_endpoint

    def first_look_finds_none(db: Session, key: str) -> Reminder | None:
        if id(db) not in first_looks:
            first_looks.add(id(db))
            return None
        return look(db, key)

    monkeypatch.setattr(service, "_by_endpoint", first_look_finds_none)
    now = datetime.now(UTC)
    services = [push_service.origin]
    with migrated_engine(make_app_settings(database_url)) as engine:
        # The second waits for the first's insert to commit, then replaces it.
        saved = second_after_first(
            engine, lambda db: service.save_reminder(db, morning, services, now),
            lambda db: service.save_reminder(db, evening, services, now))
        assert saved.time == "21:30"
        with Session(engine) as check:
            kept = check.exec(select(Reminder)).all()
            assert [(r.endpoint, r.minute_of_day) for r in kept] == [
                (subscription["endpoint"], 21 * 60 + 30)]
