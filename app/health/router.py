"""Liveness (`/api/health`) and readiness (`/api/ready`) for load balancers and orchestrators."""

from collections.abc import Callable
from typing import TypeVar

import anyio
import anyio.to_thread
from fastapi import APIRouter, Request
from sqlalchemy import text
from sqlalchemy.engine import Engine

from app.config import APP_VERSION
from app.db import PROBE_CONNECTIONS
from app.deps import SettingsDep
from app.errors import AppError, error_responses
from app.health.checks import CheckOut, ReadyOut, check_database, check_redis, timed

router = APIRouter(prefix="/api", tags=["health"])


class DatabaseUnavailable(AppError):
    code = "DATABASE_UNAVAILABLE"
    status_code = 503


class NotReady(AppError):
    code = "NOT_READY"
    status_code = 503


T = TypeVar("T")
# A database that accepts connections but never answers would hold a probe (and its
# thread) for as long as the TCP connection lives: probes answer 503 after this long.
PROBE_DEADLINE_S = 3.0
# Probes run on threads of their own, so probes stuck on a stalled database can never
# take the threads that requests need; on SQLite, as many spare connections are theirs.
_probe_threads = anyio.CapacityLimiter(PROBE_CONNECTIONS)


async def within_deadline(probe: Callable[[], T]) -> T | None:
    """The probe's result, or None when it did not finish in time."""
    with anyio.move_on_after(PROBE_DEADLINE_S):
        return await anyio.to_thread.run_sync(probe, abandon_on_cancel=True, limiter=_probe_threads)
    return None


def _round_trip(engine: Engine) -> bool:
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception:  # any failure of the database means "not alive", never a 500
        return False
    return True


@router.get("/health", responses=error_responses(503))
async def health(request: Request) -> dict[str, str]:
    """Liveness with a database round trip."""
    engine: Engine = request.app.state.engine
    if not await within_deadline(lambda: _round_trip(engine)):
        raise DatabaseUnavailable("The database does not answer.")
    return {"status": "ok", "version": APP_VERSION}


@router.get("/ready", responses=error_responses(503))
async def ready(request: Request, settings: SettingsDep) -> ReadyOut:
    """Readiness: the database (reachable, schema not behind) and Redis when configured.

    503 names the failing parts in `checks`, so a load balancer stops sending traffic here.
    """
    engine: Engine = request.app.state.engine
    database = await within_deadline(lambda: timed("database", lambda: check_database(engine)))
    checks = {
        "database": database
        or CheckOut(ok=False, latency_ms=PROBE_DEADLINE_S * 1000, error="no answer in time")
    }
    if settings.redis_url:
        redis_url = settings.redis_url
        # On a probe thread too: a Redis that hangs must not hold the event loop.
        redis = await within_deadline(lambda: timed("redis", lambda: check_redis(redis_url)))
        checks["redis"] = redis or CheckOut(
            ok=False, latency_ms=PROBE_DEADLINE_S * 1000, error="no answer in time")
    failed = [name for name, check in checks.items() if not check.ok]
    if failed:
        raise NotReady(
            f"Not ready: {', '.join(failed)} failed.",
            checks={name: check.model_dump() for name, check in checks.items()},
        )
    return ReadyOut(status="ok", version=APP_VERSION, checks=checks)
