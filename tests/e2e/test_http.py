"""End to end through real HTTP: `annolog serve` and `annolog projector` as processes over
Kafka + PostgreSQL + S3. Roles on every route, live changes, resumed streams, killed uploads."""

import hashlib
import json
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from html.parser import HTMLParser
from typing import Any
from uuid import uuid4

import boto3
import httpx
import pytest
from httpx_sse import connect_sse

import annolog
from annolog.api.settings import Settings
from annolog.api.tokens import Tokens
from annolog.api.wire import CommandEnvelope
from annolog.core import AddInstance, CreateDirectory, GrantRole
from tests.e2e.conftest import jpeg
from tests.stack import free_port, start_api

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.s3]

ROLES = ("owner", "admin", "editor", "annotator", "viewer")
EVERYONE = (*ROLES, "no role")
ANONYMOUS = ("no token", "wrong token", "expired token")


@pytest.fixture(scope="module")
def world(running_stack: tuple[Settings, str], tokens: Tokens) -> dict[str, Any]:
    """A project with an open and a restricted directory, a file in each, and one principal per role."""
    url = running_stack[1]
    name = f"matrix-{uuid4().hex[:6]}"
    who = {role: f"{role}-{uuid4().hex[:4]}" for role in EVERYONE}
    bearer = {role: tokens.create(principal, created_by="test") for role, principal in who.items()}
    owner = annolog.Client(url, token=bearer["owner"])
    project = owner.create_project(name, labels=["car"])
    open_dir, secret = project.directory.new("open"), project.directory.new("secret", access_type="restricted")
    photo, hidden = open_dir.add_file(jpeg(), name="a.jpg"), secret.add_file(jpeg("blue"), name="s.jpg")
    photo.add_instance("car", box=(1, 1, 9, 9))
    for role in ROLES[1:]:
        project.grant(who[role], role)
    expired = tokens.create(who["viewer"], created_by="test", expires_in=timedelta(seconds=1))
    headers = {role: {"Authorization": f"Bearer {token}"} for role, token in bearer.items()}
    headers |= {"no token": {}, "wrong token": {"Authorization": "Bearer al_not-a-token"}}
    headers["expired token"] = {"Authorization": f"Bearer {expired}"}
    time.sleep(1.1)
    return {
        "url": url,
        "project": name,
        "version": project.version,
        "open": str(open_dir.id),
        "secret": str(secret.id),
        "file": str(photo.id),
        "hidden": str(hidden.id),
        "headers": headers,
        "who": who,
    }


def _commit(*commands: Any) -> dict[str, Any]:
    return {"json": {"commands": [CommandEnvelope.of(c).model_dump(mode="json") for c in commands]}}


Request = tuple[str, str, Callable[[dict[str, Any]], dict[str, Any]]]
"""(method, path template, keyword arguments of httpx for the world)."""

