"""A directory as a dataset: sized, indexable, iterable, at one version; writable when latest."""

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from uuid import UUID

from annolog.file import File
from core.commands import MirrorFile, RemoveFileFromDirectory
from core.errors import InvalidInputError, ReadOnlyError
from projections import queries
from projections.readmodels import DirectoryView, Outcome

if TYPE_CHECKING:
    from annolog.project import Project

_PAGE = 500  # files fetched per query while iterating


class Directory:
    """A named set of files of a project, read at one version.

    A pinned directory (``version=`` given) always shows that version and is read-only.
    A latest directory reads the version current when it was opened, follows its own
    writes, and moves to the newest version with ``refresh()``.
    """

    def __init__(self, project: "Project", view: DirectoryView, *, pinned: bool) -> None:
        self.project = project
        self.id: UUID = view.directory_id
        self.name = view.name
        self.access_type = view.access_type
        self.version = view.version
        self.pinned = pinned
        self._ids: list[UUID] | None = None

    # -- reading ---------------------------------------------------------------------------

    def __len__(self) -> int:
        if self._ids is not None:
            return len(self._ids)
        return int(self._read(queries.count_files, self.id, self.version))

    def __getitem__(self, index: int) -> File:
        ids = self._file_ids()
        if not -len(ids) <= index < len(ids):
            raise IndexError(f"directory {self.name!r} has {len(ids)} files at version {self.version}; no index {index}")
        return self._files([ids[index]])[0]

    def __iter__(self) -> Iterator[File]:
        after: UUID | None = None
        while page := self._read(queries.file_ids, self.id, self.version, after=after, limit=_PAGE):
            yield from self._files(page)
            after = page[-1]

    def refresh(self) -> int:
        """Move a latest directory to the newest version; returns it."""
        self._writable("refresh")
        self._moved_to(self.project.version)
        return self.version

    # -- writing ---------------------------------------------------------------------------

    def add_file(self, source: str | Path | bytes, *, name: str | None = None,
                 metadata: dict[str, Any] | None = None, media_type: str | None = None) -> File:
        """Add a file from a path or bytes (bytes need ``name``); images are checked and sized."""
        self._writable("add a file")
        if isinstance(source, bytes):
            if name is None:
                raise InvalidInputError("add_file(bytes) needs name=, e.g. add_file(data, name='dog.jpg')")
            data = source
        else:
            data, name = Path(source).read_bytes(), name or Path(source).name
        outcome, file_id = self.project.service.add_file(
            self.project.id, self.project.actor, directory_id=self.id, data=data, name=name,
            metadata=metadata, media_type=media_type)
        self._moved_to(outcome.version)
        return self._files([file_id])[0]

    def add(self, file: File) -> File:
        """Mirror ``file`` here: the same file and instances, seen in both directories."""
        self._writable("mirror a file into it")
        self._committed(self.project.execute([MirrorFile(file_id=file.id, directory_id=self.id)]))
        return self._files([file.id])[0]

    def remove(self, file: File) -> None:
        """Take ``file`` out of this directory; the file and its instances stay elsewhere."""
        self._writable("remove a file")
        self._committed(self.project.execute([RemoveFileFromDirectory(file_id=file.id, directory_id=self.id)]))

    # -- internals -------------------------------------------------------------------------

    def _read(self, query: Any, *args: Any, **kwargs: Any) -> Any:
        return self.project.service.read(query, self.project.id, *args, **kwargs)

    def _file_ids(self) -> list[UUID]:
        if self._ids is None:
            self._ids = self._read(queries.file_ids, self.id, self.version)
        return self._ids

    def _files(self, ids: list[UUID]) -> list[File]:
        return [File(self, view) for view in self._read(queries.files_by_id, ids, self.version)]

    def _writable(self, action: str) -> None:
        if self.pinned:
            raise ReadOnlyError(
                f"cannot {action}: directory {self.name!r} is pinned at version {self.version}; "
                f"write through project.directory.get({self.name!r}) instead"
            )

    def _committed(self, outcome: Outcome) -> None:
        self._moved_to(outcome.version)

    def _moved_to(self, version: int) -> None:
        self.version, self._ids = version, None

    def __repr__(self) -> str:
        at = f"pinned at version {self.version}" if self.pinned else f"latest, version {self.version}"
        return f"Directory({self.name!r}, {at})"
