"""S3BlobStore: blobs as objects in an S3 bucket (AWS S3, MinIO, moto), for the server stack."""

import functools
import hashlib
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any, BinaryIO

from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_random_exponential

from annolog.blobs.store import check_sha256, hash_file, open_source, verifying_stream
from annolog.core.errors import AnnologError, BlobStoreUnavailable, InvalidInputError, NotFoundError

# A dead endpoint must fail in seconds: a refused or silent connection is given up after
# _CONNECT_TIMEOUT_S, and botocore's standard retry mode makes _MAX_ATTEMPTS tries in all.
_CONNECT_TIMEOUT_S = 3
_READ_TIMEOUT_S = 60  # between two packets, not for the whole transfer of a big blob
_CONNECTIONS = 32
"""Kept open per client: the 16 threads a stream or an array read fetches with, and uploads beside them.
With boto3's 10, the threads beyond it opened and dropped a connection per request."""
_MAX_ATTEMPTS = 3
_LOOK_FIRST_BYTES = 1024 * 1024
"""Blobs larger than this are looked up (HEAD) before they are sent; smaller ones are sent at once."""
_NO_CONDITIONS = ("NotImplemented", "InvalidRequest", "InvalidArgument")
"""Error codes of servers that refuse ``If-None-Match`` on a PUT (older Ceph RGW and other gateways)."""
_CONFLICT_TRIES = 5
_CONFLICT_WAIT = wait_random_exponential(multiplier=0.05, max=1)

# Big files go up in 8 MiB parts, at most 4 in flight: put_file's memory stays bounded
# (about 4 parts) whatever the file's size.
_PART_BYTES = 8 * 1024 * 1024
_PARTS_IN_FLIGHT = 4

_MAX_PRESIGNED_S = 7 * 24 * 3600  # the longest validity S3 accepts for a signed URL

# A signed URL cannot be recalled: it works for its whole validity whatever happens to the
# token or the role it was issued to. One minute is ample to start a download (S3 checks
# the signature when a GET starts, not while it streams), and keeps a URL issued just
# before a revocation, or passed on, from outliving it for long.
_SIGNED_URL_S = 60
_NOT_FOUND_CODES = ("404", "NoSuchKey", "NotFound")


