"""The one read path of arrays: a read-only zarr v3 store over annolog, for one array at one version.

zarr asks a store for ``zarr.json`` and for chunk keys. ``ArrayStore`` synthesizes the
former from the array's view (its chunk key encoding is zarr's "v2" with ".", so zarr's
keys are the keys the views store) and answers the latter by resolving key → sha256 at
its version and reading the blob. A key with no row, or whose row is back to the fill
value, is "not found", so zarr gives the fill value without any read.

Why it is fast: the key lookups of one read go out as ONE ``array_chunks`` call — the
caller names the keys up front (``resolve``), and lookups zarr makes on its own are
gathered per event-loop tick (a micro-batch) — and blob reads run in threads, a bounded
number at a time, through the sha256 disk cache directory streams use when the blobs are
remote. The SDK's reads (``read``) go further than zarr's: each reader thread fetches,
decodes and places its chunk itself. A version's rows never change, so a remembered
lookup is always right.

``RecordingStore`` layers one write over it: zarr reads the chunks it must merge (the
revision each was read at is recorded, 0 when never written) and sets or deletes the
chunks it writes; nothing leaves the process until the SDK commits what was recorded.

>>> store = ArrayStore(backend, "scans", view, ChunkFetcher(cache=None))  # doctest: +SKIP
>>> zarr.open_array(store=store, mode="r")[0:2]  # doctest: +SKIP
"""

import asyncio
import builtins
import functools
import json
import logging
import math
import re
import threading
from collections.abc import AsyncIterator, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from zarr.abc.store import ByteRequest, OffsetByteRequest, RangeByteRequest, Store, SuffixByteRequest
from zarr.core.buffer import Buffer, BufferPrototype, default_buffer_prototype

from annolog.core.arrays import chunk_key
from annolog.core.errors import CorruptBlob, InvalidInputError
from annolog.forks import renew_after_fork
from annolog.pinned import BlobCache
from annolog.projections.readmodels import ArrayView, ChunkView

if TYPE_CHECKING:
    import numpy as np
    from cachetools import LRUCache

log = logging.getLogger(__name__)

METADATA = "zarr.json"
CHUNK_KEY = re.compile(r"[0-9]+(\.[0-9]+)*")  # anything else zarr may probe for (".zarray") is absent
REMEMBERED = 100_000  # resolved keys kept per store (a row is ~200 bytes: ~20 MB at most)


@runtime_checkable
class ChunkSource(Protocol):
    """Where chunk rows and bytes come from: a ``Backend``, or a training worker's source."""

    def array_chunks(self, project: str, name: str, version: int, chunks: Sequence[str] | None) -> list[ChunkView]:
        """The rows of ``chunks`` (None: every row) at ``version``; keys without a row are left out."""
        ...

    def read_chunk(self, project: str, name: str, sha256: str) -> bytes:
        """The encoded bytes of a chunk of the array, checked against ``sha256``."""
        ...


ZSTD_LEVEL = 1
"""zstd's level for new chunks: 2.7 times as fast to encode as its default (3) on bench.arrays'
data, for 0.6% more bytes. Decoding is as fast whatever the level, and chunks written at any
level read the same, so arrays written before keep reading as they are."""


def zarr_metadata(view: ArrayView) -> dict[str, Any]:
    """The ``zarr.json`` of the array as ``view`` describes it."""
    from zarr.codecs import BloscCodec, BytesCodec, GzipCodec, ZstdCodec

    compressors: dict[str, list[Any]] = {
        "zstd": [ZstdCodec(level=ZSTD_LEVEL)],
        "gzip": [GzipCodec()],
        "blosc": [BloscCodec()],
        "none": [],
    }
    codecs = [BytesCodec(endian="little"), *compressors[view.compressor]]
    return {
        "zarr_format": 3,
        "node_type": "array",
        "shape": list(view.shape),
        "data_type": view.dtype,
        "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": list(view.chunks)}},
        "chunk_key_encoding": {"name": "v2", "configuration": {"separator": "."}},
        "fill_value": _fill(view),
        "codecs": [codec.to_dict() for codec in codecs],
        "attributes": {},
    }


