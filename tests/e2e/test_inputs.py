"""Every input gets a clear answer, never a 500: each case here was one, found by fuzzing or by hand.

Over real HTTP to `annolog serve` on Kafka + PostgreSQL + S3 (PostgreSQL is where NUL used
to fail), plus what only the embedded default shows: local blobs served by the API itself,
and the command line.
"""

import getpass
import io
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import create_engine

import annolog
from annolog.api.bootstrap import build_service
from annolog.api.http import create_app
from annolog.api.settings import Settings, load_settings
from annolog.api.tokens import Tokens
from annolog.core.errors import InvalidInputError
from annolog.core.query import MAX_QUERY_LENGTH
from tests.stack import run_cli

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.s3]

PROBLEM = "application/problem+json"


def _jpeg(color: str = "red") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (32, 24), color).save(out, "JPEG")
    return out.getvalue()


@pytest.fixture(scope="module")
def world(running_stack: tuple[Settings, str]) -> Iterator[dict[str, Any]]:
    settings, url = running_stack
    token = Tokens(create_engine(settings.database_url or "")).create("prober", created_by="test", admin=True)
    client = annolog.Client(url, token=token)
    project = client.create_project(f"inputs-{time.monotonic_ns()}", labels=["car"])
    folder = project.directory.new("open")
    folder.add_file(_jpeg(), name="a.jpg").add_instance("car", box=(1, 1, 9, 9))
    project.tag("v1")
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as http:
        yield {
            "http": http,
            "client": client,
            "project": project.name,
            "directory": str(folder.id),
            "version": project.version,
        }


def _problem(response: httpx.Response, status: int, *fragments: str) -> str:
    """The detail of a problem response with ``status``, checked to name every fragment."""
    assert (response.status_code, response.headers["content-type"]) == (status, PROBLEM), response.text
    detail: str = response.json()["detail"]
    assert all(fragment in detail for fragment in fragments), detail
    return detail


@pytest.mark.parametrize("written", ["¹", "٣", "３", "9" * 5000])
def test_a_version_in_other_digits_or_past_any_number_is_not_found_not_a_crash(
    world: dict[str, Any], written: str
) -> None:
    response = world["http"].get(f"/projects/{world['project']}/versions/{written}")
    _problem(response, 404, "does not exist")


def test_a_cursor_in_other_digits_or_past_32_bits_is_refused_by_history_and_by_a_resumed_stream(
    world: dict[str, Any],
) -> None:
    history = f"/projects/{world['project']}/history"
    for after in ("¹.1", "1.٣", "99999999999.0", "9" * 5000 + ".0"):
        _problem(world["http"].get(history, params={"after": after}), 422, "after must be '<version>.<seq>'")
    resumed = world["http"].get(f"/projects/{world['project']}/changes", headers={"Last-Event-ID": "¹.1".encode()})
    _problem(resumed, 422, "after must be")


def test_numbers_past_what_the_views_hold_are_refused_naming_the_parameter(world: dict[str, Any]) -> None:
    project, http = world["project"], world["http"]
    _problem(http.get(f"/projects/{project}/labels", params={"version": 10**30}), 422, "query.version")
    _problem(http.get(f"/projects/{project}/history", params={"since": 2**31}), 422, "query.since")
    _problem(http.get(f"/projects/{project}/commits", params={"after": 10**30}), 422, "query.after")


def test_a_token_living_past_a_century_is_refused_naming_the_field(world: dict[str, Any]) -> None:
    _problem(world["http"].post("/tokens", json={"principal": "prober", "expires_in_s": 1e12}), 422, "expires_in_s")
    assert world["http"].post("/tokens", json={"principal": "prober", "expires_in_s": 10**9}).status_code == 201


def test_a_query_nested_too_deep_is_refused_with_its_column_in_the_url_and_in_a_body(world: dict[str, Any]) -> None:
    deep = "not " * 1500 + "labels.car > 0"
    files = f"/projects/{world['project']}/files"
    scope = {"version": world["version"], "directory": world["directory"]}
    _problem(world["http"].get(f"{files}/count", params={**scope, "query": deep}), 422, "nest more than", "column 101")
    body = {"version": world["version"], "directory_id": world["directory"], "query": deep}
    _problem(world["http"].post(f"{files}/query/count", json=body), 422, "nest more than", "column 101")


def test_a_tab_in_a_quoted_string_is_refused_with_its_escape_which_works(world: dict[str, Any]) -> None:
    count = f"/projects/{world['project']}/files/count"
    scope = {"version": world["version"], "directory": world["directory"]}
    raw = world["http"].get(count, params={**scope, "query": 'file.name = "a\tb"'})
    _problem(raw, 422, "control character U+0009 in a string at column 15", "write it as \\t")
    escaped = world["http"].get(count, params={**scope, "query": 'file.name = "a\\tb"'})
    assert escaped.json() == {"count": 0}


