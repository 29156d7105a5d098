"""Arrays in the SDK: N-d arrays read and written like numpy, chunk by chunk, versioned on the log.

An array is a regular grid of chunks (zarr v3 underneath). Reading a selection fetches
only the chunks it touches, through ``annolog.arraystore``; writing one is ONE commit that
replaces the chunks it touches. A partially written chunk is merged with the chunk as it
was read and carries the revision read, so a write that raced another one on the same
chunk is rejected by the judge and retried here from the new state: no update is lost.

>>> a = project.array.new("mri", shape=(1000, 512, 512), dtype="uint16", chunks=(1, 512, 512))  # doctest: +SKIP
>>> a[0] = scan                                   # one commit, one chunk written     # doctest: +SKIP
>>> a[0:10, 100:200].mean()                       # only ten chunks are read          # doctest: +SKIP
>>> project.array.get("mri", version="v1")[0]     # as it was at tag v1, read-only    # doctest: +SKIP
"""

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_random_exponential

from annolog.core.arrays import chunk_coords
from annolog.core.commands import CreateArray, ResizeArray, WriteArrayChunks
from annolog.core.errors import AnnologError, ConflictError, InvalidInputError, ReadOnlyError
from annolog.core.events import ChunkWrite
from annolog.extras import require
from annolog.pinned import CACHE_BYTES, CACHE_DIR, BlobCache
from annolog.projections.readmodels import ArrayView, Outcome, Scope

if TYPE_CHECKING:
    import numpy as np
    import zarr

    from annolog.arraystore import ArrayStore, ChunkFetcher, RecordingStore
    from annolog.project import Project

T = TypeVar("T")
MEMORY_BYTES = 2**30
"""Decoded chunks an ``Arrays`` keeps in memory by default."""
WORKER_MEMORY_BYTES = 2**28
"""Decoded chunks each process of a ``to_pytorch()`` dataset keeps by default: a DataLoader runs
several, and a sampler going in order needs only the chunks of the rows about to come."""
WRITE_ATTEMPTS = 10
"""Tries of a write or resize that keeps meeting newer writes of its chunks (ConflictError)."""


