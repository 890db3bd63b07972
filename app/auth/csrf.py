"""CSRF guard for the API: a custom header plus a same-origin Origin on every write.

A cross-site HTML form cannot set a custom header, and a cross-site fetch() that sets one
needs a CORS preflight this app never grants; the Origin check is a second, independent lock.
"""


from starlette.types import ASGIApp, Receive, Scope, Send

from app.errors import error_response

CSRF_HEADER = "x-requested-with"
CSRF_VALUE = "rest-guide"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _own_origin(scope: Scope, headers: dict[str, str]) -> str:
    scheme = scope.get("scheme", "http")
    host = headers.get("host")
    if not host:
        server = scope.get("server") or ("localhost", None)
        host = f"{server[0]}:{server[1]}" if server[1] else str(server[0])
    default_port = {"http": ":80", "https": ":443"}.get(scheme, "")
    if default_port and host.endswith(default_port):
        host = host[: -len(default_port)]
    return f"{scheme}://{host}".lower()


def csrf_problem(scope: Scope) -> str | None:
    """Why this request must be refused, or None when it may pass."""
    if scope["type"] != "http" or scope["method"] in SAFE_METHODS:
        return None
    if not scope["path"].startswith("/api/"):
        return None
    headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
    if headers.get(CSRF_HEADER) != CSRF_VALUE:
        return f"State-changing requests need the header X-Requested-With: {CSRF_VALUE}."
    origin = headers.get("origin")
    if origin is not None and origin.lower().rstrip("/") != _own_origin(scope, headers):
        return "The request comes from another origin."
    return None


class CsrfMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        problem = csrf_problem(scope) if scope["type"] == "http" else None
        if problem is None:
            await self.app(scope, receive, send)
            return
        await error_response(403, "CSRF_REJECTED", problem)(scope, receive, send)
