"""GET /metrics: the Prometheus text, when enabled, behind an optional bearer token."""

import hmac

from fastapi import APIRouter, Request, Response

from app.deps import SettingsDep
from app.errors import AppError, NotFound
from app.observability.metrics import exposition

router = APIRouter(include_in_schema=False)


class MetricsTokenRequired(AppError):
    code = "UNAUTHENTICATED"
    status_code = 401


@router.get("/metrics")
def metrics(request: Request, settings: SettingsDep) -> Response:
    """Request, render, sync and push figures of this process (or of all workers)."""
    if not settings.metrics_enabled:
        raise NotFound("Not found.")
    if settings.metrics_token is not None:
        expected = f"Bearer {settings.metrics_token.get_secret_value()}".encode()
        sent = request.headers.get("authorization", "").encode()
        if not hmac.compare_digest(sent, expected):
            raise MetricsTokenRequired(
                "Send the metrics token as `Authorization: Bearer <token>`.",
                headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
            )
    body, content_type = exposition()
    return Response(body, media_type=content_type, headers={"Cache-Control": "no-store"})
