"""Core statements run straight on sqlite3, converted as SQLAlchemy converts them."""

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import (
    Column,
    Integer,
    MetaData,
    Table,
    bindparam,
    insert,
    literal_column,
    select,
    tuple_,
)
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


def test_a_parameter_computed_at_execution_is_refused() -> None:
    # Its value would be taken once and kept, as the statement's own literals are.
    statement = select(REST.c.id).where(REST.c.note == bindparam("note", callable_=lambda: "x"))
    with pytest.raises(ValueError, match="parameter whose value is computed"):
        DirectStatement(statement, DIALECT)


def test_a_column_default_computed_at_execution_is_refused() -> None:
    # The driver would get no value for it: refused when compiled, not stored as NULL.
    table = Table("counted", MetaData(), Column("id", Integer, primary_key=True),
                  Column("n", Integer, default=lambda: 7))
    with pytest.raises(ValueError, match="column defaults"):
        DirectStatement(insert(table), DIALECT, ["id"])


def _as_sqlalchemy_renders(direct: DirectStatement, values: dict[str, Any]) -> tuple[str, Any]:
    """The SQL and driver parameters that SQLAlchemy itself renders for `values`."""
    expanded = direct.compiled.construct_expanded_state(dict(values))
    processors: dict[str, Any] = {**direct.compiled._bind_processors, **expanded.processors}
    converted = {name: value if (convert := processors.get(name)) is None
                 else convert(value) for name, value in expanded.parameters.items()}
    if expanded.positiontup is None:
        return expanded.statement, converted
    return expanded.statement, [converted[name] for name in expanded.positiontup]


DIALECTS = pytest.mark.parametrize("dialect", [sqlite.dialect(), postgresql.psycopg.dialect()],
                                   ids=["sqlite", "postgresql"])


@DIALECTS
def test_an_in_list_kept_rendered_by_length_gives_what_sqlalchemy_renders(
        dialect: Any) -> None:
    # Rendered once per length of the list, then reused: each call's values go where
    # SQLAlchemy itself would put them, converted as it converts them, the statement's
    # own literals (`!= 'z'`) included.
    statement = select(REST.c.id).where(REST.c.id.in_(bindparam("ids", expanding=True)),
                                        REST.c.id != "z",
                                        REST.c.deleted.is_(True),
                                        REST.c.deleted_at < bindparam("before"))
    direct = DirectStatement(statement, dialect)
    for ids in (["a", "b"], ["c"], [], ("d", "e"), ["f", "g", "h"], ["i"], {"j", "k"}):
        values = {"ids": ids, "before": datetime(2026, 1, 2, 3, 4, len(ids), tzinfo=UTC)}
        assert direct.parameters(values) == _as_sqlalchemy_renders(direct, values)


@DIALECTS
@pytest.mark.parametrize(("statement", "lists"), [
    # Rows of values: tuple IN, of two and of three columns.
    (select(REST.c.id).where(tuple_(REST.c.id, REST.c.user_id).in_(
        bindparam("pairs", expanding=True))), {"pairs": [("a", 1), ("b", 2)]}),
    (select(REST.c.id).where(tuple_(REST.c.id, REST.c.user_id, REST.c.note).in_(
        bindparam("triples", expanding=True))), {"triples": [("a", 1, "x")]}),
    # A list without a type: SQLAlchemy looks at the values to render it.
    (select(REST.c.id).where(literal_column("rest.id").in_(
        bindparam("ids", expanding=True))), {"ids": ["a", "b"]}),
    # A list fixed in the statement, and one whose name is made unique.
    (select(REST.c.id).where(REST.c.id.in_(["a", "b"])), {}),
    (select(REST.c.id).where(REST.c.id.in_(bindparam("ids", expanding=True, unique=True))),
     None),
], ids=["pairs", "triples", "untyped", "fixed", "unique"])
def test_in_lists_that_the_lengths_do_not_shape_are_rendered_as_sqlalchemy_renders(
        dialect: Any, statement: Any, lists: dict[str, Any] | None) -> None:
    direct = DirectStatement(statement, dialect)
    if lists is None:  # a unique name: the caller names it as the statement does
        (name,) = set(direct.compiled.bind_names.values())
        lists = {name: ["a", "b"]}
    for _ in range(2):  # a second call is not answered from anything kept by the first
        assert direct.parameters(lists) == _as_sqlalchemy_renders(direct, lists)


def test_a_failed_statement_names_its_sql_but_not_its_values() -> None:
    import sqlite3

    from sqlalchemy import create_engine
    from sqlalchemy.exc import DBAPIError

    from app.direct_sql import DirectConnection

    table = Table("guarded", MetaData(), Column("id", Integer, primary_key=True),
                  Column("secret", Integer))
    raw = sqlite3.connect(":memory:")
    raw.execute("CREATE TABLE guarded (id INTEGER PRIMARY KEY, secret INTEGER)")
    raw.execute("CREATE TRIGGER refuse BEFORE INSERT ON guarded "
                "BEGIN SELECT RAISE(ABORT, 'no'); END")
    db = DirectConnection(raw, create_engine("sqlite://").dialect, {})
    with pytest.raises(DBAPIError) as raised:
        db.execute(insert(table), {"id": 1, "secret": 987654321})
    assert "INSERT INTO guarded" in str(raised.value)
    assert "987654321" not in str(raised.value)
