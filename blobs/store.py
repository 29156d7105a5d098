"""The port every blob store implements: immutable bytes stored under their own sha256.

Because the key is the hash of the content, a blob can never change under its key:
storing the same bytes twice stores them once, any cache keyed by sha256 is always
right, and a read can prove it got what was stored. This module also holds what both
stores share: argument checks, hashing a file in chunks, and a reader that verifies.
"""

import hashlib
import io
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Protocol

from annolog.core.errors import CorruptBlob, InvalidInputError, NotFoundError

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

CHUNK_BYTES = 1024 * 1024
"""How much of a file is read at a time, so memory stays flat whatever the blob's size."""

_SHA256 = re.compile(r"[0-9a-f]{64}")


class BlobStore(Protocol):
    """Content-addressed storage: bytes in, their lowercase hex sha256 out, and back.

    Every method that takes a ``sha256`` refuses anything but 64 lowercase hex
    characters with ``InvalidInputError`` (so no key can reach outside the store), and
    raises ``BlobStoreUnavailable`` when the store itself cannot be used.

    >>> sha256 = store.put(b"hello")  # doctest: +SKIP
    >>> store.get(sha256)  # doctest: +SKIP
    b'hello'
    """

    def put(self, data: bytes) -> str:
        """Store ``data`` and return its sha256; content already stored is not written again."""
        ...

    def put_file(self, path: Path) -> str:
        """Store the file at ``path`` chunk by chunk, never whole in memory; its sha256."""
        ...

    def get(self, sha256: str) -> bytes:
        """The bytes stored under ``sha256``, verified against it.

        Raises ``NotFoundError`` when nothing is stored under ``sha256`` and
        ``CorruptBlob`` when the stored bytes no longer hash to it.
        """
        ...

    def open(self, sha256: str) -> BinaryIO:
        """A stream of the blob for reading big blobs in chunks.

        It raises ``NotFoundError`` at once when the blob is missing, and ``CorruptBlob``
        from the read that reaches the end when the bytes do not hash to ``sha256``:
        a reader that stops early has not been told the bytes are intact.
        """
        ...

    def exists(self, sha256: str) -> bool:
        """Whether a blob is stored under ``sha256`` (its bytes are not verified)."""
        ...

    def size(self, sha256: str) -> int:
        """The stored blob's length in bytes; ``NotFoundError`` when there is none."""
        ...

    def url(self, sha256: str, *, expires_s: int = 300) -> str | None:
        """A URL anyone holding it may GET the blob from for ``expires_s`` seconds, or None
        when the store cannot issue one (the bytes then go out through the service)."""
        ...


def check_sha256(value: str) -> str:
    """``value`` if it is a lowercase hex sha256; refusing the rest also stops path traversal."""
    if not isinstance(value, str) or not _SHA256.fullmatch(value):
        raise InvalidInputError(f"sha256 must be 64 lowercase hexadecimal characters, got {value!r}")
    return value


def read_chunks(path: Path) -> Iterator[bytes]:
    """The file at ``path`` in chunks of ``CHUNK_BYTES``; an unreadable file is bad input."""
    with open_source(path) as source:
        while chunk := source.read(CHUNK_BYTES):
            yield chunk


def hash_file(path: Path) -> str:
    """The sha256 of the file at ``path``, read in chunks."""
    digest = hashlib.sha256()
    for chunk in read_chunks(path):
        digest.update(chunk)
    return digest.hexdigest()


@contextmanager
def open_source(path: Path) -> Iterator[BinaryIO]:
    """Open a file the caller asked to store; its errors are the caller's, not the store's."""
    try:
        with open(path, "rb") as source:
            yield source
    except FileNotFoundError as exc:
        raise NotFoundError(f"cannot store file {str(path)!r}: it does not exist") from exc
    except OSError as exc:
        raise InvalidInputError(f"cannot store file {str(path)!r}: {exc.strerror or exc}") from exc


class _Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...

    def close(self) -> None: ...


class _VerifyingReader(io.RawIOBase):
    """Hashes what passes through it and raises ``CorruptBlob`` at the end on a mismatch."""

    def __init__(self, source: _Readable, sha256: str, *, where: str) -> None:
        super().__init__()
        self._source = source
        self._sha256 = sha256
        self._where = where
        self._digest = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: "WriteableBuffer", /) -> int:
        view = memoryview(buffer).cast("B")
        if not len(view):
            return 0
        chunk = self._source.read(len(view))
        view[: len(chunk)] = chunk
        self._consume(chunk)
        return len(chunk)

    def readall(self) -> bytes:
        data = self._source.read()
        self._consume(data)
        self._consume(b"")
        return data

    def close(self) -> None:
        if not self.closed:
            self._source.close()
        super().close()

    def _consume(self, chunk: bytes) -> None:
        if chunk:
            self._digest.update(chunk)
        elif self._digest.hexdigest() != self._sha256:
            raise CorruptBlob(
                f"blob {self._sha256} at {self._where} is corrupt: its stored bytes hash to {self._digest.hexdigest()}"
            )


def verifying_stream(source: _Readable, sha256: str, *, where: str) -> BinaryIO:
    """Wrap a store's raw stream of blob ``sha256`` (found at ``where``) so it verifies itself."""
    return io.BufferedReader(_VerifyingReader(source, sha256, where=where), CHUNK_BYTES)
