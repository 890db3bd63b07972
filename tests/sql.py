"""What the app sends to its database, for tests that hold it to a number or an order."""

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from sqlalchemy import Engine, event
from sqlalchemy.sql import ClauseElement

from app.direct_sql import DirectConnection
from app.sqlite_writer import SqliteWriter
from app.sync.polls import BEAT_SQL, LISTEN_SQL, TRIGGERS_SQL
from app.sync.sqlite_polls import SqlitePolls

# The listener for writes sends these on a timer, not for any request.
LISTENERS_OWN = frozenset({BEAT_SQL, LISTEN_SQL, TRIGGERS_SQL})


@contextmanager
def statements_sent_by_engine(engine: Engine) -> Iterator[list[str]]:
    """The SQL sent through the engine's pool while the block runs, one spacing, lower case."""
    statements: list[str] = []

    def seen(_conn, _cursor, statement, *_args):  # type: ignore[no-untyped-def]
        statements.append(" ".join(statement.split()).lower())

    event.listen(engine, "before_cursor_execute", seen)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", seen)


@contextmanager
def statements_sent(engine: Engine, *own: object) -> Iterator[list[str]]:
    """The SQL sent to the database while the block runs, one spacing, lower case: through
    the engine; on PostgreSQL, through the connections that read polls and the direct
    statements of pushes (app.direct_sql), but for the beats of the listener for writes;
    on SQLite, through the connections of `own`:
    the app's SqlitePolls and SqliteWriter (None where it has none)."""
    async_execute = psycopg.AsyncConnection.execute
    direct_execute = DirectConnection.execute
    traced = [of for of in own if isinstance(of, SqlitePolls | SqliteWriter)]
    with statements_sent_by_engine(engine) as statements:
        for of in traced:
            of.connection().set_trace_callback(
                lambda statement: statements.append(" ".join(statement.split()).lower()))

        async def seen_async(connection: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
            if not (isinstance(query, str) and query in LISTENERS_OWN):
                statements.append(" ".join(str(query).split()).lower())
            return await async_execute(connection, query, *args, **kwargs)

        def seen_direct(connection: DirectConnection, statement: ClauseElement,
                        parameters: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None,
                        ) -> Any:
            # On SQLite, the writer's connection is traced above, statements and all.
            if connection.dialect.name != "sqlite":
                names = tuple(parameters[0] if isinstance(parameters, Sequence)
                              else parameters or ())
                sql = connection.statement(statement, names).sql
                statements.append(" ".join(sql.split()).lower())
            return direct_execute(connection, statement, parameters)

        psycopg.AsyncConnection.execute = seen_async  # type: ignore[method-assign, assignment]
        DirectConnection.execute = seen_direct  # type: ignore[method-assign, assignment]
        try:
            yield statements
        finally:
            psycopg.AsyncConnection.execute = async_execute  # type: ignore[method-assign]
            DirectConnection.execute = direct_execute  # type: ignore[method-assign]
            for of in traced:
                of.connection().set_trace_callback(None)
