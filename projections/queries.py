"""Reads of the views as of any version: projects, directories, files with instances, slices,
arrays and their chunks.

Every read takes a resolved version. Reads of the tables that grow with history (files,
memberships, instances, label counts, arrays, array chunks) go through ``read_at``: the
same query answers latest and pinned reads, with the current rows when the version is the
project's own. Labels are never closed and directories seldom, so their reads keep
``valid_at``. Directory listings are keyset-paged by file id (uuid7, so creation order):
stable, and a page never skips or repeats a file.
"""

from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any, TypeVar
from uuid import UUID

from sqlalchemy import Connection, Select, String, Table, cast, exists, func, literal, select

from annolog.core.arrays import chunk_coords
from annolog.core.errors import NotFoundError
from annolog.core.events import LATEST, tag_of
from annolog.core.query import Expr
from annolog.projections.labelmap import LabelMap, label_map
from annolog.projections.loader import select_in
from annolog.projections.readmodels import (
    ArrayView,
    ChunkView,
    DirectoryView,
    FileView,
    InstanceView,
    ProjectView,
    SkeletonView,
    TagView,
)
from annolog.projections.slices import SliceCompiler
from annolog.projections.tables import (
    RowsAt,
    array_chunks,
    arrays,
    commits,
    directories,
    files,
    instances,
    memberships,
    projects,
    skeletons,
    slices,
    tags,
    valid_at,
)

T = TypeVar("T")


def project_named(db: Connection, name: str) -> ProjectView:
    row = db.execute(select(projects).where(projects.c.name == name)).first()
    if row is None:
        # Other projects' names are not listed: anyone with a token could enumerate them.
        raise NotFoundError(f"project {name!r} does not exist; `annolog project list` shows yours")
    return ProjectView(project_id=row.project_id, name=row.name, version=row.version)


def list_projects(db: Connection) -> list[ProjectView]:
    rows = db.execute(select(projects).order_by(projects.c.name))
    return [ProjectView(project_id=r.project_id, name=r.name, version=r.version) for r in rows]


def resolve_version(db: Connection, project: ProjectView, version: int | str | None) -> int:
    """A version number from a number, a tag name (see ``tag_of``), or None or "latest"."""
    if version is None or version == LATEST:
        return project.version
    if (tag := tag_of(version)) is not None:
        return _tagged(db, project, tag)
    # More digits than any version has would only make int() slow, or refuse past 4300 of them.
    number = int(version) if isinstance(version, int) or len(version) <= 18 else None
    if number is None or not 1 <= number <= project.version:
        shown = str(version) if number is not None else f"{str(version)[:18]}…"
        raise NotFoundError(f"version {shown} of project {project.name!r} does not exist; latest is {project.version}")
    return number


def _current_names(db: Connection, table: Table, column: str, project_id: UUID) -> str:
    """What does exist, for a not-found message: "v1, v2", or "none"."""
    names = db.execute(
        select(table.c[column])
        .where(table.c.project_id == project_id, table.c.valid_to.is_(None))
        .order_by(table.c[column])
    ).scalars()
    return ", ".join(names) or "none"


def _tagged(db: Connection, project: ProjectView, tag: str) -> int:
    found = db.execute(
        select(tags.c.version).where(
            tags.c.project_id == project.project_id, tags.c.tag == tag, tags.c.valid_to.is_(None)
        )
    ).scalar_one_or_none()
    if found is None:
        known = _current_names(db, tags, "tag", project.project_id)
        raise NotFoundError(f"tag {tag!r} does not exist in project {project.name!r}; tags: {known}")
    return int(found)


def directory_named(db: Connection, project: ProjectView, name: str, version: int) -> DirectoryView:
    row = db.execute(
        select(directories).where(
            directories.c.project_id == project.project_id, directories.c.name == name, valid_at(directories, version)
        )
    ).first()
    if row is None:
        raise NotFoundError(f"directory {name!r} does not exist in project {project.name!r} at version {version}")
    return DirectoryView(directory_id=row.directory_id, name=row.name, access_type=row.access_type, version=version)


def list_directories(db: Connection, project: ProjectView, version: int) -> list[DirectoryView]:
    rows = db.execute(
        select(directories)
        .where(directories.c.project_id == project.project_id, valid_at(directories, version))
        .order_by(directories.c.name)
    )
    return [
        DirectoryView(directory_id=r.directory_id, name=r.name, access_type=r.access_type, version=version)
        for r in rows
    ]


