"""Setting, changing and turning off a device's reminder; the server's push key."""

import sqlite3
from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi.testclient import TestClient
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, select

from app.config import Settings
from app.main import create_app
from app.models import Reminder
from app.reminders.webpush import b64url_decode
from tests.auth.helpers import CSRF
from tests.push_service import Browser, PushService


def reminder(browser: Browser, **overrides: object) -> dict[str, object]:
    return {"subscription": browser.subscription(), "time": "21:30", "weekdays": [1, 3, 5],
            "time_zone": "Europe/Paris", **overrides}


def stored(client: TestClient) -> list[Reminder]:
    with Session(client.app.state.engine) as db:  # type: ignore[attr-defined]
        return list(db.exec(select(Reminder)).all())


class TestPushKey:
    def test_is_a_p256_key_kept_across_restarts(
        self, make_app_settings: Callable[..., Settings]
    ) -> None:
        with TestClient(create_app(make_app_settings())) as client:
            first = client.get("/api/reminders/key").json()["public_key"]
        with TestClient(create_app(make_app_settings())) as client:
            assert client.get("/api/reminders/key").json()["public_key"] == first
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b64url_decode(first))


class TestSaveReminder:
    def test_saves_the_time_in_the_device_zone(
        self, reminders_client: TestClient, subscribe: Callable[..., Browser]
    ) -> None:
        answer = reminders_client.put("/api/reminders", headers=CSRF,
                                      json=reminder(subscribe()))
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert (body["time"], body["weekdays"], body["time_zone"]) == \
            ("21:30", [1, 3, 5], "Europe/Paris")
        next_at = datetime.fromisoformat(body["next_at"])
        local = next_at.astimezone(ZoneInfo("Europe/Paris"))
        assert (local.hour, local.minute, local.isoweekday() in (1, 3, 5)) == (21, 30, True)

    def test_saving_again_changes_the_one_reminder(
        self, reminders_client: TestClient, subscribe: Callable[..., Browser]
    ) -> None:
        browser = subscribe()
        reminders_client.put("/api/reminders", headers=CSRF, json=reminder(browser))
        again = reminders_client.put("/api/reminders", headers=CSRF,
                                     json=reminder(browser, time="07:05", weekdays=[7]))
        assert again.status_code == 200
        (row,) = stored(reminders_client)
        assert (row.minute_of_day, row.weekdays) == (7 * 60 + 5, 0b1000000)

    @pytest.mark.parametrize(("change", "where"), [
        ({"time": "24:00"}, "time"),
        ({"time": "9:30"}, "time"),
        ({"weekdays": []}, "weekdays"),
        ({"weekdays": [0]}, "weekdays"),
        ({"weekdays": [1, 1]}, "weekdays"),
        ({"time_zone": "Mars/Olympus_Mons"}, "time_zone"),
        ({"time_zone": "../../etc/passwd"}, "time_zone"),
        ({"time_zone": "America"}, "time_zone"),  # a folder of the tz database, not a zone
        ({"repeat": "hourly"}, "repeat"),
    ])
    def test_a_bad_schedule_is_refused_and_nothing_stored(
        self, reminders_client: TestClient, subscribe: Callable[..., Browser],
        change: dict[str, object], where: str
    ) -> None:
        answer = reminders_client.put("/api/reminders", headers=CSRF,
                                      json=reminder(subscribe(), **change))
        assert answer.status_code == 422
        assert answer.json()["error"] == "VALIDATION_ERROR" and where in answer.text
        assert stored(reminders_client) == []

    @pytest.mark.parametrize("path", ["/push/with space", "/push/tab\t", "/push/nul\u0000"])
    def test_an_endpoint_with_characters_no_push_service_uses_is_refused(
        self, reminders_client: TestClient, push_service: PushService,
        subscribe: Callable[..., Browser], path: str
    ) -> None:
        body = reminder(subscribe())
        body["subscription"]["endpoint"] = push_service.origin + path  # type: ignore[index]
        answer = reminders_client.put("/api/reminders", headers=CSRF, json=body)
        assert answer.status_code == 422 and stored(reminders_client) == []

    @pytest.mark.parametrize("keys", [
        {"p256dh": "bm90IGEga2V5", "auth": "AAAAAAAAAAAAAAAAAAAAAA"},
        {"p256dh": "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcx"
                   "aOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4", "auth": "c2hvcnQ"},
        {"p256dh": "not base64!", "auth": "AAAAAAAAAAAAAAAAAAAAAA"},
        # The compressed form of a valid key: RFC 8291 encrypts to the uncompressed one.
        {"p256dh": "AiVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcx",
         "auth": "AAAAAAAAAAAAAAAAAAAAAA"},
    ])
    def test_keys_that_cannot_encrypt_are_refused(
        self, reminders_client: TestClient, subscribe: Callable[..., Browser],
        keys: dict[str, str]
    ) -> None:
        body = reminder(subscribe())
        body["subscription"]["keys"] = keys  # type: ignore[index]
        answer = reminders_client.put("/api/reminders", headers=CSRF, json=body)
        assert answer.status_code == 422 and stored(reminders_client) == []

    @pytest.mark.parametrize("endpoint", [
        "https://attacker.example/push/1",
        "http://169.254.169.254/latest/meta-data",
        "https://fcm.googleapis.com.attacker.example/x",
        "http://user:pw@{host}/push/x",
        "http://{host}.attacker.example/push/x",
    ])
    def test_an_endpoint_off_the_push_services_is_refused(
        self, reminders_client: TestClient, subscribe: Callable[..., Browser],
        push_service: PushService, endpoint: str
    ) -> None:
        body = reminder(subscribe())
        host = push_service.origin.removeprefix("http://")
        body["subscription"]["endpoint"] = endpoint.format(host=host)  # type: ignore[index]
        answer = reminders_client.put("/api/reminders", headers=CSRF, json=body)
        assert answer.status_code == 422
        assert answer.json()["error"] == "PUSH_SERVICE_NOT_ALLOWED"
        assert stored(reminders_client) == []

    def test_a_cross_site_request_is_refused(
        self, reminders_client: TestClient, subscribe: Callable[..., Browser]
    ) -> None:
        answer = reminders_client.put("/api/reminders", json=reminder(subscribe()))
        assert answer.status_code == 403 and stored(reminders_client) == []

    def test_saves_past_the_hourly_budget_are_refused(
        self, make_app_settings: Callable[..., Settings], subscribe: Callable[..., Browser]
    ) -> None:
        with TestClient(create_app(make_app_settings(reminder_saves_per_hour=2))) as client:
            for _ in range(2):
                ok = client.put("/api/reminders", headers=CSRF, json=reminder(subscribe()))
                assert ok.status_code == 200
            refused = client.put("/api/reminders", headers=CSRF, json=reminder(subscribe()))
            assert refused.status_code == 429
            assert 1 <= int(refused.headers["Retry-After"]) <= 3600
            assert len(stored(client)) == 2

    def test_a_refused_save_spends_nothing(
        self, make_app_settings: Callable[..., Settings], subscribe: Callable[..., Browser]
    ) -> None:
        # A typo, or a push service we do not send to: nothing saved, nothing spent.
        with TestClient(create_app(make_app_settings(reminder_saves_per_hour=1))) as client:
            malformed = client.put("/api/reminders", headers=CSRF,
                                   json={**reminder(subscribe()), "time": "25:99"})
            assert malformed.status_code == 422
            elsewhere = reminder(subscribe())
            elsewhere["subscription"]["endpoint"] = "https://push.example.net/x"  # type: ignore[index]
            refused = client.put("/api/reminders", headers=CSRF, json=elsewhere)
            assert refused.json()["error"] == "PUSH_SERVICE_NOT_ALLOWED"
            saved = client.put("/api/reminders", headers=CSRF, json=reminder(subscribe()))
            assert saved.status_code == 200, saved.text
            assert len(stored(client)) == 1

    def test_a_change_whose_commit_fails_spends_nothing(
        self, make_app_settings: Callable[..., Settings], subscribe: Callable[..., Browser],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        commit = Session.commit
        failures = [OperationalError("COMMIT", None, sqlite3.OperationalError("disk I/O error"))]

        def failing_once(session: Session) -> None:
            if failures:
                raise failures.pop()
            commit(session)

        browser = subscribe()
        with TestClient(create_app(make_app_settings(reminder_saves_per_hour=2))) as client:
            first = client.put("/api/reminders", headers=CSRF, json=reminder(browser))
            assert first.status_code == 200, first.text
            monkeypatch.setattr(Session, "commit", failing_once)
            lost = client.put("/api/reminders", headers=CSRF,
                              json=reminder(browser, time="06:30"))
            assert lost.status_code == 503
            assert [row.minute_of_day for row in stored(client)] == [21 * 60 + 30]
            saved = client.put("/api/reminders", headers=CSRF,
                               json=reminder(browser, time="06:30"))
            assert saved.status_code == 200, saved.text  # the failed change cost nothing
            assert [row.minute_of_day for row in stored(client)] == [6 * 60 + 30]


class TestRemoveReminder:
    def test_turns_the_reminder_off(
        self, reminders_client: TestClient, subscribe: Callable[..., Browser]
    ) -> None:
        browser, other = subscribe(), subscribe()
        for device in (browser, other):
            reminders_client.put("/api/reminders", headers=CSRF, json=reminder(device))
        answer = reminders_client.request("DELETE", "/api/reminders", headers=CSRF,
                                          json={"endpoint": browser.endpoint})
        assert answer.status_code == 204
        assert [row.endpoint for row in stored(reminders_client)] == [other.endpoint]

    def test_an_unknown_subscription_is_not_found(
        self, reminders_client: TestClient, subscribe: Callable[..., Browser]
    ) -> None:
        answer = reminders_client.request("DELETE", "/api/reminders", headers=CSRF,
                                          json={"endpoint": subscribe().endpoint})
        assert answer.status_code == 404 and answer.json()["error"] == "NOT_FOUND"
