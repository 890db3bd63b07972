"""Core statements run straight on sqlite3, converted as SQLAlchemy converts them."""

from datetime import UTC, datetime

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, bindparam, insert, select
from sqlalchemy.dialects import sqlite

from app.direct_sql import DirectStatement
from app.sync.service import REST

DIALECT = sqlite.dialect()


def test_values_beside_an_in_list_are_converted_too() -> None:
    statement = select(REST.c.id).where(REST.c.id.in_(bindparam("ids", expanding=True)),
                                        REST.c.deleted.is_(True),
                                        REST.c.deleted_at < bindparam("before"),
                                        REST.c.completed == bindparam("completed"))
    sql, params = DirectStatement(statement, DIALECT).parameters({
        "ids": ["a", "b"], "before": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        "completed": True})
    assert sql.count("?") == len(params) == 4
    assert params == ["a", "b", "2026-01-02 03:04:05.000000", 1]


def test_a_column_default_computed_at_execution_is_refused() -> None:
    # The driver would get no value for it: refused when compiled, not stored as NULL.
    table = Table("counted", MetaData(), Column("id", Integer, primary_key=True),
                  Column("n", Integer, default=lambda: 7))
    with pytest.raises(ValueError, match="column defaults"):
        DirectStatement(insert(table), DIALECT, ["id"])
