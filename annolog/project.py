"""A project in the SDK: its directories, labels, versions, tags and history."""

from collections.abc import Sequence
from uuid import UUID

from annolog.dataset import Slice
from annolog.directory import Directory
from annolog.file import File, Instance
from api.service import Service
from core.commands import (
    Command,
    CreateDirectory,
    DefineLabel,
    GrantRole,
    MoveTag,
    RevokeRole,
    SaveSlice,
    TagVersion,
)
from core.events import AccessType, Role
from projections import queries
from projections.readmodels import HistoryEntry, Outcome, ProjectView, StoredBlob


class Project:
    """A labelled dataset project: the unit of versions, labels and access."""

    def __init__(self, service: Service, actor: str, view: ProjectView) -> None:
        self._service = service
        self.actor = actor
        self.id: UUID = view.project_id
        self.name = view.name
        self.directory = Directories(self)

    @property
    def version(self) -> int:
        """The latest version: the number of accepted commits so far."""
        return self.view().version

    def view(self) -> ProjectView:
        return self._service.read(queries.project_named, self.name)

    @property
    def labels(self) -> list[str]:
        return self._service.read(queries.label_names, self.id, self.version)

    def define_labels(self, *names: str) -> int:
        """Define labels (all or none); returns the version that made them."""
        return self.execute([DefineLabel(name=name) for name in names]).version

    def tag(self, name: str, version: int | None = None) -> int:
        """Name ``version`` (default: the latest) ``name``; returns the version it names."""
        outcome = self.execute([TagVersion(tag=name, version=version)])
        return version or outcome.version

    def move_tag(self, name: str, version: int) -> None:
        self.execute([MoveTag(tag=name, version=version)])

    def grant(self, principal: str, role: Role | str, *, directory: Directory | None = None) -> None:
        self.execute(
            [GrantRole(principal=principal, role=Role(role), directory_id=directory.id if directory else None)]
        )

    def revoke(self, principal: str, role: Role | str, *, directory: Directory | None = None) -> None:
        self.execute(
            [RevokeRole(principal=principal, role=Role(role), directory_id=directory.id if directory else None)]
        )

    def history(
        self,
        *,
        file: File | None = None,
        instance: Instance | None = None,
        directory: Directory | None = None,
        actor: str | None = None,
        since: int | None = None,
        until: int | None = None,
    ) -> list[HistoryEntry]:
        """Who changed what, when, at which version, with the values before and after."""
        return self._service.read(
            queries.history_of,
            self.id,
            entity_id=instance.id if instance else None,
            file_id=file.id if file else None,
            directory_id=directory.id if directory else None,
            actor=actor,
            since=since,
            until=until,
        )

    def slice(self, query: str, *, version: int | str | None = None) -> Slice:
        """Files of any directory of the project matching ``query``, at ``version`` (default latest)."""
        resolved = self._service.read(queries.resolve_version, self.view(), version)
        return Slice(self, query, version=resolved, pinned=version is not None)

    def save_slice(self, name: str, query: str, *, directory: Directory | None = None) -> None:
        """Save ``query`` as ``name`` (over ``directory``, or the whole project)."""
        self.execute([SaveSlice(name=name, query=query, directory_id=directory.id if directory else None)])

    def saved_slice(self, name: str, *, version: int | str | None = None) -> Slice:
        """The slice saved as ``name``, its query evaluated at ``version`` (default latest)."""
        query, directory_id = self._service.read(queries.saved_slice, self.view(), name)
        if directory_id is None:
            return self.slice(query, version=version)
        directory = next(d for d in self.directory.list(version=version) if d.id == directory_id)
        return directory.slice(query)

    def execute(self, commands: Sequence[Command], *, commit_id: UUID | None = None) -> Outcome:
        """Commit ``commands`` as one commit of this project (all or nothing).

        Pass the ``commit_id`` of an earlier attempt to retry safely: it is applied once.
        """
        return self._service.execute(self.id, self.actor, commands, commit_id=commit_id)

    def store_blob(self, data: bytes, *, name: str, media_type: str | None = None) -> StoredBlob:
        """Probe and store bytes for ``AddFile`` commands committed later (bulk ingest)."""
        return self._service.store_blob(data, name=name, media_type=media_type)

    @property
    def service(self) -> Service:
        return self._service

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
        project = self._project.view()
        resolved = self._project.service.read(queries.resolve_version, project, version)
        view = self._project.service.read(queries.directory_named, project, name, resolved)
        return Directory(self._project, view, pinned=version is not None)

    def list(self, *, version: int | str | None = None) -> list[Directory]:
        project = self._project.view()
        resolved = self._project.service.read(queries.resolve_version, project, version)
        views = self._project.service.read(queries.list_directories, project, resolved)
        return [Directory(self._project, view, pinned=version is not None) for view in views]
