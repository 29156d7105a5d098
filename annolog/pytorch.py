"""PyTorch datasets over a pinned version: map-style for random access, iterable for streaming.

Items are ``(image, target)`` as ``torchvision.models.detection`` models take them, so a
batch of ``DataLoader(ds, collate_fn=collate)`` goes into
``fasterrcnn_resnet50_fpn(num_classes=ds.num_classes)`` as it comes:

- ``image``: float32 C×H×W in [0, 1] (``dtype=torch.uint8`` keeps the 0–255 bytes);
- ``target["boxes"]``: float32 N×4, x_min y_min x_max y_max in pixels;
- ``target["labels"]``: int64 N, 1-based because torchvision keeps 0 for the background:
  label k is ``ds.classes[k]`` and ``ds.classes[0]`` is ``"__background__"``, as in
  torchvision's weights' categories (and k is the label's COCO category id in an export);
- ``target["file_id"]`` (str), and when present ``tags`` (int64, whole-image labels) and
  ``shapes`` (polygons, lines, points, keypoints as K×3 rows of x, y, visibility, masks), numbered
  the same way; detection models ignore them.

With ``masks=True`` the target is Mask R-CNN's (``maskrcnn_resnet50_fpn``): the instances with
pixels — masks and polygons — become ``boxes``, ``labels`` and ``target["masks"]``, uint8 N×H×W,
row for row (see ``annolog.segmentation``); box instances, lines, points, and masks or polygons
with an empty box go to ``shapes``, box instances as kind ``"box"`` with their two corners.
Masks are decoded (and polygons drawn) with pycocotools where the item is made, in the
DataLoader's workers, from the RLE the pinned manifest already carries.

With ``frames=`` (``Dataset.to_pytorch``) an item is one frame of a video: ``target["frame"]``
says which, and ``target["tracks"]`` (when a box has one) lists each box's track id.

Use ``collate`` with a DataLoader: images differ in size and box counts differ per image.
"""

from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch.utils.data import Dataset, IterableDataset, get_worker_info

from annolog.core.errors import InvalidInputError
from annolog.images import decode_image
from annolog.pinned import BlobCache, Entry, PinnedReader, ShapeEntry
from annolog.projections.readmodels import ArrayView
from annolog.segmentation import segments

if TYPE_CHECKING:
    from annolog.arraystore import ChunkSource
from annolog.sharding import epoch_order, rank_block, worker_items

Item = tuple[torch.Tensor, dict[str, Any]]
Transform = Callable[[Item], Any]
BACKGROUND = "__background__"  # label 0, torchvision's name for it
_CHUNK = 32  # files read per round trip while streaming; the next chunk loads while this one is used


def _labels(indices: tuple[int, ...]) -> torch.Tensor:
    return torch.tensor([i + 1 for i in indices], dtype=torch.int64)  # class index i is label i + 1


def _shapes(shapes: tuple[ShapeEntry, ...]) -> list[dict[str, Any]]:
    """Each shape's label and points; keypoints as Keypoint R-CNN takes them, K x 3 rows of
    (x, y, visibility), so a keypoint that is not labelled (0) is not read as one at (0, 0)."""
    return [{"label": s.label + 1, "kind": s.kind, "points": _points(s)} for s in shapes]


def _points(shape: ShapeEntry) -> torch.Tensor:
    points = torch.tensor(shape.points, dtype=torch.float32).reshape(-1, 2)
    if not shape.visibility:
        return points
    return torch.cat([points, torch.tensor(shape.visibility, dtype=torch.float32).reshape(-1, 1)], dim=1)


def _detection(entry: Entry) -> dict[str, Any]:
    target: dict[str, Any] = {
        "boxes": torch.tensor(entry.boxes, dtype=torch.float32).reshape(-1, 4),
        "labels": _labels(entry.box_labels),
        "shapes": _shapes(entry.shapes),
    }
    if any(track is not None for track in entry.box_tracks):
        target["tracks"] = list(entry.box_tracks)
    return target


def _segmentation(entry: Entry, height: int, width: int) -> dict[str, Any]:
    found = segments(entry, height, width)
    return {
        "boxes": torch.from_numpy(found.boxes),
        "labels": _labels(found.labels),
        "masks": torch.from_numpy(found.masks),
        "shapes": _shapes(found.unmasked),
    }


def to_item(entry: Entry, data: bytes, dtype: torch.dtype = torch.float32, *, masks: bool = False) -> Item:
    """The (image, target) of one picture, its pixels as ``dtype``; with ``masks``, Mask R-CNN's target."""
    if entry.frames is not None:
        raise InvalidInputError(
            f"file {entry.name!r} is a video of {entry.frames} frames, not a picture: "
            "to_pytorch(frames='annotated') or frames='all' yields its frames"
        )
    return framed_item(entry, decode_image(data, entry.name), dtype, masks=masks)


