"""What the SDK contract suites share: one embedded service, clients of it in process or over HTTP,
and a Kafka + PostgreSQL service per module."""

import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from uuid import uuid4

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

import annolog
from annolog.api.bootstrap import build_service
from annolog.api.http import create_app
from annolog.api.service import Service
from annolog.api.settings import load_settings
from annolog.api.tokens import Tokens
from annolog.http import HttpBackend

Connect = Callable[[str], annolog.Client]


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    service = build_service(load_settings(data_dir=tmp_path / "data"))
    yield service
    service.engine.dispose()


@pytest.fixture(params=["embedded", "http"])
def connect(request: pytest.FixtureRequest, service: Service) -> Connect:
    """A client acting as the principal named: on the service itself, or through its HTTP API."""
    if request.param == "embedded":
        return lambda actor: annolog.Client(service, actor=actor)
    app, tokens = create_app(service), Tokens(service.engine)

    def over_http(actor: str) -> annolog.Client:
        token = tokens.create(actor, created_by="test")
        return annolog.Client(HttpBackend(TestClient(app, headers={"Authorization": f"Bearer {token}"}), token=token))

    return over_http


@pytest.fixture(scope="module")
def postgres_service(
    kafka_bootstrap: str, database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Service]:
    """Kafka + PostgreSQL (local blobs) in a schema and topic of its own, shared by the module:
    every test makes its own project."""
    schema = f"annolog_test_{uuid4().hex[:10]}"
    admin = create_engine(database_url)
    with admin.begin() as db:
        db.execute(text(f'CREATE SCHEMA "{schema}"'))
    service = build_service(
        load_settings(
            data_dir=tmp_path_factory.mktemp("postgres-service"),
            log_url=f"kafka://{kafka_bootstrap}",
            kafka_topic=f"annolog-test-{schema}",
            kafka_partitions=1,
            log_signing_keys=f"test:{secrets.token_hex(16)}",
            database_url=f"{database_url}?options=-csearch_path%3D{schema}",
        ),
        project_in_process=True,
    )
    yield service
    service.log.close()
    service.engine.dispose()
    with admin.begin() as db:
        db.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()
