"""Writing versioned rows: insert as of a version, close at a version, replace.

A row written by commit N has ``valid_from = N``. Closing it at N means "no longer true
after N" (``valid_to = N``); a row both created and closed by the same commit was never
visible at any version, so it is deleted instead of leaving an empty interval.
"""

from typing import Any
from uuid import UUID

from sqlalchemy import Connection, Row, Table, and_, delete, insert, select, update
from sqlalchemy.sql.elements import ColumnElement


def _key(table: Table, project_id: UUID, key: dict[str, Any]) -> ColumnElement[bool]:
    return and_(table.c.project_id == project_id, *(table.c[name] == value for name, value in key.items()))


def current(db: Connection, table: Table, project_id: UUID, /, **key: Any) -> Row[Any] | None:
    """The current row of ``table`` with ``key``, if there is one."""
    query = select(table).where(_key(table, project_id, key), table.c.valid_to.is_(None))
    return db.execute(query).first()


def ever_existed(db: Connection, table: Table, project_id: UUID, /, **key: Any) -> bool:
    """Whether any version ever had a row with ``key`` (ids are never reused)."""
    query = select(table.c.valid_from).where(_key(table, project_id, key)).limit(1)
    return db.execute(query).first() is not None


def add(db: Connection, table: Table, project_id: UUID, version: int, /, **values: Any) -> None:
    """Insert a row that is true from ``version`` on."""
    db.execute(insert(table).values(project_id=project_id, valid_from=version, valid_to=None, **values))


def close(db: Connection, table: Table, project_id: UUID, version: int, /, **key: Any) -> None:
    """End the current row with ``key`` after ``version`` (or drop it if ``version`` made it)."""
    is_current = and_(_key(table, project_id, key), table.c.valid_to.is_(None))
    db.execute(delete(table).where(is_current, table.c.valid_from == version))
    db.execute(update(table).where(is_current).values(valid_to=version))


def replace(
    db: Connection, table: Table, project_id: UUID, version: int, key: dict[str, Any], values: dict[str, Any]
) -> None:
    """The row with ``key`` has new ``values`` from ``version`` on; earlier versions keep the old."""
    close(db, table, project_id, version, **key)
    add(db, table, project_id, version, **key, **values)
