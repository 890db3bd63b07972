"""What the app sends to its database, for tests that hold it to a number or an order."""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from sqlalchemy import Engine, event


@contextmanager
def statements_sent(engine: Engine) -> Iterator[list[str]]:
    """The SQL sent to the database while the block runs, one spacing, lower case: through
    the engine, and on PostgreSQL through the asyncio connections that read polls."""
    statements: list[str] = []

    def seen(_conn, _cursor, statement, *_args):  # type: ignore[no-untyped-def]
        statements.append(" ".join(statement.split()).lower())

    async_execute = psycopg.AsyncConnection.execute

    async def seen_async(connection: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
        seen(None, None, str(query))
        return await async_execute(connection, query, *args, **kwargs)

    event.listen(engine, "before_cursor_execute", seen)
    psycopg.AsyncConnection.execute = seen_async  # type: ignore[method-assign]
    try:
        yield statements
    finally:
        psycopg.AsyncConnection.execute = async_execute  # type: ignore[method-assign]
        event.remove(engine, "before_cursor_execute", seen)
