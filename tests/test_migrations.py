"""Upgrading a live PostgreSQL database: building an index does not hold back writes, and
what a migration adds comes off with its downgrade."""

import importlib.util
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from alembic import command

from app.migrate import alembic_config
from app.sync.service import CONTENT_FIELDS
from tests.sync.conftest import fresh_postgres_database


@pytest.fixture
def database_at_0002() -> Iterator[tuple[str, str]]:
    """A fresh PostgreSQL database migrated up to 0002 only: (SQLAlchemy URL, libpq URL)."""
    with fresh_postgres_database("0002") as url:
        yield url, url.replace("postgresql+psycopg://", "postgresql://", 1)


def _waiting_on_rest(plain_url: str) -> bool:
    with psycopg.connect(plain_url, autocommit=True) as probe:
        return bool(probe.execute(
            "SELECT 1 FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
            "WHERE c.relname = 'rest' AND NOT l.granted "
            "UNION ALL SELECT 1 FROM pg_stat_activity "
            "WHERE query ILIKE 'create index%' AND wait_event_type = 'Lock'").fetchone())


def test_the_tombstone_index_is_built_while_pushes_go_on_writing(
        database_at_0002: tuple[str, str]) -> None:
    url, plain = database_at_0002
    with psycopg.connect(plain) as writing:
        # A push in flight: its transaction holds the lock every write of rests takes.
        writing.execute("LOCK TABLE rest IN ROW EXCLUSIVE MODE")
        upgrade_error: list[BaseException] = []

        def upgrade() -> None:
            try:
                command.upgrade(alembic_config(url), "0003")
            except BaseException as error:  # reported by the test below
                upgrade_error.append(error)

        upgrading = threading.Thread(target=upgrade)
        upgrading.start()
        deadline = time.monotonic() + 20
        while not _waiting_on_rest(plain):
            assert time.monotonic() < deadline, "the index build never started"
            time.sleep(0.05)
        # While the build waits for the push in flight, the next push still writes.
        with psycopg.connect(plain) as next_push:
            next_push.execute("SET lock_timeout = '2s'")
            next_push.execute("LOCK TABLE rest IN ROW EXCLUSIVE MODE")
        writing.rollback()
        upgrading.join(timeout=60)
    assert not upgrading.is_alive() and not upgrade_error, upgrade_error
    with psycopg.connect(plain) as check:
        valid = check.execute(
            "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "WHERE c.relname = 'ix_rest_tombstones'").fetchone()
    assert valid == (True,)


def test_the_tombstone_index_comes_off_and_back(database_at_0002: tuple[str, str]) -> None:
    url, plain = database_at_0002
    config = alembic_config(url)

    def has_index() -> bool:
        with psycopg.connect(plain) as check:
            return bool(check.execute(
                "SELECT 1 FROM pg_class WHERE relname = 'ix_rest_tombstones'").fetchone())

    command.upgrade(config, "head")
    assert has_index()
    command.downgrade(config, "0002")
    assert not has_index()
    command.upgrade(config, "head")
    assert has_index()


def test_the_push_functions_come_off_and_back() -> None:
    with fresh_postgres_database("head") as url:
        config = alembic_config(url)

        def functions() -> set[str]:
            plain = url.replace("postgresql+psycopg://", "postgresql://", 1)
            with psycopg.connect(plain) as check:
                return {name for name, in check.execute(
                    "SELECT proname FROM pg_proc WHERE proname LIKE 'sync\\_push%'")}

        # 0007's stays beside 0008's, for instances of the previous release.
        assert functions() == {"sync_push_write", "sync_push"}
        command.downgrade(config, "0007")
        assert functions() == {"sync_push_write"}
        command.downgrade(config, "0006")
        assert functions() == set()
        command.upgrade(config, "head")
        assert functions() == {"sync_push_write", "sync_push"}


def test_the_push_function_writes_every_content_column_of_a_rest() -> None:
    # sync_push reads a rest's columns from JSON by name, and JSON keys it is not given
    # are dropped without a word: a new column must come with a new function.
    path = Path(__file__).resolve().parents[1] / "migrations" / "versions" / \
        "2026-12-04-2345_a_push_reads_and_writes_in_one_call.py"
    spec = importlib.util.spec_from_file_location("push_function_migration", path)
    assert spec is not None and spec.loader is not None
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    assert [name for name, _ in migration.CONTENT] == list(CONTENT_FIELDS)