def decode(data: bytes, view: ArrayView, sha256: str) -> "np.ndarray[Any, Any]":
    """A chunk's encoded bytes as the read-only array of its shape: the inverse of the codecs
    ``zarr_metadata`` names (little-endian bytes, then the compressor, numcodecs' under zarr's
    codec of the same name). Called in reader threads: numcodecs' decoders release the GIL.

    The bytes were checked against their sha256, not against what they decode to: any editor
    can store any bytes as a chunk. They are decoded into a zeroed buffer of exactly the
    chunk's size, so a frame that claims more cannot take more memory; bytes that do not
    decode, or decode to more, are ``CorruptBlob`` naming the blob and how it was read (a
    frame of fewer leaves zeros: numcodecs does not say how much it wrote).
    """
    import numpy as np

    dtype = np.dtype(view.dtype).newbyteorder("<")
    size = dtype.itemsize * math.prod(view.chunks)
    try:
        if view.compressor == "none":
            if len(data) != size:
                raise ValueError(f"{len(data)} bytes, not {size}")
            raw: Any = data
        else:  # zeroed: bytes that decode to less leave zeros, never memory freed by something else
            raw = _decompressor(view.compressor).decode(data, out=np.zeros(size, dtype=np.uint8))
    except Exception as exc:  # numcodecs raises ValueError, RuntimeError, OSError… by codec
        raise CorruptBlob(
            f"chunk blob {sha256} of array {view.name!r} does not decode as {view.compressor} to a "
            f"{'x'.join(map(str, view.chunks))} chunk of {view.dtype}: {type(exc).__name__}: {exc}"
        ) from exc
    chunk = np.frombuffer(raw, dtype=dtype).reshape(view.chunks)
    chunk.flags.writeable = False  # a decoder may hand back a writable buffer; a kept chunk must not change
    return chunk


@functools.cache
def _decompressor(name: str) -> Any:
    """numcodecs' codec of that id, made once: decoding keeps no state in it, so threads share it."""
    import numcodecs  # type: ignore[import-untyped]

    return numcodecs.get_codec({"id": name})


def _decoding(view: ArrayView, sha256: str) -> tuple[str, str, tuple[int, ...], str]:
    """What a decoded chunk is kept under: its bytes and how they decode."""
    return (sha256, view.dtype, view.chunks, view.compressor)


def _fill(view: ArrayView) -> bool | int | float:
    """The fill value as JSON of the array's data type (the views keep it as a float)."""
    if view.dtype == "bool":
        return bool(view.fill_value)
    return view.fill_value if view.dtype.startswith("float") else int(view.fill_value)