class S3BlobStore:
    """The ``BlobStore`` in an S3 bucket: blob ``abcd…`` is the object ``<prefix>/ab/abcd…``.

    ``prefix`` is a folder of the bucket (``"blobs"`` and ``"/blobs/"`` alike), or none.
    The two-character level spreads keys over 256 prefixes, and S3 scales its request
    rate per prefix. Credentials and region come from boto3's usual chain (environment,
    config files, instance role) unless a ready ``client`` is given.

    The bucket must exist: unlike ``KafkaLog`` with its topic, the store never creates
    it. A bucket carries the account's own decisions (region, encryption, versioning,
    lifecycle, public access), creating one needs a permission the service's role
    should not hold, and a mistyped name would quietly start an empty store instead of
    failing. A missing bucket fails every call, and ``GET /ready``, naming it and how to
    create it; `make serve` and docker-compose.yml create theirs before annolog starts.

    >>> store = S3BlobStore("annolog", prefix="blobs", endpoint_url=URL)  # doctest: +SKIP
    >>> store.get(store.put(b"hello"))  # doctest: +SKIP
    b'hello'
    """

    def __init__(
        self,
        bucket: str,
        *,
        prefix: str = "",
        endpoint_url: str | None = None,
        client: Any = None,
    ) -> None:
        if client is not None and endpoint_url is not None:
            raise InvalidInputError(
                f"endpoint_url {endpoint_url!r} cannot be used with a ready client: "
                "the client already has its endpoint; give one or the other"
            )
        self._bucket = bucket
        folder = prefix.strip("/")
        self._prefix = f"{folder}/" if folder else ""
        self._client = client if client is not None else _make_client(endpoint_url)
        self._endpoint: str = self._client.meta.endpoint_url
        self._conditional_puts = True  # until the server refuses If-None-Match

    def put(self, data: bytes) -> str:
        """Store ``data`` under its sha256, once.

        A small blob goes up in one conditional PUT (``If-None-Match: *``: S3 answers 412 when
        the key exists, and leaves the object as it is), half the requests of a HEAD then a
        PUT: bulk ingest stores many small images, and each request costs milliseconds of
        signing and parsing. A large blob is looked up first, since a HEAD costs less than
        sending its bytes again; so is every blob once the server has refused the condition.
        A server that ignores the header rewrites the same bytes, which is harmless.
        """
        sha256 = hashlib.sha256(data).hexdigest()
        if len(data) <= _LOOK_FIRST_BYTES and self._conditional_puts:
            with self._mapped("put", sha256):
                if self._put_if_new(data, self._key(sha256)):
                    return sha256
        if not self.exists(sha256):
            with self._mapped("put", sha256):
                self._client.put_object(Bucket=self._bucket, Key=self._key(sha256), Body=data)
        return sha256

    def _put_if_new(self, data: bytes, key: str) -> bool:
        """PUT ``data`` unless ``key`` exists: True either way. False, with nothing stored, when the
        server does not support the condition; later puts then look first."""
        from botocore.exceptions import ClientError  # type: ignore[import-untyped]

        retrying = Retrying(
            retry=retry_if_exception(_in_flight),
            stop=stop_after_attempt(_CONFLICT_TRIES),
            wait=_CONFLICT_WAIT,
            reraise=True,
        )
        for attempt in retrying:  # 409: another conditional PUT of this key is in flight; S3 says to retry
            with attempt:
                try:
                    self._client.put_object(Bucket=self._bucket, Key=key, Body=data, IfNoneMatch="*")
                except ClientError as exc:
                    if _status(exc) == 412:  # PreconditionFailed: stored already (same key, same bytes)
                        return True
                    if _status(exc) == 501 or _code(exc) in _NO_CONDITIONS:
                        self._conditional_puts = False
                        return False
                    raise
        return True

    def put_file(self, path: Path) -> str:
        # S3 needs the key before the upload starts, so the file is read twice: once to
        # hash it, once to upload it. It must not change in between.
        sha256 = hash_file(path)
        if not self.exists(sha256):
            with open_source(path) as source, self._mapped("put", sha256):
                self._client.upload_fileobj(source, self._bucket, self._key(sha256), Config=_transfer_config())
        return sha256

    def get(self, sha256: str) -> bytes:
        with self.open(sha256) as stream:
            return stream.read()

    def open(self, sha256: str) -> BinaryIO:
        with self._mapped("read", sha256):
            body = self._client.get_object(Bucket=self._bucket, Key=self._key(sha256))["Body"]
        mapped = functools.partial(self._mapped, "read", sha256)
        return verifying_stream(_MappedBody(body, mapped), sha256, where=self._location(sha256))

    def exists(self, sha256: str) -> bool:
        # A HEAD answers a missing bucket and a missing key alike (a bare 404), so a missing
        # bucket reads as False here; put then fails naming the bucket, and /ready probes
        # with a GET (open), whose error names which of the two is missing.
        try:
            self._head(sha256)
        except NotFoundError:
            return False
        return True

    def size(self, sha256: str) -> int:
        return int(self._head(sha256)["ContentLength"])

    def url(self, sha256: str, *, expires_s: int = _SIGNED_URL_S) -> str:
        """A URL that lets anyone holding it GET the blob for ``expires_s`` seconds.

        Lets a client download straight from S3 instead of through the API. Signing is
        local: it does not check that the blob exists.
        """
        if not 1 <= expires_s <= _MAX_PRESIGNED_S:
            raise InvalidInputError(
                f"expires_s must be between 1 and {_MAX_PRESIGNED_S} seconds "
                f"(S3's limit for a signed URL), got {expires_s}"
            )
        with self._mapped("sign a URL for", sha256):
            url: str = self._client.generate_presigned_url(
                "get_object",
                Params={"Bucket": self._bucket, "Key": self._key(sha256)},
                ExpiresIn=expires_s,
            )
        return url

    def _head(self, sha256: str) -> dict[str, Any]:
        with self._mapped("look up", sha256):
            head: dict[str, Any] = self._client.head_object(Bucket=self._bucket, Key=self._key(sha256))
        return head

    def _key(self, sha256: str) -> str:
        return f"{self._prefix}{check_sha256(sha256)[:2]}/{sha256}"

    def _location(self, sha256: str) -> str:
        return f"s3://{self._bucket}/{self._key(sha256)} (endpoint {self._endpoint})"

    @contextmanager
    def _mapped(self, action: str, sha256: str) -> Iterator[None]:
        """Turn botocore's errors into ours; none of them leaves this module."""
        from botocore.exceptions import (
            BotoCoreError,
            ClientError,
            HTTPClientError,
        )
        from botocore.exceptions import (
            ConnectionError as EndpointUnreachable,
        )

        try:
            yield
        except ClientError as exc:
            raise self._refused(exc.response, action, sha256) from exc
        except (EndpointUnreachable, HTTPClientError) as exc:
            raise BlobStoreUnavailable(
                f"cannot {action} blob {sha256}: S3 endpoint {self._endpoint} "
                f"(bucket {self._bucket!r}) is unreachable: {exc}"
            ) from exc
        except BotoCoreError as exc:  # no credentials, a bad parameter, ...
            raise BlobStoreUnavailable(
                f"cannot {action} blob {sha256}: S3 endpoint {self._endpoint} (bucket {self._bucket!r}) failed: {exc}"
            ) from exc

    def _refused(self, response: dict[str, Any], action: str, sha256: str) -> AnnologError:
        error = response.get("Error", {})
        code = str(error.get("Code", "unknown"))
        if code in _NOT_FOUND_CODES:
            return NotFoundError(f"blob {sha256} not found: no object {self._location(sha256)}")
        if code == "NoSuchBucket":
            return BlobStoreUnavailable(
                f"cannot {action} blob {sha256}: bucket {self._bucket!r} does not exist at S3 endpoint "
                f"{self._endpoint}; create it (e.g. aws s3 mb s3://{self._bucket} --endpoint-url {self._endpoint}) "
                "or name an existing bucket"
            )
        return BlobStoreUnavailable(
            f"cannot {action} blob {sha256}: S3 endpoint {self._endpoint} refused it for "
            f"bucket {self._bucket!r}: {code}: {error.get('Message', '')}"
        )


