"""What one principal may do: every read checks the principal's roles, every write is judged.

A ``Session`` is the service as seen by one actor. The embedded SDK calls it directly and
the HTTP API calls it for the principal its token names, so both enforce the same rules:

- a project is visible to anyone with a role in it (on the project or on a directory);
- a directory is readable with a project role, unless it is restricted: then it takes a
  grant of its own (project admins and owners read everything);
- a file is readable through a directory the principal may read, at the version read;
  a file in no directory any more is governed by the directories that held it last;
- a saved slice of a restricted directory is for those who may read that directory;
- a diff of two versions and label statistics see only the directories the principal may
  read (a diff, those it may read at either version); the tags are for any role;
- a file may only name bytes its project holds: uploaded to it, or those of one of its files
  (blobs are shared by sha256 across projects, so a hash alone must open nothing); a large
  mask's counts, bytes its writer uploaded or its instance's mask has now, and they are
  served only through a file one of whose instances has them at the version read;
- the whole project's history and commit list are for admins (the audit); the history
  of a file, an instance or a directory is for whoever may read it;
- arrays are the project's: reading them takes a project role, storing chunks editor; a
  chunk may only name bytes its writer uploaded to the project, and a chunk's bytes are
  served only through an array one of whose chunks has them.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from sqlalchemy import Connection, select

from annolog.api.service import Service
from annolog.api.uploads import held_file_sizes, held_mask_sizes, uploaded_sizes
from annolog.blobs.thumbnails import Thumbnail
from annolog.core.arrays import holding_past
from annolog.core.commands import (
    AddFile,
    AddInstance,
    ChangeInstance,
    Command,
    CreateProject,
    DefineLabel,
    ResizeArray,
    WriteArrayChunks,
)
from annolog.core.errors import AccessDenied, InvalidInputError, NotFoundError
from annolog.core.events import Role
from annolog.core.permissions import RANK
from annolog.core.query import parse
from annolog.projections import audit, queries, stats
from annolog.projections.access import PROJECT_SCOPE, grants, rank_in_directory, rank_on_file
from annolog.projections.diff import diff_page
from annolog.projections.readmodels import (
    ArrayView,
    ChunkView,
    CommitView,
    Cursor,
    Diff,
    DirectoryView,
    FileView,
    HistoryEntry,
    LabelStats,
    Outcome,
    ProjectView,
    Scope,
    SkeletonView,
    StoredBlob,
    TagView,
)
from annolog.projections.tables import directories, instances

VIEWER, EDITOR, ADMIN = RANK[Role.viewer], RANK[Role.editor], RANK[Role.admin]


class Session:
    """The service for ``actor``: the SDK's backend when embedded, and what each HTTP request runs."""

    def __init__(self, service: Service, actor: str) -> None:
        self.service = service
        self.actor = actor

    # -- writes ------------------------------------------------------------------------------

    def create_project(self, name: str, *, labels: Sequence[str] = ()) -> ProjectView:
        """A new project owned by the actor, with ``labels`` defined in the same commit."""
        command = CreateProject(name=name)
        commands = [command, *(DefineLabel(name=label) for label in labels)]
        self.service.execute(command.project_id, self.actor, commands)
        return self.project(name)

    def execute(self, project: str, commands: Sequence[Command], *, commit_id: UUID | None = None) -> Outcome:
        """One commit of ``commands``, judged (roles included) before this returns.

        Every ``AddFile`` must name bytes the project holds (one query for all of them),
        checked here because who uploaded what is not in the log the judge reads.
        """
        with self.service.reading() as db:
            view, granted = self._project(db, project)  # no role, no answer about the project's bytes
            self._may_name_blobs(db, view, granted, commands)
            _shrinks_clear_what_lies_past(db, view, commands)
        return self.service.execute(view.project_id, self.actor, commands, commit_id=commit_id)

    def store_blob(self, project: str, data: bytes, *, name: str, media_type: str | None = None) -> StoredBlob:
        """Probe and store bytes for files added later; only for those who may add files.

        The upload is recorded for the project: that is what lets its files name these bytes.
        """
        with self.service.reading() as db:
            view, granted = self._project(db, project)
        if max(granted.values(), default=0) < EDITOR:
            raise AccessDenied(f"{self.actor} may not upload files to project {view.name!r}: that needs editor")
        stored = self.service.store_blob(data, name=name, media_type=media_type)
        self.service.uploads.record(view.project_id, {stored.sha256: stored.size}, actor=self.actor)
        return stored

    def store_chunks(self, project: str, data: Sequence[bytes]) -> list[str]:
        """Store encoded array chunks for a write to come; their sha256s, in order. Only for
        those who may write arrays (editor of the project); recorded, as ``store_blob``'s
        uploads are, since that is what lets the actor's writes name these bytes."""
        with self.service.reading() as db:
            view, granted = self._project(db, project)
        if granted.get(PROJECT_SCOPE, 0) < EDITOR:
            raise AccessDenied(
                f"{self.actor} may not store array chunks in project {view.name!r}: that needs editor of the project"
            )
        hashes = self.service.store_chunks(data)
        self.service.uploads.record(
            view.project_id, {sha256: len(chunk) for sha256, chunk in zip(hashes, data, strict=True)}, actor=self.actor
        )
        return hashes

    # -- projects, labels, directories -------------------------------------------------------

    def projects(self) -> list[ProjectView]:
        """The projects the actor has a role in."""
        with self.service.reading() as db:
            return [p for p in queries.list_projects(db) if grants(db, p.project_id, self.actor)]

    def project(self, name: str) -> ProjectView:
        with self.service.reading() as db:
            return self._project(db, name)[0]

    def resolve(self, project: str, version: int | str | None) -> int:
        """A version number from a number, a tag, or None (the latest)."""
        with self.service.reading() as db:
            return queries.resolve_version(db, self._project(db, project)[0], version)

    def labels(self, project: str, version: int) -> list[str]:
        with self.service.reading() as db:
            return queries.label_names(db, self._project(db, project)[0].project_id, version)

    def classes(self, project: str, version: int) -> list[str]:
        with self.service.reading() as db:
            return queries.class_names(db, self._project(db, project)[0].project_id, version)

    def skeletons(self, project: str, version: int) -> list[SkeletonView]:
        with self.service.reading() as db:
            return queries.list_skeletons(db, self._project(db, project)[0].project_id, version)

    def tags(self, project: str) -> list[TagView]:
        """The project's tags now, by the version they name, then by name (any role reads them)."""
        with self.service.reading() as db:
            return queries.list_tags(db, self._project(db, project)[0].project_id)

    def directories(self, project: str, version: int) -> list[DirectoryView]:
        """The directories at ``version`` the actor may read."""
        with self.service.reading() as db:
            view, granted = self._project(db, project)
            return _readable(queries.list_directories(db, view, version), granted)

    def directory(self, project: str, name: str, version: int) -> DirectoryView:
        with self.service.reading() as db:
            view, granted = self._project(db, project)
            directory = queries.directory_named(db, view, name, version)
            self._may_read(directory, granted)
            return directory

    def saved_slice(self, project: str, name: str) -> tuple[str, UUID | None]:
        """The query and directory (None: the whole project) saved as ``name``; a slice of a
        restricted directory is for those who may read that directory."""
        with self.service.reading() as db:
            view, granted = self._project(db, project)
            query, directory_id = queries.saved_slice(db, view, name)
            if directory_id is not None:
                self._may_read(_latest(db, directories, view.project_id, directory_id=directory_id), granted)
            return query, directory_id

    # -- the files of a dataset --------------------------------------------------------------

    def file_page(self, scope: Scope, *, after: UUID | None = None, limit: int | None = None) -> list[UUID]:
        """File ids of the dataset in id order after ``after``: keyset pages, stable under writes."""
        with self.service.reading() as db:
            view, within = self._scope(db, scope)
            if scope.query is None:
                return queries.file_ids(db, view.project_id, _directory(scope), scope.version, after=after, limit=limit)
            expr = parse(scope.query)
            return queries.slice_file_ids(db, view, scope.version, expr, directory_ids=within, after=after, limit=limit)

    def file_keys(self, scope: Scope) -> list[str]:
        """Every file id of the dataset, as text, in id order: a training manifest's spine."""
        with self.service.reading() as db:
            view, within = self._scope(db, scope)
            if scope.query is None:
                return queries.file_keys(db, view.project_id, _directory(scope), scope.version)
            return queries.slice_file_keys(db, view, scope.version, parse(scope.query), directory_ids=within)

    def file_count(self, scope: Scope) -> int:
        with self.service.reading() as db:
            view, within = self._scope(db, scope)
            if scope.query is None:
                return queries.count_files(db, view.project_id, _directory(scope), scope.version)
            return queries.count_slice(db, view, scope.version, parse(scope.query), directory_ids=within)

    def files(self, scope: Scope, ids: Sequence[UUID]) -> list[FileView]:
        """The files with ``ids`` and their instances, as of the scope's version.

        Every id must be a file of the scope's directories at that version: ids learnt
        elsewhere do not open a restricted directory's files.
        """
        with self.service.reading() as db:
            view = self._readable_files(db, scope, ids)
            return queries.files_by_id(db, view.project_id, ids, scope.version)

    def mirrors(self, scope: Scope, file_id: UUID) -> list[DirectoryView]:
        """The directories a readable file is in at the scope's version, by name: those the actor
        may read only, so a mirror into a restricted directory stays unseen without its grant."""
        with self.service.reading() as db:
            self._readable_files(db, scope, [file_id])
            view, granted = self._project(db, scope.project)
            holding = queries.directories_holding(db, view.project_id, file_id, scope.version)
            every = queries.list_directories(db, view, scope.version)
            return _readable([d for d in every if d.directory_id in holding], granted)

    def blob(self, scope: Scope, file_id: UUID) -> tuple[FileView, str | None]:
        """A readable file, and a short-lived URL of its bytes when the store can issue one
        (the caller reads the bytes through the service otherwise)."""
        (file,) = self.files(scope, [file_id])
        return file, self.service.blobs.url(file.sha256)

    def read_mask(self, scope: Scope, file_id: UUID, sha256: str) -> bytes:
        """The counts of a large mask (a blob, see ``core.mask``) that an instance of a readable file
        has at the scope's version: read through the file, so a hash learnt elsewhere opens nothing,
        and the refusal is the same whether the bytes are another project's or nobody's."""
        with self.service.reading() as db:
            view = self._readable_files(db, scope, [file_id])
            held = queries.holds_mask_blob(db, view.project_id, file_id, sha256, scope.version)
        if not held:
            (file,) = self.files(scope, [file_id])  # for its name: a refusal is no hot path
            raise NotFoundError(
                f"no instance of file {file.name!r} ({file_id}) has a mask stored as blob {sha256} "
                f"at version {scope.version}"
            )
        return self.service.blobs.get(sha256)

    def thumbnail(self, scope: Scope, file_id: UUID, size: int) -> Thumbnail:
        """A readable image file's thumbnail, its longest side ``size`` (one of ``THUMBNAIL_SIZES``),
        upright; read as ``blob`` is, so an id learnt elsewhere opens no restricted file."""
        (file,) = self.files(scope, [file_id])
        return self.service.thumbnail(file, size)

    # -- what changed, and what a version holds ----------------------------------------------

    def diff(
        self,
        project: str,
        base: int,
        head: int,
        *,
        directory_id: UUID | None = None,
        after: UUID | None = None,
        limit: int = 100,
    ) -> Diff:
        """What changed from version ``base`` to ``head`` in the directory (None: in every
        directory the actor may read), one page of files by id after ``after``.

        Only the directories the actor may read count, at either version: a file in none of
        them at base nor at head is no part of the diff.
        """
        with self.service.reading() as db:
            view, granted = self._project(db, project)
            for version in (base, head):
                queries.resolve_version(db, view, version)  # the error a version that does not exist gets
            if base > head:
                raise InvalidInputError(
                    f"base version {base} is after head version {head}: a diff goes from the older version "
                    f"to the newer; swap them (base={head}, head={base})"
                )
            within = self._diffed(db, view, granted, (base, head), directory_id)
            files, next_after = diff_page(
                db, view.project_id, base, head, directory_ids=within, after=after, limit=limit
            )
        return Diff(
            project=view.name,
            directory_id=directory_id,
            base=base,
            head=head,
            files=tuple(files),
            next_after=next_after,
        )

    def label_stats(self, scope: Scope) -> LabelStats:
        """Instances and files per label among the scope's files (a slice's too), every label
        defined at the scope's version by class index."""
        with self.service.reading() as db:
            view, within = self._scope(db, scope)
            queries.resolve_version(db, view, scope.version)
            expr = None if scope.query is None else parse(scope.query)
            files, counts = stats.label_stats(db, view, scope.version, directory_ids=within, expr=expr)
        return LabelStats(
            project=view.name, directory_id=scope.directory_id, version=scope.version, files=files, labels=tuple(counts)
        )

    # -- arrays -------------------------------------------------------------------------------

    def arrays(self, project: str, version: int) -> list[ArrayView]:
        """The project's arrays at ``version``, by name."""
        with self.service.reading() as db:
            view = self._array_reader(db, project)
            return queries.list_arrays(db, view, version)

    def array(self, project: str, name: str, version: int) -> ArrayView:
        with self.service.reading() as db:
            return queries.array_named(db, self._array_reader(db, project), name, version)

    def array_chunks(self, project: str, name: str, version: int, chunks: Sequence[str] | None) -> list[ChunkView]:
        """The written chunks among ``chunks`` (None: all of them) of the array at ``version``;
        an unwritten chunk has no row and reads as the fill value."""
        with self.service.reading() as db:
            view = self._array_reader(db, project)
            queries.array_named(db, view, name, version)  # an unknown array is an error, not "nothing written"
            return queries.chunks_at(db, view.project_id, name, version, chunks)

    def read_chunk(self, project: str, name: str, sha256: str) -> bytes:
        """A chunk's bytes, verified against ``sha256``, if a chunk of the array had them at any
        version: a hash learnt elsewhere opens nothing, and the refusal is the same whether the
        bytes are stored for another project or nowhere."""
        with self.service.reading() as db:
            view = self._array_reader(db, project)
            if not queries.array_names_blob(db, view.project_id, name, sha256):
                raise NotFoundError(
                    f"no chunk of array {name!r} in project {view.name!r} has the bytes {sha256}, at any version"
                )
        return self.service.blobs.get(sha256)

    # -- the audit trail and subscriptions ---------------------------------------------------

    def history(
        self,
        project: str,
        *,
        file_id: UUID | None = None,
        instance_id: UUID | None = None,
        directory_id: UUID | None = None,
        array: str | None = None,
        **filters: Any,
    ) -> list[HistoryEntry]:
        """Every change to the file, instance, directory or array (or, for admins, the project),
        filtered by ``actor``, ``event``, ``since``/``until`` and paged ``after``/``limit``.

        A file's history names the directories it joined and left; those the actor may not
        read (now) are left out, so a mirror into a restricted directory stays unseen.
        """
        with self.service.reading() as db:
            view, granted = self._project(db, project)
            self._may_audit(
                db, view, granted, file_id=file_id, instance_id=instance_id, directory_id=directory_id, array=array
            )
            auditor = granted.get(PROJECT_SCOPE, 0) >= ADMIN
            every = queries.list_directories(db, view, view.version)
            return audit.history_of(
                db,
                view.project_id,
                entity_id=instance_id,
                file_id=file_id,
                directory_id=directory_id,
                array=array,
                in_directories=None if auditor else [d.directory_id for d in _readable(every, granted)],
                **filters,
            )

    def commits(self, project: str, *, actor: str | None = None, **filters: Any) -> list[CommitView]:
        """Judged commits, accepted and rejected (with the reason): admins see all, others their own."""
        with self.service.reading() as db:
            view, granted = self._project(db, project)
            if actor != self.actor and granted.get(PROJECT_SCOPE, 0) < ADMIN:
                raise AccessDenied(
                    f"{self.actor} may not list other people's commits in project {view.name!r}: that needs admin; "
                    f"pass actor={self.actor!r} for your own"
                )
            return audit.commits_of(db, view.project_id, actor=actor, **filters)

    def changes(self, scope: Scope, *, after: Cursor, limit: int = 1000) -> list[HistoryEntry]:
        """Changes to the scope's directories after ``after`` (see ``projections.audit.changes``)."""
        with self.service.reading() as db:
            latest = queries.project_named(db, scope.project).version  # who may read what is decided now
            view, within = self._scope(db, scope.model_copy(update={"version": latest}))
            # None is every directory; an empty list is none: a viewer who may read no directory
            # is sent no change of any (tags are project-wide, so those still come).
            every = [d.directory_id for d in queries.list_directories(db, view, latest)] if within is None else within
            return audit.changes(db, view.project_id, every, after=after, limit=limit)

    # -- the checks --------------------------------------------------------------------------

    def _may_name_blobs(
        self, db: Connection, view: ProjectView, granted: dict[UUID, int], commands: Sequence[Command]
    ) -> None:
        """Refuse a commit naming bytes its actor may not name, or naming them in another size
        than they have (readers check bytes against both, so every read of them would fail)."""
        named = _NamedBlobs.of(commands)
        hashes = {sha256 for pairs in named.by_kind().values() for sha256, _ in pairs}
        if not hashes:
            return
        uploaded = uploaded_sizes(db, view.project_id, hashes, actor=self.actor)
        # The sizes each blob the actor may name has, by what names it (none known: not checked).
        by_upload = {sha256: set() if size is None else {size} for sha256, size in uploaded.items()}
        sizes: dict[str, dict[str, set[int]]] = {kind: dict(by_upload) for kind in named.by_kind()}
        left_files = {sha256 for sha256, _ in named.files} - sizes["files"].keys()
        left_masks = {sha256 for sha256, _ in named.masks} - sizes["masks"].keys()
        if left_files or (left_masks and named.edited):
            readable = [d.directory_id for d in _readable(queries.list_directories(db, view, view.version), granted)]
            if left_files:
                sizes["files"] |= held_file_sizes(db, view.project_id, left_files, readable=readable)
            if left_masks and named.edited:
                sizes["masks"] |= held_mask_sizes(db, view.project_id, named.edited, readable=readable)
        declared = [(sizes[kind], pair) for kind, pairs in named.by_kind().items() for pair in pairs]
        # One answer whether the bytes are elsewhere or nowhere: a refusal is no oracle for hashes.
        if missing := sorted({sha256 for known, (sha256, _) in declared if sha256 not in known}):
            more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
            raise NotFoundError(
                f"blob {missing[0]}{more} is not in project {view.name!r} for {self.actor}: {self.actor} did not "
                "upload it there and no file they may read has these bytes (an array chunk may only name bytes its "
                "writer uploaded, a mask those or its instance's now); upload them to the project first (store_blob "
                "or POST .../blobs for files and mask counts, store_chunks or POST .../chunks for array chunks)"
            )
        stored = [(sha256, size, known[sha256]) for known, (sha256, size) in declared]
        if wrong := sorted({(sha256, size, min(has)) for sha256, size, has in stored if has and size not in has}):
            sha256, size, has = wrong[0]
            more = f" (and {len(wrong) - 1} more)" if len(wrong) > 1 else ""
            raise InvalidInputError(
                f"blob {sha256} is {has} bytes, but the commit declares {size}{more}: a file's size, a mask's "
                "counts_size and an array chunk's size must be the size of those bytes"
            )

    def _project(self, db: Connection, name: str) -> tuple[ProjectView, dict[UUID, int]]:
        view = queries.project_named(db, name)
        granted = grants(db, view.project_id, self.actor)
        if not granted:
            raise AccessDenied(f"{self.actor} has no role in project {name!r}; an admin of it can grant one")
        return view, granted

    def _array_reader(self, db: Connection, name: str) -> ProjectView:
        """The project, if the actor may read its arrays: they belong to no directory, so a
        grant on a directory alone does not open them."""
        view, granted = self._project(db, name)
        if granted.get(PROJECT_SCOPE, 0) < VIEWER:
            raise AccessDenied(
                f"{self.actor} may not read the arrays of project {name!r}: that needs a role in the project "
                "(viewer), not only in one of its directories"
            )
        return view

    def _may_read(self, directory: Any, granted: dict[UUID, int]) -> None:
        if rank_in_directory(granted, directory) < VIEWER:
            raise AccessDenied(
                f"{self.actor} may not read directory {directory.name!r}: it is restricted and needs a grant of its own"
            )

    def _scope(self, db: Connection, scope: Scope) -> tuple[ProjectView, list[UUID] | None]:
        """The scope's project and the directories it may read there (None: every directory)."""
        view, granted = self._project(db, scope.project)
        every = queries.list_directories(db, view, scope.version)
        if scope.directory_id is not None:
            directory = next((d for d in every if d.directory_id == scope.directory_id), None)
            if directory is None:
                raise NotFoundError(
                    f"directory {scope.directory_id} does not exist in project {view.name!r} at version {scope.version}"
                )
            self._may_read(directory, granted)
            return view, [directory.directory_id]
        readable = _readable(every, granted)
        return view, None if len(readable) == len(every) else [d.directory_id for d in readable]

    def _diffed(
        self,
        db: Connection,
        view: ProjectView,
        granted: dict[UUID, int],
        versions: tuple[int, int],
        directory_id: UUID | None,
    ) -> list[UUID] | None:
        """The directories a diff compares (None: every directory): the one named, if it exists
        at either version and the actor may read it, or those the actor may read at either."""
        every = {d.directory_id: d for v in versions for d in queries.list_directories(db, view, v)}
        if directory_id is not None:
            if directory_id not in every:
                raise NotFoundError(
                    f"directory {directory_id} does not exist in project {view.name!r} "
                    f"at version {versions[0]} nor at version {versions[1]}"
                )
            self._may_read(every[directory_id], granted)
            return [directory_id]
        readable = _readable(list(every.values()), granted)
        return None if len(readable) == len(every) else [d.directory_id for d in readable]

    def _readable_files(self, db: Connection, scope: Scope, ids: Sequence[UUID]) -> ProjectView:
        """The scope's project, once every id is a file of the scope's directories at its version."""
        view, within = self._scope(db, scope)
        found = queries.members_among(db, view.project_id, ids, scope.version, within)
        outside = [i for i in ids if i not in found]
        if outside:
            raise NotFoundError(
                f"file {outside[0]} is not in {_described(scope)} of project {view.name!r} "
                f"at version {scope.version}, or {self.actor} may not read it"
            )
        return view

    def _may_audit(
        self,
        db: Connection,
        view: ProjectView,
        granted: dict[UUID, int],
        *,
        file_id: UUID | None,
        instance_id: UUID | None,
        directory_id: UUID | None,
        array: str | None,
    ) -> None:
        if granted.get(PROJECT_SCOPE, 0) >= ADMIN:
            return
        readable: list[bool] = []  # one answer per entity named: the filters combine, so each must be readable
        if directory_id is not None:
            row = _latest(db, directories, view.project_id, directory_id=directory_id)
            readable.append(row is not None and rank_in_directory(granted, row) >= VIEWER)
        if instance_id is not None:
            row = _latest(db, instances, view.project_id, instance_id=instance_id)
            readable.append(row is not None and rank_on_file(db, view.project_id, granted, row.file_id) >= VIEWER)
        if file_id is not None:
            readable.append(rank_on_file(db, view.project_id, granted, file_id) >= VIEWER)
        if array is not None:  # arrays are read with a role in the project
            readable.append(granted.get(PROJECT_SCOPE, 0) >= VIEWER)
        if readable and all(readable):
            return
        raise AccessDenied(
            f"{self.actor} may not read this history of project {view.name!r}: the history of a file, instance, "
            "directory or array needs read access to it, and the whole project's needs admin"
        )


