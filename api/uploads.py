"""Which bytes each project holds: what a file of the project may name by sha256.

Blobs are stored once per content and shared across projects, so a sha256 must not be a
key to the bytes: anyone can make a project, and a file naming a leaked hash would serve
another project's restricted bytes. The same holds inside a project, whose restricted
directories only some may read: a file may only name bytes its author uploaded to the
project, or those of a file its author may read. Uploads are recorded here, in a table
of the service's own like the tokens': who uploaded what is not a fact of the dataset,
and a replay of the log must not need it.
"""

from collections import defaultdict
from collections.abc import Collection, Mapping
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import (
    BigInteger,
    Column,
    ColumnElement,
    Connection,
    Engine,
    MetaData,
    Select,
    String,
    Table,
    Uuid,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite

from annolog.projections.database import create_tables, database_errors
from annolog.projections.loader import select_in
from annolog.projections.tables import UtcDateTime, files, instances, memberships

_metadata = MetaData()
blob_uploads = Table(
    "blob_uploads",
    _metadata,
    Column("project_id", Uuid, primary_key=True),
    Column("sha256", String(64), primary_key=True),
    Column("uploaded_by", String(500), primary_key=True),
    Column("uploaded_at", UtcDateTime, nullable=False),  # the first time this principal uploaded them
    Column("size", BigInteger),  # bytes; NULL for uploads recorded before sizes were
)


class Uploads:
    """Recording which project each blob was uploaded to, in the views' database."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        create_tables(engine, _metadata, "the upload table")

    def record(self, project_id: UUID, sizes: Mapping[str, int], *, actor: str) -> None:
        """Note that ``actor`` uploaded the blobs ``sizes`` names (sha256 -> bytes) to the project
        (again: the first time is kept, its size filled in if it was recorded without one)."""
        dialect = postgresql if self._engine.dialect.name == "postgresql" else sqlite
        now = datetime.now(UTC)
        rows = [
            {"project_id": project_id, "sha256": h, "uploaded_by": actor, "uploaded_at": now, "size": size}
            for h, size in sizes.items()
        ]
        if not rows:
            return
        with database_errors(self._engine, "record an upload"), self._engine.begin() as db:
            statement = dialect.insert(blob_uploads)
            keyed = [blob_uploads.c.project_id, blob_uploads.c.sha256, blob_uploads.c.uploaded_by]
            sized = statement.on_conflict_do_update(
                index_elements=keyed, set_={"size": statement.excluded.size}, where=blob_uploads.c.size.is_(None)
            )
            db.execute(sized, rows)


def uploaded_sizes(db: Connection, project_id: UUID, hashes: Collection[str], *, actor: str) -> dict[str, int | None]:
    """The ``hashes`` that ``actor`` uploaded to the project, with their size in bytes (None when
    recorded before sizes were). All an array chunk may name is bytes its writer uploaded: a
    chunk is read by every viewer of the project, so bytes of a restricted file must not become
    one. Looked up by key, in one query for a whole bulk commit."""
    uploaded = select(blob_uploads.c.sha256, blob_uploads.c.size).where(
        blob_uploads.c.project_id == project_id, blob_uploads.c.uploaded_by == actor
    )
    return {row.sha256: row.size for row in select_in(db, uploaded, blob_uploads.c.sha256, set(hashes))}


def held_file_sizes(
    db: Connection, project_id: UUID, hashes: Collection[str], *, readable: Collection[UUID] | None
) -> dict[str, set[int]]:
    """Those of ``hashes`` that a current file of a ``readable`` directory (None: every directory)
    of the project holds, with the sizes those files declare (files added before sizes were
    checked may disagree): bytes one may read, one may name again."""
    query = select(files.c.sha256, files.c.size).where(files.c.project_id == project_id, files.c.valid_to.is_(None))
    return _sizes_held(db, query, files, files.c.sha256, hashes, readable)


def held_mask_sizes(
    db: Connection, project_id: UUID, edited: Collection[UUID], *, readable: Collection[UUID] | None
) -> dict[str, set[int]]:
    """The counts blobs of the masks the ``edited`` instances (those a commit changes) have now on a
    file of a ``readable`` directory (None: every directory), with their ``counts_size``.

    Narrower than a file's bytes, on purpose: the SDK uploads every new mask, so what is left is
    an edit that keeps another writer's mask (a new label), and the instances a commit edits are
    found by their key, where any instance holding a hash would be a scan of the project's JSON.
    """
    mask = instances.c.mask
    query = select(
        mask["counts_sha256"].as_string().label("sha256"), mask["counts_size"].as_integer().label("size")
    ).where(instances.c.project_id == project_id, instances.c.valid_to.is_(None), instances.c.kind == "mask")
    return _sizes_held(db, query, instances, instances.c.instance_id, edited, readable)


def _sizes_held(
    db: Connection,
    query: Select[Any],
    table: Table,
    key: ColumnElement[Any],
    keys: Collection[Any],
    readable: Collection[UUID] | None,
) -> dict[str, set[int]]:
    """The sizes each sha256 has among ``query``'s (sha256, size) rows of current rows of ``table``
    that lie on a file of a ``readable`` directory (None: every directory), ``key`` among ``keys``."""
    member = (
        (memberships.c.project_id == table.c.project_id)
        & (memberships.c.file_id == table.c.file_id)
        & memberships.c.valid_to.is_(None)
    )
    query = query.join(memberships, member)
    if readable is not None:
        query = query.where(memberships.c.directory_id.in_(readable))
    held: defaultdict[str, set[int]] = defaultdict(set)
    for row in select_in(db, query.distinct(), key, set(keys)):
        if row.sha256 is not None:
            held[row.sha256].add(row.size)
    return dict(held)