class ChunkFetcher:
    """Chunk bytes by sha256 for one ``project.array`` (or one training dataset) in each
    process: a bounded pool of reader threads, the decoded chunks read lately (``memory_bytes``
    of them) and, for remote blobs, the bounded disk cache (a sha256 is immutable, so a hit
    is always right).

    Access is checked where rows are looked up and bytes fetched; what this process already
    holds (decoded in memory, or in its user's disk cache) it serves again without asking,
    as a local copy would: a revoked role stops what is not yet here, not what already is.

    Bytes go into the disk cache behind the reads, from ONE writer thread: a read returns
    once its chunks are queued, not written. On a cold read, writing 64 chunks of 4 MiB
    cost as much as fetching them, and 16 reader threads queued for the cache's SQLite
    index, which takes one writer at a time anyway. At most ``max_in_flight`` chunks wait,
    so memory stays bounded: a read that outruns the disk waits for room.
    """

    def __init__(self, *, cache: BlobCache | None, memory_bytes: int = 0, max_in_flight: int = 16) -> None:
        if memory_bytes < 0 or max_in_flight < 1:
            raise InvalidInputError(
                f"memory_bytes must be at least 0 and max_in_flight at least 1, got {memory_bytes} and {max_in_flight}"
            )
        self.cache, self.max_in_flight, self.memory_bytes = cache, max_in_flight, memory_bytes
        self._threads, self._decoded = self._fresh()
        renew_after_fork(self)

    def _fresh(self) -> "tuple[_Threads, LRUCache[tuple[str, str, tuple[int, ...], str], np.ndarray[Any, Any]]]":
        from cachetools import LRUCache

        return _Threads(self.max_in_flight), LRUCache(self.memory_bytes, getsizeof=lambda chunk: chunk.nbytes)

    def after_fork(self) -> None:
        """A forked child (a DataLoader worker) inherits the parent's executors but none of their
        threads, and a lock a parent thread held: it starts its own, with nothing decoded yet."""
        self._threads, self._decoded = self._fresh()

    @property
    def pool(self) -> ThreadPoolExecutor:
        """This process's reader threads."""
        return self._threads.readers

    def decoded(self, source: ChunkSource, project: str, view: ArrayView, sha256: str) -> "np.ndarray[Any, Any]":
        """The chunk ``sha256`` of ``view``'s array, decoded (read-only).

        Kept in memory, least recently used first out, up to ``memory_bytes``: a warm read
        is then a copy, not a decode (zstd alone ran at a tenth of numpy reading the same
        bytes from disk). The key is the content hash and how it decodes (dtype, chunk
        shape, compressor), so an entry can never serve another chunk's values; the bytes
        it came from were checked against their sha256 on their way in, and the memory is
        this process's own, so a hit needs no second check.
        """
        if (found := self.kept(view, sha256)) is not None:
            return found
        chunk = decode(self.read(source, project, view.name, sha256), view, sha256)
        if chunk.nbytes <= self._decoded.maxsize:
            with self._threads.decoded_lock:
                self._decoded[_decoding(view, sha256)] = chunk
        return chunk

    def kept(self, view: ArrayView, sha256: str) -> "np.ndarray[Any, Any] | None":
        """The chunk ``sha256`` of ``view``'s array if memory holds it decoded; nothing is fetched."""
        with self._threads.decoded_lock:
            return self._decoded.get(_decoding(view, sha256))

    def read(self, source: ChunkSource, project: str, name: str, sha256: str) -> bytes:
        if self.cache is not None and (data := self.cache.get(sha256)) is not None:
            return data
        data = source.read_chunk(project, name, sha256)
        self.keep(sha256, data)
        return data

    def keep(self, sha256: str, data: bytes) -> None:
        """Queue bytes this process has anyway (just read, or just written) for the disk cache."""
        if self.cache is None:
            return
        threads = self._threads
        threads.room.acquire()
        try:
            threads.writer.submit(self._write, threads.room, self.cache, sha256, data)
        except RuntimeError:  # the interpreter is shutting down: a cache write missed costs nothing now
            threads.room.release()
            log.debug("chunk %s not queued for the disk cache: the writer is shut down", sha256)

    def flush(self) -> None:
        """Wait until the writer is done with every chunk queued so far (it keeps their order);
        a write that failed was logged, and the chunk will be fetched again when next read."""
        self._threads.writer.submit(lambda: None).result()

    def _write(self, room: threading.BoundedSemaphore, cache: BlobCache, sha256: str, data: bytes) -> None:
        try:
            cache.set(sha256, data)
        except Exception:  # a cache is a shortcut: a write it missed costs a later fetch, not this read
            log.exception("could not keep chunk %s in the disk cache", sha256)
        finally:
            room.release()


class _Threads:
    """What a ``ChunkFetcher`` runs on in one process: reader threads, the one cache writer,
    room for ``max_in_flight`` chunks waiting for it, and the lock of the decoded chunks
    (cachetools' caches are not thread-safe)."""

    def __init__(self, max_in_flight: int) -> None:
        self.readers = ThreadPoolExecutor(max_in_flight, thread_name_prefix="annolog-chunks")
        self.writer = ThreadPoolExecutor(1, thread_name_prefix="annolog-chunk-cache")
        self.room = threading.BoundedSemaphore(max_in_flight)
        self.decoded_lock = threading.Lock()


