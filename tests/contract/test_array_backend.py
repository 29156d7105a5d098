"""The array calls of the Backend port, embedded and over HTTP alike: layouts and chunk rows
at any version, chunk uploads and chunk bytes, each behind the role it needs."""

from collections.abc import Callable

import pytest

import annolog
from annolog.api.wire import CHUNKS_PER_LOOKUP
from annolog.backend import Backend
from annolog.core.commands import CreateArray, GrantRole, WriteArrayChunks
from annolog.core.events import ChunkWrite, Role

Connect = Callable[[str], Backend]


@pytest.fixture
def connect(connect: Callable[[str], annolog.Client]) -> Connect:
    """The backend of the principal named: the service itself, or its HTTP API."""
    return lambda actor: connect(actor).backend


@pytest.fixture
def owner(connect: Connect) -> Backend:
    backend = connect("ana")
    backend.create_project("scans")
    backend.execute("scans", [CreateArray(name="mri", shape=(4, 4), dtype="uint8", chunks=(2, 2))])
    return backend


def _write(backend: Backend, *chunks: tuple[str, bytes]) -> int:
    """Upload ``chunks`` and write them whole as one commit; the version it made."""
    hashes = backend.store_chunks("scans", [data for _, data in chunks])
    writes = [
        ChunkWrite(chunk=key, sha256=sha256, size=len(data), expected_revision=None)
        for (key, data), sha256 in zip(chunks, hashes)
    ]
    return backend.execute("scans", [WriteArrayChunks(array="mri", chunks=writes)]).version


def test_chunk_rows_are_read_as_of_any_version_and_only_for_the_keys_asked(owner: Backend) -> None:
    first = _write(owner, ("0.0", b"a"), ("1.1", b"b"))
    second = _write(owner, ("0.0", b"c"))

    at_first = owner.array_chunks("scans", "mri", first, ["0.0", "0.1"])
    at_second = owner.array_chunks("scans", "mri", second, None)

    assert [(c.chunk, c.revision, owner.read_chunk("scans", "mri", c.sha256 or "")) for c in at_first] == [
        ("0.0", 1, b"a")
    ]
    assert [(c.chunk, c.revision, c.size) for c in at_second] == [("0.0", 2, 1), ("1.1", 1, 1)]
    assert owner.array("scans", "mri", first).revision + 1 == owner.array("scans", "mri", second).revision


def test_a_lookup_of_more_keys_than_one_request_takes_reads_them_all(owner: Backend) -> None:
    version = _write(owner, ("1.0", b"x"))
    keys = [f"{i}.0" for i in range(CHUNKS_PER_LOOKUP + 5)]

    assert [c.chunk for c in owner.array_chunks("scans", "mri", version, keys)] == ["1.0"]


def test_arrays_are_listed_at_the_version_read(owner: Backend) -> None:
    before = owner.project("scans").version
    owner.execute("scans", [CreateArray(name="ct", shape=(8,), dtype="float32", chunks=(4,), fill_value=-1)])
    after = owner.project("scans").version

    assert [a.name for a in owner.arrays("scans", before)] == ["mri"]
    assert [(a.name, a.fill_value, a.version) for a in owner.arrays("scans", after)] == [
        ("ct", -1.0, after),
        ("mri", 0.0, after),
    ]


def test_an_unknown_array_is_named_with_its_project_and_version(owner: Backend) -> None:
    version = owner.project("scans").version
    message = f"array 'ct' does not exist in project 'scans' at version {version}"

    with pytest.raises(annolog.NotFoundError, match=message):
        owner.array("scans", "ct", version)
    with pytest.raises(annolog.NotFoundError, match=message):
        owner.array_chunks("scans", "ct", version, None)


def test_a_viewer_reads_arrays_and_chunks_but_may_not_store_chunks(connect: Connect, owner: Backend) -> None:
    version = _write(owner, ("0.0", b"seen"))
    owner.execute("scans", [_grant("vic", "viewer")])
    viewer = connect("vic")

    (chunk,) = viewer.array_chunks("scans", "mri", version, None)
    assert viewer.read_chunk("scans", "mri", chunk.sha256 or "") == b"seen"
    with pytest.raises(annolog.AccessDenied, match="vic may not store array chunks in project 'scans'"):
        viewer.store_chunks("scans", [b"mine"])


def test_an_annotator_may_not_store_chunks(connect: Connect, owner: Backend) -> None:
    owner.execute("scans", [_grant("ann", "annotator")])
    with pytest.raises(annolog.AccessDenied, match="that needs editor of the project"):
        connect("ann").store_chunks("scans", [b"mine"])


def test_a_grant_on_one_directory_does_not_open_the_projects_arrays(connect: Connect, owner: Backend) -> None:
    project = annolog.Client(owner).project("scans")
    project.grant("dee", "viewer", directory=project.directory.new("open", access_type="restricted"))
    with pytest.raises(annolog.AccessDenied, match="dee may not read the arrays of project 'scans'"):
        connect("dee").arrays("scans", project.version)


def test_a_write_names_only_chunks_its_writer_uploaded_to_the_project(connect: Connect, owner: Backend) -> None:
    owner.execute("scans", [_grant("eve", "editor")])
    editor = connect("eve")
    (theirs,) = owner.store_chunks("scans", [b"owner's"])
    write = WriteArrayChunks(array="mri", chunks=[ChunkWrite(chunk="0.0", sha256=theirs, size=7, expected_revision=0)])

    with pytest.raises(annolog.NotFoundError, match=f"blob {theirs} is not in project 'scans' for eve"):
        editor.execute("scans", [write])
    assert editor.store_chunks("scans", [b"owner's"]) == [theirs]  # who has the bytes may upload them
    assert editor.execute("scans", [write]).version == owner.project("scans").version


def test_bytes_no_chunk_of_the_array_had_are_not_served(owner: Backend) -> None:
    (stored,) = owner.store_chunks("scans", [b"uploaded, never written"])
    owner.execute("scans", [CreateArray(name="ct", shape=(2,), dtype="uint8", chunks=(1,))])
    _write(owner, ("0.0", b"in mri"))
    (in_mri,) = owner.array_chunks("scans", "mri", owner.project("scans").version, None)

    for name, sha256 in (("mri", stored), ("ct", in_mri.sha256 or ""), ("mri", "0" * 64)):
        with pytest.raises(annolog.NotFoundError, match=f"no chunk of array '{name}' in project 'scans' has the bytes"):
            owner.read_chunk("scans", name, sha256)


def _grant(principal: str, role: str) -> GrantRole:
    return GrantRole(principal=principal, role=Role(role))
