"""Datasets: files read at one version, sized, indexable and iterable in a stable order."""

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar
from uuid import UUID

from annolog.file import File
from core.errors import ReadOnlyError
from core.query import Expr, parse
from projections import queries
from projections.readmodels import Outcome

if TYPE_CHECKING:
    from annolog.project import Project

PAGE = 500  # files fetched per query while iterating
T = TypeVar("T")


class Dataset(ABC):
    """Files of a project at one version, in file-id (creation) order.

    A pinned dataset (read with ``version=``) always shows that version and is read-only.
    A latest dataset reads the version current when it was opened, follows its own
    writes, and moves to the newest version with ``refresh()``.
    """

    def __init__(self, project: "Project", *, version: int, pinned: bool) -> None:
        self.project = project
        self.version = version
        self.pinned = pinned
        self._ids: list[UUID] | None = None

    @abstractmethod
    def _page(self, after: UUID | None, limit: int | None) -> list[UUID]:
        """File ids after ``after`` (all of them with ``limit=None``), in id order."""

    @abstractmethod
    def _count(self) -> int:
        """How many files the dataset has at its version."""

    def __len__(self) -> int:
        return len(self._ids) if self._ids is not None else self._count()

    def __getitem__(self, index: int) -> File:
        ids = self._file_ids()
        if not -len(ids) <= index < len(ids):
            raise IndexError(f"{self!r} has {len(ids)} files; no index {index}")
        return self._files([ids[index]])[0]

    def __iter__(self) -> Iterator[File]:
        after: UUID | None = None
        while page := self._page(after, PAGE):
            yield from self._files(page)
            after = page[-1]

    def slice(self, query: str) -> "Slice":
        """The files of this dataset matching ``query``, at the same version."""
        return Slice(self.project, query, version=self.version, pinned=self.pinned, within=self)

    def refresh(self) -> int:
        """Move a latest dataset to the newest version; returns it."""
        self._writable("refresh")
        self._moved_to(self.project.version)
        return self.version

    @property
    def directory_id(self) -> UUID | None:
        """The directory the dataset is confined to; None for the whole project."""
        return None

    def _read(self, query: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return self.project.service.read(query, *args, **kwargs)

    def _file_ids(self) -> list[UUID]:
        if self._ids is None:
            self._ids = self._page(None, None)
        return self._ids

    def _files(self, ids: list[UUID]) -> list[File]:
        views = self._read(queries.files_by_id, self.project.id, ids, self.version)
        return [File(self, view) for view in views]

    def _writable(self, action: str) -> None:
        if self.pinned:
            raise ReadOnlyError(
                f"cannot {action}: {self!r} is pinned at version {self.version}; "
                "write through a dataset opened without version="
            )

    def _committed(self, outcome: Outcome) -> None:
        self._moved_to(outcome.version)

    def _moved_to(self, version: int) -> None:
        self.version, self._ids = version, None


class Slice(Dataset):
    """The files matching a query, e.g. ``labels.car > 3 and labels.pedestrian >= 1``.

    Within a directory, or the whole project; the query is parsed at once, so a typo
    fails here with the column it is at.
    """

    def __init__(self, project: "Project", query: str, *, version: int, pinned: bool,
                 within: Dataset | None = None) -> None:
        super().__init__(project, version=version, pinned=pinned)
        self._within = within
        self.query: str = query if not isinstance(within, Slice) else f"({within.query}) and ({query})"
        self._expr: Expr = parse(self.query)
        self._directory_id = within.directory_id if within is not None else None
        self._count()  # unknown labels are reported now, not on first read

    @property
    def directory_id(self) -> UUID | None:
        return self._directory_id

    def _page(self, after: UUID | None, limit: int | None) -> list[UUID]:
        return self._read(queries.slice_file_ids, self.project.view(), self.version, self._expr,
                          directory_id=self._directory_id, after=after, limit=limit)

    def _count(self) -> int:
        return self._read(queries.count_slice, self.project.view(), self.version, self._expr,
                          directory_id=self._directory_id)

    def __repr__(self) -> str:
        at = f"pinned at version {self.version}" if self.pinned else f"latest, version {self.version}"
        return f"Slice({self.query!r}, {at})"