class _KeyStore(Store):
    """A store of flat keys ("0.1.2"): a batch of (key, byte range) reads is answered concurrently,
    each through ``get``, and a prefix lists the keys ``list`` gives that start with it."""

    async def list_prefix(self, prefix: str) -> AsyncIterator[str]:
        async for key in self.list():
            if key.startswith(prefix):
                yield key

    async def get_partial_values(
        self, prototype: BufferPrototype, key_ranges: Iterable[tuple[str, ByteRequest | None]]
    ) -> list[Buffer | None]:
        return list(await asyncio.gather(*(self.get(key, prototype, byte_range) for key, byte_range in key_ranges)))


class ArrayStore(_KeyStore):
    """Read-only: one array as it was at ``view.version``."""

    supports_writes = False
    supports_deletes = False
    supports_listing = True

    def __init__(self, source: ChunkSource, project: str, view: ArrayView, fetcher: ChunkFetcher) -> None:
        super().__init__(read_only=True)
        self.source, self.project, self.view, self.fetcher = source, project, view, fetcher
        self._metadata = json.dumps(zarr_metadata(view)).encode()
        self._rows: dict[str, ChunkView | None] = {}  # resolved keys, oldest first
        self._rows_lock = threading.Lock()  # resolve() runs in the caller's thread, lookups in zarr's
        self._batches: dict[asyncio.AbstractEventLoop, dict[str, asyncio.Future[ChunkView | None]]] = {}
        renew_after_fork(self)

    def after_fork(self) -> None:
        """A lock a parent thread held at the fork would stay held in the child: a new one."""
        self._rows_lock = threading.Lock()

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, ArrayStore)
            and other.source is self.source
            and (other.project, other.view.name, other.view.version)
            == (self.project, self.view.name, self.view.version)
        )

    def __hash__(self) -> int:
        return hash((self.project, self.view.name, self.view.version))

    def __repr__(self) -> str:
        return f"ArrayStore({self.project!r}, {self.view.name!r}, version={self.view.version})"

    # -- resolving keys ------------------------------------------------------------------------

    def resolve(self, keys: Sequence[str]) -> dict[str, ChunkView | None]:
        """The rows of ``keys``, those not remembered looked up now in one call (the backend
        pages it): what a read names up front, held for it whatever memory forgets meanwhile."""
        with self._rows_lock:
            known = {key: self._rows[key] for key in keys if key in self._rows}
        if wanted := [key for key in dict.fromkeys(keys) if key not in known]:
            known |= self._remember(wanted, self._lookup(wanted))
        return known

    def _lookup(self, keys: list[str]) -> list[ChunkView]:
        return self.source.array_chunks(self.project, self.view.name, self.view.version, keys)

    def _remember(self, keys: list[str], rows: list[ChunkView]) -> dict[str, ChunkView | None]:
        found: dict[str, ChunkView | None] = {row.chunk: row for row in rows}
        resolved = {key: found.get(key) for key in keys}
        with self._rows_lock:
            self._rows.update(resolved)
            while len(self._rows) > REMEMBERED:  # any entry is right; the oldest is the least likely read again
                del self._rows[next(iter(self._rows))]
        return resolved

    async def row(self, key: str) -> ChunkView | None:
        """The key's row at this version; lookups made in one event-loop tick share one call."""
        if not CHUNK_KEY.fullmatch(key):
            return None
        with self._rows_lock:  # another thread's lookups may push the key out meanwhile
            known, found = key in self._rows, self._rows.get(key)
        if known:
            return found
        loop = asyncio.get_running_loop()
        batch = self._batches.get(loop)
        if batch is None:
            batch = self._batches[loop] = {}
            loop.call_soon(self._flush, loop)
        if key not in batch:
            batch[key] = loop.create_future()
        return await batch[key]

    def _flush(self, loop: asyncio.AbstractEventLoop) -> None:
        batch = self._batches.pop(loop)
        loop.create_task(self._answer(loop, batch))

    async def _answer(
        self, loop: asyncio.AbstractEventLoop, batch: dict[str, "asyncio.Future[ChunkView | None]"]
    ) -> None:
        keys = list(batch)
        try:
            rows = await loop.run_in_executor(self.fetcher.pool, self._lookup, keys)
        except Exception as exc:  # every waiting read fails the way the lookup did
            for future in batch.values():
                if not future.done():
                    future.set_exception(exc)
            return
        resolved = self._remember(keys, rows)
        for key, future in batch.items():
            if not future.done():  # a future whose every reader was cancelled is cancelled too
                future.set_result(resolved[key])

    # -- reading -------------------------------------------------------------------------------

    async def chunk(self, key: str) -> tuple[ChunkView | None, bytes | None]:
        """The key's row and its encoded bytes; None bytes when it holds only the fill value."""
        row = await self.row(key)
        if row is None or row.sha256 is None:
            return row, None
        loop = asyncio.get_running_loop()
        data = await loop.run_in_executor(
            self.fetcher.pool, self.fetcher.read, self.source, self.project, self.view.name, row.sha256
        )
        return row, data

    def decoded(self, row: ChunkView | None) -> "np.ndarray[Any, Any] | None":
        """The chunk of ``row`` (from ``resolve``) as an array of the chunk's shape (read-only);
        None when it holds only the fill value. Called from reader threads."""
        if row is None or row.sha256 is None:
            return None
        return self.fetcher.decoded(self.source, self.project, self.view, row.sha256)

    async def get(
        self, key: str, prototype: BufferPrototype | None = None, byte_range: ByteRequest | None = None
    ) -> Buffer | None:
        data = self._metadata if key == METADATA else (await self.chunk(key))[1]
        return _buffer(data, prototype, byte_range)

    async def exists(self, key: str) -> bool:
        if key == METADATA:
            return True
        row = await self.row(key)
        return row is not None and row.sha256 is not None

    async def set(self, key: str, value: Buffer) -> None:
        self._check_writable()  # read-only: raises

    async def delete(self, key: str) -> None:
        self._check_writable()

    async def list(self) -> AsyncIterator[str]:
        yield METADATA
        rows = await asyncio.get_running_loop().run_in_executor(self.fetcher.pool, self._lookup_all)
        for row in rows:
            if row.sha256 is not None:
                yield row.chunk

    def _lookup_all(self) -> "builtins.list[ChunkView]":
        return self.source.array_chunks(self.project, self.view.name, self.view.version, None)

    async def list_dir(self, prefix: str) -> AsyncIterator[str]:
        if prefix in ("", "/"):  # keys are flat ("0.1.2"): everything is at the top
            async for key in self.list():
                yield key