READ_OPEN: dict[str, Request] = {
    "project": ("GET", "/projects/{project}", lambda w: {}),
    "resolve a version": ("GET", "/projects/{project}/versions/latest", lambda w: {}),
    "labels": ("GET", "/projects/{project}/labels", lambda w: {"params": {"version": w["version"]}}),
    "classes": ("GET", "/projects/{project}/classes", lambda w: {"params": {"version": w["version"]}}),
    "directories": ("GET", "/projects/{project}/directories", lambda w: {"params": {"version": w["version"]}}),
    "directory": ("GET", "/projects/{project}/directories/open", lambda w: {"params": {"version": w["version"]}}),
    "file page": ("GET", "/projects/{project}/files", lambda w: {"params": _in(w, "open")}),
    "manifest keys": ("GET", "/projects/{project}/files/keys", lambda w: {"params": _in(w, "open")}),
    "file count": ("GET", "/projects/{project}/files/count", lambda w: {"params": _in(w, "open")}),
    "slice": ("GET", "/projects/{project}/files", lambda w: {"params": _in(w, "open") | {"query": "labels.car > 0"}}),
    "file lookup": (
        "POST",
        "/projects/{project}/files/lookup",
        lambda w: {"json": {"version": w["version"], "directory_id": w["open"], "ids": [w["file"]]}},
    ),
    "file": ("GET", "/projects/{project}/files/{file}", lambda w: {"params": _in(w, "open")}),
    "file history": ("GET", "/projects/{project}/history", lambda w: {"params": {"file": w["file"]}}),
    "thumbnail": (
        "GET",
        "/projects/{project}/files/{file}/thumbnail",
        lambda w: {"params": _in(w, "open") | {"size": 128}},
    ),
    "tags": ("GET", "/projects/{project}/tags", lambda w: {}),
    "diff of the readable directories": (
        "GET",
        "/projects/{project}/diff",
        lambda w: {"params": {"base": 1, "head": w["version"]}},
    ),
    "diff of a directory": (
        "GET",
        "/projects/{project}/diff",
        lambda w: {"params": {"base": 1, "head": w["version"], "directory": w["open"]}},
    ),
    "label stats": ("GET", "/projects/{project}/label-stats", lambda w: {"params": _in(w, "open")}),
    "label stats of a slice, posted": (
        "POST",
        "/projects/{project}/label-stats",
        lambda w: {"json": {"version": w["version"], "query": "labels.car > 0"}},
    ),
}
READ_SECRET: dict[str, Request] = {
    "restricted directory": (
        "GET",
        "/projects/{project}/directories/secret",
        lambda w: {"params": {"version": w["version"]}},
    ),
    "restricted file": ("GET", "/projects/{project}/files/{hidden}", lambda w: {"params": _in(w, "secret")}),
    "restricted file by id through the open directory": (
        "POST",
        "/projects/{project}/files/lookup",
        lambda w: {"json": {"version": w["version"], "directory_id": w["open"], "ids": [w["hidden"]]}},
    ),
    "restricted thumbnail": (
        "GET",
        "/projects/{project}/files/{hidden}/thumbnail",
        lambda w: {"params": _in(w, "secret") | {"size": 128}},
    ),
    "restricted thumbnail by id through the open directory": (
        "GET",
        "/projects/{project}/files/{hidden}/thumbnail",
        lambda w: {"params": _in(w, "open") | {"size": 128}},
    ),
    "diff of the restricted directory": (
        "GET",
        "/projects/{project}/diff",
        lambda w: {"params": {"base": 1, "head": w["version"], "directory": w["secret"]}},
    ),
    "label stats of the restricted directory": (
        "GET",
        "/projects/{project}/label-stats",
        lambda w: {"params": _in(w, "secret")},
    ),
    "project history": ("GET", "/projects/{project}/history", lambda w: {}),
    "everyone's commits": ("GET", "/projects/{project}/commits", lambda w: {}),
}


def _in(world: dict[str, Any], directory: str) -> dict[str, Any]:
    return {"version": world["version"], "directory": world[directory]}


def _expected(name: str, role: str) -> int:
    if role in ANONYMOUS:
        return 401
    if name in READ_OPEN:
        return 403 if role == "no role" else 200
    if name.endswith("by id through the open directory"):
        return 403 if role == "no role" else 404  # an id learnt elsewhere opens no restricted file
    if name in READ_SECRET:
        return 200 if role in ("owner", "admin") else 403
    raise AssertionError(name)


def _status(world: dict[str, Any], role: str, request: Request) -> int:
    method, path, arguments = request
    with httpx.Client(base_url=world["url"], headers=world["headers"][role], timeout=30) as http:
        return http.request(method, path.format(**world), **arguments(world)).status_code


@pytest.mark.parametrize("role", [*EVERYONE, *ANONYMOUS])
def test_every_read_route_answers_each_role_with_the_exact_status(world: dict[str, Any], role: str) -> None:
    statuses = {name: _status(world, role, r) for name, r in {**READ_OPEN, **READ_SECRET}.items()}
    assert statuses == {name: _expected(name, role) for name in statuses}


