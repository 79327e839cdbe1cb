"""Driver-level bulk statements for the ledger's large tables, where SQLAlchemy's per-row parameter and result
processing would dominate a 100,000-row batch: executemany on SQLite, `execute_values` on psycopg2, and chunked
`IN (...)` lookups. Values are bound exactly as the SQLAlchemy column types would bind them, so rows written here
read back the same through Core queries.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import Column, Connection

from contact_sync.ledger.errors import LedgerError

# Keeps every IN (...) list below SQLite's bound-parameter limit (32766) and PostgreSQL statements modest.
CHUNK = 5000
PAGE = 5000


def chunks(values: Sequence[Any], size: int = CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _placeholder(connection: Connection) -> str:
    name = connection.dialect.name
    if name == "sqlite":
        return "?"
    if name == "postgresql":
        return "%s"
    raise LedgerError(f"the ledger supports SQLite and PostgreSQL, not {name}")


def bind(connection: Connection, column: Column[Any]) -> Callable[[Any], Any]:
    """How SQLAlchemy would bind a value of `column` on this connection's dialect."""
    processor = column.type._cached_bind_processor(connection.dialect)
    return processor if processor is not None else (lambda value: value)


def insert_rows(
    connection: Connection,
    table: str,
    columns: Sequence[str],
    rows: Sequence[tuple[Any, ...]],
    on_conflict: str = "",
) -> None:
    """INSERT `rows` (tuples in `columns` order) into `table`, with an optional `ON CONFLICT ...` clause."""
    if not rows:
        return
    names = ", ".join(columns)
    if connection.dialect.name == "postgresql":
        _copy_rows(connection, table, columns, rows, on_conflict)
        return
    marks = ", ".join([_placeholder(connection)] * len(columns))
    connection.exec_driver_sql(f"INSERT INTO {table} ({names}) VALUES ({marks}) {on_conflict}", list(rows))


_SPECIAL = re.compile(r"[\\\t\n\r]")
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_field(value: Any) -> str:
    """One field in COPY's text format: \\N for NULL, backslash escapes for the separators."""
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, str):
        return value.translate(_COPY_ESCAPES) if _SPECIAL.search(value) else value
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def _copy_column(values: tuple[Any, ...]) -> Sequence[str]:
    """A column in COPY text format, skipping per-value work when it is all plain strings (the usual case)."""
    if all(type(v) is str for v in values) and not _SPECIAL.search("".join(values)):
        return values
    return [_copy_field(v) for v in values]


def _copy_text(rows: Sequence[tuple[Any, ...]]) -> str:
    columns = [_copy_column(c) for c in zip(*rows, strict=True)]
    return "".join("\t".join(row) + "\n" for row in zip(*columns, strict=True))


def _copy_rows(
    connection: Connection, table: str, columns: Sequence[str], rows: Sequence[tuple[Any, ...]], on_conflict: str
) -> None:
    """PostgreSQL: COPY the rows in (text format) (several times faster than INSERT ... VALUES); with an ON CONFLICT
    clause, COPY into a scratch table and INSERT ... SELECT from it, since COPY itself cannot upsert."""
    buffer = io.StringIO(_copy_text(rows))
    names = ", ".join(columns)
    cursor = connection.connection.cursor()
    try:
        if not on_conflict:
            cursor.copy_expert(f"COPY {table} ({names}) FROM STDIN", buffer)
            return
        scratch = f"{table}_incoming"
        cursor.execute(f"CREATE TEMP TABLE {scratch} (LIKE {table} INCLUDING DEFAULTS) ON COMMIT DROP")
        cursor.copy_expert(f"COPY {scratch} ({names}) FROM STDIN", buffer)
        cursor.execute(f"INSERT INTO {table} ({names}) SELECT {names} FROM {scratch} {on_conflict}")
        cursor.execute(f"DROP TABLE {scratch}")
    finally:
        cursor.close()


def _raw_rows(connection: Connection, sql: str, params: Sequence[Any]) -> list[Any]:
    """Rows as the driver returns them (plain tuples), on the connection's current transaction."""
    cursor = connection.connection.cursor()
    try:
        cursor.execute(sql, tuple(params))
        return list(cursor.fetchall())
    finally:
        cursor.close()


def select_in(
    connection: Connection,
    sql: str,
    column: str,
    values: Sequence[Any],
    params: Sequence[Any] = (),
    columns: Sequence[str] = (),
) -> pd.DataFrame:
    """Run `sql` (a SELECT whose WHERE clause ends so that `AND column IN (...)` can follow, or ends with WHERE 1=1)
    once per chunk of `values`; `params` bind the placeholders already in `sql`. Returns the rows as a frame."""
    mark = _placeholder(connection)
    rows: list[Any] = []
    if connection.dialect.name == "postgresql":
        # One round trip with an array parameter instead of thousands of bound values.
        rows = _raw_rows(connection, f"{sql} AND {column} = ANY({mark})", (*params, list(values)))
        return pd.DataFrame.from_records(rows, columns=list(columns))
    for part in chunks(list(values)):
        statement = f"{sql} AND {column} IN ({', '.join([mark] * len(part))})"
        rows += _raw_rows(connection, statement, (*params, *part))
    return pd.DataFrame.from_records(rows, columns=list(columns))


def stack(frames: Sequence[pd.DataFrame], columns: Sequence[str]) -> pd.DataFrame:
    """Row-wise concat of result frames, skipping empty ones (whose all-NA columns would blur the dtypes)."""
    filled = [f for f in frames if len(f)]
    if not filled:
        return pd.DataFrame(columns=list(columns))
    return pd.concat(filled, ignore_index=True)


def fetch(connection: Connection, sql: str, params: Sequence[Any] = (), columns: Sequence[str] = ()) -> pd.DataFrame:
    """Run a driver-level SELECT and return its rows as a frame with `columns`."""
    return pd.DataFrame.from_records(_raw_rows(connection, sql, params), columns=list(columns))


def mark(connection: Connection) -> str:
    """The driver's positional placeholder (`?` on SQLite, `%s` on psycopg2)."""
    return _placeholder(connection)
