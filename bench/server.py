"""The app as benchmarks serve it: the real app plus two fixed answers for baselines.

    uvicorn bench.server:app --http app.server_protocol:TurnWritesProtocol
    (settings from the environment, as for app.main:app)

- GET /bench/ceiling: a fixed JSON body from a raw ASGI callable, answered before any of
  the app's middleware or routing: the practical ceiling of this server and process.
- GET /bench/blank: a minimal, valid HTML page: the Lighthouse baseline.
Everything else goes to the real app unchanged (lifespan included).
"""

from starlette.types import Receive, Scope, Send

from app.main import create_app

CEILING_BODY = b'{"status":"ok","items":[1,2,3]}'
BLANK_PAGE = (
    b'<!doctype html><html lang="en"><head><meta charset="utf-8">'
    b'<meta name="viewport" content="width=device-width, initial-scale=1">'
    b'<meta name="description" content="A blank page: the benchmark baseline.">'
    b"<title>Baseline</title></head><body><main><h1>Baseline</h1>"
    b"<p>A blank page.</p></main></body></html>"
)
FIXED = {
    "/bench/ceiling": (b"application/json", CEILING_BODY),
    "/bench/blank": (b"text/html; charset=utf-8", BLANK_PAGE),
}

real_app = create_app()


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    fixed = FIXED.get(scope.get("path", "")) if scope["type"] == "http" else None
    if fixed is None:
        await real_app(scope, receive, send)
        return
    content_type, body = fixed
    await send({"type": "http.response.start", "status": 200, "headers": [
        (b"content-type", content_type), (b"content-length", str(len(body)).encode()),
    ]})
    await send({"type": "http.response.body", "body": body})
