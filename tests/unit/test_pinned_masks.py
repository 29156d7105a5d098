"""A pinned reader's large masks (annolog.pinned): their counts blobs come through the same disk
cache as files' bytes, once per sha256, and only when a trainer asks for masks."""

import os
import signal
from pathlib import Path
from uuid import UUID

import numpy as np
import pytest

from annolog import masks
from annolog.core.errors import CorruptBlob
from annolog.core.mask import in_blob
from annolog.pinned import Entry, PinnedReader
from annolog.projections.readmodels import FileView, InstanceView, MaskView
from tests.factories import file_view

PIXELS = np.random.default_rng(1).random((30, 40)) < 0.5
MASK, COUNTS = in_blob(masks.encode(PIXELS))


class RemoteSource:
    """A server's files, each with one instance whose mask is the blob ``COUNTS``; counts its fetches."""

    remote = True

    def __init__(self) -> None:
        self.mask_fetches: list[tuple[UUID, str]] = []

    def views(self, ids: list[UUID]) -> list[FileView]:
        return [_view(file_id) for file_id in ids]

    def fetch(self, entry: Entry) -> bytes:
        raise AssertionError("no file bytes are read here")

    def fetch_mask(self, file_id: UUID, sha256: str) -> bytes:
        self.mask_fetches.append((file_id, sha256))
        return COUNTS


def _view(file_id: UUID) -> FileView:
    road = InstanceView(
        instance_id=UUID(int=file_id.int + 100),
        file_id=file_id,
        label="road",
        kind="mask",
        points=(),
        attributes={},
        revision=1,
        mask=MaskView(**MASK.model_dump()),
    )
    return file_view(
        file_id,
        road,
        sha256="0" * 64,
        name=f"{file_id.int}.png",
        media_type="image/png",
        width=40,
        height=30,
        version=1,
    )


def _reader(source: RemoteSource, cache_dir: Path) -> PinnedReader:
    ids = [str(UUID(int=1)), str(UUID(int=2))]
    return PinnedReader(source=source, version=1, ids=ids, classes=["road"], cache_dir=cache_dir)


def test_mask_blobs_are_fetched_once_per_sha256_through_the_disk_cache_and_put_inline(tmp_path: Path) -> None:
    source = RemoteSource()

    first = _reader(source, tmp_path).views([0, 1], masks=True)
    again = _reader(source, tmp_path).views([1, 0], masks=True)  # another process: the disk cache answers

    assert [sha256 for _, sha256 in source.mask_fetches] == [MASK.counts_sha256]  # of either file
    for view in first + again:
        (road,) = view.instances
        assert road.mask is not None and (masks.decode(road.mask) == PIXELS).all()


def test_a_reader_that_wants_no_masks_fetches_no_mask_blob(tmp_path: Path) -> None:
    source = RemoteSource()

    (view,) = _reader(source, tmp_path).views([0])

    assert source.mask_fetches == [] and view.instances[0].mask == MaskView(**MASK.model_dump())


def test_a_mask_blob_that_holds_no_rle_counts_is_a_corrupt_blob_named_by_its_hash(tmp_path: Path) -> None:
    class JpegSource(RemoteSource):  # any upload can be named as a mask's counts; the judge cannot read it
        def fetch_mask(self, file_id: UUID, sha256: str) -> bytes:
            return b"\xff\xd8\xff\xe0 not counts"

    with pytest.raises(CorruptBlob, match=f"mask blob {MASK.counts_sha256} holds no COCO RLE counts"):
        _reader(JpegSource(), tmp_path).views([0], masks=True)


def test_a_forked_child_fetches_through_a_reader_its_parent_used(tmp_path: Path) -> None:
    source = RemoteSource()
    ids = [str(UUID(int=1)), str(UUID(int=2))]
    reader = PinnedReader(source=source, version=1, ids=ids, classes=["road"], cache_dir=tmp_path, cache_bytes=1)
    reader.views([0], masks=True)  # the parent's fetch threads start, then idle; the cache keeps nothing
    pid = os.fork()
    if pid == 0:  # a DataLoader worker, forked: it inherits the pool, not its threads
        ok = False
        try:
            signal.alarm(10)  # a fetch waiting on tasks no thread runs ends here, not never
            ok = len(reader.views([1], masks=True)[0].instances) == 1
        finally:
            os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
