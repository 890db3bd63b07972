"""Answers the poll every device sends, without routing it through FastAPI.

A signed-in device asks `GET /api/sync/pull?since=N&client_id=...` again and again while
the app is open (the web app: every five minutes, whenever it comes back into view, and
after each change; other clients may ask more often). FastAPI's routing and parameter
solving cost more than the pull itself; this middleware, innermost (every outer
middleware's checks, headers, logs and metrics still apply), answers such a request with
the route's own function, `pull_answer`.

It takes only what it can read at a glance: a GET of exactly that path, parameters it
knows, each at most once, in their plain form, and a sign-in cookie. Anything else goes
on to the route, which validates and refuses as it always does. Once the poll has been
read, a refusal (no live session) or a database error is answered here, by the app's own
error handlers, as the route would answer it (as DirectPush does): reading again through
the route would only double the wait for a database that is down.

The answer to such a poll with nothing new is kept (app/sync/kept_polls.py), and
ReplayKeptPolls, just inside the request middleware, sends it again to the same
session's same query string for as long as it stands. Such a repeat is logged at DEBUG
(see REPEATED_ANSWER): the first answer with nothing new was logged as usual. The
middleware it skips never refuses a GET without a body (CSRF, the body limit); the headers
they add (the security headers) go with the kept answer all the same.
"""

import re
from typing import Any

from sqlalchemy.exc import DBAPIError
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from app.auth.sessions import cookie_hash, session_token
from app.errors import AppError, error_answer
from app.observability.middleware import REPEATED_ANSWER
from app.response_cache import has_body
from app.security import security_headers
from app.sync.router import MAX_SINCE, pull_answer
from app.sync.schemas import UUID_PATTERN

PULL_PATH = "/api/sync/pull"
_SINCE = re.compile(r"0|[1-9][0-9]{0,15}")
_LIMIT = re.compile(r"[1-9][0-9]{0,8}")
_CLIENT_ID = re.compile(UUID_PATTERN)


def plain_pull_query(query_string: bytes) -> tuple[int, str | None, int | None] | None:
    """(since, client_id, limit) of a query in the form devices send, or None for anything
    else: unknown or repeated names, encoded characters, values out of range."""
    since, client_id, limit = 0, None, None
    seen: set[str] = set()
    for pair in query_string.decode("latin-1").split("&") if query_string else ():
        name, _, value = pair.partition("=")
        if name in seen:
            return None
        seen.add(name)
        if name == "since" and _SINCE.fullmatch(value) and int(value) <= MAX_SINCE:
            since = int(value)
        elif name == "client_id" and _CLIENT_ID.fullmatch(value):
            client_id = value
        elif name == "limit" and _LIMIT.fullmatch(value):
            limit = int(value)
        else:
            return None
    return since, client_id, limit


class DirectPull:
    def __init__(self, app: ASGIApp, route: Any) -> None:
        self.app = app
        self.route = route  # the pull's APIRoute: logs and metrics name it as usual

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        query = None
        if scope["type"] == "http" and scope["method"] == "GET" and scope["path"] == PULL_PATH:
            query = plain_pull_query(scope["query_string"])
        if query is None:
            await self.app(scope, receive, send)
            return
        token = session_token(scope, scope["app"].state.settings.session_cookie_name)
        if not token:
            await self.app(scope, receive, send)
            return
        scope["route"] = self.route
        request = Request(scope, receive)
        try:
            body = await pull_answer(request, token, *query, question=scope["query_string"])
        except (AppError, DBAPIError) as error:
            # Answered as the route would be. Any other error is a bug: it goes up to the
            # 500 handler, logged.
            refusal = await error_answer(request, error)
            await refusal(scope, receive, send)
            return
        await send_json(send, body)


class ReplayKeptPolls:
    """Sends a poll's kept answer again, if the polls (SqlitePolls, PostgresPolls) still
    hold it good."""

    def __init__(self, app: ASGIApp, route: Any) -> None:
        self.app = app
        self.route = route

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET" and scope["path"] == PULL_PATH:
            state = scope["app"].state
            polls = getattr(state, "polls", None)  # none before start-up
            if polls is not None and not has_body(scope):
                # The cookie as DirectPull reads it, so that both name the same session.
                token = session_token(scope, state.settings.session_cookie_name)
                hashed = cookie_hash(token)
                body = polls.kept_answer(hashed, scope["query_string"]) if hashed else None
                if body is not None:
                    scope["route"] = self.route
                    scope[REPEATED_ANSWER] = True
                    await send_json(send, body, security_headers(scope))
                    return
        await self.app(scope, receive, send)


async def send_json(send: Send, body: bytes,
                    headers: tuple[tuple[bytes, bytes], ...] = ()) -> None:
    """A 200 answer of JSON, with `headers` after the two that describe the body."""
    await send({"type": "http.response.start", "status": 200, "headers": [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *headers,
    ]})
    await send({"type": "http.response.body", "body": body})
