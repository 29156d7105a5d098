"""Where the real services are: URLs come from the environment that `make test` sets.

Outside `make test` a test that needs a missing service is skipped; under `make test`
(ANNOLOG_REQUIRE_SERVICES=1) it fails instead, so CI can never pass by skipping.
"""

import os
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import pytest

from annolog.api.settings import Settings
from tests.stack import isolated_stack, running_server


def unavailable(message: str) -> NoReturn:
    """A test's service or tool is missing: fail under `make test`, skip anywhere else."""
    if os.environ.get("ANNOLOG_REQUIRE_SERVICES") == "1":
        pytest.fail(message)
    pytest.skip(message)


def _service(variable: str, what: str) -> str:
    value = os.environ.get(variable)
    if value:
        return value
    unavailable(f"{what} is not configured: set {variable} (make test starts it and sets it)")


@pytest.fixture(scope="session")
def kafka_bootstrap() -> str:
    return _service("ANNOLOG_TEST_KAFKA_BOOTSTRAP", "the Kafka broker")


@pytest.fixture(scope="session")
def database_url() -> str:
    return _service("ANNOLOG_TEST_DATABASE_URL", "PostgreSQL")


@pytest.fixture(scope="session")
def s3_endpoint() -> str:
    return _service("ANNOLOG_TEST_S3_ENDPOINT", "the S3 server")


@pytest.fixture(scope="module")
def running_stack(
    kafka_bootstrap: str, database_url: str, s3_endpoint: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Settings, str]]:
    """One real `annolog serve` and `annolog projector` over an isolated stack, for the module."""
    with isolated_stack(kafka_bootstrap, database_url, s3_endpoint, tmp_path_factory.mktemp("stack")) as settings:
        with running_server(settings) as url:
            yield settings, url


@pytest.fixture
def server_settings(kafka_bootstrap: str, database_url: str, s3_endpoint: str, tmp_path: Path) -> Iterator[Settings]:
    """Kafka + PostgreSQL + S3, isolated per test: a fresh topic, schema and bucket."""
    with isolated_stack(kafka_bootstrap, database_url, s3_endpoint, tmp_path / "server") as settings:
        yield settings
