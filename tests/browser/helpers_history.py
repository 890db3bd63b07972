"""Shared steps of the history and account browser tests: make rests, read the device's store."""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from playwright.sync_api import Page

from tests.browser.helpers_pwa import wait_until


def iso(moment: datetime) -> str:
    """The format of JavaScript's Date.toISOString()."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def make_rest(
    started: datetime,
    actual_s: int,
    *,
    time_zone: str = "UTC",
    minutes: int = 15,
    completed: bool = True,
    before: int | None = None,
    after: int | None = None,
    note: str = "",
    title: str = "Classic constructive rest",
) -> dict[str, Any]:
    ended = started + timedelta(seconds=actual_s)
    return {
        "id": str(uuid.uuid4()),
        "routine_id": "classic",
        "title": title,
        "minutes": minutes,
        "cue_density": "guided",
        "prep_s": 30,
        "version": "v1-test",
        "started_at": iso(started),
        "ended_at": iso(ended),
        "time_zone": time_zone,
        "planned_s": minutes * 60 + 30,
        "actual_s": actual_s,
        "completed": completed,
        "before_rating": before,
        "after_rating": after,
        "note": note,
        "updated_at": iso(started),
    }


def save_rests(page: Page, rests: list[dict[str, Any]]) -> None:
    """Record rests the way the app does: rests.js saveRest (rest + outbox mutation)."""
    page.evaluate(
        """async (rests) => {
          const { saveRest } = await import('/js/rests.js');
          for (const rest of rests) await saveRest(rest);
        }""",
        rests,
    )


def stored_rests(page: Page) -> list[dict[str, Any]]:
    rests: list[dict[str, Any]] = page.evaluate(
        "import('/js/store.js').then((store) => store.all('rests'))"
    )
    return rests


def live_rests(page: Page) -> list[dict[str, Any]]:
    """What the device holds, tombstones left out."""
    return [rest for rest in stored_rests(page) if not rest.get("deleted")]


def outbox(page: Page) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = page.evaluate(
        "import('/js/store.js').then((store) => store.all('outbox'))"
    )
    return entries


def wait_outbox_empty(page: Page, timeout_ms: int = 30_000) -> None:
    wait_until(
        page,
        "() => import('/js/store.js').then(async (s) => (await s.all('outbox')).length === 0)",
        timeout_ms,
    )


def now_utc() -> datetime:
    return datetime.now(UTC)


def earlier_today(seconds_ago: int) -> datetime:
    """A start time that is past and still today in this machine's (and browser's) zone."""
    now = datetime.now().astimezone()
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return max(now - timedelta(seconds=seconds_ago), midnight + timedelta(seconds=1))
