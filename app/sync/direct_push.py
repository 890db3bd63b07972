"""Answers a device's push without routing it through FastAPI.

The push's twin of DirectPull (direct_pull.py): FastAPI's routing, dependency solving,
JSON decoding and response validation cost about as much as the push's own SQL. This
middleware, innermost (every outer middleware's checks apply first: the body limit, the
CSRF header, security headers, logs and metrics), answers `POST /api/sync/push` with the
route's own function, `push_answer`, after the route's own model has validated the body.

It takes only what it can read at a glance: a JSON body that the model accepts, and a
sign-in cookie. Anything else, and any push whose answer is not a plain 200 (no session,
too many mutations, a database error), goes on to the route with the same body, and the
route validates, refuses and reports as it always does. A push that failed here changed
nothing (its transaction rolled back), so the route's second try is safe: a batch applies
once, whichever path it takes.
"""

import contextlib
from typing import Any

from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import AppError
from app.sync.router import push_answer
from app.sync.schemas import PushRequest, PushResponse

PUSH_PATH = "/api/sync/push"


class DirectPush:
    def __init__(self, app: ASGIApp, route: Any) -> None:
        self.app = app
        self.route = route  # the push's APIRoute: logs and metrics name it as usual

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not (scope["type"] == "http" and scope["method"] == "POST"
                and scope["path"] == PUSH_PATH):
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        body = await request.body()
        token = request.cookies.get(request.app.state.settings.session_cookie_name)
        batch = outcome = None
        if token and request.headers.get("content-type", "").startswith("application/json"):
            with contextlib.suppress(ValidationError):
                batch = PushRequest.model_validate_json(body)
        if token and batch is not None:
            # A refusal or a database error: the route meets it again, and answers it as
            # usual (any other error is a bug, and goes up to the 500 handler, logged).
            with contextlib.suppress(AppError, DBAPIError):
                outcome = await push_answer(request, token, batch)
        if outcome is None:
            await self.app(scope, _replay(body, receive), send)
            return
        scope["route"] = self.route
        answer = PushResponse.__pydantic_serializer__.to_json(outcome)
        await send({"type": "http.response.start", "status": 200, "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(answer)).encode()),
        ]})
        await send({"type": "http.response.body", "body": answer})


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive that hands the app the body already read, then carries on as before."""
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def replayed() -> Message:
        return pending.pop() if pending else await receive()

    return replayed
