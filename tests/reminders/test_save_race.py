"""Two first saves of one device's reminder at once: one reminder, the later save's."""

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
from sqlmodel import Session, select

from app.config import Settings
from app.db import make_engine
from app.migrate import upgrade_to_head
from app.models import Reminder
from app.reminders import service
from app.reminders.schemas import ReminderIn
from tests.push_service import Browser, PushService


def test_of_two_first_saves_racing_for_one_device_the_later_replaces_the_earlier(
        make_app_settings: Callable[..., Settings], subscribe: Callable[..., Browser],
        push_service: PushService, database_url: str | None,
        monkeypatch: pytest.MonkeyPatch) -> None:
    settings = make_app_settings(database_url)
    settings.data_dir.mkdir(parents=True)
    upgrade_to_head(settings.resolved_database_url)
    engine = make_engine(settings)
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
    try:
        with Session(engine) as first, Session(engine) as second:
            service.save_reminder(first, morning, [push_service.origin], now)
            with ThreadPoolExecutor(1) as pool:
                # The second waits for the first's insert to commit, then replaces it.
                racing = pool.submit(service.save_reminder, second, evening,
                                     [push_service.origin], now)
                time.sleep(0.3)
                assert not racing.done()
                first.commit()
                saved = racing.result(timeout=20)
            second.commit()
        assert saved.time == "21:30"
        with Session(engine) as check:
            kept = check.exec(select(Reminder)).all()
            assert [(r.endpoint, r.minute_of_day) for r in kept] == [
                (subscription["endpoint"], 21 * 60 + 30)]
    finally:
        engine.dispose()
