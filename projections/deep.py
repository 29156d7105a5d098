"""The deep tamper check: the views must be exactly what a replay of the log makes.

The hash chain covers the log and the chain hashes stored beside the outcomes. What people
read — a commit's actor, the history, every view row — is covered only by being a pure
function of the log: replayed into scratch tables, the log must give the very same rows,
so a row edited, added or deleted in place shows as the first row that differs.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, String, Table, select

from annolog.eventlog.log import EventLog
from annolog.eventlog.sql import open_sqlite
from annolog.projections.replay import canonical, drop_database, fresh_database, replay
from annolog.projections.tables import log_positions, metadata

Row = dict[str, Any]


@dataclass(frozen=True)
class Difference:
    """The first row, in table and primary-key order, where the views and the replay differ.

    ``live`` or ``replayed`` is None when the row exists only on the other side.
    """

    table: str
    key: Row
    live: Row | None
    replayed: Row | None
    columns: list[str] = field(default_factory=list)
    """The columns whose values differ (all of them when a side lacks the row)."""


def deep_verify(engine: Engine, log: EventLog) -> Difference | None:
    """Replay the log into scratch tables as far as the views have projected it and compare
    every table row by row; the first difference, or None when they are equal.

    The views are read in one snapshot, so a projector may go on running meanwhile.
    """
    target = fresh_database(engine)
    try:
        with projected_snapshot(engine) as (live, until):
            replay(log, target, until=until)
            with target.connect() as replayed:
                return first_difference(live, replayed)
    finally:
        drop_database(target)


@contextmanager
def projected_snapshot(engine: Engine) -> Iterator[tuple[Connection, dict[int, int]]]:
    """One consistent read of the views, and the log offset each partition is projected up to in
    it: what a replay must stop at to be compared with them while a projector goes on."""
    with _snapshot(engine) as live:
        positions = live.execute(select(log_positions.c.partition, log_positions.c.next_offset))
        yield live, {row.partition: row.next_offset for row in positions}


def first_difference(live: Connection, replayed: Connection) -> Difference | None:
    """The first row where two sets of view tables differ, comparing table by table."""
    for table in metadata.sorted_tables:
        found = _first_in(table, _rows(live, table), _rows(replayed, table))
        if found is not None:
            return found
    return None


def _first_in(table: Table, ours: Iterator[Row], theirs: Iterator[Row]) -> Difference | None:
    """A merge of two row streams sorted by primary key, stopping at the first mismatch."""
    keys = [column.name for column in table.primary_key.columns]

    def key(row: Row) -> tuple[Any, ...]:
        return tuple(row[k] for k in keys)

    mine, other = next(ours, None), next(theirs, None)
    while mine is not None or other is not None:
        if mine == other:
            mine, other = next(ours, None), next(theirs, None)
            continue
        if mine is not None and (other is None or key(mine) < key(other)):
            return Difference(table.name, dict(zip(keys, key(mine))), mine, None, list(mine))
        if other is not None and (mine is None or key(other) < key(mine)):
            return Difference(table.name, dict(zip(keys, key(other))), None, other, list(other))
        if mine is not None and other is not None:  # the same key, other values
            changed = [name for name in mine if mine[name] != other[name]]
            return Difference(table.name, dict(zip(keys, key(mine))), mine, other, changed)
    return None


def _rows(db: Connection, table: Table) -> Iterator[Row]:
    """``table``'s rows in primary-key order as Python compares the keys: text in code point
    order (PostgreSQL's collation would sort it otherwise), ids as their text."""
    order = [
        column.collate("C") if db.dialect.name == "postgresql" and isinstance(column.type, String) else column
        for column in table.primary_key.columns
    ]
    for row in db.execute(select(table).order_by(*order)):
        yield {name: canonical(value) for name, value in row._mapping.items()}


@contextmanager
def _snapshot(engine: Engine) -> Iterator[Connection]:
    """One consistent read of the views that does not hold the projector up meanwhile."""
    if engine.dialect.name != "sqlite":
        with engine.connect().execution_options(isolation_level="REPEATABLE READ") as db:
            yield db
        return
    # A deferred read transaction: WAL keeps its snapshot while writers go on (the embedded
    # engine would BEGIN IMMEDIATE, taking the write lock for the whole check).
    reader = open_sqlite(Path(str(engine.url.database)), read_only=True)
    try:
        with reader.connect() as db:
            db.exec_driver_sql("BEGIN")
            yield db
    finally:
        reader.dispose()
