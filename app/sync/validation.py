"""Value checks of one rest record. A failing record is rejected, never stored."""

import re
import zoneinfo
from datetime import UTC, datetime, timedelta
from functools import lru_cache

from app.sync.schemas import Mutation, PutMutation, RestIn

EARLIEST = datetime(2020, 1, 1, tzinfo=UTC)
FUTURE_SLACK = timedelta(days=1)
LONGEST_REST = timedelta(hours=6)
ACTUAL_SLACK_S = 300  # the player may run a little past plan (pauses, the closing bell)
CUE_DENSITIES = frozenset({"guided", "sparse", "bells"})
_ROUTINE_ID = re.compile(r"[a-z0-9][a-z0-9-]{0,39}")  # the whole value (fullmatch)
# Free text of a record, as stored. PostgreSQL's text cannot hold a NUL character.
_FREE_TEXT = ("title", "version", "note")


@lru_cache(maxsize=1024)  # bounded: names come from clients
def is_time_zone(name: str) -> bool:
    """An IANA name the tz database knows (system zoneinfo, else the tzdata package)."""
    if not name or len(name) > 64 or name.startswith(("/", ".")) or ".." in name:
        return False
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


def _in_window(name: str, moment: datetime, now: datetime) -> str | None:
    if moment.tzinfo is None:
        return f"{name}: needs a time zone offset (UTC)"
    if not EARLIEST <= moment <= now + FUTURE_SLACK:
        return f"{name}: outside {EARLIEST.date()} .. tomorrow"
    return None


def rest_problem(rest: RestIn, now: datetime) -> str | None:
    """The first thing wrong with this record, or None."""
    checks: list[tuple[bool, str]] = [
        (bool(_ROUTINE_ID.fullmatch(rest.routine_id)), "routine_id: not a routine id"),
        (len(rest.title) <= 120 and bool(rest.title.strip()), "title: 1-120 characters"),
        (1 <= rest.minutes <= 120, "minutes: 1-120"),
        (rest.cue_density in CUE_DENSITIES, "cue_density: guided, sparse or bells"),
        (0 <= rest.prep_s <= 600, "prep_s: 0-600"),
        (0 < len(rest.version) <= 64, "version: 1-64 characters"),
        (is_time_zone(rest.time_zone), "time_zone: not an IANA time zone"),
        (0 <= rest.planned_s <= 3 * 3600, "planned_s: 0-10800"),
        (0 <= rest.actual_s <= rest.planned_s + ACTUAL_SLACK_S,
         "actual_s: 0 .. planned_s + 300"),
        (rest.before_rating is None or 0 <= rest.before_rating <= 10, "before_rating: 0-10"),
        (rest.after_rating is None or 0 <= rest.after_rating <= 10, "after_rating: 0-10"),
        (len(rest.note) <= 2000, "note: at most 2000 characters"),
    ]
    for ok, problem in checks:
        if not ok:
            return problem
    for name in _FREE_TEXT:
        if "\x00" in getattr(rest, name):
            return f"{name}: contains a NUL character"
    for name in ("started_at", "ended_at", "updated_at"):
        outside = _in_window(name, getattr(rest, name), now)
        if outside:
            return outside
    if not rest.started_at <= rest.ended_at <= rest.started_at + LONGEST_REST:
        return "ended_at: between started_at and 6 hours after it"
    return None


def mutation_problem(mutation: Mutation, now: datetime) -> str | None:
    if not isinstance(mutation, PutMutation):
        return None
    if mutation.rest.id != mutation.id:
        return "rest.id: differs from the mutation's id"
    return rest_problem(mutation.rest, now)
