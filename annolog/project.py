"""A project in the SDK: its directories, labels, versions, tags and history."""

from collections.abc import Sequence
from uuid import UUID

from annolog.array import Array, Arrays
from annolog.backend import Backend
from annolog.core.commands import (
    Command,
    CreateDirectory,
    DeclareSkeleton,
    DefineLabel,
    GrantRole,
    MoveTag,
    RevokeRole,
    SaveSlice,
    TagVersion,
)
from annolog.core.events import AccessType, Role, tag_of
from annolog.dataset import Slice
from annolog.directory import Directory
from annolog.file import File, Instance
from annolog.label import Label
from annolog.projections.readmodels import (
    CommitView,
    Diff,
    FileChange,
    HistoryEntry,
    LabelStats,
    Outcome,
    ProjectView,
    Scope,
    SkeletonView,
    StoredBlob,
)

DIFF_PAGE_FILES = 500
"""Files per request of ``Project.diff``: each comes with its instances at both versions."""


class Project:
    """A labelled dataset project: the unit of versions, labels and access."""

    def __init__(self, backend: Backend, view: ProjectView) -> None:
        self.backend = backend
        self.actor = backend.actor
        self.id: UUID = view.project_id
        self.name = view.name
        self.directory = Directories(self)
        self.array = Arrays(self)

    @property
    def version(self) -> int:
        """The latest version: the number of accepted commits so far."""
        return self.view().version

    def view(self) -> ProjectView:
        return self.backend.project(self.name)

    @property
    def labels(self) -> list[str]:
        return self.backend.labels(self.name, self.version)

    def define_labels(self, *names: str) -> int:
        """Define labels (all or none); returns the version that made them."""
        return self.execute([DefineLabel(name=name) for name in names]).version

    def label(self, name: str) -> Label:
        """The label ``name``, to rename, merge, retire or declare attributes of (needs admin)."""
        return Label(self, name)

    def declare_skeleton(
        self, label: str, *, keypoints: Sequence[str], skeleton: Sequence[tuple[int, int]] = ()
    ) -> int:
        """Give ``label`` named ``keypoints`` joined by ``skeleton`` edges, **0-based** indices into
        ``keypoints`` (COCO files count from 1; ``import_coco`` converts); returns the version.

        Declaring again may rename the keypoints and change the edges, but not their number:
        the label's keypoints instances hold one point per keypoint (a ``ConflictError`` says so).

        >>> project.declare_skeleton("person", keypoints=["head", "hip"], skeleton=[(0, 1)])  # doctest: +SKIP
        4
        """
        command = DeclareSkeleton(label=label, keypoints=tuple(keypoints), skeleton=tuple((i, j) for i, j in skeleton))
        return self.execute([command]).version

    def skeletons(self, *, version: int | str | None = None) -> dict[str, SkeletonView]:
        """Each label's skeleton at ``version`` (default latest), by label name."""
        found = self.backend.skeletons(self.name, self.backend.resolve(self.name, version))
        return {skeleton.label: skeleton for skeleton in found}

    def tag(self, name: str, version: int | None = None, *, force: bool = False) -> int:
        """Name ``version`` (default: the latest) ``name``; returns the version it names.

        A tag pins its version for good, so that a run trained or exported "at v1" can be
        repeated: naming an existing tag again is a ``ConflictError`` that says which version
        it names. ``force=True`` moves it (admin), audited as ``TagMoved`` with the version
        before and after; moving it to the version it already names commits nothing.

        >>> project.tag("release-1", 7, force=True)  # doctest: +SKIP
        7
        """
        if force and (named := self.tags().get(name)) is not None:
            target = version or self.version
            if target != named:
                self.execute([MoveTag(tag=name, version=target)])
            return target
        outcome = self.execute([TagVersion(tag=name, version=version)])
        return version or outcome.version

    def tags(self) -> dict[str, int]:
        """Each tag and the version it names now, in version order.

        >>> project.tags()  # doctest: +SKIP
        {'v1': 3, 'release-1': 7}
        """
        return {tag.name: tag.version for tag in self.backend.tags(self.name)}

    def diff(self, base: int | str, head: int | str, *, directory: Directory | None = None) -> Diff:
        """What changed from version ``base`` to ``head`` (numbers, tags or "latest"): files added
        to and removed from ``directory`` (default: every directory this client may read), and
        the instances added, changed and deleted on the files in it at both, by file id.

        >>> [(f.name, f.change) for f in project.diff("v1", "latest").files]  # doctest: +SKIP
        [('dog.jpg', 'changed')]
        """
        older, newer = self.backend.resolve(self.name, base), self.backend.resolve(self.name, head)
        files: list[FileChange] = []
        after: UUID | None = None
        while True:
            page = self.backend.diff(
                self.name, older, newer, directory_id=_id_of(directory), after=after, limit=DIFF_PAGE_FILES
            )
            files += page.files
            if page.next_after is None:
                return page.model_copy(update={"files": tuple(files)})
            after = page.next_after

    def label_stats(
        self, *, version: int | str | None = None, directory: Directory | None = None, query: str | None = None
    ) -> LabelStats:
        """Instances and files per label at ``version`` (default latest), among the files of
        ``directory`` (default: every directory this client may read), or of the slice
        ``query`` of it; every label defined then, by class index, those without any too."""
        scope = Scope(
            project=self.name,
            version=self.backend.resolve(self.name, version),
            directory_id=_id_of(directory),
            query=query,
        )
        return self.backend.label_stats(scope)

    def grant(self, principal: str, role: Role | str, *, directory: Directory | None = None) -> None:
        self.execute([GrantRole(principal=principal, role=Role(role), directory_id=_id_of(directory))])

    def revoke(self, principal: str, role: Role | str, *, directory: Directory | None = None) -> None:
        self.execute([RevokeRole(principal=principal, role=Role(role), directory_id=_id_of(directory))])

    def history(
        self,
        *,
        file: File | None = None,
        instance: Instance | None = None,
        directory: Directory | None = None,
        array: Array | None = None,
        actor: str | None = None,
        event: str | None = None,
        since: int | None = None,
        until: int | None = None,
        after: tuple[int, int] | None = None,
        limit: int = 1000,
    ) -> list[HistoryEntry]:
        """Who changed what, when, at which version, with the values before and after.

        Of a file (with its instances), an instance, a directory or an ``array`` (who wrote
        which region when); the whole project's
        needs admin. Filter by ``actor``, ``event`` type (e.g. "InstanceChanged") and
        versions ``since``..``until``; page with ``after=(entry.version, entry.seq)``.
        """
        return self.backend.history(
            self.name,
            file_id=file.id if file else None,
            instance_id=instance.id if instance else None,
            directory_id=_id_of(directory),
            array=None if array is None else array.name,
            actor=actor,
            event=event,
            since=since,
            until=until,
            after=after,
            limit=limit,
        )

    def commits(
        self,
        *,
        actor: str | None = None,
        accepted: bool | None = None,
        after: int | None = None,
        limit: int = 1000,
    ) -> list[CommitView]:
        """Judged commits in log order, rejected ones with their reason (admins see everyone's;
        others pass their own ``actor``); page with ``after=commit.offset``."""
        return self.backend.commits(self.name, actor=actor, accepted=accepted, after=after, limit=limit)

    def slice(self, query: str, *, version: int | str | None = None) -> Slice:
        """Files of any directory of the project matching ``query``, at ``version`` (default latest)."""
        resolved = self.backend.resolve(self.name, version)
        return Slice(self, query, version=resolved, pinned=version is not None, tag=tag_of(version))

    def save_slice(self, name: str, query: str, *, directory: Directory | None = None) -> None:
        """Save ``query`` as ``name`` (over ``directory``, or the whole project)."""
        self.execute([SaveSlice(name=name, query=query, directory_id=_id_of(directory))])

    def saved_slice(self, name: str, *, version: int | str | None = None) -> Slice:
        """The slice saved as ``name``, its query evaluated at ``version`` (default latest)."""
        query, directory_id = self.backend.saved_slice(self.name, name)
        if directory_id is None:
            return self.slice(query, version=version)
        directory = next(d for d in self.directory.list(version=version) if d.id == directory_id)
        return directory.slice(query)

    def execute(self, commands: Sequence[Command], *, commit_id: UUID | None = None) -> Outcome:
        """Commit ``commands`` as one commit of this project (all or nothing).

        Pass the ``commit_id`` of an earlier attempt to retry safely: it is applied once.
        """
        return self.backend.execute(self.name, commands, commit_id=commit_id)

    def store_blob(self, data: bytes, *, name: str, media_type: str | None = None) -> StoredBlob:
        """Probe and store bytes for ``AddFile`` commands committed later (bulk ingest)."""
        return self.backend.store_blob(self.name, data, name=name, media_type=media_type)

    def __repr__(self) -> str:
        return f"Project({self.name!r})"


class Directories:
    """``project.directory``: create, open (latest or pinned) and list directories."""

    def __init__(self, project: Project) -> None:
        self._project = project

    def new(self, name: str, *, access_type: AccessType | str = AccessType.project) -> Directory:
        command = CreateDirectory(name=name, access_type=AccessType(access_type))
        self._project.execute([command])
        return self.get(name)

    def get(self, name: str, *, version: int | str | None = None) -> Directory:
        """The directory at the latest version, or pinned at ``version`` (a number or a tag)."""
        backend, project = self._project.backend, self._project.name
        view = backend.directory(project, name, backend.resolve(project, version))
        return Directory(self._project, view, pinned=version is not None, tag=tag_of(version))

    def list(self, *, version: int | str | None = None) -> list[Directory]:
        """The directories at ``version`` (default latest) this client may read."""
        backend, project = self._project.backend, self._project.name
        views = backend.directories(project, backend.resolve(project, version))
        return [Directory(self._project, view, pinned=version is not None, tag=tag_of(version)) for view in views]


def _id_of(directory: Directory | None) -> UUID | None:
    """The directory's id; tested against None, since an empty directory (a dataset) is falsy
    and taking it for "no directory" would grant, revoke or save for the whole project."""
    return None if directory is None else directory.id
