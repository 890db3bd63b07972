"""Security headers on every response; pure ASGI, so streamed and Range answers pass intact."""

from starlette.applications import Starlette
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# No inline script or style anywhere, nothing from another origin.
CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "media-src 'self' blob:",
    "connect-src 'self'",
    "worker-src 'self'",
    "manifest-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
    "form-action 'self'",
])

# What the API answers (JSON, audio, exports) is never a page. Should one be opened as a
# page, it may load and run nothing: the policy OWASP advises for APIs, shorter too, on the
# answers sent most often (every device's poll). Permissions-Policy governs pages only.
API_CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'none'",
    "object-src 'none'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
])
API_PREFIX = "/api/"

_EVERY_ANSWER: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
)
HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    *_EVERY_ANSWER,
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), payment=()"),
)
API_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-security-policy", API_CONTENT_SECURITY_POLICY.encode()),
    *_EVERY_ANSWER,
)
# Only over HTTPS: on plain HTTP (local use, tests) the header would be ignored or misleading.
HSTS = (b"strict-transport-security", b"max-age=31536000; includeSubDomains")
# By (an API path?, over HTTPS?): made once, as every answer asks.
_HEADERS_FOR = {
    (api, https): (API_HEADERS if api else HEADERS) + ((HSTS,) if https else ())
    for api in (False, True) for https in (False, True)
}


def security_headers(scope: Scope) -> tuple[tuple[bytes, bytes], ...]:
    """The headers every answer to this request carries."""
    return _HEADERS_FOR[scope["path"].startswith(API_PREFIX), scope.get("scheme") == "https"]


class SecurityHeaders:
    """Adds the headers above to each HTTP response unless the route set its own."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await self.app(scope, receive, sending_also(send, security_headers(scope)))


def sending_also(send: Send, extra: tuple[tuple[bytes, bytes], ...]) -> Send:
    """send, adding `extra` to the answer's headers, but any the answer sets itself."""

    async def send_with_headers(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", []))
            present = {name.lower() for name, _ in headers}
            headers += [(name, value) for name, value in extra if name not in present]
            message = {**message, "headers": headers}
        await send(message)

    return send_with_headers


def add_security_headers(app: Starlette) -> None:
    """Install the middleware on the app; error responses from handlers get the headers too."""
    app.add_middleware(SecurityHeaders)
