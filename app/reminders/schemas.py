"""A device's reminder as it sends it (with its push subscription) and as it gets it back."""

from typing import Annotated

from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from app.reminders.webpush import b64url_decode
from app.sync.schemas import UtcDatetime
from app.sync.validation import is_time_zone

BASE64URL = r"^[A-Za-z0-9_-]+={0,2}$"
# A URL of printable ASCII: push services make plain ones, and anything else (spaces,
# control characters) could only be sent by someone probing the server.
Endpoint = Annotated[str, Field(min_length=10, max_length=2048,
                                pattern=r"^https?://[\x21-\x7e]+$")]


def _p256_point(value: str) -> str:
    point = b64url_decode(value)
    try:
        # Uncompressed (65 bytes, 0x04 first): the form RFC 8291 encrypts to.
        if len(point) != 65 or point[0] != 4:
            raise ValueError
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    except ValueError:
        raise ValueError("p256dh is not an uncompressed P-256 public key") from None
    return value


def _auth_secret(value: str) -> str:
    if len(b64url_decode(value)) != 16:
        raise ValueError("auth is not a 16-byte secret")
    return value


def _time_zone(value: str) -> str:
    if not is_time_zone(value):
        raise ValueError("not an IANA time zone (such as Europe/Paris)")
    return value


def _weekdays(value: list[int]) -> list[int]:
    if len(set(value)) != len(value):
        raise ValueError("each weekday once")
    return sorted(value)


class PushKeys(BaseModel):
    model_config = ConfigDict(extra="forbid")

    p256dh: Annotated[str, Field(pattern=BASE64URL, max_length=100),
                      AfterValidator(_p256_point)]
    auth: Annotated[str, Field(pattern=BASE64URL, max_length=32),
                    AfterValidator(_auth_secret)]


class PushSubscriptionIn(BaseModel):
    """`PushSubscription.toJSON()`, as the browser gives it."""

    model_config = ConfigDict(extra="forbid")

    endpoint: Endpoint
    expirationTime: int | None = None  # noqa: N815  (the browser's own name)
    keys: PushKeys


Weekday = Annotated[int, Field(ge=1, le=7)]
LocalTime = Annotated[str, Field(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$",
                                 examples=["21:00"])]
TimeZone = Annotated[str, Field(max_length=64, examples=["Europe/Paris"]),
                     AfterValidator(_time_zone)]


class ReminderIn(BaseModel):
    """Remind this device at `time` (local, 24-hour) on `weekdays` (1 = Monday ... 7)."""

    model_config = ConfigDict(extra="forbid")

    subscription: PushSubscriptionIn
    time: LocalTime
    weekdays: Annotated[list[Weekday], Field(min_length=1, max_length=7),
                        AfterValidator(_weekdays)]
    time_zone: TimeZone


class ReminderPublic(BaseModel):
    time: LocalTime
    weekdays: list[Weekday]
    time_zone: str
    next_at: UtcDatetime


class ReminderRemoval(BaseModel):
    model_config = ConfigDict(extra="forbid")

    endpoint: Endpoint


class PushKey(BaseModel):
    """The `applicationServerKey` a browser subscribes with."""

    public_key: str
