"""SQLAlchemy Core statements run straight on a driver's connection, as SQLAlchemy runs them.

Each statement is compiled once for the dialect (per set of parameter names) and keeps
SQLAlchemy's own conversions of its parameters and columns; running it is then the
driver's execute and those conversions, nothing more. On the hottest paths (a device's
poll, a device's push) SQLAlchemy's execution context, pool checkout and session cost
several times what SQLite itself takes to answer.

Only plain statements qualify: no column defaults computed in Python at execution time
(compiling one raises), no ORM. A statement with an expanding parameter (`IN` a list)
is rendered through SQLAlchemy's public construct_expanded_state once per length of its
lists, and kept in that form (a push's lookup of its rows would otherwise render it
again on every push).
"""

from collections import namedtuple
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, NamedTuple

from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

Convert = Callable[[Any], Any]
# Compiled statements kept per app or per writer (the hot paths use a dozen).
MAX_STATEMENTS = 256


class _Marker:
    """Stands for a value while an expanding statement is rendered: the parameter's name,
    and the position of the value in its list (None for a single value). Not a tuple, nor
    any sequence, so that SQLAlchemy never takes one for a row of values."""

    __slots__ = ("name", "position")

    def __init__(self, name: str, position: int | None) -> None:
        self.name = name
        self.position = position


class _ExpandedForm(NamedTuple):
    """An expanding statement rendered for one set of list lengths: its SQL, and for each
    driver parameter in order, where its value comes from (a _Marker) and its conversion,
    or the statement's own literal, already converted."""

    sql: str
    positional: bool
    names: tuple[str, ...]
    sources: tuple[tuple[_Marker | None, Any, Convert | None], ...]

    def parameters(self, values: Mapping[str, Any]) -> tuple[str, Any]:
        converted = []
        for marker, fixed, convert in self.sources:
            if marker is None:
                converted.append(fixed)
                continue
            value = values[marker.name] if marker.position is None \
                else values[marker.name][marker.position]
            converted.append(value if convert is None else convert(value))
        if self.positional:
            return self.sql, converted
        return self.sql, dict(zip(self.names, converted, strict=True))


class DirectStatement:
    """One statement compiled for one dialect and one set of parameter names."""

    def __init__(self, statement: ClauseElement, dialect: Dialect,
                 parameter_names: Sequence[str] | None = None) -> None:
        compiled = statement.compile(dialect=dialect, column_keys=list(parameter_names or ()))
        assert isinstance(compiled, SQLCompiler)
        if compiled.insert_prefetch or compiled.update_prefetch:
            raise ValueError("A statement whose column defaults are computed at execution "
                             "time cannot run directly: pass every column's value.")
        if any(bind.callable is not None for bind in compiled.binds.values()):
            # Its value would be taken once, as the statement's own literal.
            raise ValueError("A statement with a parameter whose value is computed at "
                             "execution time cannot run directly: pass the value.")
        self.compiled = compiled
        self.sql = compiled.string
        self.positional = compiled.positional
        self.expanding = bool(compiled.post_compile_params or compiled.literal_execute_params)
        # The lengths of the lists alone shape the SQL where every list is a named, typed
        # parameter of plain values. Not where a value is rendered into the SQL as a
        # literal, where the list is fixed in the statement, where its items are tuples,
        # or where it has no type (SQLAlchemy then looks at the values to render it).
        self._lists = tuple(sorted(bind.key for bind in compiled.post_compile_params))
        self._by_lengths = not compiled.literal_execute_params and all(
            bind.expanding and bind.required and not bind.unique and not bind.literal_execute
            and not bind.type._isnull and not bind.type._is_tuple_type
            for bind in compiled.post_compile_params)
        self._forms: dict[tuple[int, ...], _ExpandedForm] = {}
        bind_processors: Mapping[str, Any] = compiled._bind_processors
        self._bind_processors = bind_processors
        # The statement's own literals (`param_1`, ...) are fixed; construct_params would
        # make them again on every execution, at several times the cost of the rest.
        self._literals = {name: bind.value for name, bind in compiled.binds.items()
                          if not bind.required}
        names = compiled.positiontup if self.positional else list(compiled.binds)
        self._params: list[tuple[str, Convert | None]] = [
            (name, bind_processors.get(name)) for name in names or ()]
        columns = compiled._result_columns
        self.row_type: Any = namedtuple(  # type: ignore[misc]
            "Row", [column.keyname for column in columns], rename=True) if columns else None
        self._result_processors = [
            (index, processor) for index, column in enumerate(columns)
            if (processor := column.type._cached_result_processor(dialect, None))
        ]

    def parameters(self, values: Mapping[str, Any]) -> tuple[str, Any]:
        """The SQL and the driver's parameters for one set of values."""
        if self.expanding and self._by_lengths and all(
                type(values.get(name)) in (list, tuple) for name in self._lists):
            form = self._expanded_form(values)
            if form is not None:
                return form.parameters(values)
        if self.expanding:
            expanded = self.compiled.construct_expanded_state(dict(values))
            # The expanded list's own conversions, over those of the other parameters.
            processors = {**self._bind_processors, **expanded.processors}
            converted = {name: value if (convert := processors.get(name)) is None
                         else convert(value) for name, value in expanded.parameters.items()}
            if expanded.positiontup is None:
                return expanded.statement, converted
            return expanded.statement, [converted[name] for name in expanded.positiontup]
        values = {**self._literals, **values}
        if self.positional:
            return self.sql, [values[name] if convert is None else convert(values[name])
                              for name, convert in self._params]
        return self.sql, {name: values[name] if convert is None else convert(values[name])
                          for name, convert in self._params}

    def _expanded_form(self, values: Mapping[str, Any]) -> _ExpandedForm | None:
        """The statement rendered for the lengths of `values`' lists; None where the
        rendering does not place each value as one parameter (then every call renders)."""
        lengths = tuple(len(values[name]) for name in self._lists)
        form = self._forms.get(lengths)
        if form is None:
            # Rendered with markers in place of the values, to learn where each goes.
            markers = {name: [_Marker(name, position) for position in range(len(values[name]))]
                       if name in self._lists else _Marker(name, None) for name in values}
            expanded = self.compiled.construct_expanded_state(markers)
            processors = {**self._bind_processors, **expanded.processors}
            names = tuple(expanded.positiontup or expanded.parameters)
            sources: list[tuple[_Marker | None, Any, Convert | None]] = []
            for name in names:
                value, convert = expanded.parameters[name], processors.get(name)
                if isinstance(value, _Marker):
                    sources.append((value, None, convert))
                elif name in self._literals:  # the statement's own literal
                    sources.append((None, value if convert is None else convert(value), None))
                else:
                    self._by_lengths = False
                    return None
            if len(self._forms) >= MAX_STATEMENTS:
                self._forms.clear()
            form = self._forms[lengths] = _ExpandedForm(
                expanded.statement, expanded.positiontup is not None, names, tuple(sources))
        return form

    def rows(self, raw_rows: Sequence[Sequence[Any]]) -> list[Any]:
        """The driver's rows, converted as SQLAlchemy would, with columns by name."""
        rows = []
        for raw in raw_rows:
            converted = list(raw)
            for index, processor in self._result_processors:
                converted[index] = processor(converted[index])
            rows.append(self.row_type._make(converted))
        return rows


