"""One project's views as they were before a batch, read from SQL in sets: the overlay's base.

Each question names many keys at once (``IN`` lists of at most ``CHUNK`` values, so that
neither SQLite's limit on parameters nor a huge statement is ever reached), and every
query reads current rows through the ``valid_to IS NULL`` indexes.
"""

from collections.abc import Collection, Iterable, Iterator, Sequence
from itertools import islice
from typing import Any, TypeVar
from uuid import UUID

from sqlalchemy import Connection, Table, select, tuple_
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


class SqlBase:
    """``overlay.Base`` over ``db``, for the project ``project_id``."""

    def __init__(self, db: Connection, project_id: UUID) -> None:
        self._db, self._project_id = db, project_id

    def _in(self, table: Table, keys: Sequence[Key]) -> ColumnElement[bool]:
        columns = KEYS[table.name]
        if len(columns) == 1:
            return table.c[columns[0]].in_([k[0] for k in keys])
        return tuple_(*(table.c[c] for c in columns)).in_(keys)

    def _current(self, table: Table, *where: ColumnElement[bool]) -> Iterator[Any]:
        query = select(table).where(table.c.project_id == self._project_id, table.c.valid_to.is_(None), *where)
        return iter(self._db.execute(query))

    def rows(self, table: str, keys: Collection[Key]) -> dict[Key, Row]:
        view = table_named(table)
        found: dict[Key, Row] = {}
        for chunk in chunks(keys):
            for row in self._current(view, self._in(view, chunk)):
                public = public_row(row)
                found[key_of(table, public)] = public
        return found

    def existing(self, table: str, keys: Collection[Key]) -> set[Key]:
        view = table_named(table)
        columns = [view.c[c] for c in KEYS[table]]
        found: set[Key] = set()
        for chunk in chunks(keys):
            query = select(*columns).distinct().where(view.c.project_id == self._project_id, self._in(view, chunk))
            found.update(tuple(row) for row in self._db.execute(query))
        return found

    def labels(self) -> dict[str, int]:
        return {row.name: row.class_index for row in self._current(labels)}

    def directories(self) -> list[Row]:
        return [public_row(row) for row in self._current(directories)]

    def names(self, pairs: Collection[Pair]) -> dict[Pair, set[UUID]]:
        # Files by name first, then their memberships, both by index. A join leaves the order
        # to the planner, which during a replay (no statistics yet) scans whole directories:
        # 1.3 s per name at 80,000 files.
        wanted = set(pairs)
        named: dict[UUID, str] = {}
        for names in chunks({name for _, name in wanted}):
            query = select(files.c.file_id, files.c.name).where(
                files.c.project_id == self._project_id, files.c.name.in_(names), files.c.valid_to.is_(None)
            )
            named.update({row.file_id: row.name for row in self._db.execute(query)})
        directories_wanted = {directory for directory, _ in wanted}
        found: dict[Pair, set[UUID]] = {}
        for file_ids in chunks(named):
            query = select(memberships.c.directory_id, memberships.c.file_id).where(
                memberships.c.project_id == self._project_id,
                memberships.c.file_id.in_(file_ids),
                memberships.c.valid_to.is_(None),
            )
            for directory_id, file_id in self._db.execute(query):
                pair = (directory_id, named[file_id])
                if directory_id in directories_wanted and pair in wanted:
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
        return [public_row(row) for row in self._current(instances, instances.c.file_id == file_id)]

    def label_counts(self, file_ids: Collection[UUID]) -> dict[Key, Row]:
        found: dict[Key, Row] = {}
        for chunk in chunks(file_ids):
            for row in self._current(label_counts, label_counts.c.file_id.in_(chunk)):
                public = public_row(row)
                found[key_of("label_counts", public)] = public
        return found
