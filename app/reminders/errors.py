"""The reminder errors a client can act on."""

from app.errors import AppError


class PushServiceNotAllowed(AppError):
    code = "PUSH_SERVICE_NOT_ALLOWED"
    status_code = 422
