"""One project's views as they were before a batch, read from SQL in sets: the overlay's base.

Each question names many keys at once (``IN`` lists of at most ``CHUNK`` values, so that
neither SQLite's limit on parameters nor a huge statement is ever reached), and every
query reads current rows through the ``valid_to IS NULL`` indexes.
"""

from collections.abc import Collection, Iterable, Iterator
from itertools import islice
from typing import Any, TypeVar
from uuid import UUID

from sqlalchemy import Connection, Select, Table, select, tuple_
from sqlalchemy.sql.elements import ColumnElement

from annolog.core.rules import KEYS, Key, Row, key_of
from annolog.projections.access import grants_of, holders
from annolog.projections.overlay import Pair
from annolog.projections.rowstate import public_row
from annolog.projections.tables import directories, files, instances, label_counts, labels, memberships, table_named

CHUNK = 2000
T = TypeVar("T")


def chunks(items: Iterable[T], size: int = CHUNK) -> Iterator[list[T]]:
    """``items`` in lists of at most ``size``."""
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk


def select_in(db: Connection, query: Select[Any], column: ColumnElement[Any], values: Iterable[Any]) -> Iterator[Any]:
    """The rows of ``query`` whose ``column`` is one of ``values``, asked ``CHUNK`` values at a time."""
    for chunk in chunks(values):
        yield from db.execute(query.where(column.in_(chunk)))


class SqlBase:
    """``overlay.Base`` over ``db``, for the project ``project_id``."""

    def __init__(self, db: Connection, project_id: UUID) -> None:
        self._db, self._project_id = db, project_id

    def _current(self, table: Table, *where: ColumnElement[bool]) -> Select[Any]:
        return select(table).where(table.c.project_id == self._project_id, table.c.valid_to.is_(None), *where)

    def _by_key(self, query: Select[Any], table: Table, keys: Collection[Key]) -> Iterator[Any]:
        """The rows of ``query`` whose key (``core.rules.KEYS``) is one of ``keys``."""
        columns = KEYS[table.name]
        if len(columns) == 1:
            return select_in(self._db, query, table.c[columns[0]], (key[0] for key in keys))
        return select_in(self._db, query, tuple_(*(table.c[c] for c in columns)), keys)

    def _public_by_key(self, table: str, rows: Iterable[Any]) -> dict[Key, Row]:
        public = [public_row(row) for row in rows]
        return {key_of(table, row): row for row in public}

    def rows(self, table: str, keys: Collection[Key]) -> dict[Key, Row]:
        view = table_named(table)
        return self._public_by_key(table, self._by_key(self._current(view), view, keys))

    def existing(self, table: str, keys: Collection[Key]) -> set[Key]:
        view = table_named(table)
        ever = select(*(view.c[c] for c in KEYS[table])).distinct().where(view.c.project_id == self._project_id)
        return {tuple(row) for row in self._by_key(ever, view, keys)}

    def labels(self) -> dict[str, Row]:
        return {row.name: public_row(row) for row in self._db.execute(self._current(labels))}

    def directories(self) -> list[Row]:
        return [public_row(row) for row in self._db.execute(self._current(directories))]

    def names(self, pairs: Collection[Pair]) -> dict[Pair, set[UUID]]:
        # Files by name first, then their memberships, both by index. A join leaves the order
        # to the planner, which during a replay (no statistics yet) scans whole directories:
        # 1.3 s per name at 80,000 files.
        wanted = set(pairs)
        current_files = select(files.c.file_id, files.c.name).where(
            files.c.project_id == self._project_id, files.c.valid_to.is_(None)
        )
        named = {
            row.file_id: row.name
            for row in select_in(self._db, current_files, files.c.name, {name for _, name in wanted})
        }
        current_members = select(memberships.c.directory_id, memberships.c.file_id).where(
            memberships.c.project_id == self._project_id, memberships.c.valid_to.is_(None)
        )
        found: dict[Pair, set[UUID]] = {}
        for directory_id, file_id in select_in(self._db, current_members, memberships.c.file_id, named):
            if (pair := (directory_id, named[file_id])) in wanted:
                found.setdefault(pair, set()).add(file_id)
        return found

    def holders(self, file_ids: Collection[UUID]) -> dict[UUID, dict[UUID, int | None]]:
        found: dict[UUID, dict[UUID, int | None]] = {}
        for chunk in chunks(file_ids):
            found.update(holders(self._db, self._project_id, chunk))
        return found

    def grants(self, principals: Collection[str]) -> dict[str, dict[UUID, int]]:
        return grants_of(self._db, self._project_id, principals)

    def instances_of(self, file_id: UUID) -> list[Row]:
        return [public_row(row) for row in self._db.execute(self._current(instances, instances.c.file_id == file_id))]

    def label_counts(self, file_ids: Collection[UUID]) -> dict[Key, Row]:
        rows = select_in(self._db, self._current(label_counts), label_counts.c.file_id, file_ids)
        return self._public_by_key("label_counts", rows)
