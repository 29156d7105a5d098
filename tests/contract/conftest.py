"""What the SDK contract suites share: one embedded service, and clients of it in process or over HTTP."""

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

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
