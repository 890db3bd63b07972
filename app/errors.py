"""One error envelope for every failure: {"error": "UPPER_SNAKE_CODE", "detail": "..."}."""

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import DBAPIError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger(__name__)

_HTTP_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHENTICATED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    406: "NOT_ACCEPTABLE",
    409: "CONFLICT",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    416: "RANGE_NOT_SATISFIABLE",
    429: "RATE_LIMITED",
    503: "SERVICE_UNAVAILABLE",
}


class ErrorOut(BaseModel):
    """The body of every error answer; some codes add fields (e.g. `fields`, `retry_after_s`)."""

    model_config = ConfigDict(extra="allow")

    error: str = Field(pattern=r"^[A-Z][A-Z0-9_]*$", examples=["NOT_FOUND"])
    detail: str


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route or router: these statuses answer with the error envelope."""
    return {status: {"model": ErrorOut, "description": _HTTP_CODES.get(status, "Error")}
            for status in statuses}


class AppError(Exception):
    """A failure the client can act on; subclasses fix the code and the status."""

    code = "BAD_REQUEST"
    status_code = 400

    def __init__(self, detail: str, *, headers: dict[str, str] | None = None, **extra: Any):
        super().__init__(detail)
        self.detail = detail
        self.headers = headers
        self.extra = extra


class NotFound(AppError):
    code = "NOT_FOUND"
    status_code = 404


class InvalidOptions(AppError):
    code = "VALIDATION_ERROR"
    status_code = 422


def error_response(
    status_code: int, code: str, detail: str, headers: dict[str, str] | None = None, **extra: Any
) -> JSONResponse:
    body = {"error": code, "detail": detail, **extra}
    return JSONResponse(jsonable_encoder(body), status_code=status_code, headers=headers)


def _describe(error: dict[str, Any]) -> str:
    where = ".".join(str(part) for part in error.get("loc", ()) if part != "body")
    return f"{where}: {error.get('msg', 'invalid')}" if where else str(error.get("msg"))


async def _app_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)
    return error_response(exc.status_code, exc.code, exc.detail, exc.headers, **exc.extra)


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"loc": list(e.get("loc", ())), "msg": e.get("msg"), "type": e.get("type")}
        for e in exc.errors()
    ]
    detail = "; ".join(_describe(e) for e in errors) or "invalid request"
    return error_response(422, "VALIDATION_ERROR", detail, fields=errors)


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def _allowed_methods(request: Request) -> str:
    """Every method the path answers: Starlette's 405 names only those of the first route
    that matched the path, and one path may have a route per method."""
    return ", ".join(method for method in _METHODS if any(
        route.matches({**request.scope, "method": method})[0] is Match.FULL
        for route in request.app.routes))


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, "HTTP_ERROR")
    detail = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ").lower()
    headers = dict(exc.headers) if exc.headers else None
    if exc.status_code == 405 and headers and "Allow" in headers:
        headers["Allow"] = _allowed_methods(request) or headers["Allow"]
    return error_response(exc.status_code, code, detail, headers)


async def _unexpected_error(_request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error", exc_info=exc)
    return error_response(500, "INTERNAL_ERROR", "Something went wrong on our side.")


class UnexpectedErrorAnswers:
    """Answers a bug with the 500 envelope, logged once with its traceback and request id.

    Installed inside the security headers and the request middleware, so that the 500
    carries both, as every answer does (FastAPI's own last-resort handler sits outside
    the other middleware, and app.main.RestGuideApp answers for those in front).
    Nothing is raised on to the server: the answer is complete, and the client's
    kept-alive connection stays usable. An error after the answer has started
    can only go on up. (FastAPI's exception telemetry, outside, no longer sees these
    errors: the app turns it off.)
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_noting_start(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, send_noting_start)
        except Exception as exc:
            if started:
                raise
            await answer_bug(scope, receive, send, exc)


async def answer_bug(scope: Scope, receive: Receive, send: Send, exc: Exception) -> None:
    """Log a bug and answer it with the 500 envelope (for middleware: the handlers answer
    the routes' bugs)."""
    answer = await _unexpected_error(Request(scope), exc)
    await answer(scope, receive, send)


async def _database_error(request: Request, exc: Exception) -> JSONResponse:
    """A lost or refused database connection is a 503 the client can retry, not a crash.

    Answered here rather than by the catch-all, whose 500 says the fault is ours.
    """
    assert isinstance(exc, DBAPIError)
    if not (exc.connection_invalidated or isinstance(exc, OperationalError)):
        return await _unexpected_error(request, exc)
    log.warning("database unavailable: %s", type(exc.orig).__name__)
    return error_response(503, "DATABASE_UNAVAILABLE", "The database does not answer; retry soon.")


async def error_answer(request: Request, exc: AppError | DBAPIError) -> JSONResponse:
    """What the handlers below answer for this error: for middleware that meets one
    before any route does (DirectPull, DirectPush), so that it answers as the route would."""
    if isinstance(exc, AppError):
        return await _app_error(request, exc)
    return await _database_error(request, exc)


_ERROR_REF = {"$ref": "#/components/schemas/ErrorOut"}
_WRITE_METHODS = frozenset({"post", "put", "patch", "delete"})
# Answered by middleware before any route runs, so no route can declare them itself.
_MIDDLEWARE_ERRORS = {
    "403": "CSRF_REJECTED: the X-Requested-With header is missing or the origin is foreign",
    "413": "PAYLOAD_TOO_LARGE: the body is over the limit",
}


def _error_response_doc(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ERROR_REF}}}


def _document_errors(app: FastAPI) -> None:
    """Make the OpenAPI schema say what the handlers above really send.

    FastAPI documents 422 with its own list-of-errors body; ours is the envelope. A body
    that cannot be decoded at all is a 400. The CSRF and body-limit middleware refuse writes
    to the API before any route runs.
    """
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = build()
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components.setdefault(
            "ErrorOut", ErrorOut.model_json_schema(ref_template="#/components/schemas/{model}")
        )
        for path, operations in schema.get("paths", {}).items():
            for method, operation in operations.items():
                responses = operation.setdefault("responses", {})
                if "422" in responses:
                    responses["422"] = _error_response_doc("VALIDATION_ERROR: invalid input")
                if "requestBody" in operation:
                    responses.setdefault("400", _error_response_doc("BAD_REQUEST: unreadable body"))
                if path.startswith("/api/") and method in _WRITE_METHODS:
                    for status, description in _MIDDLEWARE_ERRORS.items():
                        responses.setdefault(status, _error_response_doc(description))
        for unused in ("HTTPValidationError", "ValidationError"):
            components.pop(unused, None)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def install_error_handlers(app: FastAPI) -> None:
    """Every failure answers with the envelope, and the OpenAPI schema documents it."""
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(DBAPIError, _database_error)
    app.add_exception_handler(Exception, _unexpected_error)
    _document_errors(app)
