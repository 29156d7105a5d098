"""LocalBlobStore: the embedded default, each blob one read-only file under a root directory."""

import hashlib
import os
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from annolog.blobs.store import check_sha256, read_chunks, verifying_stream
from annolog.core.errors import BlobStoreUnavailable, NotFoundError


class LocalBlobStore:
    """The ``BlobStore`` in a directory: blob ``abcd…`` is the file ``root/ab/cd/abcd…``.

    Two levels of fan-out keep directories small (65,536 leaves) even with many
    millions of blobs. Every write goes to a temporary file in ``root/incoming`` (the
    same filesystem, so the final rename is atomic), is fsynced and then moved into
    place with ``os.replace``: a crash leaves at worst a stray temporary file, never a
    partial blob under its final name. Concurrent puts of the same bytes each rename
    an identical file, so whichever lands last changes nothing.

    >>> store = LocalBlobStore(Path("./data/blobs"))  # doctest: +SKIP
    >>> store.get(store.put(b"hello"))  # doctest: +SKIP
    b'hello'
    """

    def __init__(self, root: Path) -> None:
        self._root = Path(root)
        self._incoming = self._root / "incoming"
        with self._unusable_on_os_error("open the blob store"):
            self._incoming.mkdir(parents=True, exist_ok=True)

    def put(self, data: bytes) -> str:
        sha256 = hashlib.sha256(data).hexdigest()
        if not self.exists(sha256):
            self._store([data])
        return sha256

    def put_file(self, path: Path) -> str:
        # Hashed while copied into the temporary file, so the key is the hash of exactly
        # the bytes stored, even if the source changes while it is read.
        return self._store(read_chunks(path))

    def get(self, sha256: str) -> bytes:
        with self.open(sha256) as stream:
            return stream.read()

    def open(self, sha256: str) -> BinaryIO:
        path = self._path(sha256)
        with self._unusable_on_os_error(f"read blob {sha256}"):
            try:
                source = path.open("rb", buffering=0)
            except FileNotFoundError as exc:
                raise self._not_found(sha256) from exc
        return verifying_stream(source, sha256, where=str(path))

    def exists(self, sha256: str) -> bool:
        return self._path(sha256).is_file()

    def url(self, sha256: str, *, expires_s: int = 300) -> None:
        """None: a directory on the server's disk has no URL of its own."""
        check_sha256(sha256)
        return None

    def size(self, sha256: str) -> int:
        path = self._path(sha256)
        with self._unusable_on_os_error(f"read the size of blob {sha256}"):
            try:
                return path.stat().st_size
            except FileNotFoundError as exc:
                raise self._not_found(sha256) from exc

    def _path(self, sha256: str) -> Path:
        check_sha256(sha256)
        return self._root / sha256[:2] / sha256[2:4] / sha256

    def _store(self, chunks: Iterable[bytes]) -> str:
        with self._unusable_on_os_error("write a blob"):
            fd, name = tempfile.mkstemp(dir=self._incoming, suffix=".part")
            staged = Path(name)
            try:
                sha256 = _write_durably(fd, chunks)
                self._publish(staged, sha256)
            finally:
                staged.unlink(missing_ok=True)  # after a publish there is nothing left to remove
        return sha256

    def _publish(self, staged: Path, sha256: str) -> None:
        final = self._path(sha256)
        if final.exists():
            return
        final.parent.mkdir(parents=True, exist_ok=True)
        staged.chmod(0o444)  # a blob never changes; read-only guards against an edit in place
        os.replace(staged, final)
        _fsync_directory(final.parent)

    def _not_found(self, sha256: str) -> NotFoundError:
        return NotFoundError(f"blob {sha256} not found in blob store {self._root}")

    @contextmanager
    def _unusable_on_os_error(self, action: str) -> Iterator[None]:
        try:
            yield
        except OSError as exc:
            raise BlobStoreUnavailable(
                f"cannot {action}: blob store directory {self._root} is unusable: {exc}"
            ) from exc


def _write_durably(fd: int, chunks: Iterable[bytes]) -> str:
    """Write ``chunks`` to ``fd`` and fsync it; the sha256 of what was written."""
    digest = hashlib.sha256()
    with os.fdopen(fd, "wb") as out:
        for chunk in chunks:
            digest.update(chunk)
            out.write(chunk)
        out.flush()
        os.fsync(out.fileno())
    return digest.hexdigest()


def _fsync_directory(directory: Path) -> None:
    """Make a rename into ``directory`` survive a power loss, not only a process crash."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
