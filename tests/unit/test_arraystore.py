"""The array store over a fake chunk source: how many lookups and blob reads a read costs."""

import json
import os
import signal
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest
import zarr
from zarr.core.buffer import cpu
from zarr.storage import MemoryStore

from annolog.arraystore import ArrayStore, ChunkFetcher, read, zarr_metadata
from annolog.core.errors import CorruptBlob, InvalidInputError, UnavailableError
from annolog.projections.readmodels import ArrayView, ChunkView


class FakeSource:
    """Chunks encoded by zarr itself into memory, served as rows and blobs; counts calls."""

    def __init__(self, view: ArrayView, data: Any, *, cleared: Sequence[str] = ()) -> None:
        memory: dict[str, Any] = {"zarr.json": cpu.Buffer.from_bytes(json.dumps(zarr_metadata(view)).encode())}
        encoded = zarr.open_array(store=MemoryStore(memory), mode="r+", zarr_format=3)  # encoded as the SDK does
        encoded[...] = data
        self.blobs = {f"sha-{key}": buffer.to_bytes() for key, buffer in memory.items() if key != "zarr.json"}
        self.rows = {
            key.removeprefix("sha-"): ChunkView(chunk=key.removeprefix("sha-"), sha256=key, size=len(blob), revision=1)
            for key, blob in self.blobs.items()
        }
        for key in cleared:
            self.rows[key] = ChunkView(chunk=key, sha256=None, size=0, revision=2)
        self.lookups: list[list[str] | None] = []
        self.reads: list[str] = []
        self.fail = False

    def array_chunks(self, project: str, name: str, version: int, chunks: Sequence[str] | None) -> list[ChunkView]:
        if self.fail:
            raise UnavailableError("the server at http://example is unreachable")
        self.lookups.append(None if chunks is None else sorted(chunks))
        return [self.rows[key] for key in (chunks or self.rows) if key in self.rows]

    def read_chunk(self, project: str, name: str, sha256: str) -> bytes:
        self.reads.append(sha256)
        return self.blobs[sha256]


def _view(shape: tuple[int, ...], chunks: tuple[int, ...], compressor: str = "zstd") -> ArrayView:
    return ArrayView(
        name="m",
        shape=shape,
        dtype="int32",
        chunks=chunks,
        fill_value=-1,
        compressor=compressor,
        revision=1,
        created_version=1,
        version=7,
    )


def _opened(source: FakeSource, view: ArrayView) -> Any:
    return zarr.open_array(store=ArrayStore(source, "p", view, ChunkFetcher(cache=None)), mode="r", zarr_format=3)


@pytest.mark.parametrize("compressor", ["zstd", "gzip", "blosc", "none"])
def test_the_synthesized_metadata_decodes_what_zarr_encoded(compressor: str) -> None:
    view = _view((6, 5), (4, 4), compressor)
    data = np.arange(30, dtype=np.int32).reshape(6, 5)
    z = _opened(FakeSource(view, data), view)
    assert json.loads(json.dumps(zarr_metadata(view)))["chunk_key_encoding"]["name"] == "v2"
    assert np.array_equal(z[:], data) and z.fill_value == -1
    assert np.array_equal(read(z, (slice(None),)), data)  # the SDK's read decodes them itself


@pytest.mark.parametrize(
    "selection",
    [
        (slice(None),),
        (1, 2),
        (Ellipsis, -1),
        (slice(0, 6, 4), slice(1, None, 3)),
        (np.array([5, 0, 3]),),
        (np.array([5, 0, 3]), 2),
        (np.array([0, 5]), np.array([4, 1])),  # coordinates: zarr's vindex
        (np.arange(30).reshape(6, 5) % 7 == 0,),  # a mask
        (slice(3, 3),),
    ],
)
def test_a_read_returns_what_zarr_returns(selection: tuple[Any, ...]) -> None:
    view = _view((6, 5), (4, 4))
    source = FakeSource(view, np.arange(30, dtype=np.int32).reshape(6, 5), cleared=["1.1"])
    z = _opened(source, view)
    ours, theirs = read(z, selection), z[selection]
    assert type(ours) is type(theirs) and np.shape(ours) == np.shape(theirs) and np.array_equal(ours, theirs)


