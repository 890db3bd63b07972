"""The session cookie, set again on the answer whenever a request slides its session forward.

The browser keeps the cookie for `SESSION_DAYS` from when it was last set, while the
server slides the session's expiry on use (sessions.renew, at most once a day). Without a
new cookie, someone who uses the app every day would still be signed out when the cookie
set at sign-in ran out.
"""

from fastapi import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.auth.sessions import renewals, session_token, set_session_cookie, token_hash
from app.config import Settings


class SessionCookieRenewal:
    """Outside every route and fast path that may renew a session (DirectPull, DirectPush)."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        self._cookie_prefix = f"{settings.session_cookie_name}=".encode("latin-1")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        renewed: list[str] = []
        noting = renewals.set(renewed)

        async def send_with_cookie(message: Message) -> None:
            if renewed and message["type"] == "http.response.start":
                message = self._with_cookie(scope, message, renewed)
            await send(message)

        try:
            await self.app(scope, receive, send_with_cookie)
        finally:
            renewals.reset(noting)

    def _with_cookie(self, scope: Scope, message: Message, renewed: list[str]) -> Message:
        headers = list(message.get("headers", ()))
        if any(name.lower() == b"set-cookie" and value.startswith(self._cookie_prefix)
               for name, value in headers):
            return message  # the answer sets the cookie itself (sign-in, sign-out)
        token = session_token(scope, self.settings.session_cookie_name)
        if token is None or token_hash(token) not in renewed:
            return message
        carrier = Response()
        set_session_cookie(carrier, token, self.settings)
        headers += [(name, value) for name, value in carrier.raw_headers
                    if name == b"set-cookie"]
        return {**message, "headers": headers}
