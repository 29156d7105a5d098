"""Datasets: files read at one version, sized, indexable and iterable in a stable order."""

import operator
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, overload
from uuid import UUID

from annolog.core.errors import InvalidInputError, ReadOnlyError
from annolog.core.query import parse
from annolog.extras import require
from annolog.file import File
from annolog.pinned import CACHE_BYTES, CACHE_DIR, PinnedReader
from annolog.projections.readmodels import HistoryEntry, Outcome, Scope, after_version

if TYPE_CHECKING:
    import torch

    from annolog.export import ExportSummary
    from annolog.frame_selection import FrameSelection
    from annolog.project import Project
    from annolog.pytorch import ItemFormat
    from annolog.tensorflow import Task
    from annolog.video import FrameChoice

PAGE = 500  # files fetched per query while iterating


class Dataset:
    """Files of a project at one version, in file-id (creation) order.

    A pinned dataset (read with ``version=``) always shows that version and is read-only.
    A latest dataset reads the version current when it was opened, follows its own
    writes, and moves to the newest version with ``refresh()``.

    ``tag`` is the tag it was opened by (``version="v1"``), else None. A tag can be moved, so
    a training state or an export records it with ``version``, the number it named then.
    """

    def __init__(self, project: "Project", *, version: int, pinned: bool, tag: str | None = None) -> None:
        self.project = project
        self.version = version
        self.pinned = pinned
        self.tag = tag
        self._ids: list[UUID] | None = None

    @property
    def scope(self) -> Scope:
        """What this dataset reads, as the backend is asked for it."""
        return Scope(project=self.project.name, version=self.version, directory_id=self.directory_id)

    def __len__(self) -> int:
        return len(self._ids) if self._ids is not None else self.project.backend.file_count(self.scope)

    @overload
    def __getitem__(self, index: int) -> File: ...

    @overload
    def __getitem__(self, index: slice) -> list[File]: ...

    def __getitem__(self, index: int | slice) -> File | list[File]:
        """The file at ``index``, or the files of a slice (``ds[:8]``) as a list, read in pages."""
        ids = self._file_ids()
        if isinstance(index, slice):
            chosen = ids[index]
            return [file for start in range(0, len(chosen), PAGE) for file in self._files(chosen[start : start + PAGE])]
        try:
            position = operator.index(index)  # numpy's integers too
        except TypeError:
            raise InvalidInputError(
                f"a dataset is indexed by an int or a slice, got {type(index).__name__} {index!r}"
            ) from None
        if not -len(ids) <= position < len(ids):
            raise IndexError(f"{self!r} has {len(ids)} files; no index {position}")
        return self._files([ids[position]])[0]

    def __iter__(self) -> Iterator[File]:
        after: UUID | None = None
        while page := self.project.backend.file_page(self.scope, after=after, limit=PAGE):
            yield from self._files(page)
            after = page[-1]

    @property
    def classes(self) -> list[str]:
        """Label names by class index at this version, in the order they were defined."""
        return self.project.backend.classes(self.project.name, self.version)

    @property
    def num_classes(self) -> int:
        """The ``num_classes`` of a torchvision detection model for ``to_pytorch()``: the
        classes and the background (label 0). Keras counts no background: ``len(ds.classes)``."""
        return len(self.classes) + 1

    def subscribe(self, *, since: int | None = None) -> Iterator[HistoryEntry]:
        """Changes to this dataset's directories after version ``since`` (default: the version
        it is at), as they are projected: files added or removed, instances and metadata
        changed, tags. Never ends; each change carries the version it produced.

        >>> for change in ds.subscribe(since=ds.version):  # doctest: +SKIP
        ...     print(change.version, change.event, change.entity_id)
        """
        start = self.version if since is None else since
        return self.project.backend.subscribe(self.scope, after=after_version(start))

    def pinned_reader(
        self, *, cache_dir: Path | None = None, cache_bytes: int = CACHE_BYTES, max_in_flight: int = 16
    ) -> PinnedReader:
        """What training datasets read this dataset's version with, in any process."""
        scope, backend = self.scope, self.project.backend
        return PinnedReader(
            source=backend.manifest_source(scope),
            version=self.version,
            tag=self.tag,
            ids=backend.file_keys(scope),
            classes=self.classes,
            cache_dir=cache_dir or CACHE_DIR,
            cache_bytes=cache_bytes,
            max_in_flight=max_in_flight,
        )

    def to_pytorch(
        self,
        transform: Callable[[Any], Any] | None = None,
        *,
        dtype: "torch.dtype | None" = None,
        masks: bool = False,
        streaming: bool = False,
        shuffle: bool = False,
        seed: int = 0,
        batch_size: int = 1,
        rank: int | None = None,
        world_size: int | None = None,
        cache_dir: Path | None = None,
        cache_bytes: int = CACHE_BYTES,
        max_in_flight: int = 16,
        frames: "FrameChoice | None" = None,
    ) -> Any:
        """A PyTorch dataset of this dataset's version (a latest dataset pins the version it is at).

        Items are torchvision's detection format (see ``annolog.pytorch``): images float32 in
        [0, 1] unless ``dtype`` says otherwise (``torch.uint8`` keeps the bytes), labels 1-based
        with 0 for the background, so ``DataLoader(ds, collate_fn=collate)`` batches go into
        ``fasterrcnn_resnet50_fpn(num_classes=ds.num_classes)`` as they are. ``masks=True`` (the
        ``masks`` extra too) makes the targets Mask R-CNN's: masks and polygons become ``boxes``,
        ``labels`` and N×H×W ``masks``, decoded in the workers; box instances then go to ``shapes``:

        >>> image, target = ds.to_pytorch(masks=True)[0]  # doctest: +SKIP
        >>> maskrcnn_resnet50_fpn(num_classes=ds.num_classes)([image], [target])  # doctest: +SKIP

        Map-style by default; ``streaming=True`` gives an ``IterableDataset`` with a seeded
        global shuffle, sharded exactly once over ranks (``rank``/``world_size``, from
        torch.distributed when it is initialised) and DataLoader workers, resumable mid-epoch.

        With ``frames=`` an item is a video frame with the instances drawn on it (and those of
        the whole video), decoded from the nearest keyframe: ``"annotated"`` yields the frames
        that have an instance, what a detector trains on; ``"all"`` every frame. Pictures in
        the dataset are one item each (with ``"annotated"``, if they have an instance). Needs
        the ``video`` extra:

        >>> ds.to_pytorch(frames="annotated")[0][1]["frame"]  # doctest: +SKIP
        12

        Of a slice whose query reads frames, the items are the frames the query holds on, not
        every frame of the videos it selects (``annolog.core.query.frames``; under ``"all"``,
        a frame without instances counts 0 of every label):

        >>> project.slice("frame.labels.car >= 2").to_pytorch(frames="annotated")  # doctest: +SKIP
        """
        require("to_pytorch()", "train", "numpy", "torch")
        if masks:  # checked here, not first in a DataLoader worker
            require("to_pytorch(masks=True)", "masks", "pycocotools")
        from annolog import pytorch  # torch is heavy: imported only by those who train with it

        reader = self.pinned_reader(cache_dir=cache_dir, cache_bytes=cache_bytes, max_in_flight=max_in_flight)
        items = self._item_format(reader, frames, dtype=dtype, masks=masks, transform=transform)
        if not streaming:
            return pytorch.TorchDataset(reader, items)
        rank, world_size = _distributed(rank, world_size)
        return pytorch.TorchStream(
            reader, items, shuffle=shuffle, seed=seed, batch_size=batch_size, rank=rank, world_size=world_size
        )

    def _item_format(
        self,
        reader: PinnedReader,
        frames: "FrameChoice | None",
        *,
        dtype: "torch.dtype | None",
        masks: bool,
        transform: Callable[[Any], Any] | None,
    ) -> "ItemFormat":
        from annolog import pytorch

        if frames is None:
            return pytorch.ItemFormat(dtype=dtype, masks=masks, transform=transform)
        require("to_pytorch(frames=...)", "video", "av")
        from annolog import frame_items

        chosen = frame_items.frames_of(reader, frames, self._frame_selection())
        return frame_items.FrameFormat(chosen, dtype=dtype, masks=masks, transform=transform)

    def to_tensorflow(
        self,
        *,
        task: "Task" = "detection",
        shuffle: bool = False,
        seed: int = 0,
        num_shards: int = 1,
        index: int = 0,
        batch_size: int | None = None,
        cache_dir: Path | None = None,
        cache_bytes: int = CACHE_BYTES,
    ) -> Any:
        """A ``tf.data.Dataset`` of this dataset's version that Keras fits on (needs the ``tensorflow`` extra).

        ``(image, target)`` elements (see ``annolog.tensorflow``), a new seeded shuffle each
        pass with ``shuffle=True``, shard ``index`` of ``num_shards`` (equal, disjoint) and a
        known cardinality:

        >>> model.fit(ds.to_tensorflow(task="classification", shuffle=True, batch_size=8))  # doctest: +SKIP

        ``task="instance_segmentation"`` (the ``masks`` extra too) adds N×H×W ``masks`` to the
        boxes of masks and polygons, as ``to_pytorch(masks=True)`` does.
        """
        require("to_tensorflow()", "tensorflow", "numpy", "tensorflow")
        if task == "instance_segmentation":
            require('to_tensorflow(task="instance_segmentation")', "masks", "pycocotools")
        from annolog.tensorflow import to_tensorflow

        return to_tensorflow(
            self.pinned_reader(cache_dir=cache_dir, cache_bytes=cache_bytes),
            task=task,
            shuffle=shuffle,
            seed=seed,
            num_shards=num_shards,
            index=index,
            batch_size=batch_size,
        )

    def export_coco(self, out: str | Path, *, images: bool = False, progress: bool = False) -> "ExportSummary":
        """Write this dataset's version as COCO (``annotations.json``, and the images with ``images=True``)."""
        from annolog import export

        return export.export_coco(self, out, images=images, progress=progress)

    def export_yolo(self, out: str | Path, *, images: bool = False, progress: bool = False) -> "ExportSummary":
        """Write this dataset's version as YOLO text labels (one file per image, and ``classes.txt``)."""
        from annolog import export

        return export.export_yolo(self, out, images=images, progress=progress)

    def slice(self, query: str) -> "Slice":
        """The files of this dataset matching ``query``, at the same version."""
        return Slice(self.project, query, version=self.version, pinned=self.pinned, tag=self.tag, within=self)

    def refresh(self) -> int:
        """Move a latest dataset to the newest version; returns it."""
        self._writable("refresh")
        self._moved_to(self.project.version)
        return self.version

    @property
    def directory_id(self) -> UUID | None:
        """The directory the dataset is confined to; None for the whole project."""
        return None

    def _frame_selection(self) -> "FrameSelection | None":
        """Which frames of the files are items beyond ``frames=``'s choice: all of them."""
        return None

    def _file_ids(self) -> list[UUID]:
        if self._ids is None:
            self._ids = self.project.backend.file_page(self.scope)
        return self._ids

    def _files(self, ids: list[UUID]) -> list[File]:
        return [File(self, view) for view in self.project.backend.files(self.scope, ids)]

    def _at(self) -> str:
        """Where the dataset reads, for its repr: "latest, version 7" or "pinned at version 3 (tag 'v1')"."""
        if not self.pinned:
            return f"latest, version {self.version}"
        return f"pinned at version {self.version}" + (f" (tag {self.tag!r})" if self.tag is not None else "")

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
        self,
        project: "Project",
        query: str,
        *,
        version: int,
        pinned: bool,
        tag: str | None = None,
        within: Dataset | None = None,
    ) -> None:
        super().__init__(project, version=version, pinned=pinned, tag=tag)
        self.query: str = query if not isinstance(within, Slice) else f"({within.query}) and ({query})"
        parse(self.query)  # a typo fails here, with its column
        self._directory_id = within.directory_id if within is not None else None
        len(self)  # unknown labels are reported now, not on first read

    @property
    def directory_id(self) -> UUID | None:
        return self._directory_id

    @property
    def scope(self) -> Scope:
        return super().scope.model_copy(update={"query": self.query})

    def __repr__(self) -> str:
        return f"Slice({self.query!r}, {self._at()})"

    def _frame_selection(self) -> "FrameSelection | None":
        """The frames the query holds on, when it reads frames (see ``annolog.frame_selection``)."""
        from annolog.frame_selection import frame_selection

        return frame_selection(self)
