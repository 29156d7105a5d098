"""Where the real services are: URLs come from the environment that `make test` sets.

Outside `make test` a test that needs a missing service is skipped; under `make test`
(ANNOLOG_REQUIRE_SERVICES=1) it fails instead, so CI can never pass by skipping.
"""

import os

import pytest


def _service(variable: str, what: str) -> str:
    value = os.environ.get(variable)
    if value:
        return value
    message = f"{what} is not configured: set {variable} (make test starts it and sets it)"
    if os.environ.get("ANNOLOG_REQUIRE_SERVICES") == "1":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def kafka_bootstrap() -> str:
    return _service("ANNOLOG_TEST_KAFKA_BOOTSTRAP", "the Kafka broker")


@pytest.fixture(scope="session")
def database_url() -> str:
    return _service("ANNOLOG_TEST_DATABASE_URL", "PostgreSQL")


@pytest.fixture(scope="session")
def s3_endpoint() -> str:
    return _service("ANNOLOG_TEST_S3_ENDPOINT", "the S3 server")
