"""Core statements run straight on sqlite3, converted as SQLAlchemy converts them."""

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, bindparam, insert, select
from sqlalchemy.dialects import postgresql, sqlite

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


@pytest.mark.parametrize("dialect", [sqlite.dialect(), postgresql.psycopg.dialect()],
                         ids=["sqlite", "postgresql"])
def test_an_in_list_kept_rendered_by_length_gives_what_sqlalchemy_renders(
        dialect: Any) -> None:
    # Rendered once per length of the list, then reused: each call's values go where
    # SQLAlchemy itself would put them, converted as it converts them.
    statement = select(REST.c.id).where(REST.c.id.in_(bindparam("ids", expanding=True)),
                                        REST.c.deleted.is_(True),
                                        REST.c.deleted_at < bindparam("before"))
    direct = DirectStatement(statement, dialect)
    for ids in (["a", "b"], ["c"], [], ["d", "e"], ["f", "g", "h"], ["i"]):
        values = {"ids": ids, "before": datetime(2026, 1, 2, 3, 4, len(ids), tzinfo=UTC)}
        expanded = direct.compiled.construct_expanded_state(dict(values))
        processors: dict[str, Any] = {**direct.compiled._bind_processors,
                                      **expanded.processors}
        expected = {name: value if (convert := processors.get(name)) is None
                    else convert(value) for name, value in expanded.parameters.items()}
        sql, params = direct.parameters(values)
        assert sql == expanded.statement
        if expanded.positiontup is None:
            assert params == expected
        else:
            assert params == [expected[name] for name in expanded.positiontup]
