"""How S3BlobStore.put talks to S3, against botocore's Stubber: which requests it sends, and
what it does with each answer a server may give to a conditional PUT."""

import hashlib
from collections.abc import Iterator
from typing import Any

import boto3  # type: ignore[import-untyped]
import pytest
from botocore.stub import ANY, Stubber  # type: ignore[import-untyped]

from annolog.blobs import s3
from annolog.blobs.s3 import S3BlobStore
from annolog.core import BlobStoreUnavailable

DATA = b"a small image"
KEY = f"blobs/{hashlib.sha256(DATA).hexdigest()[:2]}/{hashlib.sha256(DATA).hexdigest()}"
CONDITIONAL = {"Bucket": "b", "Key": KEY, "Body": ANY, "IfNoneMatch": "*"}
PLAIN = {"Bucket": "b", "Key": KEY, "Body": ANY}


@pytest.fixture
def client() -> Any:
    return boto3.client(
        "s3", region_name="us-east-1", aws_access_key_id="annolog-test", aws_secret_access_key="annolog-test"
    )


@pytest.fixture
def stub(client: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stubber]:
    monkeypatch.setattr(s3, "_CONFLICT_WAIT", lambda _: 0)  # no waiting between retries in a test
    with Stubber(client) as stubber:
        yield stubber
        stubber.assert_no_pending_responses()


@pytest.fixture
def store(client: Any, stub: Stubber) -> S3BlobStore:
    return S3BlobStore("b", prefix="blobs", client=client)


def _refused(stub: Stubber, method: str, code: str, status: int, params: dict[str, Any]) -> None:
    stub.add_client_error(method, service_error_code=code, http_status_code=status, expected_params=params)


def test_a_blob_already_stored_answers_412_and_counts_as_stored(stub: Stubber, store: S3BlobStore) -> None:
    _refused(stub, "put_object", "PreconditionFailed", 412, CONDITIONAL)

    assert store.put(DATA) == hashlib.sha256(DATA).hexdigest()


def test_a_conditional_put_that_meets_another_in_flight_is_tried_again_conditionally(
    stub: Stubber, store: S3BlobStore
) -> None:
    _refused(stub, "put_object", "ConditionalRequestConflict", 409, CONDITIONAL)
    _refused(stub, "put_object", "ConditionalRequestConflict", 409, CONDITIONAL)
    stub.add_response("put_object", {}, CONDITIONAL)

    store.put(DATA)


def test_conflicts_that_never_end_fail_naming_the_blob(stub: Stubber, store: S3BlobStore) -> None:
    for _ in range(s3._CONFLICT_TRIES):
        _refused(stub, "put_object", "ConditionalRequestConflict", 409, CONDITIONAL)

    with pytest.raises(BlobStoreUnavailable, match=f"cannot put blob {hashlib.sha256(DATA).hexdigest()}"):
        store.put(DATA)


@pytest.mark.parametrize(("code", "status"), [("NotImplemented", 501), ("InvalidRequest", 400)])
def test_a_server_without_conditional_puts_gets_a_lookup_then_a_plain_put_from_then_on(
    stub: Stubber, store: S3BlobStore, code: str, status: int
) -> None:
    _refused(stub, "put_object", code, status, CONDITIONAL)
    _refused(stub, "head_object", "404", 404, {"Bucket": "b", "Key": KEY})
    stub.add_response("put_object", {}, PLAIN)
    stub.add_response("head_object", {"ContentLength": len(DATA)}, {"Bucket": "b", "Key": KEY})

    store.put(DATA)
    store.put(DATA)  # looked up first, found: nothing sent
