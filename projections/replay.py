"""Rebuilding the views from the log, and checksums that prove a rebuild equals the original.

A replay projects the log from its first record into fresh tables (a new SQLite file, or
a new PostgreSQL schema in the same database). Because the judge reads nothing but the
log and the views, the rebuilt tables must equal the incrementally maintained ones row
for row: ``checksums`` hashes each table in primary-key order so that is one comparison.
"""

import hashlib
import json
import shutil
import tempfile
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy import Connection, Engine, Table, create_engine, select, text

from annolog.eventlog.log import EventLog
from annolog.eventlog.sql import open_sqlite
from annolog.projections.database import create_schema
from annolog.projections.projector import Projector
from annolog.projections.tables import VERSIONED, metadata, valid_at


def canonical(value: Any) -> Any:
    """A column value as JSON holds it, the same from every database: ids and times as text."""
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    return value


def _digest(db: Connection, table: Table, query: Any) -> str:
    digest = hashlib.sha256()
    for row in db.execute(query.order_by(*table.primary_key.columns)):
        line = json.dumps([canonical(v) for v in row], sort_keys=True, separators=(",", ":"))
        digest.update(line.encode() + b"\n")
    return digest.hexdigest()


def checksums(engine: Engine) -> dict[str, str]:
    """A sha256 of every view table's rows, in primary-key order."""
    with engine.connect() as db:
        return checksums_in(db)


def checksums_in(db: Connection) -> dict[str, str]:
    """``checksums`` read through ``db`` (a snapshot of views another process goes on changing)."""
    return {table.name: _digest(db, table, select(table)) for table in metadata.sorted_tables}


def snapshot_checksums(engine: Engine, project_id: UUID, version: int) -> dict[str, str]:
    """A sha256 per versioned table of one project's rows as of ``version`` (``valid_to`` left out,
    since a later commit may have closed a row that a replay to ``version`` leaves open)."""
    with engine.connect() as db:
        return {
            table.name: _digest(
                db,
                table,
                select(*(c for c in table.columns if c.name != "valid_to")).where(
                    table.c.project_id == project_id, valid_at(table, version)
                ),
            )
            for table in VERSIONED
        }


def fresh_database(engine: Engine) -> Engine:
    """Empty view tables beside ``engine``'s: a temporary SQLite file, or a new PostgreSQL schema."""
    if engine.dialect.name == "sqlite":
        return open_sqlite(Path(tempfile.mkdtemp(prefix="annolog-replay-")) / "replay.db")
    schema = f"annolog_replay_{uuid4().hex[:12]}"
    with engine.begin() as db:
        db.execute(text(f'CREATE SCHEMA "{schema}"'))
    return create_engine(engine.url, connect_args={"options": f"-csearch_path={schema}"})


def drop_database(engine: Engine) -> None:
    """Remove tables made by ``fresh_database`` (and only those: the name is checked)."""
    if engine.dialect.name == "sqlite":
        path = Path(str(engine.url.database))
        engine.dispose()
        if path.parent.name.startswith("annolog-replay-"):
            shutil.rmtree(path.parent)
        return
    with engine.begin() as db:
        schema = db.execute(text("SELECT current_schema()")).scalar_one()
        if schema.startswith("annolog_replay_"):
            db.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    engine.dispose()


def replay(log: EventLog, target: Engine, *, until: Mapping[int, int] | None = None, batch_size: int = 1000) -> int:
    """Project the whole log into ``target``'s (fresh) tables; the number of records read.

    ``until`` stops each partition before that offset (where another projection stands).
    """
    create_schema(target)
    return Projector(target, log, batch_size=batch_size).catch_up(until=until)


def replay_until(log: EventLog, target: Engine, project_id: UUID, version: int) -> None:
    """Replay the log, but stop applying ``project_id``'s commits once it reaches ``version``."""
    create_schema(target)
    Projector(target, log, stop_at={project_id: version}).catch_up([log.partition_of(project_id)])