def framed_item(
    entry: Entry, rgb: "np.ndarray[Any, np.dtype[np.uint8]]", dtype: torch.dtype, *, masks: bool = False
) -> Item:
    """The (image, target) of decoded H×W×3 pixels: a picture's, or one frame's of a video."""
    # numpy's transpose copy is steadier than torch's multi-threaded one outside workers
    pixels = torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1)))
    image = pixels if dtype == torch.uint8 else pixels.to(dtype).div_(255)
    _, height, width = pixels.shape
    target = _segmentation(entry, height, width) if masks else _detection(entry)
    target["file_id"] = str(entry.file_id)
    if entry.frame is not None:
        target["frame"] = entry.frame
    if entry.tags:
        target["tags"] = _labels(entry.tags)
    if not target["shapes"]:
        del target["shapes"]
    return image, target


def collate(batch: list[Any]) -> tuple[list[Any], ...]:
    """Keep images and targets as lists (sizes differ): ``DataLoader(ds, collate_fn=collate)``.

    Lists of images and of targets are what torchvision's detection models take.
    """
    return tuple(list(column) for column in zip(*batch))


class ItemFormat:
    """How a file becomes an item: its pixels as ``dtype`` (default float32 in [0, 1]), its target
    with instance masks or without (``masks``), then ``transform``."""

    def __init__(
        self, *, dtype: torch.dtype | None = None, masks: bool = False, transform: Transform | None = None
    ) -> None:
        if dtype is not None and not (
            isinstance(dtype, torch.dtype) and (dtype == torch.uint8 or dtype.is_floating_point)
        ):
            raise InvalidInputError(
                f"dtype must be torch.uint8 (pixels 0-255) or a floating dtype (pixels in [0, 1]), got {dtype!r}"
            )
        self.dtype = torch.float32 if dtype is None else dtype
        self.masks, self.transform = masks, transform

    def count(self, reader: PinnedReader) -> int:
        """How many items the dataset has: one a file."""
        return len(reader.ids)

    def load(self, reader: PinnedReader, positions: list[int]) -> list[Any]:
        """The items of the files at ``positions``: one manifest round trip, blobs in parallel."""
        entries = reader.entries(positions, masks=self.masks)
        items = [to_item(e, data, self.dtype, masks=self.masks) for e, data in zip(entries, reader.fetch(entries))]
        return self._transformed(items)

    def _transformed(self, items: list[Item]) -> list[Any]:
        return [self.transform(item) for item in items] if self.transform else list(items)


class _Classes:
    """The label names and count both PyTorch datasets report, background first."""

    reader: PinnedReader

    @property
    def classes(self) -> list[str]:
        """Names by label: ``"__background__"``, then the dataset's classes in index order."""
        return [BACKGROUND, *self.reader.classes]

    @property
    def num_classes(self) -> int:
        """What a torchvision detection model is built with: the classes and the background."""
        return len(self.reader.classes) + 1


class TorchDataset(_Classes, Dataset[Any]):
    """Map-style: ``len``, ``ds[i]``; a DataLoader batch is fetched in one round trip plus
    parallel blob reads (``__getitems__``), never one blocking request per sample."""

    def __init__(self, reader: PinnedReader, items: ItemFormat) -> None:
        self.reader, self.items = reader, items

    def __len__(self) -> int:
        return self.items.count(self.reader)

    def __getitem__(self, index: int) -> Any:
        if not -len(self) <= index < len(self):
            raise IndexError(f"dataset has {len(self)} items; no index {index}")
        return self.__getitems__([index % len(self)])[0]

    def __getitems__(self, indices: list[int]) -> list[Any]:
        return self.items.load(self.reader, indices)


