"""Reading one pinned version from any process: file ids, manifest pages, blob bytes.

A ``PinnedReader`` is what training datasets carry into DataLoader workers. It pickles
as plain ids and a ``ManifestSource`` — the embedded database and blob store, or an
annolog server's URL and token — which opens its connections lazily in each process
(fork or spawn). Blobs from a remote store go through a bounded disk cache keyed by
sha256 — an immutable key, so a hit is always right — and are fetched in parallel with
a bounded number of requests in flight. ``cache_bytes`` bounds the cache's whole size
on disk, its index included.
"""

import functools
import io
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from uuid import UUID

from annolog.core.errors import AnnologError, CorruptBlob
from annolog.core.geometry import InstanceKind, Point
from annolog.forks import renew_after_fork
from annolog.projections.readmodels import FileView, InstanceView, MaskView


@dataclass(frozen=True)
class ShapeEntry:
    """An instance that is neither a box nor a tag, its label as a class index: a polygon (its
    rings' lengths in ``parts`` when it has several), a line, a point, keypoints (a COCO flag
    per point in ``visibility``: 0 is not labelled, its point meaningless), or a mask (its RLE
    in ``mask``, no points). Kept as stored: rasterising is for the trainers that ask for masks."""

    label: int
    kind: str
    points: tuple[Point, ...]
    parts: tuple[int, ...] = ()
    mask: MaskView | None = None
    visibility: tuple[int, ...] = ()


@dataclass(frozen=True)
class Entry:
    """One file of a pinned manifest: where its bytes are and its annotations as class indices."""

    file_id: UUID
    sha256: str
    name: str
    boxes: tuple[tuple[float, float, float, float], ...]
    box_labels: tuple[int, ...]
    tags: tuple[int, ...]  # labels of tag instances (whole-image labels)
    shapes: tuple[ShapeEntry, ...]  # the other instances
    box_tracks: tuple[int | str | None, ...] = ()  # the track of each box, on a video
    frames: int | None = None  # the file's frame count: None for a single picture
    frame: int | None = None  # the one frame of a video this entry is (its instances are those on it)


def entry_of(view: FileView, index: dict[str, int], *, frame: int | None = None) -> Entry:
    """``view``'s manifest entry, labels as class indices; with ``frame``, that frame of a video:
    the instances drawn on it and those of the whole video (which sit on no frame)."""
    shown = [i for i in view.instances if frame is None or i.frame in (frame, None)]
    boxes = [i for i in shown if i.kind == InstanceKind.box]
    return Entry(
        file_id=view.file_id,
        sha256=view.sha256,
        name=view.name,
        boxes=tuple((b.points[0][0], b.points[0][1], b.points[1][0], b.points[1][1]) for b in boxes),
        box_labels=tuple(index[b.label] for b in boxes),
        tags=tuple(index[i.label] for i in shown if i.kind == InstanceKind.tag),
        shapes=tuple(
            ShapeEntry(index[i.label], i.kind, i.points, i.parts, i.mask, i.visibility)
            for i in shown
            if i.kind not in (InstanceKind.box, InstanceKind.tag)
        ),
        box_tracks=tuple(b.track for b in boxes),
        frames=view.frames,
        frame=frame,
    )


class ManifestSource(Protocol):
    """Where a pinned reader gets file views and bytes; pickles, and reconnects per process."""

    @property
    def remote(self) -> bool:
        """Whether bytes come over the network (and are worth a local disk cache)."""
        ...

    def views(self, ids: list[UUID]) -> list[FileView]:
        """The files with ``ids`` at the pinned version, with their instances, in that order."""
        ...

    def fetch(self, entry: Entry) -> bytes:
        """The bytes of ``entry``'s file, checked against its sha256."""
        ...

    def fetch_mask(self, file_id: UUID, sha256: str) -> bytes:
        """The counts blob ``sha256`` of a large mask on the file ``file_id``, checked against it."""
        ...


CACHE_DIR = Path.home() / ".cache" / "annolog" / "blobs"
"""Where streaming readers keep blob bytes by default: directories and arrays share it (sha256 keys)."""
CACHE_BYTES = 10 * 2**30


class BlobCache:
    """The bounded LRU disk cache of blob bytes by sha256 that every streaming reader shares
    (directories and arrays, every process of a machine): a sha256 never changes, so a hit
    is always right. A thin face over ``diskcache.Cache``."""

    def __init__(self, cache_dir: Path, cache_bytes: int) -> None:
        import diskcache  # only remote stores need it: an embedded reader never loads it

        # Eviction unlinks files; a reader that already opened one keeps reading it (POSIX).
        # Every blob as a file (disk_min_file_size=0): values kept inside diskcache's
        # SQLite index would grow a file that never shrinks, and past the limit each
        # insert would evict everything.
        self._cache = diskcache.Cache(
            str(cache_dir), size_limit=cache_bytes, eviction_policy="least-recently-used", disk_min_file_size=0
        )

    def get(self, sha256: str) -> bytes | None:
        found = self._cache.get(sha256)
        return found if isinstance(found, bytes) else None

    def set(self, sha256: str, data: bytes) -> None:
        # Handed bytes, diskcache writes them by iterating a BytesIO, which yields LINES: a
        # 4 MiB binary chunk became ~16,000 writes, 40% of a cold array read
        # (grantjenks/python-diskcache#333). Handed as a file, it copies 4 MiB at a time.
        self._cache.set(sha256, io.BytesIO(data), read=True)


