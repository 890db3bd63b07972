"""Answers a device's push without routing it through FastAPI.

The push's twin of DirectPull (direct_pull.py): FastAPI's routing, dependency solving,
JSON decoding and response validation cost about as much as the push's own SQL. This
middleware, innermost (every outer middleware's checks apply first: the body limit, the
CSRF header, security headers, logs and metrics), answers `POST /api/sync/push` with the
route's own function, `push_answer`, after the route's own model has validated the body.

It takes only what it can read at a glance: a body declared as plain `application/json`
that the model accepts, and a sign-in cookie. Anything else goes on to the route with the
same body, and the route validates and refuses as it always does. Once the push has run,
a refusal (no live session, too many mutations) or a database error is answered here, by
the app's own error handlers, as the route would answer it: trying again through the
route would do the work twice, and behind a locked database every other push of the
process would wait twice as long.
"""

import contextlib
from typing import Any

from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError
from starlette.requests import ClientDisconnect, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import AppError, error_answer, error_response
from app.sync.direct_pull import send_json
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
        try:
            body = await request.body()
        except ClientDisconnect:
            # Gone before the body arrived whole: nothing to apply, and no one to answer.
            gone = error_response(400, "BAD_REQUEST", "The request body did not arrive whole.")
            await gone(scope, receive, send)
            return
        token = request.cookies.get(request.app.state.settings.session_cookie_name)
        batch = None
        if token and _plain_json(request.headers.get("content-type", "")):
            with contextlib.suppress(ValidationError):
                batch = PushRequest.model_validate_json(body)
        if not token or batch is None:
            await self.app(scope, _replay(body, receive), send)
            return
        scope["route"] = self.route
        try:
            outcome = await push_answer(request, token, batch)
        except (AppError, DBAPIError) as error:
            # Answered as the route would be. Any other error is a bug: it goes up to the
            # 500 handler, logged.
            refusal = await error_answer(request, error)
            await refusal(scope, receive, send)
            return
        answer = PushResponse.__pydantic_serializer__.to_json(outcome)
        await send_json(send, answer)


def _plain_json(content_type: str) -> bool:
    """`application/json`, with or without parameters (`; charset=utf-8`), in any case."""
    return content_type.partition(";")[0].strip().lower() == "application/json"


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive that hands the app the body already read, then carries on as before."""
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def replayed() -> Message:
        return pending.pop() if pending else await receive()

    return replayed