class Arrays:
    """``project.array``: create, open (latest or pinned) and list a project's arrays.

    Chunks read from a remote blob store are kept in the bounded disk cache at ``cache_dir``
    (by default the one directory streams use); ``Arrays(project, cache_dir=...)`` picks another.
    The chunks read lately are also kept decoded in memory, up to ``memory_bytes`` (0: none)
    for this ``project.array`` (each ``Project`` object has its own), as TensorStore's cache
    pool and Hub's memory cache keep them: reading them again is a copy.
    """

    def __init__(
        self,
        project: "Project",
        *,
        cache_dir: Path = CACHE_DIR,
        cache_bytes: int = CACHE_BYTES,
        memory_bytes: int = MEMORY_BYTES,
    ) -> None:
        self._project = project
        self._cache_dir, self._cache_bytes, self._memory_bytes = cache_dir, cache_bytes, memory_bytes
        self._chunk_fetcher: "ChunkFetcher | None" = None

    def new(
        self,
        name: str,
        *,
        shape: Sequence[int],
        dtype: Any,
        chunks: Sequence[int],
        fill_value: float = 0,
        compressor: str = "zstd",
    ) -> "Array":
        """A new array of ``shape``, every element ``fill_value``; only its layout is stored.

        ``dtype`` is a numpy dtype or its name (bool, int8…int64, uint8…uint64, float16…64);
        ``compressor`` is "zstd", "gzip", "blosc" or "none".

        >>> project.array.new("embeddings", shape=(10**9, 768), dtype="float16", chunks=(4096, 768))  # doctest: +SKIP
        """
        np = _numpy()
        try:
            dtype_name = np.dtype(dtype).name
        except TypeError as exc:
            raise InvalidInputError(f"array {name!r}: dtype {dtype!r} is not a numpy dtype: {exc}") from None
        command = CreateArray(
            name=name,
            shape=tuple(shape),
            dtype=dtype_name,
            chunks=tuple(chunks),
            fill_value=float(fill_value),
            compressor=compressor,
        )
        outcome = self._project.execute([command])
        return self._opened(name, outcome.version, pinned=False)

    def get(self, name: str, *, version: int | str | None = None) -> "Array":
        """The array at the latest version, or pinned (read-only) at ``version``, a number or a tag."""
        _numpy()
        backend, project = self._project.backend, self._project.name
        return self._opened(name, backend.resolve(project, version), pinned=version is not None)

    def list(self, *, version: int | str | None = None) -> list["Array"]:
        """The project's arrays at ``version`` (default latest), by name."""
        _numpy()
        backend, project = self._project.backend, self._project.name
        views = backend.arrays(project, backend.resolve(project, version))
        return [Array(self, view, pinned=version is not None) for view in views]

    def flush(self) -> None:
        """Wait until the chunks read or written so far are in the disk cache: they are written
        there behind the reads, which return first."""
        if self._chunk_fetcher is not None:
            self._chunk_fetcher.flush()

    def _opened(self, name: str, version: int, *, pinned: bool) -> "Array":
        return Array(self, self._project.backend.array(self._project.name, name, version), pinned=pinned)

    def _fetcher(self, version: int) -> "ChunkFetcher":
        """This project's chunk reader threads, and the disk cache when its blobs are remote."""
        from annolog.arraystore import ChunkFetcher

        if self._chunk_fetcher is None:
            scope = Scope(project=self._project.name, version=version)
            remote = self._project.backend.manifest_source(scope).remote
            cache = BlobCache(self._cache_dir, self._cache_bytes) if remote else None
            self._chunk_fetcher = ChunkFetcher(cache=cache, memory_bytes=self._memory_bytes)
        return self._chunk_fetcher