# Statements compiled for one dialect, by statement and parameter names: kept per app (or
# per writer) and shared by its connections.
DirectStatements = dict[tuple[int, tuple[str, ...]], DirectStatement]


class DirectResult:
    """The few parts of SQLAlchemy's Result that direct statements are read through."""

    def __init__(self, rows: list[Any]) -> None:
        self._rows = rows

    def __iter__(self) -> Iterator[Any]:
        return iter(self._rows)

    def all(self) -> list[Any]:
        return self._rows

    def first(self) -> Any:
        return self._rows[0] if self._rows else None

    def scalar(self) -> Any:
        return self._rows[0][0] if self._rows else None


class DirectConnection:
    """A driver connection that runs Core statements directly (see the module's doc).

    Transactions are the caller's: this only executes. Driver errors go up wrapped as
    SQLAlchemy wraps them, so that a lost or locked database is answered as on every route.
    """

    def __init__(self, driver_connection: Any, dialect: Dialect,
                 statements: DirectStatements) -> None:
        self.driver_connection = driver_connection
        self.dialect = dialect
        self._statements = statements

    def statement(self, statement: ClauseElement, names: tuple[str, ...]) -> DirectStatement:
        # The hot paths' statements are module-level constants, built once. An entry keeps
        # its statement alive (the compiled form holds it), so an id stays its statement's
        # while cached; statements built per call would fill the cache, hence the bound.
        key = (id(statement), names)
        direct = self._statements.get(key)
        if direct is None:
            if len(self._statements) >= MAX_STATEMENTS:
                self._statements.clear()
            direct = self._statements[key] = DirectStatement(statement, self.dialect, names)
        return direct

    def execute(self, statement: ClauseElement,
                parameters: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None,
                ) -> DirectResult:
        """One execution for a mapping of values; one executemany (a write, no rows back)
        for a list of them."""
        cursor = self.driver_connection.cursor()
        sql, params = "", None
        error_type = self.dialect.loaded_dbapi.Error
        try:
            if isinstance(parameters, Sequence):
                direct = self.statement(statement, tuple(parameters[0]))
                assert not direct.expanding, "an expanding parameter renders per execution"
                sql = direct.sql
                params = [direct.parameters(values)[1] for values in parameters]
                cursor.executemany(sql, params)
                return DirectResult([])
            direct = self.statement(statement, tuple(parameters or ()))
            sql, params = direct.parameters(parameters or {})
            cursor.execute(sql, params)
            if direct.row_type is None:
                return DirectResult([])
            return DirectResult(direct.rows(cursor.fetchall()))
        except error_type as error:
            raise DBAPIError.instance(sql, params, error, error_type,
                                      hide_parameters=True) from error
        finally:
            cursor.close()

    def scalar(self, statement: ClauseElement,
               parameters: Mapping[str, Any] | None = None) -> Any:
        return self.execute(statement, parameters).scalar()
