"""The app's middleware stack, as tests look into it."""

from typing import Any

import httpx2
from fastapi.testclient import TestClient


def installed(client: TestClient, kind: type) -> list[Any]:
    """Every middleware of this kind in the stack of the client's app, outermost first."""
    stack: Any = client.app.middleware_stack  # type: ignore[attr-defined]
    found = []
    while stack is not None:
        if isinstance(stack, kind):
            found.append(stack)
        stack = getattr(stack, "app", None)
    return found


def assert_outer_middleware_applied(answer: httpx2.Response, request_id: str) -> None:
    """A direct answer carries what the middleware outside it adds to every answer: the
    caller's request id and the security headers, on a JSON body."""
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/json"
    assert answer.headers["x-request-id"] == request_id
    assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
    assert answer.headers["x-content-type-options"] == "nosniff"
