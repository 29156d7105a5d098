"""One contract every BlobStore keeps, run on LocalBlobStore and on S3BlobStore against real S3."""

import hashlib
import os
import re
import socket
import time
import tracemalloc
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from uuid import uuid4

import boto3  # type: ignore[import-untyped]
import pytest

from annolog.blobs import BlobStore, LocalBlobStore, S3BlobStore
from annolog.core import BlobStoreUnavailable, CorruptBlob, InvalidInputError, NotFoundError

Corrupt = Callable[[str, bytes], None]
Stored = Callable[[], set[str]]

MISSING = hashlib.sha256(b"never stored").hexdigest()
BIG_FILE_BYTES = 128 * 1024 * 1024


def _write_random_file(path: Path, size: int) -> str:
    digest = hashlib.sha256()
    with path.open("wb") as out:
        for _ in range(size // (1024 * 1024)):
            chunk = os.urandom(1024 * 1024)
            digest.update(chunk)
            out.write(chunk)
    return digest.hexdigest()


def _streamed_sha256(store: BlobStore, sha256: str) -> str:
    digest = hashlib.sha256()
    with store.open(sha256) as stream:
        while chunk := stream.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


class BlobStoreContract:
    """Subclasses provide the fixtures ``store``, ``corrupt`` and ``stored``.

    ``corrupt(sha256, data)`` overwrites a stored blob behind the store's back;
    ``stored()`` names every write of an object the backend still holds, so a
    rewrite of the same content shows up as a new entry.
    """

    def test_bytes_are_read_back_under_their_sha256(self, store: BlobStore) -> None:
        data = b"a picture of a cat"
        sha256 = store.put(data)

        assert sha256 == hashlib.sha256(data).hexdigest()
        assert store.get(sha256) == data

    def test_empty_bytes_are_a_blob_like_any_other(self, store: BlobStore) -> None:
        sha256 = store.put(b"")

        assert store.get(sha256) == b""
        assert store.size(sha256) == 0

    def test_the_same_bytes_are_stored_once(self, store: BlobStore, stored: Stored, tmp_path: Path) -> None:
        data = b"the same bytes, uploaded three times"
        source = tmp_path / "copy.bin"
        source.write_bytes(data)
        sha256 = store.put(data)
        first = stored()

        assert store.put(data) == sha256
        assert store.put_file(source) == sha256
        assert len(first) == 1
        assert stored() == first

    def test_a_big_file_streams_in_and_out_in_bounded_memory(self, store: BlobStore, tmp_path: Path) -> None:
        source = tmp_path / "video.bin"
        expected = _write_random_file(source, BIG_FILE_BYTES)

        tracemalloc.start()
        try:
            sha256 = store.put_file(source)
            _, put_peak = tracemalloc.get_traced_memory()
            tracemalloc.reset_peak()
            streamed = _streamed_sha256(store, sha256)
            _, read_peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()

        assert sha256 == expected == streamed
        assert store.size(sha256) == BIG_FILE_BYTES
        assert put_peak < BIG_FILE_BYTES / 2
        assert read_peak < BIG_FILE_BYTES / 2

    def test_concurrent_puts_of_the_same_bytes_all_succeed(self, store: BlobStore) -> None:
        data = os.urandom(256 * 1024)
        with ThreadPoolExecutor(max_workers=8) as pool:
            hashes = set(pool.map(lambda _: store.put(data), range(16)))

        assert hashes == {hashlib.sha256(data).hexdigest()}
        assert store.get(hashes.pop()) == data

    def test_a_missing_blob_is_not_found_naming_its_hash(self, store: BlobStore) -> None:
        assert not store.exists(MISSING)
        for read in (store.get, store.size, store.open):
            with pytest.raises(NotFoundError, match=f"blob {MISSING} not found"):
                read(MISSING)

    @pytest.mark.parametrize(
        "bad",
        ["../etc/passwd", MISSING.upper(), MISSING[:-1], MISSING + "0", MISSING + "\n", "g" * 64],
    )
    def test_a_malformed_hash_is_refused_naming_it(self, store: BlobStore, bad: str) -> None:
        refused = f"64 lowercase hexadecimal characters, got {re.escape(repr(bad))}"
        for call in (store.get, store.exists, store.size, store.open):
            with pytest.raises(InvalidInputError, match=refused):
                call(bad)

    def test_corrupted_bytes_are_reported_naming_the_hash(self, store: BlobStore, corrupt: Corrupt) -> None:
        sha256 = store.put(b"the original bytes")
        corrupt(sha256, b"the tampered bytes")

        with pytest.raises(CorruptBlob, match=f"blob {sha256} .* is corrupt"):
            store.get(sha256)

    def test_a_corrupted_blob_read_as_a_stream_fails_at_its_end(self, store: BlobStore, corrupt: Corrupt) -> None:
        sha256 = store.put(b"x" * 100)
        corrupt(sha256, b"y" * 100)

        with store.open(sha256) as stream:
            assert stream.read(10) == b"y" * 10
            with pytest.raises(CorruptBlob, match=f"blob {sha256} .* is corrupt"):
                while stream.read(10):
                    pass

    def test_exists_and_size_describe_what_is_stored(self, store: BlobStore) -> None:
        sha256 = store.put(b"12345")

        assert store.exists(sha256)
        assert store.size(sha256) == 5

    def test_a_missing_source_file_is_not_found_naming_its_path(self, store: BlobStore, tmp_path: Path) -> None:
        source = tmp_path / "nowhere.jpg"
        with pytest.raises(NotFoundError, match="cannot store file .*nowhere.jpg.*does not exist"):
            store.put_file(source)


class TestLocalBlobStore(BlobStoreContract):
    @pytest.fixture
    def root(self, tmp_path: Path) -> Path:
        return tmp_path / "blobs"

    @pytest.fixture
    def store(self, root: Path) -> BlobStore:
        return LocalBlobStore(root)

    @pytest.fixture
    def corrupt(self, root: Path) -> Corrupt:
        def corrupt(sha256: str, data: bytes) -> None:
            path = root / sha256[:2] / sha256[2:4] / sha256
            path.chmod(0o644)
            path.write_bytes(data)

        return corrupt

    @pytest.fixture
    def stored(self, root: Path) -> Stored:
        def stored() -> set[str]:
            return {
                f"{path.relative_to(root)}@{path.stat().st_ino}:{path.stat().st_mtime_ns}"
                for path in root.rglob("*")
                if path.is_file()
            }

        return stored

    def test_a_blob_lies_under_two_levels_of_its_hash_and_cannot_be_edited(self, store: BlobStore, root: Path) -> None:
        sha256 = store.put(b"laid out by hash")
        path = root / sha256[:2] / sha256[2:4] / sha256

        assert path.read_bytes() == b"laid out by hash"
        assert path.stat().st_mode & 0o222 == 0

    def test_a_root_that_is_a_file_is_reported_unavailable_naming_it(self, tmp_path: Path) -> None:
        root = tmp_path / "blobs"
        root.write_text("a file where the blob directory should be")

        unusable = f"blob store directory {re.escape(str(root))} is unusable"
        with pytest.raises(BlobStoreUnavailable, match=unusable):
            LocalBlobStore(root)

    def test_a_root_that_becomes_unusable_fails_puts_as_unavailable(self, store: BlobStore, root: Path) -> None:
        for path in sorted(root.rglob("*"), reverse=True):
            path.rmdir()
        root.rmdir()
        root.write_text("the directory was replaced by a file")

        unusable = f"cannot write a blob: .*{re.escape(str(root))} is unusable"
        with pytest.raises(BlobStoreUnavailable, match=unusable):
            store.put(b"nowhere to go")

    def test_a_failed_write_leaves_neither_a_blob_nor_a_temporary_file(
        self, store: BlobStore, root: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        def disk_failure(fd: int) -> None:
            raise OSError(5, "Input/output error")

        monkeypatch.setattr(os, "fsync", disk_failure)
        with pytest.raises(BlobStoreUnavailable, match="cannot write a blob: .*Input/output error"):
            store.put(b"never completely written")
        monkeypatch.undo()

        assert not store.exists(hashlib.sha256(b"never completely written").hexdigest())
        assert [p for p in root.rglob("*") if p.is_file()] == []


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _delete_bucket(client: Any, bucket: str) -> None:
    for page in client.get_paginator("list_object_versions").paginate(Bucket=bucket):
        versions = page.get("Versions", []) + page.get("DeleteMarkers", [])
        objects = [{"Key": v["Key"], "VersionId": v["VersionId"]} for v in versions]
        if objects:
            client.delete_objects(Bucket=bucket, Delete={"Objects": objects})
    client.delete_bucket(Bucket=bucket)


@pytest.fixture
def aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any credentials do for moto; real ones must never be used by a test."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "annolog-test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "annolog-test")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")


@pytest.mark.s3
class TestS3BlobStore(BlobStoreContract):
    PREFIX = "blobs/"

    @pytest.fixture
    def client(self, s3_endpoint: str, aws_credentials: None) -> Any:
        return boto3.client("s3", endpoint_url=s3_endpoint)

    @pytest.fixture
    def bucket(self, client: Any) -> Iterator[str]:
        # Versioned, so that every write of an object stays visible to ``stored``.
        name = f"annolog-test-{uuid4().hex[:12]}"
        client.create_bucket(Bucket=name)
        client.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
        yield name
        _delete_bucket(client, name)

    @pytest.fixture
    def store(self, bucket: str, s3_endpoint: str) -> S3BlobStore:
        return S3BlobStore(bucket, prefix=self.PREFIX, endpoint_url=s3_endpoint)

    @pytest.fixture
    def corrupt(self, client: Any, bucket: str) -> Corrupt:
        def corrupt(sha256: str, data: bytes) -> None:
            client.put_object(Bucket=bucket, Key=f"{self.PREFIX}{sha256[:2]}/{sha256}", Body=data)

        return corrupt

    @pytest.fixture
    def stored(self, client: Any, bucket: str) -> Stored:
        def stored() -> set[str]:
            versions = client.list_object_versions(Bucket=bucket).get("Versions", [])
            return {f"{v['Key']}@{v['VersionId']}" for v in versions}

        return stored

    @pytest.fixture
    def calls(self, client: Any) -> list[str]:
        """The writes and lookups of blobs ``client`` sends, by operation name, in order."""
        sent: list[str] = []
        for operation in ("PutObject", "HeadObject"):
            client.meta.events.register(f"before-call.s3.{operation}", lambda model, **_: sent.append(model.name))
        return sent

    def test_a_small_blob_goes_up_in_one_request_and_is_never_rewritten(
        self, client: Any, bucket: str, calls: list[str], stored: Stored
    ) -> None:
        store = S3BlobStore(bucket, prefix=self.PREFIX, client=client)

        sha256 = store.put(b"a small image")
        assert calls == ["PutObject"]
        before = stored()
        assert store.put(b"a small image") == sha256  # S3 answers 412: already there

        assert calls == ["PutObject", "PutObject"]
        assert stored() == before
        assert store.get(sha256) == b"a small image"

    def test_a_large_blob_already_stored_is_not_sent_again(self, client: Any, bucket: str, calls: list[str]) -> None:
        store = S3BlobStore(bucket, prefix=self.PREFIX, client=client)
        data = b"x" * (2 * 1024 * 1024)
        store.put(data)
        calls.clear()

        store.put(data)

        assert calls == ["HeadObject"]

    def test_a_read_is_checked_by_its_sha256_alone_not_again_by_a_crc(
        self, store: S3BlobStore, client: Any, bucket: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        import botocore.httpchecksum

        wrapped: list[object] = []
        wrap = botocore.httpchecksum.StreamingChecksumBody.__init__

        def counted(body: object, *args: Any, **kwargs: Any) -> None:
            wrapped.append(body)
            wrap(body, *args, **kwargs)

        monkeypatch.setattr(botocore.httpchecksum.StreamingChecksumBody, "__init__", counted)
        sha256 = store.put(b"checked once")
        assert store.get(sha256) == b"checked once"
        assert wrapped == []  # botocore computed no CRC32 of the body

        # The control: a client with botocore's defaults checks the same object's CRC.
        assert S3BlobStore(bucket, prefix=self.PREFIX, client=client).get(sha256) == b"checked once"
        assert len(wrapped) == 1

    def test_a_presigned_url_downloads_the_blob(self, store: S3BlobStore) -> None:
        sha256 = store.put(b"fetched without credentials")

        url = store.url(sha256, expires_s=60)
        with urllib.request.urlopen(url, timeout=10) as response:
            assert response.read() == b"fetched without credentials"

    @pytest.mark.parametrize("expires_s", [0, 7 * 24 * 3600 + 1])
    def test_a_presigned_url_outside_s3s_validity_limits_is_refused(self, store: S3BlobStore, expires_s: int) -> None:
        refused = f"expires_s must be between 1 and 604800 seconds .*got {expires_s}"
        with pytest.raises(InvalidInputError, match=refused):
            store.url(MISSING, expires_s=expires_s)

    def test_an_unreachable_endpoint_is_reported_within_seconds_naming_it(self, aws_credentials: None) -> None:
        endpoint = f"http://127.0.0.1:{_free_port()}"
        store = S3BlobStore("annolog-nowhere", endpoint_url=endpoint)

        started = time.monotonic()
        unreachable = f"S3 endpoint {endpoint} \\(bucket 'annolog-nowhere'\\) is unreachable"
        with pytest.raises(BlobStoreUnavailable, match=unreachable):
            store.put(b"nowhere to go")
        assert time.monotonic() - started < 10

    def test_a_missing_bucket_is_reported_unavailable_naming_it(self, s3_endpoint: str, aws_credentials: None) -> None:
        store = S3BlobStore("annolog-no-such-bucket", endpoint_url=s3_endpoint)

        missing = "bucket 'annolog-no-such-bucket' does not exist"
        with pytest.raises(BlobStoreUnavailable, match=missing):
            store.put(b"nowhere to go")
        with pytest.raises(BlobStoreUnavailable, match=missing):
            store.get(MISSING)