def read_at(db: Connection, project_id: UUID, version: int, read: Callable[[RowsAt], T]) -> T:
    """What ``read`` finds in the rows valid at ``version``: the current rows when that is the
    project's version, so that a latest read costs the same at any depth of history.

    The current rows (``valid_to IS NULL``) are what the partial indexes serve; ``valid_at``
    makes the database walk every version of each key up to V. bench/history.py, 50 files
    each edited 10,000 times, latest read of the files / first slice page: SQLite 868 / 840 ms
    with ``valid_at``, 3.2 / 0.7 ms now (3.2 / 0.7 at depth 10); PostgreSQL 36 / 55 ms, now
    7.5 / 1.6 ms (8.9 / 2.3 at depth 10). A separate table of current rows, the other design,
    reads those rows no faster (SQLite 1.22 against 1.28 ms; PostgreSQL within noise) and
    would double every row the projector writes: the partial indexes it is.

    The current rows are the rows of ``version`` only if every statement of ``read`` sees the
    project at ``version``. Versions only grow and ``version`` existed before ``read`` began,
    so when the project is at ``version`` both before and after ``read``, every statement in
    between saw it there: under any isolation level, on either database. If a commit landed
    meanwhile, ``read`` runs again as of ``version``.
    """
    if _version_of(db, project_id) == version:
        found = read(RowsAt(version, current=True))
        if _version_of(db, project_id) == version:
            return found
    return read(RowsAt(version))


def _version_of(db: Connection, project_id: UUID) -> int | None:
    return db.execute(select(projects.c.version).where(projects.c.project_id == project_id)).scalar_one_or_none()


def _members(project_id: UUID, directory_id: UUID, rows: RowsAt) -> Any:
    return select(memberships.c.file_id).where(
        memberships.c.project_id == project_id, memberships.c.directory_id == directory_id, rows.of(memberships)
    )


def count_files(db: Connection, project_id: UUID, directory_id: UUID, version: int) -> int:
    return read_at(db, project_id, version, lambda rows: _count(db, _members(project_id, directory_id, rows)))


def file_ids(
    db: Connection,
    project_id: UUID,
    directory_id: UUID,
    version: int,
    *,
    after: UUID | None = None,
    limit: int | None = None,
) -> list[UUID]:
    """The directory's file ids at ``version`` in id order, after ``after`` (keyset paging)."""
    return read_at(
        db,
        project_id,
        version,
        lambda rows: _page(db, _members(project_id, directory_id, rows), after=after, limit=limit),
    )


def members_among(
    db: Connection, project_id: UUID, ids: Sequence[UUID], version: int, directory_ids: Sequence[UUID] | None
) -> set[UUID]:
    """Which of ``ids`` are, at ``version``, in one of ``directory_ids`` (None: in any directory)."""

    def read(rows: RowsAt) -> set[UUID]:
        query = select(memberships.c.file_id).where(
            memberships.c.project_id == project_id, memberships.c.file_id.in_(ids), rows.of(memberships)
        )
        if directory_ids is not None:
            query = query.where(memberships.c.directory_id.in_(directory_ids))
        return set(db.execute(query.distinct()).scalars())

    return read_at(db, project_id, version, read)


def directories_holding(db: Connection, project_id: UUID, file_id: UUID, version: int) -> set[UUID]:
    """The directories ``file_id`` is a member of at ``version``: one file, mirrored into each."""

    def read(rows: RowsAt) -> set[UUID]:
        query = select(memberships.c.directory_id).where(
            memberships.c.project_id == project_id, memberships.c.file_id == file_id, rows.of(memberships)
        )
        return set(db.execute(query).scalars())

    return read_at(db, project_id, version, read)


def holds_mask_blob(db: Connection, project_id: UUID, file_id: UUID, sha256: str, version: int) -> bool:
    """Whether an instance of ``file_id`` at ``version`` has a mask stored as blob ``sha256``:
    one indexed lookup, where reading the file's instances cost a full read per blob."""

    def read(rows: RowsAt) -> bool:
        query = select(literal(1)).where(
            instances.c.project_id == project_id,
            instances.c.file_id == file_id,
            instances.c.kind == "mask",
            instances.c.mask["counts_sha256"].as_string() == sha256,
            rows.of(instances),
        )
        return db.execute(query.limit(1)).first() is not None

    return read_at(db, project_id, version, read)


