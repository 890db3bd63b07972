"""A table of names, probe, for tests of what a transaction keeps or undoes on PostgreSQL
(the probe_client fixture makes it)."""

from fastapi.testclient import TestClient
from sqlalchemy import text

from app.direct_sql import DirectConnection
from app.errors import NotFound

PROBE_TABLE = text("CREATE TABLE probe (name text NOT NULL)")
INSERT = text("INSERT INTO probe (name) VALUES (:name)")


def names(client: TestClient) -> list[str]:
    """What another connection sees: only what was committed."""
    engine = client.app.state.engine  # type: ignore[attr-defined]
    with engine.connect() as connection:
        return list(connection.scalars(text("SELECT name FROM probe ORDER BY name")))


def write_then_refuse(db: DirectConnection) -> None:
    """A push's work that writes, then is refused: nothing of it may be kept."""
    db.execute(INSERT, {"name": "undone"})
    raise NotFound("No such account.")
