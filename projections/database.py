"""Opening the views' database (PostgreSQL or the embedded SQLite file) and its schema."""

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection, Engine, MetaData, Table, create_engine, inspect, text
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.schema import CreateColumn

from annolog.core.errors import ConfigurationError, DatabaseUnavailable
from annolog.eventlog.sql import open_sqlite
from annolog.projections.tables import VERSIONED, metadata

log = logging.getLogger(__name__)

_SQLITE_UNAVAILABLE = ("locked", "unable to open", "disk I/O", "readonly", "busy")
_SCHEMA_LOCK = 0x616E6E6F  # "anno": one advisory lock for everything that creates tables


def open_database(url: str | None, *, embedded: Path, read_only: bool = False) -> Engine:
    """PostgreSQL at ``url``, or the embedded SQLite file when ``url`` is None."""
    if url is None:
        return open_sqlite(embedded, read_only=read_only)
    return create_engine(url, pool_pre_ping=True, connect_args={"connect_timeout": 10})


def is_outage(dialect: str, exc: BaseException) -> bool:
    """Whether ``exc`` says the database could not be reached (retry later), not that a
    statement was wrong: the one test the service, the projector and its loop share."""
    if isinstance(exc, DatabaseUnavailable):
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, OperationalError):
        # SQLite reports SQL mistakes as OperationalError too; those are bugs, not outages.
        return dialect != "sqlite" or any(sign in str(exc.orig) for sign in _SQLITE_UNAVAILABLE)
    return False


@contextmanager
def database_errors(engine: Engine, action: str) -> Iterator[None]:
    """A database that cannot be reached becomes ``DatabaseUnavailable`` naming it."""
    try:
        yield
    except DBAPIError as exc:
        if not is_outage(engine.dialect.name, exc):
            raise
        where = engine.url.render_as_string(hide_password=True)
        raise DatabaseUnavailable(f"could not {action}: the database {where} is unreachable ({exc.orig})") from exc


@contextmanager
def schema_change(engine: Engine, what: str) -> Iterator[Connection]:
    """A transaction that may create tables, one process at a time.

    ``annolog serve`` and ``annolog projector`` start together and both create what is
    missing; without the lock PostgreSQL's catalog refuses the slower one (a duplicate
    ``pg_type`` row). SQLite's write lock already serializes them.
    """
    with database_errors(engine, f"create {what}"), engine.begin() as db:
        if engine.dialect.name == "postgresql":
            db.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SCHEMA_LOCK})
        yield db


def create_tables(engine: Engine, tables: MetaData, what: str) -> None:
    """Create the missing tables of ``tables`` and their missing columns (see ``schema_change``)."""
    with schema_change(engine, what) as db:
        _create(db, tables)


def _create(db: Connection, tables: MetaData) -> None:
    """``create_all``, then the nullable columns a newer annolog added to tables that exist.

    A new column that cannot be NULL has no value for the rows already there: those views
    must be rebuilt from the log (``annolog replay``), and start-up says so.
    """
    existing = set(inspect(db).get_table_names())
    tables.create_all(db)
    for table in tables.sorted_tables:
        if table.name not in existing:
            continue
        present = {column["name"] for column in inspect(db).get_columns(table.name)}
        for column in table.columns:
            if column.name in present:
                continue
            if not column.nullable:
                raise ConfigurationError(
                    f"table {table.name!r} lacks column {column.name!r}, which this annolog needs and cannot fill "
                    "in for rows already there: rebuild the views from the log with `annolog replay`"
                )
            db.execute(text(f"ALTER TABLE {table.name} ADD COLUMN {CreateColumn(column).compile(dialect=db.dialect)}"))
        _sync_indexes(db, table)


def _sync_indexes(db: Connection, table: Table) -> None:
    """Create the indexes a newer annolog defines on a table that exists, and rebuild those
    whose columns or uniqueness changed (reads choose their plan by them: see
    ``tables._versioned``). A changed ``WHERE`` or ``INCLUDE`` alone is not seen: give such
    an index a new name."""
    present = {
        index["name"]: (index["column_names"], bool(index["unique"])) for index in inspect(db).get_indexes(table.name)
    }
    for index in sorted(table.indexes, key=lambda i: str(i.name)):
        if present.get(str(index.name)) == ([column.name for column in index.columns], bool(index.unique)):
            continue
        log.warning("building index %s of table %s (once, for this version of annolog)", index.name, table.name)
        if index.name in present:
            index.drop(db)
        index.create(db)


def create_schema(engine: Engine) -> None:
    """Create the view tables and, for SQL tools, a ``<table>_current`` view of each."""
    with schema_change(engine, "the views") as db:
        _create(db, metadata)
        for table in VERSIONED:
            quote = engine.dialect.identifier_preparer.quote  # a column may be a reserved word ("array")
            columns = ", ".join(quote(c.name) for c in table.columns if c.name != "valid_to")
            create = "CREATE OR REPLACE VIEW" if engine.dialect.name == "postgresql" else "CREATE VIEW IF NOT EXISTS"
            db.execute(
                text(f"{create} {table.name}_current AS SELECT {columns} FROM {table.name} WHERE valid_to IS NULL")
            )
