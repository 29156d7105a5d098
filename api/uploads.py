"""Which bytes each project holds: what a file of the project may name by sha256.

Blobs are stored once per content and shared across projects, so a sha256 must not be a
key to the bytes: anyone can make a project, and a file naming a leaked hash would serve
another project's restricted bytes. A file may only name bytes uploaded to its project
or those of one of its files (at any version). Uploads are recorded here, in a table of
the service's own like the tokens': who uploaded what is not a fact of the dataset, and
a replay of the log must not need it.
"""

from collections.abc import Collection
from datetime import UTC, datetime
from uuid import UUID

from sqlalchemy import Column, Connection, Engine, MetaData, String, Table, Uuid, select
from sqlalchemy.dialects import postgresql, sqlite

from annolog.projections.database import create_tables, database_errors
from annolog.projections.tables import UtcDateTime, files

_metadata = MetaData()
blob_uploads = Table(
    "blob_uploads",
    _metadata,
    Column("project_id", Uuid, primary_key=True),
    Column("sha256", String(64), primary_key=True),
    Column("uploaded_by", String(500), nullable=False),  # the first upload's
    Column("uploaded_at", UtcDateTime, nullable=False),
)


class Uploads:
    """Recording which project each blob was uploaded to, in the views' database."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        create_tables(engine, _metadata, "the upload table")

    def record(self, project_id: UUID, sha256: str, *, actor: str) -> None:
        """Note that ``actor`` uploaded the blob ``sha256`` to the project (again: kept as first noted)."""
        dialect = postgresql if self._engine.dialect.name == "postgresql" else sqlite
        row = {"project_id": project_id, "sha256": sha256, "uploaded_by": actor, "uploaded_at": datetime.now(UTC)}
        with database_errors(self._engine, "record an upload"), self._engine.begin() as db:
            db.execute(dialect.insert(blob_uploads).values(row).on_conflict_do_nothing())


def unheld(db: Connection, project_id: UUID, hashes: Collection[str]) -> set[str]:
    """The ``hashes`` the project does not hold: neither uploaded to it nor a file's of it.

    Uploads are looked up first, by their key; the project's files only for what is left,
    which is nothing in the usual upload-then-add, so a bulk commit costs one indexed query.
    """
    left = set(hashes)
    if left:
        uploaded = select(blob_uploads.c.sha256).where(
            blob_uploads.c.project_id == project_id, blob_uploads.c.sha256.in_(left)
        )
        left -= set(db.execute(uploaded).scalars())
    if left:
        held = select(files.c.sha256).where(files.c.project_id == project_id, files.c.sha256.in_(left)).distinct()
        left -= set(db.execute(held).scalars())
    return left