class Array:
    """One array at one version: numpy-like reads and (unless pinned) writes.

    Integer, slice (steps >= 1), ``...`` and negative indices select as in numpy; reads
    return numpy arrays. A latest array reads the version it was opened at and follows its
    own writes; a pinned one (``get(..., version=)``) never changes and cannot be written.
    """

    def __init__(self, arrays: Arrays, view: ArrayView, *, pinned: bool) -> None:
        self._arrays, self._view, self.pinned = arrays, view, pinned
        self._read: "zarr.Array[Any] | None" = None  # the zarr array over this version's store, opened once

    # -- what it is ----------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self._view.name

    @property
    def shape(self) -> tuple[int, ...]:
        return self._view.shape

    @property
    def dtype(self) -> "np.dtype[Any]":
        dtype: np.dtype[Any] = _numpy().dtype(self._view.dtype)
        return dtype

    @property
    def chunks(self) -> tuple[int, ...]:
        return self._view.chunks

    @property
    def ndim(self) -> int:
        return len(self._view.shape)

    @property
    def fill_value(self) -> float:
        return self._view.fill_value

    @property
    def version(self) -> int:
        """The project version this array is read at."""
        return self._view.version

    @property
    def revision(self) -> int:
        """How many writes and resizes the array had by this version."""
        return self._view.revision

    def __len__(self) -> int:
        return self._view.shape[0]

    def __repr__(self) -> str:
        at = f"pinned at version {self.version}" if self.pinned else f"latest, version {self.version}"
        return f"Array({self.name!r}, shape={self.shape}, dtype={self._view.dtype}, chunks={self.chunks}, {at})"

    # -- reading -------------------------------------------------------------------------------

    def __getitem__(self, selection: Any) -> Any:
        """The selected elements as numpy; only the chunks the selection touches are read."""
        from annolog.arraystore import read

        with self._errors_named(selection):
            return read(self._zarr(), selection)

    def __iter__(self) -> Iterator[Any]:
        """Along the first axis, reading the next row of chunks while this one is used."""
        step, length = self.chunks[0], len(self)
        with ThreadPoolExecutor(1, thread_name_prefix="annolog-array-ahead") as ahead:
            pending = ahead.submit(self.__getitem__, slice(0, step))
            for start in range(0, length, step):
                block = pending.result()
                if start + step < length:
                    pending = ahead.submit(self.__getitem__, slice(start + step, start + 2 * step))
                yield from block

    def to_zarr(self) -> "zarr.Array[Any]":
        """A read-only zarr array (zarr-python 3) of this version, for dask, xarray or napari.

        >>> dask.array.from_zarr(a.to_zarr()).mean().compute()  # doctest: +SKIP
        """
        import zarr

        return zarr.open_array(store=self._store(self._view), mode="r", zarr_format=3)

    def to_pytorch(
        self,
        transform: Callable[[Any], Any] | None = None,
        *,
        cache_dir: Path | None = None,
        cache_bytes: int = CACHE_BYTES,
        memory_bytes: int = WORKER_MEMORY_BYTES,
        max_in_flight: int = 16,
    ) -> Any:
        """A map-style PyTorch dataset over the first axis of this version: item i is ``a[i]``
        as a tensor (then ``transform``). It pickles, so DataLoader workers (fork or spawn)
        read chunks themselves, through the same disk cache as directory streams, each keeping
        up to ``memory_bytes`` of decoded chunks.

        >>> DataLoader(a.to_pytorch(), batch_size=32, num_workers=4)  # doctest: +SKIP
        """
        require("to_pytorch()", "train", "torch")
        from annolog.arraystore import ChunkSource
        from annolog.pytorch import ArrayDataset

        project = self._arrays._project
        source = project.backend.manifest_source(Scope(project=project.name, version=self.version))
        if not isinstance(source, ChunkSource):
            raise AnnologError(f"this backend's training source ({type(source).__name__}) cannot read array chunks")
        return ArrayDataset(
            source,
            project.name,
            self._view,
            remote=source.remote,
            transform=transform,
            cache_dir=cache_dir or self._arrays._cache_dir,
            cache_bytes=cache_bytes,
            memory_bytes=memory_bytes,
            max_in_flight=max_in_flight,
        )

    # -- writing -------------------------------------------------------------------------------

    def __setitem__(self, selection: Any, value: Any) -> None:
        """Write ``value`` (broadcast as numpy does) into the selection: ONE commit.

        Only the chunks the selection touches are written; a chunk left all fill value
        stores nothing. ``value`` must cast to the array's dtype within its kind (ints
        into any int, not floats into ints: ``value.astype(a.dtype)`` says you mean it).
        """
        self._writable("write")
        data = _castable(_numpy().asarray(value), self.dtype, f"array {self.name!r} (selection {_shown(selection)})")
        self._committed(self._retrying(lambda: self._write(selection, data)))

    def resize(self, shape: Sequence[int]) -> None:
        """Change the shape (the same number of axes); ONE commit. Chunks left wholly outside
        are cleared and the rest of an edge chunk is reset to the fill value, so growing
        again shows the fill value, never old data.

        >>> a.resize((len(a) + 100, *a.shape[1:]))  # doctest: +SKIP
        """
        self._writable("resize")
        new = tuple(shape)
        self._committed(self._retrying(lambda: self._resize(new)))

    def refresh(self) -> int:
        """Move a latest array to the newest version; returns it."""
        self._writable("refresh")
        project = self._arrays._project
        self._moved_to(project.backend.array(project.name, self.name, project.version))
        return self.version

    def _write(self, selection: Any, value: Any) -> Outcome | None:
        """One attempt: merge into the chunks as they are at the latest version, commit them."""
        from annolog.arraystore import RecordingStore, prepared_write

        view = self._latest()
        store = RecordingStore(self._store(view))
        target = self._zarr_over(store)
        with self._errors_named(selection, view):
            region, broadcast = prepared_write(target, selection, value)
            target[selection] = broadcast
        return self._commit(
            store,
            lambda chunks: WriteArrayChunks(array=self.name, chunks=chunks, region=region, expected_shape=view.shape),
        )

    def _resize(self, shape: tuple[int, ...]) -> Outcome | None:
        """One attempt: clear what the new shape leaves out, mask edge chunks, commit."""
        from annolog.arraystore import RecordingStore

        view = self._latest()
        if len(shape) != len(view.shape):
            raise InvalidInputError(
                f"cannot resize array {self.name!r} of shape {view.shape} to {shape}: "
                f"the new shape must have {len(view.shape)} axes"
            )
        store = RecordingStore(self._store(view))
        if any(new < old for new, old in zip(shape, view.shape)):  # growing clears and masks nothing
            target = self._zarr_over(store)
            project = self._arrays._project
            written = project.backend.array_chunks(project.name, self.name, view.version, None)
            with self._errors_named(shape, view):
                for row in written:
                    if row.sha256 is not None:
                        _shrink_chunk(target, store, row.chunk, shape, view.fill_value)
        return self._commit(
            store,
            lambda chunks: ResizeArray(array=self.name, shape=shape, expected_revision=view.revision, chunks=chunks),
            conditional=False,
            always=True,
        )

    def _commit(
        self,
        store: "RecordingStore",
        command: Callable[[list[ChunkWrite]], Any],
        *,
        conditional: bool = True,
        always: bool = False,
    ) -> Outcome | None:
        """Upload what ``store`` recorded and commit ``command`` over its chunk writes.

        ``conditional``: each partially written chunk names the revision its merge read
        (a resize is conditional on the array's revision instead). Nothing to commit (an
        empty selection) commits nothing unless ``always``.
        """
        changes = store.changes()
        if not changes and not always:
            return None
        project = self._arrays._project
        blobs = [data for _, data, _ in changes if data is not None]
        hashes = iter(project.backend.store_chunks(project.name, blobs) if blobs else [])
        fetcher = self._arrays._fetcher(self.version)
        writes = []
        for key, data, revision in changes:
            sha256 = None if data is None else next(hashes)
            if sha256 is not None and data is not None:
                fetcher.keep(sha256, data)  # likely read again soon; the bytes are here anyway
            writes.append(
                ChunkWrite(
                    chunk=key,
                    sha256=sha256,
                    size=0 if data is None else len(data),
                    expected_revision=revision if conditional else None,
                )
            )
        outcome: Outcome = project.execute([command(writes)])
        return outcome

    def _retrying(self, attempt: Callable[[], T]) -> T:
        """``attempt()``, again from the new state while it meets newer writes (ConflictError)."""
        retrying = Retrying(
            retry=retry_if_exception_type(ConflictError),
            stop=stop_after_attempt(WRITE_ATTEMPTS),
            wait=wait_random_exponential(multiplier=0.02, max=1.0),  # jitter: racing writers spread out
            reraise=True,
        )
        return retrying(attempt)

    def _committed(self, outcome: Outcome | None) -> None:
        if outcome is not None:
            project = self._arrays._project
            self._moved_to(project.backend.array(project.name, self.name, outcome.version))

    def _moved_to(self, view: ArrayView) -> None:
        self._view, self._read = view, None

    def _writable(self, action: str) -> None:
        if self.pinned:
            raise ReadOnlyError(
                f"cannot {action} array {self.name!r}: it is pinned at version {self.version}; "
                "write through project.array.get(name) without version="
            )

    # -- plumbing ------------------------------------------------------------------------------

    def _latest(self) -> ArrayView:
        project = self._arrays._project
        backend = project.backend
        return backend.array(project.name, self.name, backend.resolve(project.name, None))

    def _store(self, view: ArrayView) -> "ArrayStore":
        from annolog.arraystore import ArrayStore

        project = self._arrays._project
        return ArrayStore(project.backend, project.name, view, self._arrays._fetcher(view.version))

    def _zarr(self) -> "zarr.Array[Any]":
        if self._read is None:
            self._read = self.to_zarr()
        return self._read

    def _zarr_over(self, store: "RecordingStore") -> "zarr.Array[Any]":
        import zarr

        return zarr.open_array(store=store, mode="r+", zarr_format=3)

    def _errors_named(self, selection: Any, view: ArrayView | None = None) -> "_NamedErrors":
        return _NamedErrors(self.name, selection, (view or self._view).shape)