class RecordingStore(_KeyStore):
    """One write, in memory: what zarr read to merge (and at which revision) and what it wrote."""

    supports_writes = True
    supports_deletes = True
    supports_listing = True

    def __init__(self, base: ArrayStore) -> None:
        super().__init__(read_only=False)
        self.base = base
        self.read: dict[str, int] = {}  # key -> revision the merge read (0: never written)
        self.written: dict[str, bytes | None] = {}  # key -> encoded bytes; None: all fill value

    def __eq__(self, other: object) -> bool:
        return other is self

    def __hash__(self) -> int:
        return id(self)

    def changes(self) -> list[tuple[str, bytes | None, int | None]]:
        """Each written key, its bytes, and the revision it was read at (None: written whole)."""
        return [(key, data, self.read.get(key)) for key, data in self.written.items()]

    def drop(self, key: str) -> None:
        """Record a chunk as back to the fill value without zarr (a resize dropping it)."""
        self.written[key] = None

    async def get(
        self, key: str, prototype: BufferPrototype | None = None, byte_range: ByteRequest | None = None
    ) -> Buffer | None:
        if key in self.written:
            return _buffer(self.written[key], prototype, byte_range)
        if key == METADATA:
            return await self.base.get(key, prototype, byte_range)
        row, data = await self.base.chunk(key)
        self.read.setdefault(key, 0 if row is None else row.revision)
        return _buffer(data, prototype, byte_range)

    async def exists(self, key: str) -> bool:
        return self.written[key] is not None if key in self.written else await self.base.exists(key)

    async def set(self, key: str, value: Buffer) -> None:
        self.written[key] = value.to_bytes()

    async def delete(self, key: str) -> None:
        self.written[key] = None

    async def list(self) -> AsyncIterator[str]:
        """The keys this write holds (a write's store is never listed by zarr's writes)."""
        for key, data in self.written.items():
            if data is not None:
                yield key

    async def list_dir(self, prefix: str) -> AsyncIterator[str]:
        async for key in self.list_prefix(prefix):
            yield key