@pytest.mark.parametrize(
    ("path", "params", "named"),
    [
        ("/projects/a%00b", {}, "path.project"),
        ("/projects/{project}/directories/a%00b", {"version": 1}, "path.name"),
        ("/projects/{project}/versions/v1%00", {}, "path.version"),
        ("/projects/{project}/slices/a%01b", {}, "path.name"),
        ("/projects/{project}/files/count", {"version": 1, "query": 'file.name = "a\x00"'}, "query.query"),
        ("/projects/{project}/history", {"actor": "a\x00"}, "query.actor"),
        ("/projects/{project}/history", {"event": "Instance\x07Added"}, "query.event"),
        ("/projects/{project}/directories", {"version": 1, "unexpected": "\x1b"}, "query.unexpected"),
    ],
)
def test_control_characters_in_any_path_or_query_parameter_are_a_422_naming_it(
    world: dict[str, Any], path: str, params: dict[str, Any], named: str
) -> None:
    response = world["http"].get(path.format(project=world["project"]), params=params)
    _problem(response, 422, f"{named}: must not contain")


def test_a_slice_query_longer_than_a_url_reaches_the_server_through_the_sdk_and_past_the_bound_is_refused(
    world: dict[str, Any],
) -> None:
    query = 'file.meta.note = "' + "猫" * (MAX_QUERY_LENGTH - 40) + '" or labels.car > 0'
    # Encoded, it is longer than httpx sends or uvicorn reads in a URL (64 kB), so the SDK posts it.
    assert len(query) <= MAX_QUERY_LENGTH and len(str(httpx.QueryParams({"query": query}))) > 64 * 1024
    files = f"/projects/{world['project']}/files"

    sliced = world["client"].project(world["project"]).slice(query)

    assert (len(sliced), [f.name for f in sliced]) == (1, ["a.jpg"])
    too_long = "labels.car > 0 or " * 600 + "labels.car > 0"
    _problem(world["http"].get(f"{files}/count", params={"version": 1, "query": too_long}), 422, "query.query")
    _problem(world["http"].post(f"{files}/query/count", json={"version": 1, "query": too_long}), 422, "query")


def test_an_unknown_event_type_is_refused_listing_the_known_ones_by_http_and_the_sdk(world: dict[str, Any]) -> None:
    response = world["http"].get(f"/projects/{world['project']}/history", params={"event": "NoSuchEvent"})
    _problem(response, 422, "unknown event type 'NoSuchEvent'", "InstanceChanged", "VersionTagged")
    with pytest.raises(InvalidInputError, match="unknown event type 'Nope'"):
        world["client"].project(world["project"]).history(event="Nope")
    assert world["client"].project(world["project"]).history(event="VersionTagged")


# -- what only the embedded default shows -----------------------------------------------------


@pytest.fixture
def local(tmp_path: Path) -> Iterator[tuple[TestClient, annolog.Directory]]:
    """The API in process over the embedded default, whose blobs the API serves itself."""
    service = build_service(load_settings(data_dir=tmp_path))
    token = Tokens(service.engine).create("owner", created_by="test")
    folder = annolog.Client(service, actor="owner").create_project("blobs").directory.new("all")
    with TestClient(create_app(service), headers={"Authorization": f"Bearer {token}"}) as http:
        yield http, folder


@pytest.mark.parametrize(
    ("name", "media_type", "disposition"),
    [
        ("page.html", "text/html", "attachment"),
        ("drawing.svg", "image/svg+xml", "attachment"),
        ("notes.txt", "text/plain", "attachment"),
        ("photo.jpg", "image/jpeg", "inline"),
    ],
)
def test_a_local_blob_is_a_download_unless_a_raster_image_and_is_never_sniffed(
    local: tuple[TestClient, annolog.Directory], name: str, media_type: str, disposition: str
) -> None:
    http, folder = local
    data = _jpeg() if media_type == "image/jpeg" else b"<script>alert(1)</script>"
    file = folder.add_file(data, name=name, media_type=media_type)

    response = http.get(f"/projects/blobs/files/{file.id}/blob", params={"version": folder.project.version})

    assert response.content == data
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["content-disposition"] == f"{disposition}; filename*=UTF-8''{name}"


def test_the_command_line_refuses_a_century_long_token_and_an_unknown_event_without_a_traceback(
    tmp_path: Path,
) -> None:
    annolog.Client(tmp_path, actor=getpass.getuser()).create_project("cli")

    token = run_cli(tmp_path, "token", "create", "ana", "--expires-in-days", "1e9")
    history = run_cli(tmp_path, "history", "--project", "cli", "--event", "NoSuchEvent")

    assert (token.returncode, "Traceback" in token.stderr) == (2, False), token.stderr
    assert "--expires-in-days" in token.stderr and "36525" in token.stderr
    assert (history.returncode, "Traceback" in history.stderr) == (2, False), history.stderr
    assert "unknown event type 'NoSuchEvent'; event types: ArrayChunksWritten, ArrayCreated" in history.stderr