def _directory(scope: Scope) -> UUID:
    if scope.directory_id is None:
        raise InvalidInputError("a dataset is a directory or a slice: give directory_id, query or both")
    return scope.directory_id


@dataclass(frozen=True)
class _NamedBlobs:
    """The blobs a commit names, with the size it declares for each, by what names them."""

    files: list[tuple[str, int]]
    masks: list[tuple[str, int]]
    chunks: list[tuple[str, int]]
    edited: set[UUID]
    """The instances the commit changes that carry a mask in a blob: they may keep theirs."""

    @classmethod
    def of(cls, commands: Sequence[Command]) -> "_NamedBlobs":
        named = cls([], [], [], set())
        for c in commands:
            if isinstance(c, AddFile):
                named.files.append((c.sha256, c.size))
            elif isinstance(c, (AddInstance, ChangeInstance)) and (mask := c.mask) is not None:
                if mask.counts_sha256 is not None and mask.counts_size is not None:  # counts in a blob
                    named.masks.append((mask.counts_sha256, mask.counts_size))
                    if isinstance(c, ChangeInstance):
                        named.edited.add(c.instance_id)
            elif isinstance(c, (WriteArrayChunks, ResizeArray)):
                named.chunks.extend((w.sha256, w.size) for w in c.chunks if w.sha256 is not None)
        return named

    def by_kind(self) -> dict[str, list[tuple[str, int]]]:
        return {"files": self.files, "masks": self.masks, "chunks": self.chunks}


