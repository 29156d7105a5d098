"""create_project(exist_ok=True): a set-up script runs again, embedded and over HTTP alike."""

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
    service = build_service(load_settings(data_dir=tmp_path))
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


def test_a_taken_project_name_is_a_conflict_without_exist_ok(connect: Connect) -> None:
    client = connect("ana")
    client.create_project("demo")
    with pytest.raises(annolog.ConflictError, match="'demo' already exists"):
        client.create_project("demo")


def test_exist_ok_opens_the_project_and_defines_only_the_labels_it_lacks(connect: Connect) -> None:
    client = connect("ana")
    first = client.create_project("demo", labels=["dog", "cat"])
    created = first.version
    again = client.create_project("demo", labels=["dog", "cat"], exist_ok=True)
    assert again.id == first.id and again.version == created  # nothing new to write
    more = client.create_project("demo", labels=["cat", "bird", "bird"], exist_ok=True)
    assert more.labels == ["bird", "cat", "dog"] and more.version == created + 1


def test_exist_ok_never_opens_a_project_the_actor_has_no_role_in(connect: Connect) -> None:
    connect("ana").create_project("demo", labels=["dog"])
    with pytest.raises(annolog.AccessDenied, match="ben has no role in project 'demo'"):
        connect("ben").create_project("demo", labels=["cat"], exist_ok=True)