@pytest.mark.parametrize("role", [*EVERYONE, *ANONYMOUS])
def test_every_write_route_and_the_blobs_answer_each_role_with_the_exact_status(
    world: dict[str, Any], role: str
) -> None:
    can = {r: i for i, r in enumerate(reversed(ROLES), start=1)}.get(role, 0)  # viewer 1 .. owner 5
    anonymous = role in ANONYMOUS
    draw = AddInstance(file_id=world["file"], label="car", kind="box", points=((1, 1), (5, 5)))
    cases: dict[str, tuple[Request, int]] = {
        "draw a box (annotator)": (
            ("POST", "/projects/{project}/commits", lambda w: _commit(draw)),
            200 if can >= 2 else 403,
        ),
        "create a directory (editor)": (
            ("POST", "/projects/{project}/commits", lambda w: _commit(CreateDirectory(name=uuid4().hex))),
            200 if can >= 3 else 403,
        ),
        "upload bytes (editor)": (
            ("POST", "/projects/{project}/blobs", lambda w: {"files": {"file": ("x.jpg", jpeg("green"))}}),
            201 if can >= 3 else 403,
        ),
        "grant a role (admin)": (
            ("POST", "/projects/{project}/commits", lambda w: _commit(GrantRole(principal=uuid4().hex, role="viewer"))),
            200 if can >= 4 else 403,
        ),
        "blob of an open file": (
            ("GET", "/projects/{project}/files/{file}/blob", lambda w: {"params": _in(w, "open")}),
            307 if can >= 1 else 403,  # a signed S3 URL, issued only after the check
        ),
        "blob of a restricted file": (
            ("GET", "/projects/{project}/files/{hidden}/blob", lambda w: {"params": _in(w, "secret")}),
            307 if can >= 4 else 403,
        ),
        "a token for oneself": (
            (
                "POST",
                "/tokens",
                lambda w: {"json": {"principal": w["who"][role]}} if role in w["who"] else {"json": {"principal": "x"}},
            ),
            201,
        ),
        "a token for someone else (server admins only)": (
            ("POST", "/tokens", lambda w: {"json": {"principal": "mallory"}}),
            403,
        ),
        "who am I": (("GET", "/me", lambda w: {}), 200),
    }
    statuses = {name: _status(world, role, request) for name, (request, _) in cases.items()}
    assert statuses == {name: 401 if anonymous else status for name, (_, status) in cases.items()}


@pytest.mark.parametrize("role", [*EVERYONE, *ANONYMOUS])
def test_health_and_readiness_need_no_token_and_the_docs_are_served(world: dict[str, Any], role: str) -> None:
    for path in ("/health", "/ready", "/docs", "/openapi.json"):
        assert _status(world, role, ("GET", path, lambda w: {})) == 200, path


