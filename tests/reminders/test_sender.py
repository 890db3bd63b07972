"""Due reminders go out once, encrypted to the device, signed by this server."""

import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from app.config import Settings
from app.main import create_app
from app.models import Reminder
from app.reminders.sender import REMINDER
from app.sync.schemas import iso_utc
from tests.auth.helpers import CSRF
from tests.push_service import Browser, PushService, verify_vapid


def set_reminder(client: TestClient, browser: Browser) -> datetime:
    """A reminder at 21:00 every day, in Paris; when it is next due."""
    answer = client.put("/api/reminders", headers=CSRF, json={
        "subscription": browser.subscription(), "time": "21:00",
        "weekdays": [1, 2, 3, 4, 5, 6, 7], "time_zone": "Europe/Paris"})
    assert answer.status_code == 200, answer.text
    return datetime.fromisoformat(answer.json()["next_at"])


def send_due(client: TestClient, now: datetime) -> list[str]:
    sender = client.app.state.reminder_sender  # type: ignore[attr-defined]
    outcomes: list[str] = client.portal.call(sender.send_due, now)  # type: ignore[union-attr]
    return outcomes


def reminders(client: TestClient) -> list[Reminder]:
    with Session(client.app.state.engine) as db:  # type: ignore[attr-defined]
        return list(db.exec(select(Reminder)).all())


class TestSendDue:
    def test_the_device_gets_the_reminder_it_can_read(
        self, reminders_client: TestClient, subscribe: Callable[..., Browser],
        push_service: PushService
    ) -> None:
        browser = subscribe()
        due = set_reminder(reminders_client, browser)
        assert send_due(reminders_client, due - timedelta(seconds=1)) == []
        assert send_due(reminders_client, due + timedelta(seconds=5)) == ["sent"]
        (delivery,) = push_service.deliveries
        assert browser.endpoint.endswith(delivery.path)
        assert browser.decrypt(delivery.body) == REMINDER
        assert delivery.headers["Content-Encoding"] == "aes128gcm"
        assert int(delivery.headers["TTL"]) > 0
        key = reminders_client.get("/api/reminders/key").json()["public_key"]
        verify_vapid(delivery.headers["Authorization"], push_service.origin, key)

    def test_once_sent_it_waits_for_the_next_day(
        self, reminders_client: TestClient, subscribe: Callable[..., Browser],
        push_service: PushService
    ) -> None:
        due = set_reminder(reminders_client, subscribe())
        assert send_due(reminders_client, due) == ["sent"]
        assert send_due(reminders_client, due + timedelta(minutes=1)) == []
        (row,) = reminders(reminders_client)
        assert iso_utc(row.next_at) == iso_utc(due + timedelta(days=1))
        assert send_due(reminders_client, due + timedelta(days=1)) == ["sent"]
        assert len(push_service.deliveries) == 2

    def test_a_subscription_the_service_says_is_gone_is_forgotten(
        self, reminders_client: TestClient, subscribe: Callable[..., Browser]
    ) -> None:
        kept, gone = subscribe(), subscribe("/gone/")
        due = max(set_reminder(reminders_client, kept), set_reminder(reminders_client, gone))
        assert sorted(send_due(reminders_client, due)) == ["gone", "sent"]
        assert [row.endpoint for row in reminders(reminders_client)] == [kept.endpoint]

    def test_a_failed_send_is_not_repeated_until_the_next_time(
        self, reminders_client: TestClient, subscribe: Callable[..., Browser],
        push_service: PushService
    ) -> None:
        due = set_reminder(reminders_client, subscribe("/down/"))
        assert send_due(reminders_client, due) == ["failed"]
        assert send_due(reminders_client, due + timedelta(minutes=5)) == []
        assert len(reminders(reminders_client)) == 1 and len(push_service.deliveries) == 1

    def test_a_reminder_hours_late_is_skipped_not_sent(
        self, reminders_client: TestClient, subscribe: Callable[..., Browser],
        push_service: PushService
    ) -> None:
        # The server was down at 21:00 and is back at 02:00: no reminder in the night.
        due = set_reminder(reminders_client, subscribe())
        assert send_due(reminders_client, due + timedelta(hours=5)) == ["missed"]
        assert push_service.deliveries == []
        (row,) = reminders(reminders_client)
        assert iso_utc(row.next_at) == iso_utc(due + timedelta(days=1))

    def test_a_reminder_that_has_no_next_time_holds_up_no_other(
        self, reminders_client: TestClient, subscribe: Callable[..., Browser],
        push_service: PushService
    ) -> None:
        broken, fine = subscribe(), subscribe()
        due = max(set_reminder(reminders_client, broken), set_reminder(reminders_client, fine))
        with Session(reminders_client.app.state.engine) as db:  # type: ignore[attr-defined]
            row = db.exec(select(Reminder).where(Reminder.endpoint == broken.endpoint)).one()
            row.time_zone = "Atlantis/Capital"  # say, a zone a newer tz database dropped
            db.add(row)
            db.commit()
        assert send_due(reminders_client, due) == ["sent", "sent"]
        assert send_due(reminders_client, due + timedelta(minutes=1)) == []

    def test_the_secret_push_address_stays_out_of_the_logs(
        self, reminders_client: TestClient, subscribe: Callable[..., Browser],
        caplog: pytest.LogCaptureFixture
    ) -> None:
        browser = subscribe("/down/")
        due = set_reminder(reminders_client, browser)
        with caplog.at_level(logging.DEBUG, logger="app"):
            assert send_due(reminders_client, due) == ["failed"]
        secret = browser.endpoint.rsplit("/", 1)[1]
        assert "answered 500" in caplog.text and secret not in caplog.text

    def test_the_outcomes_are_counted(
        self, reminders_client: TestClient, subscribe: Callable[..., Browser]
    ) -> None:
        def sent_so_far() -> float:
            text = reminders_client.get("/metrics").text
            line = next((ln for ln in text.splitlines()
                         if ln.startswith('crg_push_sends_total{outcome="sent"}')), None)
            return float(line.split()[-1]) if line else 0.0

        before = sent_so_far()
        send_due(reminders_client, set_reminder(reminders_client, subscribe()))
        assert sent_so_far() == before + 1


