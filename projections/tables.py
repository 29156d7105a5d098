"""The SQL views of the log (SQLAlchemy Core), identical on PostgreSQL and SQLite.

Versioned views carry ``valid_from`` / ``valid_to``: project versions between which a row
is the truth. A row is valid at version V when ``valid_from <= V < valid_to`` (an open
``valid_to``, NULL, means "still current"); partial indexes on ``valid_to IS NULL`` keep
"latest" reads as fast as an unversioned table. Keys are natural (entity id + valid_from),
never sequences, so a replay of the same log produces the very same rows.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    Uuid,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.elements import ColumnElement

metadata = MetaData()


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes from every database (SQLite hands back naive ones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return value if value is None or value.tzinfo else value.replace(tzinfo=UTC)


def _versioned(
    name: str,
    key: Sequence[Column[object]],
    *columns: Column[object],
    lookups: Sequence[str] = (),
    covering: dict[str, list[str]] | None = None,
) -> Table:
    """A view table keyed by ``key`` + ``valid_from``, with "latest" and as-of indexes.

    ``lookups`` are the columns reads filter on (e.g. a membership's directory); each gets
    a partial index over current rows and a (lookup, valid_from) index for as-of reads.
    """
    table = Table(
        name,
        metadata,
        Column("project_id", Uuid, primary_key=True),
        *key,
        Column("valid_from", Integer, primary_key=True),
        Column("valid_to", Integer, nullable=True),
        *columns,
    )
    current = table.c.valid_to.is_(None)
    # At most one current row per key; also the exact index of every "current row of X" lookup.
    Index(
        f"uq_{name}_current",
        table.c.project_id,
        *(table.c[c.name] for c in key),
        unique=True,
        postgresql_where=current,
        sqlite_where=current,
    )
    for lookup in lookups:
        # ``valid_to`` (always NULL here) makes ``valid_to IS NULL`` one more equality the index
        # matches: SQLite, which plans without statistics (nothing ANALYZEs the embedded file),
        # otherwise ties this index with the as-of one below and may walk every version
        # (757 ms instead of 1.3 ms for 50 files edited 10,000 times, bench/history.py).
        Index(
            f"ix_{name}_{lookup}_current",
            table.c.project_id,
            table.c[lookup],
            table.c.valid_to,
            postgresql_where=current,
            sqlite_where=current,
        )
    for lookup in lookups or [key[0].name]:
        extra = (covering or {}).get(lookup, [])  # PostgreSQL answers from the index alone
        Index(
            f"ix_{name}_{lookup}_asof",
            table.c.project_id,
            table.c[lookup],
            table.c.valid_from,
            postgresql_include=extra,
        )
    return table


projects = Table(
    "projects",
    metadata,
    Column("project_id", Uuid, primary_key=True),
    Column("name", String(500), nullable=False, unique=True),
    Column("version", Integer, nullable=False),  # the number of accepted commits
    Column("created_by", String(500), nullable=False),
)

# ``class_index`` is the label's position in definition order: training's stable class id.
# Instances and label counts store a label by ``stored_as``, its first name, which a rename
# leaves alone: a rename or a merge closes and adds ONE row here, never one per instance, and
# reads resolve stored names to the names at their version (``projections.labelmap``).
# ``state`` is active, retired or merged (``into``: the class index it was merged into);
# ``attributes`` its declared attribute specs. Views made before these columns existed hold
# NULLs there, read as: stored as its name, active, free-form attributes.
labels = _versioned(
    "labels",
    [Column("name", String(500), primary_key=True)],
    Column("class_index", Integer, nullable=False),
    Column("stored_as", String(500)),
    Column("state", String(10)),
    Column("into", Integer),
    Column("attributes", JSON),
)

directories = _versioned(
    "directories",
    [Column("directory_id", Uuid, primary_key=True)],
    Column("name", String(500), nullable=False),
    Column("access_type", String(20), nullable=False),
    lookups=("directory_id", "name"),
)

files = _versioned(
    "files",
    [Column("file_id", Uuid, primary_key=True)],
    Column("sha256", String(64), nullable=False),
    Column("name", String(500), nullable=False),
    Column("media_type", String(500), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("width", Integer),
    Column("height", Integer),
    Column("metadata", JSON, nullable=False),
    Column("frames", Integer),  # a video's frame count; NULL for a single picture
    Column("fps", Float),
    Column("copied_from", Uuid),
    Column("created_version", Integer, nullable=False),
    lookups=("name",),  # "is this name free in the directory" starts from the name
)

memberships = _versioned(
    "memberships",
    [Column("directory_id", Uuid, primary_key=True), Column("file_id", Uuid, primary_key=True)],
    lookups=("directory_id", "file_id"),
)

instances = _versioned(
    "instances",
    [Column("instance_id", Uuid, primary_key=True)],
    Column("file_id", Uuid, nullable=False),
    Column("label", String(500), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("points", JSON, nullable=False),
    Column("attributes", JSON, nullable=False),
    Column("revision", Integer, nullable=False),
    Column("parts", JSON),  # a polygon's ring lengths when it has several rings (core.geometry.check_parts)
    # A mask instance's {size, counts (COCO compressed RLE) or counts_sha256 and counts_size (its blob), area, bbox}
    Column("mask", JSON),
    Column("frame", Integer),  # the video frame it is drawn on; NULL on a picture or the whole video
    Column("track", JSON),  # a number or a name, kept apart ("5" is not 5)
    Column("visibility", JSON),  # a keypoints instance's COCO flag per point (core.geometry.Visibility)
    lookups=("instance_id", "file_id"),
)

# How many instances of each label a file has: what slices like `labels.car > 3` filter on.
# A label a file has none of has no row; slices read that as 0.
label_counts = _versioned(
    "label_counts",
    [Column("file_id", Uuid, primary_key=True), Column("label", String(500), primary_key=True)],
    Column("count", Integer, nullable=False),
    lookups=("file_id", "label"),
    # Slices scan one label's counts at a version: measured on 1M files / 10M instances,
    # counts run 2-5x faster and a near-empty first page 1.2 s -> 16 ms (bench/slice.py).
    covering={"label": ["file_id", "count", "valid_to"]},
)

tags = _versioned(
    "tags",
    [Column("tag", String(100), primary_key=True)],
    Column("version", Integer, nullable=False),
)

roles = _versioned(
    "roles",
    [
        Column("principal", String(500), primary_key=True),
        # The project itself is the all-zero id: a primary key column cannot be NULL.
        Column("scope_id", Uuid, primary_key=True),
    ],
    Column("role", String(20), nullable=False),
    lookups=("principal",),
)

# Saved slices: a name for a query (and a directory, or the whole project).
slices = _versioned(
    "slices",
    [Column("name", String(500), primary_key=True)],
    Column("query", Text, nullable=False),
    Column("directory_id", Uuid),
)

# Labels' skeletons: the keypoints a keypoints instance of the label holds, by name, and the
# 0-based edges between them (core.skeleton). A table of its own, keyed by the label's stored
# (first) name, so that a skeleton follows its label's renames and the labels view keeps its shape.
skeletons = _versioned(
    "skeletons",
    [Column("label", String(500), primary_key=True)],
    Column("keypoints", JSON, nullable=False),
    Column("skeleton", JSON, nullable=False),
)

# Arrays: the layout of each (shape, element type, chunk grid); ``revision`` counts the writes
# and resizes, so that a resize can tell whether anything was written since it looked.
arrays = _versioned(
    "arrays",
    [Column("name", String(500), primary_key=True)],
    Column("shape", JSON, nullable=False),
    Column("dtype", String(20), nullable=False),
    Column("chunks", JSON, nullable=False),
    Column("fill_value", Float, nullable=False),
    Column("compressor", String(20), nullable=False),
    Column("revision", Integer, nullable=False),
    Column("created_version", Integer, nullable=False),
)

# The chunks of each array that were ever written: chunk key ("0.3.1") -> the blob of its
# encoded bytes (NULL: back to the fill value). A row is kept for a cleared chunk, so its
# revision, which partial writes are conditioned on, never starts again.
array_chunks = _versioned(
    "array_chunks",
    [Column("array", String(500), primary_key=True), Column("chunk", String(700), primary_key=True)],
    Column("sha256", String(64)),
    Column("size", BigInteger, nullable=False),
    Column("revision", Integer, nullable=False),
)
# Chunk bytes are served only to readers of an array that named them at some version.
Index("ix_array_chunks_sha256", array_chunks.c.project_id, array_chunks.c.array, array_chunks.c.sha256)

# Every commit the projector has judged, once per commit_id: the outcome the service reports.
commits = Table(
    "commits",
    metadata,
    Column("commit_id", Uuid, primary_key=True),
    Column("project_id", Uuid, nullable=False),
    Column("partition", Integer, nullable=False),
    Column("offset", BigInteger, nullable=False),
    Column("actor", String(500), nullable=False),
    Column("time", UtcDateTime, nullable=False),
    Column("command", String(500), nullable=False),
    Column("accepted", Boolean, nullable=False),
    Column("version", Integer),  # the version it made, when accepted
    Column("error", String(40)),  # the error class of a rejection, e.g. "ConflictError"
    Column("reason", Text),
    # Tamper evidence: sha256 over the previous accepted commit's chain and this record's bytes.
    Column("chain", String(64)),
    # sha256 of what the commit says (see ``outcomes.commit_digest``): a commit id re-sent
    # with other contents is told apart from a retry.
    Column("digest", String(64)),
    Index("ix_commits_project_version", "project_id", "version"),
    Index("ix_commits_project_offset", "project_id", "offset"),
)

# The audit history: one row per applied event, with the entity's value before and after.
history = Table(
    "history",
    metadata,
    Column("commit_id", Uuid, primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("project_id", Uuid, nullable=False),
    Column("version", Integer, nullable=False),
    Column("event", String(40), nullable=False),
    Column("entity", String(20), nullable=False),  # project, label, directory, file, instance, tag, role
    Column("entity_id", String(500), nullable=False),
    Column("file_id", Uuid),  # the file an instance or membership event concerns
    Column("directory_id", Uuid),  # the directory a membership event concerns
    Column("before", JSON),
    Column("after", JSON),
    Index("ix_history_entity", "project_id", "entity_id", "version"),
    Index("ix_history_file", "project_id", "file_id", "version"),
    Index("ix_history_directory", "project_id", "directory_id", "version"),
)

# Where the projector is in each log partition: written in the same transaction as the rows.
log_positions = Table(
    "log_positions",
    metadata,
    Column("partition", Integer, primary_key=True),
    Column("next_offset", BigInteger, nullable=False),
)

# Log records that are not a valid commit (undecodable bytes, a commit the model refuses),
# judged rejected where they stand so that their partition goes on; written in the same
# transaction as the position, so a replay records the very same rows.
rejected_records = Table(
    "rejected_records",
    metadata,
    Column("partition", Integer, primary_key=True),
    Column("offset", BigInteger, primary_key=True),
    Column("payload_sha256", String(64), nullable=False),
    Column("size", Integer, nullable=False),
    Column("reason", Text, nullable=False),
)

VERSIONED = (
    labels,
    directories,
    files,
    memberships,
    instances,
    label_counts,
    tags,
    roles,
    slices,
    arrays,
    array_chunks,
    skeletons,
)

INTERNAL = frozenset({"project_id", "valid_from", "valid_to"})
"""Bookkeeping columns of a versioned view: not part of what its rows say."""

_BY_NAME = {table.name: table for table in VERSIONED}


def table_named(name: str) -> Table:
    """The versioned view called ``name`` (as ``core.rules`` names them)."""
    return _BY_NAME[name]


def valid_at(table: Table, version: int | ColumnElement[int]) -> ColumnElement[bool]:
    """Rows of ``table`` that were the truth right after commit ``version``.

    No index serves ``valid_to IS NULL OR valid_to > V``: the database walks every version of
    each key up to V. Reads at the project's own version see ``RowsAt.current`` rows instead.
    """
    return (table.c.valid_from <= version) & (table.c.valid_to.is_(None) | (table.c.valid_to > version))


@dataclass(frozen=True)
class RowsAt:
    """The rows of the versioned tables that a read at ``version`` sees.

    With ``current`` the reader knows that ``version`` is the project's version as every one
    of its statements sees it (``queries.read_at`` makes sure): then the current rows, those
    with ``valid_to IS NULL``, are the same rows, and the partial indexes serve them at the
    same cost whatever the depth of history.
    """

    version: int
    current: bool = False

    def of(self, table: Table) -> ColumnElement[bool]:
        return table.c.valid_to.is_(None) if self.current else valid_at(table, self.version)
