"""The app's middleware stack, as tests look into it."""

from typing import Any

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
