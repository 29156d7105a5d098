"""Arrays through the SDK, embedded and over HTTP alike: numpy-like reads of only the chunks a
selection touches, writes as one commit each, pinned versions, clear errors, no lost update."""

import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import annolog
import annolog.array
from annolog.arraystore import ArrayStore
from annolog.core import InvalidInputError
from annolog.core.commands import ResizeArray
from tests.contract.conftest import Connect


@pytest.fixture(autouse=True)
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test's own chunk cache (a remote backend caches chunks on disk)."""
    monkeypatch.setattr(annolog.array, "CACHE_DIR", tmp_path / "cache")


@pytest.fixture
def project(connect: Connect) -> annolog.Project:
    return connect("ana").create_project("scans")


class Calls:
    """What the SDK asked the backend for: lookups (the keys of each) and uploads (the chunks of each)."""

    def __init__(self, backend: Any, monkeypatch: pytest.MonkeyPatch) -> None:
        self.lookups: list[list[str] | None] = []
        self.uploads: list[int] = []
        lookup, upload = backend.array_chunks, backend.store_chunks

        def array_chunks(project: str, name: str, version: int, chunks: Any) -> Any:
            self.lookups.append(None if chunks is None else sorted(chunks))
            return lookup(project, name, version, chunks)

        def store_chunks(project: str, data: Any) -> Any:
            self.uploads.append(len(data))
            return upload(project, data)

        monkeypatch.setattr(backend, "array_chunks", array_chunks)
        monkeypatch.setattr(backend, "store_chunks", store_chunks)


