"""Request and response bodies of the account endpoints."""

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator

from app.sync.schemas import UtcDatetime

# Deliberately loose: one @, a dot in the domain, no spaces. Deliverability is not checked.
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def normalise_email(value: str) -> str:
    value = value.strip().lower()
    if not _EMAIL.match(value):
        raise ValueError("not an email address")
    return value


class Credentials(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # The pattern tells API clients what normalise_email accepts (it strips, then matches).
    email: str = Field(max_length=254, pattern=r"^\s*[^@\s]+@[^@\s]+\.[^@\s]+\s*$")
    # 8 is the floor people accept; the ceiling bounds hashing work per request.
    password: str = Field(min_length=8, max_length=256)

    _email = field_validator("email")(normalise_email)


class SignInCredentials(Credentials):
    # Old accounts may predate a stricter floor: sign-in checks only the ceiling.
    password: str = Field(min_length=1, max_length=256)


class PasswordConfirmation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    password: str = Field(min_length=1, max_length=256)


class UserPublic(BaseModel):
    email: str
    created_at: UtcDatetime


class AccountErased(BaseModel):
    erased: bool
    detail: str
    rests: int
    devices: int
    sessions: int
