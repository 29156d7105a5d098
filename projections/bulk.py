"""Writing many rows at once: COPY on PostgreSQL, ``executemany`` on SQLite.

A batch of commits becomes a few statements per table instead of several per event:
new rows are streamed with ``COPY … FROM STDIN`` (text format); rows to close are
streamed into a temporary table and closed by one ``UPDATE … FROM``. On SQLite, where
statements are cheap and in-process, the same rows go through ``executemany``. Both
run inside the caller's transaction.
"""

import io
import json
from collections.abc import Callable, Mapping, Sequence
from functools import cache
from typing import Any
from uuid import UUID

from sqlalchemy import JSON, Boolean, Connection, DateTime, Table, and_, bindparam, insert, text, update

from annolog.core.rules import KEYS, Key

_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
_NULL = "\\N"


def _text_format(column: Any) -> Callable[[Any], str]:
    """How one column's Python value is written in COPY's text format."""
    if isinstance(column.type, JSON):
        return lambda v: json.dumps(v).translate(_ESCAPES)
    if isinstance(column.type, Boolean):
        return lambda v: "t" if v else "f"
    if isinstance(column.type, DateTime):
        return lambda v: v.isoformat()
    return lambda v: str(v).translate(_ESCAPES)


@cache
def _formats(table: Table) -> tuple[tuple[str, Callable[[Any], str]], ...]:
    return tuple((column.name, _text_format(column)) for column in table.columns)


def _copy(db: Connection, table: str, columns: Sequence[str], lines: io.StringIO) -> None:
    quote = db.dialect.identifier_preparer.quote
    lines.seek(0)
    cursor: Any = db.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.copy_expert(f"COPY {quote(table)} ({', '.join(map(quote, columns))}) FROM STDIN", lines)
    finally:
        cursor.close()


def insert_rows(db: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert ``rows`` (a missing column is NULL)."""
    if not rows:
        return
    if db.dialect.name != "postgresql":
        names = [column.name for column in table.columns]
        db.execute(insert(table), [{name: row.get(name) for name in names} for row in rows])
        return
    formats = _formats(table)
    lines = io.StringIO()
    for row in rows:
        values = (_NULL if (v := row.get(name)) is None else write(v) for name, write in formats)
        lines.write("\t".join(values))
        lines.write("\n")
    _copy(db, table.name, [name for name, _ in formats], lines)


def close_rows(db: Connection, table: Table, closes: Sequence[tuple[UUID, Key, int]]) -> None:
    """Close the current rows (project id, key) of ``table`` at the version given with each."""
    if not closes:
        return
    columns = ["project_id", *KEYS[table.name]]
    if db.dialect.name != "postgresql":
        matches = and_(*(table.c[c] == bindparam(f"k_{c}") for c in columns), table.c.valid_to.is_(None))
        statement = update(table).where(matches).values(valid_to=bindparam("k_valid_to"))
        db.execute(
            statement,
            [
                {"k_project_id": project_id, **{f"k_{c}": v for c, v in zip(columns[1:], key)}, "k_valid_to": to}
                for project_id, key, to in closes
            ],
        )
        return
    quote = db.dialect.identifier_preparer.quote
    staging = f"annolog_close_{table.name}"
    definitions = ", ".join(f"{quote(c)} {table.c[c].type.compile(db.dialect)}" for c in columns)
    db.execute(
        text(f"CREATE TEMP TABLE IF NOT EXISTS {staging} ({definitions}, valid_to integer) ON COMMIT DELETE ROWS")
    )
    formats = dict(_formats(table))
    lines = io.StringIO()
    for project_id, key, to in closes:
        values = [str(project_id), *(formats[c](v) for c, v in zip(columns[1:], key)), str(to)]
        lines.write("\t".join(values))
        lines.write("\n")
    _copy(db, staging, [*columns, "valid_to"], lines)
    same_key = " AND ".join(f"t.{quote(c)} = c.{quote(c)}" for c in columns)
    db.execute(
        text(
            f"UPDATE {quote(table.name)} AS t SET valid_to = c.valid_to FROM {staging} AS c "
            f"WHERE {same_key} AND t.valid_to IS NULL"
        )
    )
