"""Readiness checks: can this instance reach what it needs to answer requests?"""

import logging
import time
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from alembic.script import ScriptDirectory
from pydantic import BaseModel
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

from app.migrate import alembic_config

log = logging.getLogger(__name__)
# Probes must answer fast; a dependency slower than this counts as down.
REDIS_TIMEOUT_S = 2.0


class CheckOut(BaseModel):
    ok: bool
    latency_ms: float
    error: str | None = None


class ReadyOut(BaseModel):
    status: str
    version: str
    checks: dict[str, CheckOut]


def timed(name: str, probe: Callable[[], None]) -> CheckOut:
    """Runs one probe; the answer names only the kind of failure, the log has the details."""
    started = time.perf_counter()
    try:
        probe()
    except Exception as exc:  # any failure of a dependency means "not ready", never a 500
        log.warning("readiness: %s failed: %s: %s", name, type(exc).__name__, exc)
        return CheckOut(ok=False, latency_ms=_ms_since(started), error=_describe(exc))
    return CheckOut(ok=True, latency_ms=_ms_since(started))


def _ms_since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)


def _describe(exc: Exception) -> str:
    # Driver messages can carry host names and user names: keep them out of a public answer.
    if isinstance(exc, SchemaBehind):
        return str(exc)
    return f"unreachable ({type(exc).__name__})"


class SchemaBehind(Exception):
    """The database lacks migrations this code needs."""


@lru_cache(maxsize=1)
def _known_revisions() -> tuple[frozenset[str], frozenset[str]]:
    """(the code's head revisions, every revision the code knows)."""
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    return frozenset(script.get_heads()), frozenset(r.revision for r in script.walk_revisions())


def check_database(engine: Engine) -> None:
    """A round trip, and the schema is not behind the code.

    A schema *ahead* of this code passes: during a rolling upgrade the migration runs first
    and the instances still on the old code must stay in service.
    """
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))
        try:
            current = set(
                connection.execute(text("SELECT version_num FROM alembic_version")).scalars()
            )
        except DBAPIError as exc:
            raise SchemaBehind("no schema yet: run `alembic upgrade head`") from exc
    heads, known = _known_revisions()
    if current & heads or current - known:
        return
    raise SchemaBehind("the schema is behind the code: run `alembic upgrade head`")


@lru_cache(maxsize=4)
def _redis_client(url: str) -> Any:
    import redis  # only needed when REDIS_URL is set

    return redis.Redis.from_url(
        url, socket_connect_timeout=REDIS_TIMEOUT_S, socket_timeout=REDIS_TIMEOUT_S
    )


def check_redis(url: str) -> None:
    if not _redis_client(url).ping():
        raise ConnectionError("no PONG")
