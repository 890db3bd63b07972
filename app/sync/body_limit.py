"""Refuse API request bodies over the limit with 413, before reading them whole."""

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import error_response


async def _too_large(scope: Scope, receive: Receive, send: Send, limit: int) -> None:
    # The rest of the body is never read: the connection cannot be reused.
    refusal = error_response(413, "PAYLOAD_TOO_LARGE",
                             f"The request body is over the limit of {limit} bytes.",
                             headers={"connection": "close"})
    await refusal(scope, receive, send)


class BodyLimitMiddleware:
    """A declared Content-Length over the limit is refused at once; a chunked body is read
    only up to the limit, then refused (or replayed to the app when it fits)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/api/"):
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None:
            try:
                too_big = int(declared) > self.max_bytes
            except ValueError:
                too_big = True
            if too_big:
                await _too_large(scope, receive, send, self.max_bytes)
                return
            await self.app(scope, receive, send)
            return
        if scope["method"] in {"GET", "HEAD", "OPTIONS"}:
            await self.app(scope, receive, send)
            return
        # No length declared (chunked): buffer up to the limit, then hand it on.
        messages: list[Message] = []
        size = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            size += len(message.get("body", b""))
            if size > self.max_bytes:
                await _too_large(scope, receive, send, self.max_bytes)
                return
            if not message.get("more_body", False):
                break

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)