def _page(db: Connection, ids: Select[Any], *, after: UUID | None, limit: int | None) -> list[UUID]:
    """The ids ``ids`` selects, in id order, after ``after``: keyset pages never skip or repeat one."""
    column = ids.selected_columns[0]
    query = ids.order_by(column) if after is None else ids.where(column > after).order_by(column)
    return list(db.execute(query.limit(limit)).scalars())


def _count(db: Connection, ids: Select[Any]) -> int:
    return int(db.execute(select(func.count()).select_from(ids.subquery())).scalar_one())


def _as_text(db: Connection, ids: Select[Any]) -> list[str]:
    """The ids ``ids`` selects, in id order, as the database's text: for a 100k-file training
    manifest, building UUID objects costs more than the query (and pickles ten times larger)."""
    selected = ids.subquery()
    column = selected.c[0]
    return list(db.execute(select(cast(column, String)).order_by(column)).scalars())


def file_keys(db: Connection, project_id: UUID, directory_id: UUID, version: int) -> list[str]:
    """Every file id of the directory at ``version``, as text, in id order."""
    return read_at(db, project_id, version, lambda rows: _as_text(db, _members(project_id, directory_id, rows)))


def _instance_views(
    db: Connection, project_id: UUID, ids: Sequence[UUID], rows: RowsAt, named_at: int | None = None
) -> dict[UUID, list[InstanceView]]:
    """Each file's instances in id order, sorted here: asked to sort them, SQLite (which plans
    without statistics) walks every instance of the project in id order rather than sort a few.
    Each instance's label is the name it goes by at the version read (``labelmap``), or at
    ``named_at``."""
    query = select(instances).where(
        instances.c.project_id == project_id, instances.c.file_id.in_(ids), rows.of(instances)
    )
    found: dict[UUID, list[InstanceView]] = defaultdict(list)
    named = label_map(db, project_id, named_at or rows.version).name_of
    for r in sorted(db.execute(query), key=lambda r: r.instance_id):
        found[r.file_id].append(
            InstanceView(
                instance_id=r.instance_id,
                file_id=r.file_id,
                label=named(r.label),
                kind=r.kind,
                points=tuple(tuple(p) for p in r.points),
                attributes=r.attributes,
                revision=r.revision,
                parts=r.parts or (),
                mask=r.mask,
                frame=r.frame,
                track=r.track,
                visibility=r.visibility or (),
            )
        )
    return found


def files_by_id(
    db: Connection, project_id: UUID, ids: Sequence[UUID], version: int, *, named_at: int | None = None
) -> list[FileView]:
    """The files with ``ids`` as of ``version``, with their instances, in the order of ``ids``;
    labels by their names at ``named_at`` (default: ``version``), as a diff compares them."""
    found, shapes = read_at(
        db, project_id, version, lambda rows: _files_with_instances(db, project_id, ids, rows, named_at)
    )
    missing = [i for i in ids if i not in found]
    if missing:
        raise NotFoundError(f"file {missing[0]} does not exist at version {version}")
    return [
        FileView(
            file_id=r.file_id,
            sha256=r.sha256,
            name=r.name,
            media_type=r.media_type,
            size=r.size,
            width=r.width,
            height=r.height,
            frames=r.frames,
            fps=r.fps,
            metadata=r.metadata,
            copied_from=r.copied_from,
            created_version=r.created_version,
            version=version,
            instances=tuple(shapes.get(r.file_id, ())),
        )
        for r in (found[i] for i in ids)
    ]


def _files_with_instances(
    db: Connection, project_id: UUID, ids: Sequence[UUID], rows: RowsAt, named_at: int | None = None
) -> tuple[dict[UUID, Any], dict[UUID, list[InstanceView]]]:
    query = select(files).where(files.c.project_id == project_id, files.c.file_id.in_(ids), rows.of(files))
    return {r.file_id: r for r in db.execute(query)}, _instance_views(db, project_id, ids, rows, named_at)


def label_names(db: Connection, project_id: UUID, version: int) -> list[str]:
    """The names instances can have at ``version`` (retired labels' too, merged ones' not), sorted."""
    return label_map(db, project_id, version).names()


