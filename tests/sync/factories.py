"""Valid rest records and mutations, with overrides; an account with a device in sync."""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import text

from tests.auth.helpers import Account, sign_up


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + \
        f"{moment.microsecond // 1000:03d}Z"


def make_rest(**overrides: Any) -> dict[str, Any]:
    started = datetime.now(UTC).replace(microsecond=123000) - timedelta(hours=2)
    rest = {
        "id": str(uuid.uuid4()),
        "routine_id": "classic",
        "title": "Classic constructive rest",
        "minutes": 15,
        "cue_density": "guided",
        "prep_s": 30,
        "version": "a" * 16,
        "started_at": iso(started),
        "ended_at": iso(started + timedelta(minutes=15, seconds=30)),
        "time_zone": "Europe/Paris",
        "planned_s": 930,
        "actual_s": 930,
        "completed": True,
        "before_rating": 6,
        "after_rating": 3,
        "note": "",
        "updated_at": iso(started + timedelta(minutes=16)),
    }
    rest.update(overrides)
    return rest


def put(seq: int, rest: dict[str, Any]) -> dict[str, Any]:
    return {"seq": seq, "op": "put", "id": rest["id"], "rest": rest}


def delete(seq: int, rest_id: str) -> dict[str, Any]:
    return {"seq": seq, "op": "delete", "id": rest_id}


def new_client_id() -> str:
    return str(uuid.uuid4())


def device_with_history(client: TestClient, rests: int = 1) -> tuple[Account, str, int]:
    """A new account whose new device pushed `rests` rests and pulled them: the account,
    the device's id and its cookie (the device is up to date)."""
    account = sign_up(client)
    phone = new_client_id()
    account.post("/api/sync/push", json={
        "client_id": phone, "mutations": [put(i + 1, make_rest()) for i in range(rests)]})
    cookie = account.get("/api/sync/pull", params={"client_id": phone}).json()["cookie"]
    return account, phone, cookie


def account_id(client: TestClient, account: Account) -> int:
    """The id of `account` in the app's database."""
    with client.app.state.engine.connect() as connection:  # type: ignore[attr-defined]
        return int(connection.scalar(text("SELECT id FROM user_account WHERE email = :email"),
                                     {"email": account.email}))
