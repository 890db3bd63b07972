"""Replays answers that cannot change while the process runs, without routing them again.

The built-in routines and a rendered session's script are the same for everyone and for
the life of the process, and phones ask for them on every start. Routing and dependency
solving cost more than such an answer; this middleware keeps the first 200 answer of each
such GET (by scheme, path and query string) and sends it again as it was, security
headers included (HSTS goes with HTTPS only: hence the scheme). It sits just inside the
request middleware, in front of FastAPI's own layers (see app.main.RestGuideApp), so each
replay still gets its own request id, access line and metrics; the checks it skips (CSRF,
the body limit) never refuse a GET without a body, and a GET with one is never replayed.

Only routes named by the app are kept, only 200 answers without cookies, and only a
bounded number of them (least recently used go first).
"""

from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.observability.middleware import route_template

# A session's script is a few KiB; with 512 entries, kept answers stay within 32 MiB.
MAX_BODY_BYTES = 64 << 10


@dataclass(frozen=True)
class KeptAnswer:
    headers: list[tuple[bytes, bytes]]
    body: bytes
    route: Any  # the matched route, so metrics and logs name it as on the first answer


# Scheme, path, query string.
AnswerKey = tuple[str, str, bytes]


class KeptAnswers:
    """The kept answers by AnswerKey, least recently used first."""

    def __init__(self, max_entries: int = 512) -> None:
        self.max_entries = max_entries
        self._answers: OrderedDict[AnswerKey, KeptAnswer] = OrderedDict()

    def __len__(self) -> int:
        return len(self._answers)

    def get(self, key: AnswerKey) -> KeptAnswer | None:
        answer = self._answers.get(key)
        if answer is not None:
            self._answers.move_to_end(key)
        return answer

    def keep(self, key: AnswerKey, answer: KeptAnswer) -> None:
        self._answers[key] = answer
        self._answers.move_to_end(key)
        while len(self._answers) > self.max_entries:
            self._answers.popitem(last=False)


def _static_prefix(template: str) -> str:
    return template.split("{", 1)[0]


class ReplayUnchangingAnswers:
    """Keeps and replays the 200 answers of the GET routes in `routes` (path templates)."""

    def __init__(self, app: ASGIApp, answers: KeptAnswers, routes: Iterable[str]) -> None:
        self.app = app
        self.answers = answers
        self.routes = frozenset(routes)
        # Requests under none of these prefixes pass straight through, unwatched.
        self.prefixes = tuple({_static_prefix(route) for route in self.routes})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] != "http" or scope["method"] != "GET"
                or not scope["path"].startswith(self.prefixes) or has_body(scope)):
            await self.app(scope, receive, send)
            return
        key = (scope.get("scheme", "http"), scope["path"], scope["query_string"])
        kept = self.answers.get(key)
        if kept is not None:
            scope["route"] = kept.route
            await send({"type": "http.response.start", "status": 200,
                        "headers": list(kept.headers)})
            await send({"type": "http.response.body", "body": kept.body})
            return
        await self.app(scope, receive, self._keeper(scope, key, send))

    def _keeper(self, scope: Scope, key: AnswerKey, send: Send) -> Send:
        headers: list[tuple[bytes, bytes]] | None = None
        chunks: list[bytes] = []
        size = 0

        async def send_and_keep(message: Message) -> None:
            nonlocal headers, size
            if message["type"] == "http.response.start":
                template = route_template(scope)
                candidate = list(message.get("headers", []))
                if (message["status"] == 200 and template in self.routes
                        and all(name.lower() != b"set-cookie" for name, _ in candidate)):
                    headers = candidate
            elif message["type"] == "http.response.body" and headers is not None:
                body = message.get("body", b"")
                size += len(body)
                if size > MAX_BODY_BYTES:
                    headers = None
                else:
                    chunks.append(body)
                    if not message.get("more_body", False):
                        self.answers.keep(key, KeptAnswer(headers, b"".join(chunks),
                                                          scope.get("route")))
            await send(message)

        return send_and_keep


def has_body(scope: Scope) -> bool:
    """Whether the request says it sends a body (none is replayed)."""
    for name, value in scope["headers"]:
        if (name == b"content-length" and value != b"0") or name == b"transfer-encoding":
            return True
    return False