def _shrinks_clear_what_lies_past(db: Connection, view: ProjectView, commands: Sequence[Command]) -> None:
    """Refuse a ``ResizeArray`` that shrinks an array but leaves out a stored chunk holding elements
    past the new shape (the SDK's resize lists them all). Checked here, not by the judge, so logs
    written before the rule replay as they did; a chunk written since this read moves the array's
    revision, which the resize is conditioned on."""
    for c in commands:
        if not isinstance(c, ResizeArray):
            continue
        array = queries.array_named(db, view, c.array, view.version)
        if all(new >= old for new, old in zip(c.shape, array.shape)):
            continue
        stored = [
            row.chunk for row in queries.chunks_at(db, view.project_id, c.array, view.version, None) if row.sha256
        ]
        listed = {write.chunk for write in c.chunks}
        if left := [key for key in holding_past(array.shape, array.chunks, c.shape, stored) if key not in listed]:
            more = f" (and {len(left) - 1} more)" if len(left) > 1 else ""
            raise InvalidInputError(
                f"a resize of array {c.array!r} to shape {c.shape} must clear or rewrite chunk {left[0]}{more}, which "
                "holds elements past that shape (they would show again when the array grows); list it in the "
                "resize, as the SDK's resize does"
            )


def _readable(every: list[DirectoryView], granted: dict[UUID, int]) -> list[DirectoryView]:
    return [d for d in every if rank_in_directory(granted, d) >= VIEWER]


def _described(scope: Scope) -> str:
    where = f"directory {scope.directory_id}" if scope.directory_id else "the readable directories"
    return where if scope.query is None else f"the slice {scope.query!r} of {where}"


def _latest(db: Connection, table: Any, project_id: UUID, **key: Any) -> Any:
    """The newest row of the entity ``key`` names, current or not (history outlives it)."""
    query = select(table).where(table.c.project_id == project_id, *(table.c[k] == v for k, v in key.items()))
    return db.execute(query.order_by(table.c.valid_from.desc()).limit(1)).first()