def test_instances_that_look_at_once_send_each_reminder_once(
    make_app_settings: Callable[..., Settings], database_url: str | None,
    subscribe: Callable[..., Browser], push_service: PushService
) -> None:
    settings = make_app_settings(database_url)
    with TestClient(create_app(settings)) as one, TestClient(create_app(settings)) as two:
        due = max(set_reminder(one, subscribe()) for _ in range(30))
        now = due + timedelta(seconds=1)
        with ThreadPoolExecutor(max_workers=2) as pool:
            outcomes = list(pool.map(lambda client: send_due(client, now), (one, two)))
    assert sorted(outcomes[0] + outcomes[1]) == ["sent"] * 30
    assert len(push_service.deliveries) == 30
    assert len({delivery.path for delivery in push_service.deliveries}) == 30


def test_the_app_looks_for_due_reminders_by_itself(
    make_app_settings: Callable[..., Settings], subscribe: Callable[..., Browser],
    push_service: PushService
) -> None:
    settings = make_app_settings(reminders_enabled=True, reminder_check_s=0.05)
    with TestClient(create_app(settings)) as client:
        set_reminder(client, subscribe())
        with Session(client.app.state.engine) as db:  # type: ignore[attr-defined]
            row = db.exec(select(Reminder)).one()
            row.next_at = datetime.now(UTC) - timedelta(seconds=1)  # due now
            db.add(row)
            db.commit()
        deadline = datetime.now(UTC) + timedelta(seconds=10)
        while not push_service.deliveries and datetime.now(UTC) < deadline:
            time.sleep(0.05)  # the app's own loop runs on the test client's thread
    assert len(push_service.deliveries) == 1