def test_lookups_zarr_makes_at_once_share_one_call() -> None:
    view = _view((8, 8), (2, 4))  # 8 chunks: fewer than zarr's concurrency, so all asked in one tick
    source = FakeSource(view, np.ones((8, 8), np.int32))
    assert _opened(source, view)[:].sum() == 64
    assert source.lookups == [sorted(source.rows)] and len(source.reads) == 8


def test_a_read_looks_up_every_chunk_it_touches_in_one_call() -> None:
    view = _view((16, 16), (2, 2))  # 64 chunks: zarr alone would ask ten at a time
    data = np.arange(256, dtype=np.int32).reshape(16, 16)
    source = FakeSource(view, data)
    z = _opened(source, view)
    assert np.array_equal(read(z, (slice(None), slice(None))), data)
    assert source.lookups == [sorted(source.rows)] and len(source.reads) == 64
    assert np.array_equal(read(z, (slice(0, 4), 0)), data[0:4, 0])  # remembered: no second lookup
    assert len(source.lookups) == 1


def test_unwritten_and_cleared_chunks_read_as_the_fill_value_without_a_blob_read() -> None:
    view = _view((4, 4), (2, 2))
    data = np.full((4, 4), -1, np.int32)
    data[0, 0] = 5
    source = FakeSource(view, data, cleared=["1.1"])
    assert np.array_equal(_opened(source, view)[:], data)
    assert source.lookups == [["0.0", "0.1", "1.0", "1.1"]] and source.reads == ["sha-0.0"]


def test_a_failed_lookup_fails_every_read_waiting_on_it() -> None:
    view = _view((4, 4), (2, 2))
    source = FakeSource(view, np.zeros((4, 4), np.int32))
    source.fail = True
    with pytest.raises(UnavailableError, match="unreachable"):
        _opened(source, view)[:]


def test_the_store_is_read_only() -> None:
    view = _view((4, 4), (2, 2))
    z = _opened(FakeSource(view, np.zeros((4, 4), np.int32)), view)
    with pytest.raises(ValueError, match="read-only"):
        z[0, 0] = 1


class SlowCache:
    """A disk cache whose writes wait for ``release`` (or fail, with ``broken``)."""

    def __init__(self, *, broken: bool = False) -> None:
        self.kept: dict[str, bytes] = {}
        self.release = threading.Event()
        self.broken = broken

    def get(self, sha256: str) -> bytes | None:
        return self.kept.get(sha256)

    def set(self, sha256: str, data: bytes) -> None:
        if self.broken:
            raise OSError(28, "No space left on device")
        self.release.wait(60)  # a read that waits for this fails the test in a minute, not never
        self.kept[sha256] = data


def test_a_read_returns_before_its_chunks_reach_the_disk_cache() -> None:
    view = _view((4, 4), (2, 2))
    data = np.arange(16, dtype=np.int32).reshape(4, 4)
    source, cache = FakeSource(view, data), SlowCache()
    fetcher = ChunkFetcher(cache=cache)  # type: ignore[arg-type]
    z = zarr.open_array(store=ArrayStore(source, "p", view, fetcher), mode="r", zarr_format=3)
    try:
        assert np.array_equal(read(z, (slice(None),)), data)
        assert cache.kept == {}  # queued behind the read, not written yet
    finally:
        cache.release.set()
    fetcher.flush()
    assert cache.kept == source.blobs


def test_a_cache_write_that_fails_costs_the_read_nothing(caplog: pytest.LogCaptureFixture) -> None:
    view = _view((4, 4), (2, 2))
    data = np.arange(16, dtype=np.int32).reshape(4, 4)
    fetcher = ChunkFetcher(cache=SlowCache(broken=True))  # type: ignore[arg-type]
    z = zarr.open_array(store=ArrayStore(FakeSource(view, data), "p", view, fetcher), mode="r", zarr_format=3)
    assert np.array_equal(read(z, (slice(None),)), data)
    fetcher.flush()
    assert "No space left on device" in caplog.text


