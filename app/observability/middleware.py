"""Per request: a request id (echoed as X-Request-ID), one access log line, the metrics.

Pure ASGI: it only looks at `http.response.start` and the end of the body, so streamed and
Range (206) responses pass through byte for byte.
"""

import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.observability.logging import (
    accept_or_make_request_id,
    access_log,
    log_access,
    request_id_var,
)
from app.observability.metrics import UNMATCHED_ROUTE, observe_request

REQUEST_ID_HEADER = b"x-request-id"
_ID_LENGTH = len(REQUEST_ID_HEADER)
# Probes hit these every few seconds; a success there is logged at DEBUG only.
PROBE_ROUTES = frozenset({"/api/health", "/api/ready", "/metrics"})
# Set in the scope by what answers a request with the very answer its client was given
# last time (a poll with nothing new, asked again): like a probe's, its line is at DEBUG,
# as it tells nothing the first answer's line did not. The metrics count it all the same.
REPEATED_ANSWER = "crg.repeated_answer"


def route_template(scope: Scope) -> str:
    """The matched route's path template; one fixed label for paths that match none."""
    route = scope.get("route")
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    return template if isinstance(template, str) and template else UNMATCHED_ROUTE


def _level(status: int, route: str, repeated: bool) -> int:
    if status >= 500:
        return logging.ERROR
    if status in (401, 403, 429):
        return logging.WARNING  # denials: refused sign-ins, missing sessions, CSRF, throttling
    if (repeated or route in PROBE_ROUTES) and status < 400:
        return logging.DEBUG
    return logging.INFO


class RequestObservability:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sent_id = None
        for name, value in scope["headers"]:
            if name == REQUEST_ID_HEADER:
                sent_id = value.decode("latin-1")
                break
        request_id = accept_or_make_request_id(sent_id)
        id_header = (REQUEST_ID_HEADER, request_id.encode())
        # Each request runs in its own task with its own copy of the context, so this does
        # not leak into other requests; the 500 handler (app.errors) logs under it.
        request_id_var.set(request_id)
        status = 500
        started = time.perf_counter()

        async def send_observed(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                # Ours replaces any other, however its name is spelt (the length first:
                # it spares most names their lower()).
                headers = [(k, v) for k, v in message.get("headers", ())
                           if len(k) != _ID_LENGTH or k.lower() != REQUEST_ID_HEADER]
                headers.append(id_header)
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_observed)
        finally:
            duration_s = time.perf_counter() - started
            route = route_template(scope)
            observe_request(scope["method"], route, status, duration_s)
            level = _level(status, route, REPEATED_ANSWER in scope)
            if access_log.isEnabledFor(level):
                client = scope.get("client")
                log_access(level, scope["method"], route, scope["path"], status, duration_s,
                           client[0] if client else None)
