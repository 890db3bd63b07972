"""Apps on SQLite (a temp file) or on a fresh PostgreSQL database per test."""

import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from alembic import command
from fastapi.testclient import TestClient

from app.config import Settings
from app.main import create_app
from app.migrate import alembic_config
from tests.conftest import IN_CI, make_settings

PG_ADMIN_URL = os.environ.get("DATABASE_URL_TEST", "postgresql://postgres@127.0.0.1:5432/test")


def _pg_admin():  # type: ignore[no-untyped-def]
    import psycopg

    return psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=3)


def postgres_available() -> bool:
    try:
        with _pg_admin():
            return True
    except Exception:
        return False


@contextmanager
def fresh_postgres_database(revision: str = "head") -> Iterator[str]:
    """A fresh PostgreSQL database migrated up to `revision` (dropped afterwards); skips
    the test where PostgreSQL is not running, and fails it in CI."""
    if not postgres_available():
        if IN_CI:
            pytest.fail("PostgreSQL is required in CI at " + PG_ADMIN_URL)
        pytest.skip("PostgreSQL is not running")
    name = f"crg_test_{uuid.uuid4().hex[:12]}"
    with _pg_admin() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    url = f"{base}/{name}"
    try:
        command.upgrade(alembic_config(url), revision)
        yield url
    finally:
        with _pg_admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, migrated PostgreSQL database (dropped afterwards)."""
    with fresh_postgres_database() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str | None:
    """None means the default SQLite file; otherwise a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return None
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def make_app_settings(tmp_path: Path, speech_cache: Path) -> Callable[..., Settings]:
    def build(database_url: str | None = None, **overrides: object) -> Settings:
        return make_settings(tmp_path / "data", speech_cache, voice_enabled=False,
                             database_url=database_url, migrate_on_start=True, **overrides)
    return build


@pytest.fixture
def sync_client(make_app_settings: Callable[..., Settings]) -> Iterator[TestClient]:
    """A fast app on SQLite (no voice)."""
    with TestClient(create_app(make_app_settings())) as client:
        yield client


@pytest.fixture
def any_db_client(make_app_settings: Callable[..., Settings],
                  database_url: str | None) -> Iterator[TestClient]:
    """The same app on SQLite and on PostgreSQL."""
    with TestClient(create_app(make_app_settings(database_url))) as client:
        yield client


@pytest.fixture
def postgres_client(make_app_settings: Callable[..., Settings], postgres_url: str
                    ) -> Iterator[TestClient]:
    """The app on a fresh PostgreSQL database."""
    with TestClient(create_app(make_app_settings(postgres_url))) as client:
        yield client


@pytest.fixture
def probe_client(make_app_settings: Callable[..., Settings], postgres_url: str
                 ) -> Iterator[TestClient]:
    """An app on a fresh PostgreSQL database with the table of tests/sync/probe.py."""
    from sqlalchemy import create_engine

    from tests.sync.probe import PROBE_TABLE

    with create_engine(postgres_url).begin() as connection:
        connection.execute(PROBE_TABLE)
    with TestClient(create_app(make_app_settings(postgres_url))) as client:
        yield client
