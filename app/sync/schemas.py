"""The rest record as devices send it, and the push/pull bodies.

Two layers of checking, on purpose: the *shape* (types, known fields, sizes) is checked
here and a malformed batch is refused whole with 422; the *values* of a rest (ranges,
dates, time zone) are checked per mutation in `validation.py`, so one bad record is
rejected-and-acknowledged instead of blocking its device's queue forever.
"""

from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
)

UUID_PATTERN = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
RestId = Annotated[str, Field(pattern=UUID_PATTERN, description="lower-case UUID")]
# The hard ceiling of the schema; the configured limit (SYNC_MAX_MUTATIONS) is lower.
SCHEMA_MAX_MUTATIONS = 5000


def iso_utc(moment: datetime) -> str:
    """The format of JavaScript's Date.toISOString(), so records round-trip unchanged."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.isoformat(timespec="milliseconds") + "Z"


def _to_utc(moment: datetime) -> datetime:
    # Offsets other than Z are accepted and stored as UTC; naive times fail the value checks.
    # Milliseconds, as a device's clock gives them: a pull formats the stored time in SQL.
    # (A device's clock is in milliseconds already: no copy then, as a push has thousands.)
    if moment.microsecond % 1000:
        moment = moment.replace(microsecond=moment.microsecond // 1000 * 1000)
    if moment.tzinfo is None:
        return moment
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        # Past year 9999 or before year 1 in UTC: kept as sent, for the value checks to
        # reject (it lies far outside the accepted dates), not a crash of the whole push.
        return moment


def _iso_text(value: object) -> object:
    # Strict JSON types: a date-time arrives as an ISO 8601 string, never as a number.
    if not isinstance(value, str | datetime):
        raise ValueError("a date-time is an ISO 8601 string")
    return value


UtcDatetime = Annotated[datetime, AfterValidator(_to_utc),
                        PlainSerializer(iso_utc, return_type=str)]
UtcDatetimeIn = Annotated[datetime, BeforeValidator(_iso_text), Field(strict=False),
                          AfterValidator(_to_utc), PlainSerializer(iso_utc, return_type=str)]


class RestFields(BaseModel):
    """Every field of a rest record (the device's IndexedDB shape)."""

    routine_id: str = Field(max_length=200)
    title: str = Field(max_length=1000)
    minutes: int
    cue_density: str = Field(max_length=100)
    prep_s: int
    version: str = Field(max_length=200)
    started_at: UtcDatetime
    ended_at: UtcDatetime
    time_zone: str = Field(max_length=200)
    planned_s: int
    actual_s: int
    completed: bool
    before_rating: int | None = None
    after_rating: int | None = None
    note: str = Field(default="", max_length=20_000)
    updated_at: UtcDatetime


class RestIn(RestFields):
    """What a device sends: strict JSON types ("15" is not 15), no unknown fields."""

    model_config = ConfigDict(extra="forbid", strict=True)

    id: RestId
    started_at: UtcDatetimeIn
    ended_at: UtcDatetimeIn
    updated_at: UtcDatetimeIn


class RestOut(RestFields):
    id: str


class PutMutation(BaseModel):
    """Create or replace a rest: carries the whole record."""

    model_config = ConfigDict(extra="forbid", strict=True)

    seq: int = Field(ge=1, le=2**53, description="per device, +1 each change")
    op: Literal["put"]
    id: RestId
    rest: RestIn


class DeleteMutation(BaseModel):
    """Delete a rest: leaves a tombstone that wins over every later edit."""

    model_config = ConfigDict(extra="forbid", strict=True)

    seq: int = Field(ge=1, le=2**53, description="per device, +1 each change")
    op: Literal["delete"]
    id: RestId


# One numbered change of one device, tagged by `op`.
Mutation = Annotated[PutMutation | DeleteMutation, Field(discriminator="op")]


class PushRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    client_id: RestId
    mutations: list[Mutation] = Field(max_length=SCHEMA_MAX_MUTATIONS)


MutationStatus = Literal["applied", "duplicate", "rejected", "superseded", "not_applied"]


class MutationResult(BaseModel):
    seq: int
    status: MutationStatus
    error: str | None = None
    detail: str | None = None


class PushResponse(BaseModel):
    last_applied_seq: int = Field(description="every mutation up to this number is settled")
    sync_version: int
    results: list[MutationResult]


class Change(BaseModel):
    id: str
    deleted: bool
    sync_version: int
    rest: RestOut | None


class PullResponse(BaseModel):
    changes: list[Change]
    cookie: int = Field(description="send it back as `since` next time")
    has_more: bool
    last_applied_seq: int
    reset: bool = Field(description="true: `since` was too old; this is a full snapshot")
