"""The migrations build exactly the schema the models declare, on SQLite and PostgreSQL."""

from datetime import UTC, datetime
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine
from sqlmodel import SQLModel

import app.models  # noqa: F401  (registers every table on the metadata)
from app.migrate import upgrade_to_head
from app.sync.service import _PURGE_OLD_TOMBSTONES


def _migrated_url(database_url: str | None, tmp_path: Path) -> str:
    if database_url is not None:
        return database_url  # the PostgreSQL fixture migrates it already
    url = f"sqlite:///{tmp_path / 'schema.db'}"
    upgrade_to_head(url)
    return url


def test_migrations_match_the_models(database_url: str | None, tmp_path: Path) -> None:
    engine = create_engine(_migrated_url(database_url, tmp_path))
    with engine.connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    engine.dispose()
    assert differences == []


def test_the_purge_each_push_runs_reads_only_tombstones(database_url: str | None,
                                                        tmp_path: Path) -> None:
    """Every push looks for old tombstones; the partial index keeps that off the rests."""
    engine = create_engine(_migrated_url(database_url, tmp_path))
    sql = str(_PURGE_OLD_TOMBSTONES.compile(engine))
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            plan = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql,
                                        (1, "2026-01-01 00:00:00.000000")).all()
            lines = [row[-1] for row in plan]
        else:
            conn.exec_driver_sql("SET enable_seqscan = off")  # a tiny table would be scanned
            plan = conn.exec_driver_sql(
                "EXPLAIN " + sql, {"user_id": 1, "before": datetime(2026, 1, 1, tzinfo=UTC)}
            ).all()
            lines = [row[0] for row in plan]
    engine.dispose()
    assert any("ix_rest_tombstones" in line for line in lines), lines