def read(array: Any, selection: Any) -> Any:
    """``array[selection]`` of a zarr array over an ``ArrayStore``, as zarr would return it.

    zarr's own indexer says which part of which chunk lands where; the keys it touches are
    looked up first, in one call. Then each chunk is fetched, decoded and copied into place
    in ONE reader thread, start to end: hashing, zstd and numpy's copy release the GIL, so
    chunks overlap on every core, and a chunk kept decoded in memory is only copied. zarr's
    own read hops between its event loop and threads for each of these steps, ten chunks at
    a time, and always decodes what the store returns.
    """
    import numpy as np
    from zarr.core.indexing import BasicIndexer, CoordinateIndexer, MaskIndexer

    store: ArrayStore = array.store
    indexer = _indexer(array, selection)
    parts = list(indexer)
    rows = store.resolve([chunk_key(part.chunk_coords) for part in parts])
    out = np.empty(indexer.shape, dtype=store.view.dtype)

    def place(part: Any) -> None:
        chunk = store.decoded(rows[chunk_key(part.chunk_coords)])
        if chunk is None:
            out[part.out_selection] = _fill(store.view)
        else:
            out[part.out_selection] = chunk[part.chunk_selection].squeeze(axis=indexer.drop_axes)

    for _ in store.fetcher.pool.map(place, parts):  # raises the first chunk's error, as zarr would
        pass
    if isinstance(indexer, CoordinateIndexer | MaskIndexer):  # zarr's vindex shape
        return out.reshape(indexer.sel_shape)
    return out[()] if isinstance(indexer, BasicIndexer) and indexer.shape == () else out


def prepared_write(array: Any, selection: Any, value: Any) -> tuple[list[tuple[int, int]], Any]:
    """The per-axis [start, stop) bounds of a basic selection (ints, slices, ``...``) and
    ``value`` broadcast to its shape, as numpy would (zarr does not broadcast arrays);
    IndexError or ValueError when the selection or the value's shape does not fit. The keys
    of the chunks it touches are looked up at once, for the merge to read."""
    import numpy as np
    from zarr.core.indexing import BasicIndexer, IntDimIndexer

    indexer = BasicIndexer(selection, array.shape, array.metadata.chunk_grid)
    try:
        broadcast = value if value.ndim == 0 else np.broadcast_to(value, indexer.shape)
    except ValueError:
        raise ValueError(f"a value of shape {value.shape} does not fit the selection's shape {indexer.shape}") from None
    array.store.base.resolve([chunk_key(part.chunk_coords) for part in indexer])
    region = [
        (dim.dim_sel, dim.dim_sel + 1)
        if isinstance(dim, IntDimIndexer)
        else (dim.start, dim.start + max(dim.nitems - 1, 0) * dim.step + min(dim.nitems, 1))
        for dim in indexer.dim_indexers
    ]
    return region, broadcast


def _indexer(array: Any, selection: Any) -> Any:
    """zarr's own indexer for the selection, the one its ``__getitem__`` picks."""
    from zarr.core.indexing import get_indexer

    return get_indexer(selection, array.shape, array.metadata.chunk_grid)


def _buffer(data: bytes | None, prototype: BufferPrototype | None, byte_range: ByteRequest | None) -> Buffer | None:
    if data is None:
        return None
    return (prototype or default_buffer_prototype()).buffer.from_bytes(_sliced(data, byte_range))


def _sliced(data: bytes, byte_range: ByteRequest | None) -> bytes:
    if isinstance(byte_range, RangeByteRequest):
        return data[byte_range.start : byte_range.end]
    if isinstance(byte_range, OffsetByteRequest):
        return data[byte_range.offset :]
    if isinstance(byte_range, SuffixByteRequest):
        return data[-byte_range.suffix :] if byte_range.suffix else b""
    return data
