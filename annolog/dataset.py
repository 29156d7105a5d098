"""Datasets: files read at one version, sized, indexable and iterable in a stable order."""

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from uuid import UUID

from annolog.file import File
from annolog.pinned import PinnedReader
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
    def _keys(self) -> list[str]:
        """Every file id at the dataset's version, as text, in id order (for training manifests)."""

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

    @property
    def classes(self) -> list[str]:
        """Label names by class index at this version, in the order they were defined."""
        return self._read(queries.class_names, self.project.id, self.version)

    def pinned_reader(
        self, *, cache_dir: Path | None = None, cache_bytes: int = 10 * 2**30, max_in_flight: int = 16
    ) -> PinnedReader:
        """What training datasets read this dataset's version with, in any process."""
        return PinnedReader(
            settings=self.project.service.settings,
            project_id=self.project.id,
            version=self.version,
            ids=self._keys(),
            classes=self.classes,
            cache_dir=cache_dir,
            cache_bytes=cache_bytes,
            max_in_flight=max_in_flight,
        )

    def to_pytorch(
        self,
        transform: Callable[[Any], Any] | None = None,
        *,
        streaming: bool = False,
        shuffle: bool = False,
        seed: int = 0,
        batch_size: int = 1,
        rank: int | None = None,
        world_size: int | None = None,
        cache_dir: Path | None = None,
        cache_bytes: int = 10 * 2**30,
        max_in_flight: int = 16,
    ) -> Any:
        """A PyTorch dataset of this dataset's version (a latest dataset pins the version it is at).

        Map-style by default; ``streaming=True`` gives an ``IterableDataset`` with a seeded
        global shuffle, sharded exactly once over ranks (``rank``/``world_size``, from
        torch.distributed when it is initialised) and DataLoader workers, resumable mid-epoch.
        """
        from annolog import pytorch  # torch is heavy: imported only by those who train with it

        reader = self.pinned_reader(cache_dir=cache_dir, cache_bytes=cache_bytes, max_in_flight=max_in_flight)
        if not streaming:
            return pytorch.TorchDataset(reader, transform)
        rank, world_size = _distributed(rank, world_size)
        return pytorch.TorchStream(
            reader,
            shuffle=shuffle,
            seed=seed,
            batch_size=batch_size,
            rank=rank,
            world_size=world_size,
            transform=transform,
        )

    def to_tensorflow(self, *, cache_dir: Path | None = None, cache_bytes: int = 10 * 2**30) -> Any:
        """A ``tf.data.Dataset`` of this dataset's version (needs the ``tensorflow`` extra)."""
        from annolog.tensorflow import to_tensorflow

        return to_tensorflow(self.pinned_reader(cache_dir=cache_dir, cache_bytes=cache_bytes))

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


def _distributed(rank: int | None, world_size: int | None) -> tuple[int, int]:
    """The caller's rank and world size, else torch.distributed's, else a single process."""
    if rank is not None and world_size is not None:
        return rank, world_size
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


class Slice(Dataset):
    """The files matching a query, e.g. ``labels.car > 3 and labels.pedestrian >= 1``.

    Within a directory, or the whole project; the query is parsed at once, so a typo
    fails here with the column it is at.
    """

    def __init__(
        self, project: "Project", query: str, *, version: int, pinned: bool, within: Dataset | None = None
    ) -> None:
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
        return self._read(
            queries.slice_file_ids,
            self.project.view(),
            self.version,
            self._expr,
            directory_id=self._directory_id,
            after=after,
            limit=limit,
        )

    def _keys(self) -> list[str]:
        return self._read(
            queries.slice_file_keys, self.project.view(), self.version, self._expr, directory_id=self._directory_id
        )

    def _count(self) -> int:
        return self._read(
            queries.count_slice, self.project.view(), self.version, self._expr, directory_id=self._directory_id
        )

    def __repr__(self) -> str:
        at = f"pinned at version {self.version}" if self.pinned else f"latest, version {self.version}"
        return f"Slice({self.query!r}, {at})"