class TorchStream(_Classes, IterableDataset[Any]):
    """Streaming: a seeded global shuffle per epoch, sharded exactly once over ranks and workers.

    See ``annolog.sharding`` for the policy. Call ``set_epoch(e)`` before each epoch. To
    resume mid-epoch, save ``state_dict(samples_seen=…)`` (how many items this rank has
    trained on) and ``load_state_dict`` it into the new run: the next iteration yields
    exactly the rest of that epoch, even with a different number of workers.
    """

    def __init__(
        self,
        reader: PinnedReader,
        items: ItemFormat,
        *,
        shuffle: bool,
        seed: int,
        batch_size: int,
        rank: int,
        world_size: int,
    ) -> None:
        if batch_size < 1:
            raise InvalidInputError(f"batch_size must be at least 1, got {batch_size}")
        self.reader, self.items = reader, items
        self.shuffle, self.seed, self.batch_size = shuffle, seed, batch_size
        self.rank, self.world_size = rank, world_size
        self.epoch, self._skip = 0, 0
        rank_block([], rank=rank, world_size=world_size)  # validates rank and world_size

    def __len__(self) -> int:
        """Items this rank reads per epoch (the same on every rank)."""
        return self.items.count(self.reader) // self.world_size

    def set_epoch(self, epoch: int) -> None:
        self.epoch, self._skip = epoch, 0

    def state_dict(self, *, samples_seen: int) -> dict[str, Any]:
        """Where training is: saved with the model, ``load_state_dict`` resumes from it. It
        records the version number as well as the tag the dataset was opened by (or None)."""
        return {
            "version": self.reader.version,
            "tag": self.reader.tag,
            "files": self.items.count(self.reader),  # items: frames, when the dataset is of frames
            "seed": self.seed,
            "shuffle": self.shuffle,
            "world_size": self.world_size,
            "epoch": self.epoch,
            "samples_seen": samples_seen,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Resume from ``state``, refusing one saved at another version (a moved tag, say), with
        another seed, order or world size: the rest of the epoch would be other data."""
        mine = self.state_dict(samples_seen=state.get("samples_seen", 0))
        if state.get("version") != mine["version"]:
            raise InvalidInputError(_other_version(state, mine))
        for key in ("files", "seed", "shuffle", "world_size"):
            if state.get(key) != mine[key]:
                raise InvalidInputError(
                    f"cannot resume: the state was saved with {key}={state.get(key)!r}, this stream has {mine[key]!r}"
                )
        self.epoch, self._skip = state["epoch"], state["samples_seen"]

    def _positions(self) -> list[int]:
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        order = epoch_order(self.items.count(self.reader), seed=self.seed, epoch=self.epoch, shuffle=self.shuffle)
        block = rank_block(order, rank=self.rank, world_size=self.world_size)
        return worker_items(block, skip=self._skip, batch_size=self.batch_size, worker=worker, num_workers=workers)

    def __iter__(self) -> Iterator[Any]:
        positions = self._positions()
        chunks = [positions[i : i + _CHUNK] for i in range(0, len(positions), _CHUNK)]
        with ThreadPoolExecutor(1, thread_name_prefix="annolog-prefetch") as ahead:
            pending: Future[list[Any]] | None = (
                ahead.submit(self.items.load, self.reader, chunks[0]) if chunks else None
            )
            for k in range(len(chunks)):
                assert pending is not None
                items = pending.result()
                pending = ahead.submit(self.items.load, self.reader, chunks[k + 1]) if k + 1 < len(chunks) else None
                yield from items


def _other_version(saved: dict[str, Any], mine: dict[str, Any]) -> str:
    """Why a state saved at another version cannot resume here, and how to resume on its data."""
    version, tag, now = saved.get("version"), saved.get("tag"), mine["version"]
    if tag is not None and tag == mine["tag"]:
        why = f" through tag {tag!r}, which has since been moved to version {now}"
    else:
        why = f"{_named(tag)}, and this stream reads version {now}{_named(mine['tag'])}"
    return (
        f"cannot resume: the state was saved at version {version}{why}; the rest of its epoch would be "
        f"other data. To resume on the data it was trained on, open the dataset with version={version}"
    )


def _named(tag: str | None) -> str:
    return "" if tag is None else f" (tag {tag!r})"


class ArrayDataset(Dataset[Any]):
    """Map-style over an array's first axis at one version: item i is ``a[i]`` as a tensor,
    then ``transform``. A batch (``__getitems__``) is one read of the rows it names.

    It pickles as the backend's manifest source (which reopens its connections in each
    worker, as a directory dataset's does), the array's view and the cache settings; each
    process opens its own chunk store, reader threads and (for ``remote`` blobs) disk cache.
    """

    def __init__(
        self,
        source: "ChunkSource",
        project: str,
        view: ArrayView,
        *,
        remote: bool,
        transform: Callable[[Any], Any] | None,
        cache_dir: Path,
        cache_bytes: int,
        memory_bytes: int,
        max_in_flight: int,
    ) -> None:
        self.source, self.project, self.view, self.remote, self.transform = source, project, view, remote, transform
        self.cache_dir, self.cache_bytes, self.max_in_flight = cache_dir, cache_bytes, max_in_flight
        self.memory_bytes = memory_bytes
        self._opened: dict[str, Any] = {}

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_opened": {}}  # stores, threads and caches are per process

    def __len__(self) -> int:
        return self.view.shape[0]

    def __getitem__(self, index: int) -> Any:
        if not -len(self) <= index < len(self):
            raise IndexError(f"array {self.view.name!r} has {len(self)} rows; no index {index}")
        return self.__getitems__([index % len(self)])[0]

    def __getitems__(self, indices: list[int]) -> list[Any]:
        from annolog.arraystore import read  # zarr is the arrays extra's, not every trainer's

        rows = read(self._array(), (np.asarray(indices, dtype=np.int64),))
        items = [torch.from_numpy(np.ascontiguousarray(row)) for row in rows]
        return [self.transform(item) for item in items] if self.transform else items

    def _array(self) -> Any:
        if "array" not in self._opened:
            import zarr

            from annolog.arraystore import ArrayStore, ChunkFetcher

            cache = BlobCache(self.cache_dir, self.cache_bytes) if self.remote else None
            fetcher = ChunkFetcher(cache=cache, memory_bytes=self.memory_bytes, max_in_flight=self.max_in_flight)
            store = ArrayStore(self.source, self.project, self.view, fetcher)
            self._opened["array"] = zarr.open_array(store=store, mode="r", zarr_format=3)
        return self._opened["array"]
