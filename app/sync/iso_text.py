"""SQL that writes a stored UTC time as JavaScript's Date.toISOString() does.

A full pull formats thousands of times; done by the database, in C, the rows arrive as
the text the answer needs, with no datetime objects made and formatted in between. Both
cut to milliseconds, as iso_utc does (and the push stores no finer).
"""

from typing import Any

from sqlalchemy import String
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement


class iso_utc_text(FunctionElement[str]):  # noqa: N801  (reads as the SQL function it is)
    type = String()
    inherit_cache = True
    name = "iso_utc_text"


@compiles(iso_utc_text, "sqlite")
def _sqlite(element: iso_utc_text, compiler: SQLCompiler, **kw: Any) -> str:
    # Stored as `YYYY-MM-DD HH:MM:SS.ffffff` in UTC: cut to milliseconds (strftime's %f
    # would round), `T` between date and time.
    column = compiler.process(element.clauses, **kw)
    return f"replace(substr({column}, 1, 23), ' ', 'T') || 'Z'"


@compiles(iso_utc_text, "postgresql")
def _postgresql(element: iso_utc_text, compiler: SQLCompiler, **kw: Any) -> str:
    column = compiler.process(element.clauses, **kw)
    return f"""to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')"""