def class_names(db: Connection, project_id: UUID, version: int) -> list[str]:
    """Labels' names at ``version`` by class index (definition order): a label's index never
    changes, renamed or not, and a merged label keeps its slot (``labelmap``)."""
    return label_map(db, project_id, version).classes()


def list_skeletons(db: Connection, project_id: UUID, version: int) -> list[SkeletonView]:
    """The skeletons declared at ``version``, by the name their label has then.

    A skeleton is kept under its label's stored (first) name, so it follows renames; a merged
    label's skeleton is not listed (its instances read as the label it was merged into).
    """
    names = label_map(db, project_id, version)
    query = select(skeletons).where(skeletons.c.project_id == project_id, valid_at(skeletons, version))
    found = [
        SkeletonView(label=names.name_of(r.label), keypoints=r.keypoints, skeleton=r.skeleton)
        for r in db.execute(query)
        if not names.merged(r.label)
    ]
    return sorted(found, key=lambda s: s.label)


def list_tags(db: Connection, project_id: UUID) -> list[TagView]:
    """The project's current tags, by the version they name, then by name."""
    query = select(tags.c.tag, tags.c.version).where(tags.c.project_id == project_id, tags.c.valid_to.is_(None))
    rows = db.execute(query.order_by(tags.c.version, tags.c.tag))
    return [TagView(name=r.tag, version=r.version) for r in rows]


def commit_outcome(db: Connection, commit_id: UUID) -> Any:
    """The judged commit's row (accepted, version, error, reason), or None if not judged yet."""
    return db.execute(select(commits).where(commits.c.commit_id == commit_id)).first()


def _sliced(
    db: Connection,
    project: ProjectView,
    version: int,
    expr: Expr,
    directory_ids: Sequence[UUID] | None,
    read: Callable[[Select[Any]], T],
) -> T:
    """``read`` of the file ids matching ``expr`` at ``version``, in one of ``directory_ids`` (None: any)."""
    return read_scope(db, project, version, directory_ids, expr, lambda ids, rows: read(ids))


def read_scope(
    db: Connection,
    project: ProjectView,
    version: int,
    directory_ids: Sequence[UUID] | None,
    expr: Expr | None,
    read: Callable[[Select[Any], RowsAt], T],
    *,
    named: LabelMap | None = None,
) -> T:
    """``read`` of the file ids in one of ``directory_ids`` (None: in any directory) at
    ``version``, those matching ``expr`` when given, and of the rows the ids were read at
    (for reads of other tables at the same version). ``named``: the labels at ``version``,
    when the caller has read them already."""
    if named is None:
        named = label_map(db, project.project_id, version, project_name=project.name)
    if expr is not None:
        SliceCompiler.check_labels(expr, named)

    def ids(rows: RowsAt) -> Select[Any]:
        if expr is None:
            return _in_directories(project.project_id, directory_ids, rows)
        return _matching(db, project.project_id, expr, directory_ids, rows, named)

    return read_at(db, project.project_id, version, lambda rows: read(ids(rows), rows))


def _in_directories(project_id: UUID, directory_ids: Sequence[UUID] | None, rows: RowsAt) -> Select[Any]:
    """Each file in one of ``directory_ids`` (None: in any) once, however many it is in."""
    query = select(memberships.c.file_id).where(memberships.c.project_id == project_id, rows.of(memberships))
    if directory_ids is not None and len(directory_ids) == 1:
        return query.where(memberships.c.directory_id == directory_ids[0])
    if directory_ids is not None:
        query = query.where(memberships.c.directory_id.in_(directory_ids))
    return query.distinct()


def _matching(
    db: Connection, project_id: UUID, expr: Expr, directory_ids: Sequence[UUID] | None, rows: RowsAt, named: LabelMap
) -> Select[Any]:
    member = select(literal(1)).where(
        memberships.c.project_id == project_id,
        memberships.c.file_id == files.c.file_id,
        rows.of(memberships),
    )
    if directory_ids is not None:
        member = member.where(memberships.c.directory_id.in_(directory_ids))
    return select(files.c.file_id).where(
        files.c.project_id == project_id,
        rows.of(files),
        exists(member),
        SliceCompiler(dialect=db.dialect.name, project_id=project_id, rows=rows, labels=named).where(expr),
    )