@pytest.fixture
def chunks_read(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The keys of the chunks any ArrayStore is asked to decode."""
    asked: list[str] = []
    decoded = ArrayStore.decoded

    def counted(self: ArrayStore, row: Any) -> Any:
        if row is not None:  # a chunk never written has no row, and nothing to decode
            asked.append(row.chunk)
        return decoded(self, row)

    monkeypatch.setattr(ArrayStore, "decoded", counted)
    return asked


def filled(project: annolog.Project, name: str = "m", shape: tuple[int, ...] = (8, 8)) -> tuple[annolog.Array, Any]:
    """An array of distinct values (chunks of 2 x 2) and the same data in numpy."""
    a = project.array.new(name, shape=shape, dtype="int32", chunks=(2,) * len(shape), fill_value=-1)
    data = np.arange(np.prod(shape), dtype=np.int32).reshape(shape)
    a[...] = data
    return a, data


def test_a_hand_written_shrink_that_leaves_out_a_chunk_past_the_new_shape_is_refused(project: annolog.Project) -> None:
    a, data = filled(project)  # 8 x 8 in chunks of 2 x 2
    version = project.version
    shrink = ResizeArray(array="m", shape=(5, 8), expected_revision=a.revision)  # rows 5-7: chunks 2.* and 3.*

    with pytest.raises(InvalidInputError, match=r"must clear or rewrite chunk 2\.0 \(and 7 more\), which holds"):
        project.execute([shrink])

    assert project.version == version
    a.resize((5, 8))  # the SDK's resize lists them
    a.resize((8, 8))
    assert np.array_equal(a[5:], np.full((3, 8), -1)) and np.array_equal(a[:5], data[:5])


def test_a_read_asks_only_for_the_chunks_of_its_selection_in_one_lookup(
    project: annolog.Project, monkeypatch: pytest.MonkeyPatch, chunks_read: list[str]
) -> None:
    a, data = filled(project)
    calls = Calls(project.backend, monkeypatch)
    chunks_read.clear()
    assert np.array_equal(a[2:4, 1:3], data[2:4, 1:3])
    assert calls.lookups == [["1.0", "1.1"]]  # one call, the two chunks the selection touches
    assert sorted(chunks_read) == ["1.0", "1.1"]


def test_unwritten_regions_read_as_the_fill_value_and_store_nothing(
    project: annolog.Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = Calls(project.backend, monkeypatch)
    a = project.array.new("huge", shape=(10**10, 512, 3), dtype="uint8", chunks=(1, 512, 3), fill_value=9)
    assert len(a) == 10**10 and a.ndim == 3 and a.dtype == np.uint8
    a[123_456_789] = np.ones((512, 3), np.uint8)
    assert calls.uploads == [1]  # one chunk stored for an array of 10^10 chunks
    assert np.all(a[5:8] == 9) and a[5:8].shape == (3, 512, 3)
    assert np.all(a[123_456_789] == 1)
    rows = project.backend.array_chunks(project.name, "huge", a.version, None)
    assert [row.chunk for row in rows] == ["123456789.0.0"]


@pytest.mark.parametrize(
    "selection",
    [
        (5,),
        (-1,),
        (slice(None, None, 3),),
        (slice(1, 7, 2), slice(-3, None)),
        (Ellipsis, 2),
        (Ellipsis, slice(1, 6, 4)),
        (-2, Ellipsis, -3),
        (slice(-5, -1), 0),
        (slice(3, 3),),
        (slice(6, 100),),
        (3, 4),
    ],
)
def test_indexing_equals_numpy_on_the_same_data(project: annolog.Project, selection: tuple[Any, ...]) -> None:
    a, data = filled(project)
    got = a[selection]
    assert np.array_equal(got, data[selection]) and np.shape(got) == np.shape(data[selection])


def test_scalar_and_broadcast_assignment_write_as_numpy_does(project: annolog.Project) -> None:
    a = project.array.new("m", shape=(6, 5), dtype="float32", chunks=(4, 4))
    expected = np.zeros((6, 5), np.float32)
    for selection, value in [
        ((slice(1, 3),), 5),
        ((Ellipsis, 4), np.float32(2.5)),
        ((slice(None), slice(0, 5)), np.arange(5, dtype=np.float32)),  # a row broadcast down
        ((slice(2, 6, 2), slice(1, 4)), np.ones((2, 1), np.float32)),  # a column broadcast across
        ((-1, -1), 7),
    ]:
        a[selection] = value
        expected[selection] = value
        assert np.array_equal(a[:], expected)


def test_a_one_element_edit_writes_exactly_one_chunk(project: annolog.Project, monkeypatch: pytest.MonkeyPatch) -> None:
    a, _ = filled(project)
    calls = Calls(project.backend, monkeypatch)
    a[5, 3] = 1000
    assert calls.uploads == [1]
    change = project.history(event="ArrayChunksWritten")[-1]
    assert change.after is not None and change.after["chunks"] == 1
    assert change.after["region"] == [[5, 6], [3, 4]]


def test_a_pinned_version_never_changes_and_cannot_be_written(project: annolog.Project) -> None:
    a, data = filled(project)
    project.tag("v1")
    a[0] = 0
    a.resize((4, 8))
    old = project.array.get("m", version="v1")
    assert old.shape == (8, 8) and np.array_equal(old[:], data) and np.array_equal(old.to_zarr()[:], data)
    assert old.version < a.version and np.all(a[0] == 0)
    for write in (lambda: old.__setitem__(0, 1), lambda: old.resize((9, 8))):
        with pytest.raises(annolog.ReadOnlyError, match="pinned at version"):
            write()
    assert np.array_equal(project.array.get("m", version="v1")[:], data)


@pytest.mark.parametrize(
    ("write", "message"),
    [
        (lambda a: a.__setitem__((8, 0), 1), r"array 'm' of shape \(8, 8\): selection \[8, 0\] is invalid: index out"),
        (lambda a: a.__setitem__(slice(0, 2), np.zeros((3, 8), np.int32)), r"shape \(3, 8\) does not fit .*\(2, 8\)"),
        (lambda a: a.__setitem__(0, np.full(8, 1.5)), r"cannot write float64 values into array 'm' \(selection \[0\]"),
        (lambda a: a.__setitem__(0, "x"), r"cannot write <U1 values into array 'm'"),
        (lambda a: a.__setitem__(0, 2**40), r"cannot write values 1099511627776..1099511627776 into array 'm'"),
        (lambda a: a.__setitem__([0, 2], 1), r"selection \[\[0, 2\]\] is invalid"),
        (lambda a: a.resize((8,)), r"cannot resize array 'm' of shape \(8, 8\) to \(8,\)"),
    ],
)
def test_bad_writes_say_what_was_wrong_and_write_nothing(
    project: annolog.Project, monkeypatch: pytest.MonkeyPatch, write: Callable[[annolog.Array], None], message: str
) -> None:
    a, data = filled(project)
    version, calls = project.version, Calls(project.backend, monkeypatch)
    with pytest.raises(annolog.InvalidInputError, match=message):
        write(a)
    assert project.version == version and calls.uploads == [] and np.array_equal(a[:], data)


def test_bad_reads_name_the_array_the_selection_and_the_version(project: annolog.Project) -> None:
    a, _ = filled(project)
    with pytest.raises(annolog.InvalidInputError, match=r"array 'm' of shape \(8, 8\): selection \[0, 9\] is invalid"):
        a[0, 9]
    with pytest.raises(annolog.NotFoundError, match="nope"):
        project.array.get("nope")
    with pytest.raises(annolog.NotFoundError, match="999"):
        project.array.get("m", version=999)
    with pytest.raises(annolog.NotFoundError, match="no-such-tag"):
        project.array.get("m", version="no-such-tag")


def test_new_refuses_a_bad_layout_naming_it(project: annolog.Project) -> None:
    with pytest.raises(annolog.InvalidInputError, match="dtype"):
        project.array.new("s", shape=(4,), dtype="complex64", chunks=(2,))
    with pytest.raises(annolog.InvalidInputError, match="chunks has 1 dimensions but the array has 2"):
        project.array.new("s", shape=(4, 4), dtype="uint8", chunks=(2,))
    project.array.new("s", shape=(4,), dtype="uint8", chunks=(2,))
    with pytest.raises(annolog.ConflictError):
        project.array.new("s", shape=(4,), dtype="uint8", chunks=(2,))
    assert [a.name for a in project.array.list()] == ["s"]


def test_shrinking_then_growing_shows_the_fill_value_not_old_data(project: annolog.Project) -> None:
    a, data = filled(project)
    a.resize((3, 5))
    assert a.shape == (3, 5) and np.array_equal(a[:], data[:3, :5])
    a.resize((8, 8))
    expected = np.full((8, 8), -1, np.int32)
    expected[:3, :5] = data[:3, :5]
    assert np.array_equal(a[:], expected)
    rows = project.backend.array_chunks(project.name, "m", a.version, None)
    assert {row.chunk for row in rows if row.sha256} == {"0.0", "0.1", "0.2", "1.0", "1.1", "1.2"}


def test_two_writers_on_different_chunks_both_land(connect: Connect) -> None:
    first = connect("ana").create_project("scans")
    mine = first.array.new("m", shape=(4, 4), dtype="uint8", chunks=(2, 2))
    first.grant("ben", "editor")
    theirs = connect("ben").project("scans").array.get("m")
    mine[0, 0] = 1  # partial writes of two chunks, each from the state it opened at
    theirs[3, 3] = 2
    assert mine.refresh() == theirs.version
    assert mine[0, 0] == 1 and mine[3, 3] == 2 and theirs[0, 0] == 1


def test_a_stale_partial_write_is_retried_and_loses_no_other_write(
    connect: Connect, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = connect("ana").create_project("scans")
    project.grant("ben", "editor")
    mine = project.array.new("m", shape=(4, 4), dtype="uint8", chunks=(2, 2))
    theirs = connect("ben").project("scans").array.get("m")
    calls = Calls(project.backend, monkeypatch)
    upload = project.backend.store_chunks

    def racing(name: str, data: Any) -> Any:  # ben writes the same chunk between my read and my commit
        if not calls.uploads:
            theirs[0, 1] = 2
        return upload(name, data)

    monkeypatch.setattr(project.backend, "store_chunks", racing)
    mine[0, 0] = 1
    assert len(calls.uploads) == 2  # my first attempt conflicted; the second read ben's write
    assert mine[0, 0] == 1 and mine[0, 1] == 2
    conflicts = project.commits(accepted=False)
    assert len(conflicts) == 1 and "revision" in (conflicts[0].reason or "")


def test_iteration_reads_the_first_axis_in_order(project: annolog.Project) -> None:
    a, data = filled(project, shape=(7, 3))
    assert np.array_equal(np.stack(list(a)), data)


def test_to_zarr_is_a_read_only_zarr_array_of_the_version(project: annolog.Project) -> None:
    a, data = filled(project)
    z = a.to_zarr()
    a[0] = 0
    assert z.shape == (8, 8) and z.chunks == (2, 2) and np.array_equal(z[:], data)
    with pytest.raises(ValueError, match="read-only"):
        z[0, 0] = 5


def test_to_zarr_works_with_dask(project: annolog.Project) -> None:
    da = pytest.importorskip("dask.array")
    a, data = filled(project)
    assert da.from_zarr(a.to_zarr()).sum().compute() == data.sum()


def test_to_pytorch_reads_rows_in_dataloader_workers(project: annolog.Project, request: pytest.FixtureRequest) -> None:
    torch = pytest.importorskip("torch")
    from torch.utils.data import DataLoader

    if "http" in request.node.callspec.id:
        pytest.skip("a dataset reopens its server by URL; the in-process test server has none (integration tests do)")
    a, data = filled(project, shape=(10, 4))
    ds = pickle.loads(pickle.dumps(a.to_pytorch()))
    assert len(ds) == 10 and torch.equal(ds[3], torch.from_numpy(data[3])) and torch.equal(ds[-1], ds[9])
    batches = list(DataLoader(ds, batch_size=4, num_workers=2))
    assert torch.equal(torch.cat(batches), torch.from_numpy(data))


def test_a_pytorch_dataset_fetches_and_decodes_a_chunk_once_for_all_its_rows(
    project: annolog.Project, request: pytest.FixtureRequest
) -> None:
    pytest.importorskip("torch")
    if "http" in request.node.callspec.id:
        pytest.skip("a dataset reopens its server by URL; the in-process test server has none (integration tests do)")
    a, data = filled(project, shape=(10, 4))  # chunks of 2 x 2: rows 0-3 touch four chunks, each twice
    ds = a.to_pytorch()
    fetched: list[str] = []
    read_chunk = ds.source.read_chunk

    def counted(project: str, name: str, sha256: str) -> bytes:
        fetched.append(sha256)
        return read_chunk(project, name, sha256)

    ds.source.read_chunk = counted
    assert all(np.array_equal(ds[i].numpy(), data[i]) for i in range(4))
    assert len(fetched) == len(set(fetched)) == 4


def test_the_history_of_an_array_says_who_wrote_which_region_and_a_viewer_may_read_it(
    project: annolog.Project, connect: Connect
) -> None:
    a, _ = filled(project)
    a[1:3, 4] = 0
    project.grant("vic", "viewer")

    entries = connect("vic").project("scans").history(array=a)

    assert [(e.actor, e.event) for e in entries] == [
        ("ana", "ArrayCreated"),
        ("ana", "ArrayChunksWritten"),
        ("ana", "ArrayChunksWritten"),
    ]
    assert entries[-1].after == {"region": [[1, 3], [4, 5]], "chunks": 2, "revision": 3}