def test_chunks_read_again_come_decoded_from_memory_within_its_bound() -> None:
    view = _view((4, 4), (2, 2))  # four chunks of 16 bytes
    data = np.arange(16, dtype=np.int32).reshape(4, 4)
    source = FakeSource(view, data)
    kept = zarr.open_array(store=ArrayStore(source, "p", view, ChunkFetcher(cache=None, memory_bytes=64)), mode="r")
    assert np.array_equal(read(kept, (slice(None),)), data) and len(source.reads) == 4
    got = read(kept, (slice(None),))
    got[0, 0] = 99  # the caller's copy: what is kept does not change
    assert np.array_equal(read(kept, (slice(None),)), data) and len(source.reads) == 4
    source.reads.clear()
    small = zarr.open_array(store=ArrayStore(source, "p", view, ChunkFetcher(cache=None, memory_bytes=32)), mode="r")
    read(small, (slice(None),))
    read(small, (slice(None),))
    assert len(source.reads) > 4  # two chunks fit: the others are fetched again


def test_a_forked_child_reads_through_a_fetcher_its_parent_used() -> None:
    view = _view((4, 4), (2, 2))
    data = np.arange(16, dtype=np.int32).reshape(4, 4)
    z = _opened(FakeSource(view, data), view)
    assert np.array_equal(read(z, (slice(None),)), data)  # the parent's reader threads start, then idle
    pid = os.fork()
    if pid == 0:  # a DataLoader worker, forked: it inherits the executor, not its threads
        ok = False
        try:
            signal.alarm(10)  # a read waiting on tasks no thread runs ends here, not never
            ok = bool(read(z, (0, 0)) == data[0, 0])
        finally:
            os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


@pytest.mark.parametrize(
    ("compressor", "blob", "why"),
    [
        ("zstd", b"not a zstd frame", "RuntimeError"),
        ("gzip", b"not gzip at all", "BadGzipFile"),
        ("zstd", b"", "RuntimeError|ValueError"),
        ("none", b"\x00" * 15, "15 bytes, not 16"),
    ],
)
def test_chunk_bytes_that_do_not_decode_to_a_chunk_are_a_corrupt_blob_naming_it(
    compressor: str, blob: bytes, why: str
) -> None:
    view = _view((4, 4), (2, 2), compressor)
    source = FakeSource(view, np.zeros((4, 4), dtype=np.int32))
    source.blobs = {sha256: blob for sha256 in source.blobs}  # an editor may store any bytes as a chunk
    z = _opened(source, view)

    with pytest.raises(CorruptBlob, match=f"chunk blob sha-0.0 of array 'm' does not decode as {compressor} .*({why})"):
        read(z, (0, 0))


def test_a_chunk_claiming_more_than_its_shape_is_refused_before_it_is_decompressed_whole() -> None:
    import numcodecs  # type: ignore[import-untyped]

    view = _view((4, 4), (2, 2))
    source = FakeSource(view, np.zeros((4, 4), dtype=np.int32))
    bomb = numcodecs.get_codec({"id": "zstd"}).encode(bytes(64 * 1024 * 1024))  # 64 MiB of zeros: a few KiB
    source.blobs = {sha256: bomb for sha256 in source.blobs}

    with pytest.raises(CorruptBlob, match="destination buffer too small"):
        read(_opened(source, view), (0, 0))


def test_one_blob_read_as_two_dtypes_is_kept_decoded_once_for_each() -> None:
    ints = _view((2, 2), (2, 2))
    floats = ints.model_copy(update={"dtype": "float32"})
    source = FakeSource(ints, np.arange(4, dtype=np.int32).reshape(2, 2))
    fetcher = ChunkFetcher(cache=None, memory_bytes=1024)

    as_ints = fetcher.decoded(source, "p", ints, "sha-0.0")
    as_floats = fetcher.decoded(source, "p", floats, "sha-0.0")

    assert as_ints.dtype == np.int32 and as_floats.dtype == np.float32
    assert np.array_equal(fetcher.decoded(source, "p", ints, "sha-0.0"), np.arange(4).reshape(2, 2))
    assert fetcher.kept(floats, "sha-0.0") is as_floats


def test_a_negative_memory_bound_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="memory_bytes must be at least 0"):
        ChunkFetcher(cache=None, memory_bytes=-1)