class _NamedErrors:
    """zarr's and numpy's complaints about a selection or a value, as ``InvalidInputError``
    naming the array, the selection and the shape; our own errors pass through."""

    def __init__(self, name: str, selection: Any, shape: tuple[int, ...]) -> None:
        self.name, self.selection, self.shape = name, selection, shape

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, _: object) -> None:
        if exc is None or isinstance(exc, AnnologError) or not isinstance(exc, IndexError | ValueError | TypeError):
            return
        raise InvalidInputError(
            f"array {self.name!r} of shape {self.shape}: selection {_shown(self.selection)} is invalid: {exc}"
        ) from exc


def _shrink_chunk(
    target: "zarr.Array[Any]", store: "RecordingStore", key: str, shape: tuple[int, ...], fill: float
) -> None:
    """Drop a written chunk the new ``shape`` leaves out, or reset its part past ``shape`` to ``fill``."""
    chunks, old = target.chunks, target.shape
    start = [c * size for c, size in zip(chunk_coords(key), chunks)]
    if any(s >= extent for s, extent in zip(start, shape)):
        store.drop(key)
        return
    stop = [min(s + size, extent) for s, size, extent in zip(start, chunks, old)]
    for axis in range(len(shape)):
        if shape[axis] < stop[axis]:  # zarr merges: it reads the chunk (or what was written) and rewrites it
            target[tuple(slice(shape[a] if a == axis else start[a], stop[a]) for a in range(len(shape)))] = fill


