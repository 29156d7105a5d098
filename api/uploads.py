"""Which bytes each project holds: what a file of the project may name by sha256.

Blobs are stored once per content and shared across projects, so a sha256 must not be a
key to the bytes: anyone can make a project, and a file naming a leaked hash would serve
another project's restricted bytes. The same holds inside a project, whose restricted
directories only some may read: a file may only name bytes its author uploaded to the
project, or those of a file its author may read. Uploads are recorded here, in a table
of the service's own like the tokens': who uploaded what is not a fact of the dataset,
and a replay of the log must not need it.
"""

from collections.abc import Collection, Mapping
from datetime import UTC, datetime
from uuid import UUID

from sqlalchemy import BigInteger, Column, Connection, Engine, MetaData, Select, String, Table, Uuid, select
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
        (again: the first time is kept)."""
        dialect = postgresql if self._engine.dialect.name == "postgresql" else sqlite
        now = datetime.now(UTC)
        rows = [
            {"project_id": project_id, "sha256": h, "uploaded_by": actor, "uploaded_at": now, "size": size}
            for h, size in sizes.items()
        ]
        if not rows:
            return
        with database_errors(self._engine, "record an upload"), self._engine.begin() as db:
            db.execute(dialect.insert(blob_uploads).on_conflict_do_nothing(), rows)


def missized(
    db: Connection, project_id: UUID, declared: Collection[tuple[str, int]], *, actor: str
) -> list[tuple[str, int, int]]:
    """(sha256, declared, stored) for each (sha256, size) a command declares (a file's size, a mask's
    ``counts_size``, a chunk's size) of a blob ``actor`` uploaded to the project in another size:
    readers check bytes against both, so a wrong size would fail every read of them."""
    uploaded = select(blob_uploads.c.sha256, blob_uploads.c.size).where(
        blob_uploads.c.project_id == project_id, blob_uploads.c.uploaded_by == actor
    )
    hashes = {sha256 for sha256, _ in declared}
    stored = {row.sha256: row.size for row in select_in(db, uploaded, blob_uploads.c.sha256, hashes)}
    return sorted(
        (sha256, size, found)
        for sha256, size in set(declared)
        if (found := stored.get(sha256)) is not None and found != size
    )


def not_uploaded(db: Connection, project_id: UUID, hashes: Collection[str], *, actor: str) -> set[str]:
    """The ``hashes`` that ``actor`` did not upload to the project: all an array chunk may name
    is bytes its writer uploaded (a chunk is read by every viewer of the project, so bytes of
    a restricted file must not become one)."""
    uploaded = select(blob_uploads.c.sha256).where(
        blob_uploads.c.project_id == project_id, blob_uploads.c.uploaded_by == actor
    )
    return set(hashes) - {row.sha256 for row in select_in(db, uploaded, blob_uploads.c.sha256, set(hashes))}


def unheld(
    db: Connection, project_id: UUID, hashes: Collection[str], *, actor: str, readable: Collection[UUID] | None
) -> set[str]:
    """The ``hashes`` that ``actor`` may not name in the project: not uploaded to it by ``actor``,
    and the bytes of no current file of a directory in ``readable`` (None: every directory).

    Uploads are looked up first, by their key; the project's files only for what is left,
    which is nothing in the usual upload-then-add, so a bulk commit costs one indexed query.
    """
    left = not_uploaded(db, project_id, hashes, actor=actor)
    if left:
        left -= set(db.execute(_held(project_id, left, readable)).scalars())
    return left


def unheld_masks(
    db: Connection,
    project_id: UUID,
    hashes: Collection[str],
    *,
    actor: str,
    edited: Collection[UUID],
    readable: Collection[UUID] | None,
) -> set[str]:
    """The mask counts ``hashes`` that ``actor`` may not name in the project: not uploaded to it by
    ``actor``, and the counts of no mask an ``edited`` instance (one the commit changes) has now on
    a file of a ``readable`` directory (None: every directory).

    Narrower than a file's bytes, on purpose: the SDK uploads every new mask, so what is left is
    an edit that keeps another writer's mask (a new label), and the instances a commit edits are
    found by their key, where any instance holding a hash would be a scan of the project's JSON.
    """
    left = not_uploaded(db, project_id, hashes, actor=actor)
    if left and edited:
        left -= {
            sha256 for (sha256,) in select_in(db, _held_masks(project_id, readable), instances.c.instance_id, edited)
        }
    return left


def _held_masks(project_id: UUID, readable: Collection[UUID] | None) -> Select[tuple[str | None]]:
    """The counts blobs of the masks current instances of the project have on current files of a
    ``readable`` directory, the instances to be named by the caller."""
    member = (
        (memberships.c.project_id == instances.c.project_id)
        & (memberships.c.file_id == instances.c.file_id)
        & memberships.c.valid_to.is_(None)
    )
    query = (
        select(instances.c.mask["counts_sha256"].as_string())
        .join(memberships, member)
        .where(instances.c.project_id == project_id, instances.c.valid_to.is_(None), instances.c.kind == "mask")
    )
    if readable is not None:
        query = query.where(memberships.c.directory_id.in_(readable))
    return query.distinct()


def _held(project_id: UUID, hashes: Collection[str], readable: Collection[UUID] | None) -> Select[tuple[str]]:
    """The ``hashes`` held by a current file of a ``readable`` directory of the project."""
    member = (
        (memberships.c.project_id == files.c.project_id)
        & (memberships.c.file_id == files.c.file_id)
        & memberships.c.valid_to.is_(None)
    )
    query = (
        select(files.c.sha256)
        .join(memberships, member)
        .where(files.c.project_id == project_id, files.c.valid_to.is_(None), files.c.sha256.in_(hashes))
    )
    if readable is not None:
        query = query.where(memberships.c.directory_id.in_(readable))
    return query.distinct()
