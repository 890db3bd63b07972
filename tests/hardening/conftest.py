"""A fresh PostgreSQL database per test (dropped afterwards) for the outage tests."""

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from app.migrate import upgrade_to_head
from tests.conftest import IN_CI

PG_ADMIN_URL = os.environ.get("DATABASE_URL_TEST", "postgresql://postgres@127.0.0.1:5432/test")


@dataclass
class PgDatabase:
    host: str
    port: int
    name: str

    def url(self, port: int | None = None) -> str:
        """The app's URL for this database, optionally through another port (a proxy)."""
        return f"postgresql+psycopg://postgres@{self.host}:{port or self.port}/{self.name}"


def _admin():  # type: ignore[no-untyped-def]
    import psycopg

    return psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=3)


@pytest.fixture
def pg_database() -> Iterator[PgDatabase]:
    try:
        admin = _admin()
    except Exception as exc:
        if IN_CI:
            pytest.fail(f"PostgreSQL is required in CI at {PG_ADMIN_URL}: {exc}")
        pytest.skip("PostgreSQL is not running")
    info = admin.info
    database = PgDatabase(info.host, info.port, f"crg_hardening_{uuid.uuid4().hex[:12]}")
    with admin:
        admin.execute(f'CREATE DATABASE "{database.name}"')
    try:
        upgrade_to_head(database.url())
        yield database
    finally:
        with _admin() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{database.name}" WITH (FORCE)')