def _castable(value: Any, dtype: "np.dtype[Any]", where: str) -> Any:
    """``value`` as ``dtype``, if that keeps its meaning: a cast within a kind (ints between
    int types, floats between float types), up a kind (bool to int, int to float), and an
    int's values within the target's range. Not floats into ints: that truncates silently."""
    np = _numpy()
    integers = value.dtype.kind in "iu" and dtype.kind in "iu"
    if not (np.can_cast(value.dtype, dtype, "same_kind") or integers):
        raise InvalidInputError(
            f"cannot write {value.dtype} values into {where} of dtype {dtype}: "
            f"cast them first if that is meant, e.g. value.astype({dtype.name!r})"
        )
    if integers and value.size and not np.can_cast(value.dtype, dtype, "safe"):
        low, high, bounds = value.min(), value.max(), np.iinfo(dtype)
        if low < bounds.min or high > bounds.max:
            raise InvalidInputError(
                f"cannot write values {low}..{high} into {where} of dtype {dtype}: it holds {bounds.min}..{bounds.max}"
            )
    return value.astype(dtype, copy=False)


def _shown(selection: Any) -> str:
    """A selection as one writes it: ``[0:10, ...]``, not ``(slice(0, 10, None), Ellipsis)``."""
    parts = selection if isinstance(selection, tuple) else (selection,)
    return "[" + ", ".join(_part(p) for p in parts) + "]"


def _part(part: Any) -> str:
    if part is Ellipsis:
        return "..."
    if isinstance(part, slice):
        text = ":".join("" if v is None else str(v) for v in (part.start, part.stop))
        return text + ("" if part.step is None else f":{part.step}")
    return repr(part) if not hasattr(part, "shape") else f"<array of shape {part.shape}>"


def _numpy() -> Any:
    """numpy, after checking the arrays extra is installed (zarr with it)."""
    require("project.array", "arrays", "numpy", "zarr")
    import numpy

    return numpy