class _MappedBody:
    """A streaming S3 body whose read errors are mapped like every other S3 call's."""

    def __init__(self, body: Any, mapped: Callable[[], AbstractContextManager[None]]) -> None:
        self._body = body
        self._mapped = mapped

    def read(self, size: int = -1, /) -> bytes:
        with self._mapped():
            chunk: bytes = self._body.read(None if size < 0 else size)
        return chunk

    def close(self) -> None:
        self._body.close()


_session_lock = threading.Lock()
_sessions: list[Any] = []  # at most one: loading a Session costs 60-150 ms, a client from it ~5 ms


def _session(boto3: Any) -> Any:
    if not _sessions:
        _sessions.append(boto3.session.Session())
    return _sessions[0]


def _new_lock_after_fork() -> None:
    global _session_lock
    _session_lock = threading.Lock()  # a fork may have copied the lock while another thread held it


os.register_at_fork(after_in_child=_new_lock_after_fork)


def _make_client(endpoint_url: str | None) -> Any:
    """A boto3 S3 client that gives up on a dead endpoint in seconds, not minutes."""
    import boto3  # type: ignore[import-untyped]
    from botocore.config import Config  # type: ignore[import-untyped]

    config = Config(
        connect_timeout=_CONNECT_TIMEOUT_S,
        read_timeout=_READ_TIMEOUT_S,
        retries={"max_attempts": _MAX_ATTEMPTS, "mode": "standard"},
        signature_version="s3v4",  # what every region accepts for presigned URLs
        max_pool_connections=_CONNECTIONS,
        # Every read is checked against its sha256 (verifying_stream); botocore's CRC32 of each
        # body on top cost 3% of a cold array read's CPU for nothing.
        response_checksum_validation="when_required",
    )
    try:
        with _session_lock:  # a Session makes clients safely one thread at a time
            return _session(boto3).client("s3", endpoint_url=endpoint_url, config=config)
    except ValueError as exc:
        raise InvalidInputError(f"endpoint_url {endpoint_url!r} is not a usable URL: {exc}") from exc


def _transfer_config() -> Any:
    from boto3.s3.transfer import TransferConfig  # type: ignore[import-untyped]

    config = TransferConfig(
        multipart_threshold=_PART_BYTES,
        multipart_chunksize=_PART_BYTES,
        max_concurrency=_PARTS_IN_FLIGHT,
    )
    # s3transfer reads up to 10 parts ahead of the uploads by default; boto3's
    # TransferConfig does not take this option, so it is set on the object.
    config.max_in_memory_upload_chunks = _PARTS_IN_FLIGHT
    return config


def _status(exc: Any) -> int:
    return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))


def _code(exc: Any) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _in_flight(exc: BaseException) -> bool:
    """Whether a conditional PUT met another one of the same key (409 ConditionalRequestConflict)."""
    response = getattr(exc, "response", None)
    return isinstance(response, dict) and (_status(exc) == 409 or _code(exc) == "ConditionalRequestConflict")