def slice_file_ids(
    db: Connection,
    project: ProjectView,
    version: int,
    expr: Expr,
    *,
    directory_ids: Sequence[UUID] | None = None,
    after: UUID | None = None,
    limit: int | None = None,
) -> list[UUID]:
    """Matching file ids in id order after ``after``: keyset pages never skip or repeat a file."""
    return _sliced(db, project, version, expr, directory_ids, lambda ids: _page(db, ids, after=after, limit=limit))


def slice_file_keys(
    db: Connection, project: ProjectView, version: int, expr: Expr, *, directory_ids: Sequence[UUID] | None = None
) -> list[str]:
    """Every matching file id, as text, in id order."""
    return _sliced(db, project, version, expr, directory_ids, lambda ids: _as_text(db, ids))


def count_slice(
    db: Connection, project: ProjectView, version: int, expr: Expr, *, directory_ids: Sequence[UUID] | None = None
) -> int:
    return _sliced(db, project, version, expr, directory_ids, lambda ids: _count(db, ids))


def saved_slice(db: Connection, project: ProjectView, name: str) -> tuple[str, UUID | None]:
    """The latest definition (query, directory id) of the slice saved as ``name``."""
    row = db.execute(
        select(slices.c.query, slices.c.directory_id).where(
            slices.c.project_id == project.project_id, slices.c.name == name, slices.c.valid_to.is_(None)
        )
    ).first()
    if row is None:  # the names saved are not listed: some may be over restricted directories
        raise NotFoundError(f"no slice named {name!r} in project {project.name!r}")
    return row.query, row.directory_id


def list_arrays(db: Connection, project: ProjectView, version: int) -> list[ArrayView]:
    """The project's arrays at ``version``, by name."""

    def read(rows: RowsAt) -> list[Any]:
        query = select(arrays).where(arrays.c.project_id == project.project_id, rows.of(arrays))
        return list(db.execute(query.order_by(arrays.c.name)))

    return [_array_view(r, version) for r in read_at(db, project.project_id, version, read)]


def array_named(db: Connection, project: ProjectView, name: str, version: int) -> ArrayView:
    """The array ``name`` at ``version``; every write replaces its row, so it reads through ``read_at``."""

    def read(rows: RowsAt) -> Any:
        query = select(arrays).where(arrays.c.project_id == project.project_id, arrays.c.name == name, rows.of(arrays))
        return db.execute(query).first()

    row = read_at(db, project.project_id, version, read)
    if row is None:
        known = _current_names(db, arrays, "name", project.project_id)
        raise NotFoundError(
            f"array {name!r} does not exist in project {project.name!r} at version {version}; arrays now: {known}"
        )
    return _array_view(row, version)


def _array_view(row: Any, version: int) -> ArrayView:
    return ArrayView(
        name=row.name,
        shape=tuple(row.shape),
        dtype=row.dtype,
        chunks=tuple(row.chunks),
        fill_value=row.fill_value,
        compressor=row.compressor,
        revision=row.revision,
        created_version=row.created_version,
        version=version,
    )


def chunks_at(db: Connection, project_id: UUID, name: str, version: int, keys: Sequence[str] | None) -> list[ChunkView]:
    """The chunk rows of array ``name`` at ``version`` for ``keys`` (None: every row), in grid
    order; keys never written have no row and are left out. Only the keys asked for are read,
    through ``read_at``, so a read costs the same at any depth of history."""

    def read(rows: RowsAt) -> list[Any]:
        query = select(array_chunks).where(
            array_chunks.c.project_id == project_id, array_chunks.c.array == name, rows.of(array_chunks)
        )
        if keys is None:
            return list(db.execute(query))
        return list(select_in(db, query, array_chunks.c.chunk, dict.fromkeys(keys)))

    found = read_at(db, project_id, version, read)
    return [
        ChunkView(chunk=r.chunk, sha256=r.sha256, size=r.size, revision=r.revision)
        for r in sorted(found, key=lambda r: chunk_coords(r.chunk))
    ]


def array_names_blob(db: Connection, project_id: UUID, name: str, sha256: str) -> bool:
    """Whether some chunk of array ``name``, at any version, has the bytes ``sha256``."""
    query = select(literal(1)).where(
        array_chunks.c.project_id == project_id,
        array_chunks.c.array == name,
        array_chunks.c.sha256 == sha256,
    )
    return db.execute(query.limit(1)).first() is not None