class PinnedReader:
    """One project's files at one version (a directory, a slice or the whole project), and
    the tag it was opened by, if any (a training state records both)."""

    def __init__(
        self,
        *,
        source: ManifestSource,
        version: int,
        tag: str | None = None,
        ids: list[str],
        classes: list[str],
        cache_dir: Path,
        cache_bytes: int = CACHE_BYTES,
        max_in_flight: int = 16,
    ) -> None:
        self.source, self.version, self.tag, self.ids, self.classes = source, version, tag, ids, classes
        self.cache_dir, self.cache_bytes, self.max_in_flight = cache_dir, cache_bytes, max_in_flight
        self._opened: dict[str, Any] = {}
        renew_after_fork(self)

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_opened": {}}  # pools and caches are per process

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        renew_after_fork(self)

    def after_fork(self) -> None:
        """A forked DataLoader worker inherits the pool without its threads (a fetch there waited
        forever) and the cache's SQLite connection: it opens its own."""
        self._opened = {}

    @property
    def class_index(self) -> dict[str, int]:
        """Each label's class index at the pinned version."""
        return {name: i for i, name in enumerate(self.classes)}

    def entries(self, positions: list[int], *, masks: bool = False) -> list[Entry]:
        """Manifest entries of the files at ``positions``, in that order (one round trip); with
        ``masks``, every mask's counts inline (see ``views``)."""
        index = self.class_index
        return [entry_of(view, index) for view in self.views(positions, masks=masks)]

    def views(self, positions: list[int], *, masks: bool = False) -> list[FileView]:
        """The files at ``positions`` with their instances, in that order (one round trip).

        With ``masks``, a large mask's counts (a blob) are fetched as the files' bytes are, through
        the cache and in parallel, and put inline: what a trainer that decodes masks needs.
        """
        views = self.source.views([UUID(self.ids[p]) for p in positions])  # ids kept as text: 100k UUIDs cost 0.5 s
        return self._with_mask_counts(views) if masks else views

    def fetch(self, entries: list[Entry]) -> list[bytes]:
        """The blobs of ``entries``: cache hits and a local store are read here, in this thread;
        remote misses in parallel (bounded), then cached."""
        return self._blobs([(e.sha256, functools.partial(self._get, e)) for e in entries])

    def _with_mask_counts(self, views: list[FileView]) -> list[FileView]:
        blobs = {
            i.mask.counts_sha256: functools.partial(self._get_mask, view, i.mask.counts_sha256)
            for view in views
            for i in view.instances
            if i.mask is not None and i.mask.counts_sha256 is not None
        }
        if not blobs:
            return views
        counts = {sha256: _counts(sha256, data) for sha256, data in zip(blobs, self._blobs(list(blobs.items())))}
        return [
            view.model_copy(update={"instances": tuple(_inlined(i, counts) for i in view.instances)}) for view in views
        ]

    def _blobs(self, wanted: list[tuple[str, Callable[[], bytes]]]) -> list[bytes]:
        """The bytes of each (sha256, getter) in ``wanted``, in order, each sha256 got once."""
        cache = self._cache()  # opened once, here, not by each fetch thread
        if cache is None:  # blobs are local files: reading here beats handing off to threads
            return [get() for _, get in wanted]
        found = {sha256: data for sha256, _ in wanted if (data := cache.get(sha256)) is not None}
        missing = list({sha256: get for sha256, get in wanted if sha256 not in found}.items())
        for (sha256, _), data in zip(missing, self._pool().map(lambda pair: pair[1](), missing)):
            cache.set(sha256, data)
            found[sha256] = data
        return [found[sha256] for sha256, _ in wanted]

    def _get(self, entry: Entry) -> bytes:
        try:
            return self.source.fetch(entry)
        except AnnologError as exc:
            raise type(exc)(f"file {entry.name!r} ({entry.file_id}): {exc}") from exc

    def _get_mask(self, view: FileView, sha256: str) -> bytes:
        try:
            return self.source.fetch_mask(view.file_id, sha256)
        except AnnologError as exc:
            raise type(exc)(f"a mask of file {view.name!r} ({view.file_id}): {exc}") from exc

    def _cache(self) -> BlobCache | None:
        """A size-bounded LRU disk cache for remote stores; None when blobs are already local."""
        if "cache" not in self._opened:
            self._opened["cache"] = BlobCache(self.cache_dir, self.cache_bytes) if self.source.remote else None
        cache: BlobCache | None = self._opened["cache"]
        return cache

    def _pool(self) -> ThreadPoolExecutor:
        if "pool" not in self._opened:
            self._opened["pool"] = ThreadPoolExecutor(self.max_in_flight, thread_name_prefix="annolog-fetch")
        pool: ThreadPoolExecutor = self._opened["pool"]
        return pool


def _counts(sha256: str, data: bytes) -> str:
    """A mask blob's RLE counts. The judge cannot read a blob a mask names, so bytes that are no
    COCO counts (any upload can be named) are reported here, by hash, not as a decoding crash."""
    try:
        return data.decode("ascii")
    except UnicodeDecodeError as exc:
        raise CorruptBlob(f"mask blob {sha256} holds no COCO RLE counts (not ASCII at byte {exc.start})") from exc


def _inlined(instance: InstanceView, counts: dict[str, str]) -> InstanceView:
    """``instance`` with its mask's counts inline, when they are one of the blobs in ``counts``."""
    mask = instance.mask
    if mask is None or mask.counts_sha256 is None:
        return instance
    inline = mask.model_copy(update={"counts": counts[mask.counts_sha256], "counts_sha256": None, "counts_size": None})
    return instance.model_copy(update={"mask": inline})
