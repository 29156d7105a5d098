"""Writing many rows at once: COPY on PostgreSQL, ``executemany`` on SQLite.

A batch of commits becomes a few statements per table instead of several per event:
new rows are streamed with ``COPY … FROM STDIN`` (text format); rows to close are
streamed into a temporary table and closed by one ``UPDATE … FROM``. On SQLite, where
statements are cheap and in-process, the same rows go through ``executemany``. Both
run inside the caller's transaction.
"""

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from operator import itemgetter
from typing import Any
from uuid import UUID

import orjson
from sqlalchemy import JSON, Boolean, Connection, DateTime, Dialect, String, Table, and_, bindparam, text, update

from annolog.core.rules import KEYS, Key

_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
_NULL = "\\N"
_CHUNK = 1 << 16
_json = json.JSONEncoder().encode
"""``json.dumps`` with its defaults, for what orjson cannot write (integers past 64 bits)."""


def _json_text(value: Any) -> str:
    """``value`` as JSON text for a COPY line: orjson writes it several times faster than ``json``.

    The text may differ from SQLAlchemy's (no spaces, UTF-8 instead of ``\\u`` escapes),
    never the value: columns are ``JSON`` and everything reads them back parsed. (orjson
    would write NaN and infinities as null; none arrive, since ``core.text.check_json`` and
    the geometry checks refuse them.) JSON text holds no raw tab or newline, so only its
    backslashes need COPY's escaping.
    """
    try:
        text = orjson.dumps(value).decode()
    except orjson.JSONEncodeError:
        text = _json(value)
    return text.replace("\\", "\\\\") if "\\" in text else text


@dataclass(frozen=True)
class _Layout:
    """How a table's rows are written in COPY's text format, worked out once per table."""

    names: tuple[str, ...]
    values: Callable[[Mapping[str, Any]], tuple[Any, ...]]
    json: tuple[int, ...]  # written as JSON text; None too, as SQLAlchemy's JSON type does ('null')
    text: tuple[int, ...]  # strings that may hold a tab, newline or backslash
    boolean: tuple[int, ...]
    time: tuple[int, ...]

    def line(self, row: Mapping[str, Any]) -> str:
        values = list(self.values(row))
        for i in self.json:
            v = values[i]
            values[i] = "null" if v is None else "{}" if v == {} else _json_text(v)
        for i in self.text:
            if (v := values[i]) is not None:
                values[i] = v.translate(_ESCAPES)
        for i in self.boolean:
            if (v := values[i]) is not None:
                values[i] = "t" if v else "f"
        for i in self.time:
            if (v := values[i]) is not None:
                values[i] = v.isoformat()
        # A UUID as 32 hex digits, which PostgreSQL reads too: a fifth of the cost of str(uuid).
        return "\t".join(
            [_NULL if v is None else v if type(v) is str else v.hex if type(v) is UUID else str(v) for v in values]
        )


@cache
def _layout(table: Table) -> _Layout:
    columns = list(table.columns)
    names = tuple(c.name for c in columns)

    def where(kind: type[Any]) -> tuple[int, ...]:
        return tuple(i for i, c in enumerate(columns) if isinstance(getattr(c.type, "impl", c.type), kind))

    getter, every = itemgetter(*names), frozenset(names)
    return _Layout(
        names,
        lambda row: getter(row) if row.keys() >= every else tuple(row.get(n) for n in names),
        where(JSON),
        where(String),
        where(Boolean),
        where(DateTime),
    )


_SQLITE_LAYOUTS: dict[str, tuple[str, Callable[[Mapping[str, Any]], tuple[Any, ...]]]] = {}


def _sqlite_layout(table: Table, dialect: Dialect) -> tuple[str, Callable[[Mapping[str, Any]], tuple[Any, ...]]]:
    """``table``'s INSERT for the driver's ``executemany``, and a row's parameters for it: each
    value through its column type's bind processor for this dialect (what SQLAlchemy stores:
    UUIDs as hex, JSON as text, times as SQLite's DATETIME text), worked out once per table
    instead of by SQLAlchemy's machinery for every row (every SQLite engine processes alike)."""
    if table.name not in _SQLITE_LAYOUTS:
        _SQLITE_LAYOUTS[table.name] = _sqlite_layout_of(table, dialect)
    return _SQLITE_LAYOUTS[table.name]


def _sqlite_layout_of(table: Table, dialect: Dialect) -> tuple[str, Callable[[Mapping[str, Any]], tuple[Any, ...]]]:
    columns = list(table.columns)
    # dialect_impl: a TypeDecorator's own bind_processor would use its generic impl, not SQLite's.
    processors = [column.type.dialect_impl(dialect).bind_processor(dialect) for column in columns]
    pairs = [(column.name, process) for column, process in zip(columns, processors)]
    quote = dialect.identifier_preparer.quote
    names = ", ".join(quote(column.name) for column in columns)
    statement = f"INSERT INTO {quote(table.name)} ({names}) VALUES ({', '.join('?' * len(columns))})"

    def values(row: Mapping[str, Any]) -> tuple[Any, ...]:
        return tuple(row.get(name) if process is None else process(row.get(name)) for name, process in pairs)

    return statement, values


class _Lines:
    """A file whose ``read`` formats rows as COPY asks for them: PostgreSQL, in its own
    process, stores one chunk while Python formats the next (on two cores the insert
    costs little more than the formatting)."""

    def __init__(self, lines: Iterable[str]) -> None:
        self._lines = iter(lines)

    def read(self, size: int = -1) -> str:
        parts, length = [], 0
        for line in self._lines:
            parts.append(line)
            length += len(line)
            if length >= size > 0:
                break
        return "".join(parts)


def _copy(db: Connection, table: str, columns: Sequence[str], lines: Iterable[str]) -> None:
    quote = db.dialect.identifier_preparer.quote
    cursor: Any = db.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        statement = f"COPY {quote(table)} ({', '.join(map(quote, columns))}) FROM STDIN"
        cursor.copy_expert(statement, _Lines(lines), size=_CHUNK)
    finally:
        cursor.close()


def insert_rows(db: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert ``rows`` (a missing column is NULL)."""
    if not rows:
        return
    if db.dialect.name != "postgresql":
        statement, values = _sqlite_layout(table, db.dialect)
        db.exec_driver_sql(statement, list(map(values, rows)))  # driver errors come back as SQLAlchemy's
        return
    layout = _layout(table)
    _copy(db, table.name, layout.names, (f"{layout.line(row)}\n" for row in rows))


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
    # Empty at the start of a transaction (ON COMMIT DELETE ROWS); emptied here in case this
    # transaction used it already. DELETE, not TRUNCATE: TRUNCATE makes a new file for the
    # table, 0.9 ms a batch, which was an eighth of projecting a one-box commit.
    db.execute(text(f"DELETE FROM {staging}"))
    lines = (  # keys are ids and names: text that may need escaping
        "\t".join([str(project_id), *(str(v).translate(_ESCAPES) for v in key), str(to)]) + "\n"
        for project_id, key, to in closes
    )
    _copy(db, staging, [*columns, "valid_to"], lines)
    same_key = " AND ".join(f"t.{quote(c)} = c.{quote(c)}" for c in columns)
    db.execute(
        text(
            f"UPDATE {quote(table.name)} AS t SET valid_to = c.valid_to FROM {staging} AS c "
            f"WHERE {same_key} AND t.valid_to IS NULL"
        )
    )
