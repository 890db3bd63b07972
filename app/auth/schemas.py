"""Request and response bodies of the account endpoints."""

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator

from app.sync.schemas import UtcDatetime

# Deliberately loose: one @, a dot in the domain, no spaces or control characters.
# Deliverability is not checked. The classes are spelt out instead of \s, which means
# different characters in Python, in pydantic's Rust regex and in JSON Schema's ECMA regex.
_PART = r"[^@ \x00-\x1f\x7f]+"
_BLANK = " \t\n\r\f\v"  # what normalise_email strips from both ends
_EMAIL = re.compile(rf"^{_PART}@{_PART}\.{_PART}$")
EMAIL_PATTERN = rf"^[ \t\n\r\f\v]*{_PART}@{_PART}\.{_PART}[ \t\n\r\f\v]*$"


MAX_EMAIL_LENGTH = 254  # the column's size


def normalise_email(value: str) -> str:
    value = value.strip(_BLANK).lower()
    if not _EMAIL.match(value):
        raise ValueError("not an email address")
    # Checked again after lower(), which lengthens some letters ("İ" is two characters).
    if len(value) > MAX_EMAIL_LENGTH:
        raise ValueError(f"at most {MAX_EMAIL_LENGTH} characters")
    return value


class Credentials(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # The pattern tells API clients what normalise_email accepts (it strips, then matches).
    email: str = Field(max_length=MAX_EMAIL_LENGTH, pattern=EMAIL_PATTERN)
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
