"""The account errors a client can act on."""

from app.errors import AppError


class NotSignedIn(AppError):
    code = "UNAUTHENTICATED"
    status_code = 401


class BadCredentials(AppError):
    code = "INVALID_CREDENTIALS"
    status_code = 401


class EmailTaken(AppError):
    code = "EMAIL_TAKEN"
    status_code = 409


class WrongPassword(AppError):
    code = "WRONG_PASSWORD"
    status_code = 403


class RateLimited(AppError):
    code = "RATE_LIMITED"
    status_code = 429