class _Assets(HTMLParser):
    """The URLs a page loads: scripts, styles, icons and images."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        url = named.get("src") if tag in ("script", "img") else named.get("href") if tag == "link" else None
        if url:
            self.urls.append(url)


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_the_docs_load_every_asset_from_this_server_so_they_work_offline(world: dict[str, Any], page: str) -> None:
    with httpx.Client(base_url=world["url"], timeout=30) as http:
        html = http.get(page).text
        assets = _Assets()
        assets.feed(html)
        extra = ["/openapi.json", "/docs/oauth2-redirect"] if page == "/docs" else ["/openapi.json"]
        statuses = {url: http.get(url).status_code for url in [*assets.urls, *extra]}

    assert any(url.endswith(".js") for url in assets.urls)  # the page's own script is among them
    assert "http://" not in html and "https://" not in html and "//cdn" not in html
    assert all(url.startswith("/") and not url.startswith("//") for url in assets.urls), assets.urls
    assert statuses == dict.fromkeys(statuses, 200)


def test_a_subscription_needs_read_access_to_its_directory(world: dict[str, Any]) -> None:
    for role, expected in (("owner", 200), ("viewer", 403), ("no token", 401)):
        with httpx.Client(base_url=world["url"], headers=world["headers"][role], timeout=30) as http:
            with http.stream(
                "GET", f"/projects/{world['project']}/changes", params={"directory": world["secret"]}
            ) as r:
                assert r.status_code == expected, role


def test_a_subscriber_sees_a_box_another_client_draws_within_a_second(world: dict[str, Any]) -> None:
    viewer = annolog.Client(world["url"], token=world["headers"]["viewer"]["Authorization"].split()[1])
    annotator = annolog.Client(world["url"], token=world["headers"]["annotator"]["Authorization"].split()[1])
    directory = viewer.project(world["project"]).directory.get("open")
    seen: list[tuple[float, Any]] = []

    def listen() -> None:
        for change in directory.subscribe():
            seen.append((time.monotonic(), change))
            return

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    time.sleep(0.5)  # the stream is open and idle
    drawn_at = time.monotonic()
    box = annotator.project(world["project"]).directory.get("open")[0].add_instance("car", box=(2, 2, 8, 8))
    listener.join(timeout=5)

    assert seen, "no change arrived within 5 s"
    arrived_at, change = seen[0]
    assert (change.event, change.entity_id) == ("InstanceAdded", str(box.id))
    assert arrived_at - drawn_at < 1.0


def test_a_resumed_stream_loses_nothing_and_repeats_nothing(world: dict[str, Any]) -> None:
    owner = annolog.Client(world["url"], token=world["headers"]["owner"]["Authorization"].split()[1])
    project = owner.project(world["project"])
    folder = project.directory.new(f"stream-{uuid4().hex[:4]}")
    start = project.version  # changes after the directory was made: its file's
    photo = folder.add_file(jpeg("white"), name="w.jpg")
    params = {"directory": str(folder.id), "since": start}
    path = f"/projects/{world['project']}/changes"

    def events(http: httpx.Client, last: str | None, count: int) -> Iterator[Any]:
        headers = {"Last-Event-ID": last} if last else {}
        with connect_sse(http, "GET", path, params=params, headers=headers) as source:
            for event in source.iter_sse():
                if event.event == "change":
                    yield event
                    count -= 1
                    if count == 0:
                        return

    with httpx.Client(base_url=world["url"], headers=world["headers"]["owner"], timeout=30) as http:
        first = list(events(http, None, 2))  # FileAdded (file, membership); then the connection drops
        for x in range(3):
            photo.add_instance("car", box=(x, x, x + 5, x + 5))
        rest = list(events(http, first[-1].id, 3))

    received = [json.loads(e.data) for e in first + rest]
    history = [h.model_dump(mode="json") for h in project.history(directory=None, file=photo)]
    assert [(r["version"], r["seq"]) for r in received] == [(h["version"], h["seq"]) for h in history]
    assert len({e.id for e in first + rest}) == 5


def test_an_api_process_killed_during_an_upload_leaves_no_half_file(
    world: dict[str, Any], running_stack: tuple[Settings, str]
) -> None:
    settings = running_stack[0]
    port = free_port()
    api = start_api(settings, port)
    owner = world["headers"]["owner"]
    big = os.urandom(8 * 1024 * 1024)  # not an image: stored as is once whole
    sent = threading.Event()

    def slowly() -> Iterator[bytes]:
        boundary = b"--annolog-test\r\n"
        yield boundary + b'Content-Disposition: form-data; name="file"; filename="big.bin"\r\n\r\n'
        for offset in range(0, len(big), 256 * 1024):
            yield big[offset : offset + 256 * 1024]
            if offset >= 2 * 1024 * 1024:
                sent.set()
                time.sleep(0.2)
        yield b"\r\n--annolog-test--\r\n"

    def upload() -> None:
        headers = owner | {"Content-Type": "multipart/form-data; boundary=annolog-test"}
        try:
            httpx.post(f"http://127.0.0.1:{port}/projects/{world['project']}/blobs", content=slowly(), headers=headers)
        except httpx.TransportError:
            pass  # the server died under it: expected

    uploader = threading.Thread(target=upload, daemon=True)
    uploader.start()
    assert sent.wait(30), "the upload never got going"
    os.kill(api.pid, signal.SIGKILL)
    api.wait()
    uploader.join(timeout=30)

    s3 = boto3.client("s3", endpoint_url=settings.s3_endpoint_url)
    bucket, prefix = (settings.blob_url or "").removeprefix("s3://").split("/", 1)
    for stored in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", []):
        body = s3.get_object(Bucket=bucket, Key=stored["Key"])["Body"].read()
        assert stored["Key"].endswith(hashlib.sha256(body).hexdigest()), f"{stored['Key']} is a half-written blob"
    assert hashlib.sha256(big).hexdigest() not in str(s3.list_objects_v2(Bucket=bucket, Prefix=prefix))
