"""Access control without leaks, end to end through real HTTP: `annolog serve` and
`annolog projector` as processes over Kafka + PostgreSQL + S3. Each test is an attack that
once worked: a stream of restricted changes, bytes by a leaked hash, the history of a file
taken out of a restricted directory, saved slices, project names in a 404, and tokens that
could be neither revoked nor kept from outliving the token that made them."""

import hashlib
import json
import subprocess
import sys
import time
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit
from uuid import uuid4

import httpx
import pytest
from httpx_sse import connect_sse

import annolog
from annolog.api.settings import Settings
from annolog.api.tokens import Tokens
from annolog.api.wire import CommandEnvelope
from annolog.core import AddFile, AddInstance, Command, SaveSlice
from tests.e2e.conftest import jpeg
from tests.stack import environment

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.s3]


class Person:
    """A principal with a token of its own: its SDK client and a raw HTTP client."""

    def __init__(self, url: str, tokens: Tokens, role: str, **token: Any) -> None:
        self.name = f"{role}-{uuid4().hex[:6]}"
        self.token = tokens.create(self.name, created_by="test", **token)
        self.http = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {self.token}"}, timeout=30)
        self.sdk = annolog.Client(url, token=self.token)

    def commit(self, project: str, *commands: Command) -> httpx.Response:
        body = {"commands": [CommandEnvelope.of(c).model_dump(mode="json") for c in commands]}
        return self.http.post(f"/projects/{project}/commits", json=body)


@pytest.fixture(scope="module")
def owner(url: str, tokens: Tokens) -> Person:
    return Person(url, tokens, "owner")


@pytest.fixture
def stranger(url: str, tokens: Tokens) -> Person:
    """Anyone with a token and no role in the owner's projects."""
    return Person(url, tokens, "stranger")


def _project(owner: Person, *members: tuple[Person, str]) -> annolog.Project:
    project = owner.sdk.create_project(f"access-{uuid4().hex[:8]}", labels=["car"])
    for person, role in members:
        project.grant(person.name, role)
    return project


# -- 1. a stream of changes ---------------------------------------------------------------------


@pytest.mark.timeout(60)  # an idle stream only sends heartbeats: a missing change would wait forever
def test_a_viewer_who_may_read_no_directory_is_streamed_no_change_of_one(
    url: str, tokens: Tokens, owner: Person
) -> None:
    viewer = Person(url, tokens, "viewer")
    project = _project(owner, (viewer, "viewer"))
    secret = project.directory.new("secret", access_type="restricted")
    secret.add_file(jpeg(), name="s.jpg").add_instance("car", box=(1, 1, 9, 9))
    project.tag("after-the-secret")  # tags are project-wide: the one change the viewer may see

    received = []
    with connect_sse(viewer.http, "GET", f"/projects/{project.name}/changes", params={"since": 0}) as source:
        assert source.response.status_code == 200
        for event in source.iter_sse():
            if event.event == "change":
                received.append(json.loads(event.data))
                if received[-1]["entity"] == "tag":
                    break

    assert [(r["event"], r["entity_id"]) for r in received] == [("VersionTagged", "after-the-secret")]


# -- 2. bytes by their hash -----------------------------------------------------------------------


def _add_file(directory_id: Any, sha256: str, name: str = "stolen.jpg", size: int = 1) -> AddFile:
    return AddFile(directory_id=directory_id, name=name, sha256=sha256, media_type="image/jpeg", size=size)


def test_a_file_cannot_name_restricted_bytes_of_another_project_by_a_leaked_hash(
    owner: Person, stranger: Person
) -> None:
    victim = _project(owner)
    leaked = victim.directory.new("secret", access_type="restricted").add_file(jpeg("navy"), name="s.jpg").sha256
    loot = stranger.sdk.create_project(f"loot-{uuid4().hex[:8]}")
    folder = loot.directory.new("all")

    stolen = stranger.commit(loot.name, _add_file(folder.id, leaked))
    nowhere = stranger.commit(loot.name, _add_file(folder.id, "0" * 64))

    assert stolen.status_code == 404 and leaked in stolen.json()["detail"]
    assert nowhere.status_code == 404 and "0" * 64 in nowhere.json()["detail"]
    # The same answer for bytes stored elsewhere and bytes stored nowhere: no oracle for hashes.
    assert stolen.json()["detail"].replace(leaked, "<hash>") == nowhere.json()["detail"].replace("0" * 64, "<hash>")
    assert len(loot.directory.get("all")) == 0


def test_bytes_uploaded_to_one_project_cannot_be_named_in_another_by_the_same_owner(owner: Person) -> None:
    first, second = _project(owner), _project(owner)
    uploaded = owner.http.post(f"/projects/{first.name}/blobs", files={"file": ("a.jpg", jpeg("teal"))})
    sha256, size = uploaded.json()["sha256"], uploaded.json()["size"]

    elsewhere = owner.commit(second.name, _add_file(second.directory.new("all").id, sha256, "a.jpg", size))
    here = owner.commit(first.name, _add_file(first.directory.new("all").id, sha256, "a.jpg", size))

    assert uploaded.status_code == 201
    assert (elsewhere.status_code, here.status_code) == (404, 200)


def test_a_file_may_name_bytes_its_project_holds_or_that_were_uploaded_to_it(owner: Person, stranger: Person) -> None:
    victim = _project(owner)
    photo = victim.directory.new("raw").add_file(jpeg("olive"), name="p.jpg")
    loot = stranger.sdk.create_project(f"own-{uuid4().hex[:8]}")
    folder = loot.directory.new("all")

    again = owner.commit(victim.name, _add_file(victim.directory.new("copies").id, photo.sha256, "p.jpg", photo.size))
    uploaded = folder.add_file(jpeg("olive"), name="mine.jpg")  # who has the bytes may upload them

    assert again.status_code == 200
    assert uploaded.sha256 == photo.sha256 and uploaded.read() == jpeg("olive")


def test_inside_a_project_only_bytes_one_may_read_or_uploaded_oneself_can_be_named(
    url: str, tokens: Tokens, owner: Person
) -> None:
    editor = Person(url, tokens, "editor")
    project = _project(owner, (editor, "editor"))
    secret = project.directory.new("secret", access_type="restricted").add_file(jpeg("maroon"), name="s.jpg")
    folder = project.directory.new("open")

    peeked = editor.commit(project.name, _add_file(folder.id, secret.sha256, "peek.jpg"))
    uploaded = editor.http.post(f"/projects/{project.name}/blobs", files={"file": ("same.jpg", jpeg("maroon"))})
    own = editor.commit(project.name, _add_file(folder.id, secret.sha256, "mine.jpg", secret.size))  # held now

    assert peeked.status_code == 404 and len(project.directory.get("open")) == 1
    assert uploaded.status_code == 201 and own.status_code == 200


def test_without_a_role_a_commit_learns_nothing_of_a_projects_bytes(owner: Person, stranger: Person) -> None:
    project = _project(owner)
    folder = project.directory.new("open")
    held = folder.add_file(jpeg("lime"), name="p.jpg").sha256

    answers = {stranger.commit(project.name, _add_file(folder.id, sha)).status_code for sha in (held, "1" * 64)}

    assert answers == {403}


# -- 3. files taken out of restricted directories, and saved slices ----------------------------


def test_a_file_removed_from_a_restricted_directory_stays_closed_to_those_without_its_grant(
    url: str, tokens: Tokens, owner: Person
) -> None:
    viewer, annotator, admin = (Person(url, tokens, role) for role in ("viewer", "annotator", "admin"))
    project = _project(owner, (viewer, "viewer"), (annotator, "annotator"), (admin, "admin"))
    secret = project.directory.new("secret", access_type="restricted")
    hidden = secret.add_file(jpeg("maroon"), name="s.jpg")
    box = hidden.add_instance("car", box=(1, 1, 9, 9))
    secret.remove(hidden)
    history = f"/projects/{project.name}/history"
    draw = AddInstance(file_id=hidden.id, label="car", kind="box", points=((2, 2), (5, 5)))

    assert viewer.http.get(history, params={"file": str(hidden.id)}).status_code == 403
    assert viewer.http.get(history, params={"instance": str(box.id)}).status_code == 403
    assert annotator.commit(project.name, draw).status_code == 403
    assert admin.http.get(history, params={"file": str(hidden.id)}).status_code == 200


def test_a_file_removed_from_an_open_directory_stays_open_to_the_project(
    url: str, tokens: Tokens, owner: Person
) -> None:
    viewer, annotator = Person(url, tokens, "viewer"), Person(url, tokens, "annotator")
    project = _project(owner, (viewer, "viewer"), (annotator, "annotator"))
    folder = project.directory.new("open")
    photo = folder.add_file(jpeg("lime"), name="o.jpg")
    folder.remove(photo)
    draw = AddInstance(file_id=photo.id, label="car", kind="box", points=((2, 2), (5, 5)))

    found = viewer.http.get(f"/projects/{project.name}/history", params={"file": str(photo.id)})

    assert found.status_code == 200 and [e["event"] for e in found.json()][:1] == ["FileAdded"]
    assert annotator.commit(project.name, draw).status_code == 200


def test_the_history_of_an_open_file_names_no_restricted_directory_it_was_mirrored_into(
    url: str, tokens: Tokens, owner: Person
) -> None:
    viewer = Person(url, tokens, "viewer")
    project = _project(owner, (viewer, "viewer"))
    folder, secret = project.directory.new("open"), project.directory.new("top-secret", access_type="restricted")
    photo = folder.add_file(jpeg("olive"), name="o.jpg")
    secret.add(photo)
    history = f"/projects/{project.name}/history"

    seen = viewer.http.get(history, params={"file": str(photo.id)})
    audited = owner.http.get(history, params={"file": str(photo.id)})

    assert seen.status_code == 200 and [e["event"] for e in seen.json()] == ["FileAdded", "FileAdded"]
    assert "top-secret" not in seen.text and str(secret.id) not in seen.text
    assert [e["event"] for e in audited.json()] == ["FileAdded", "FileAdded", "FileMirrored"]


def test_a_saved_slice_of_a_restricted_directory_needs_a_grant_to_it(url: str, tokens: Tokens, owner: Person) -> None:
    viewer, insider = Person(url, tokens, "viewer"), Person(url, tokens, "insider")
    project = _project(owner, (viewer, "viewer"), (insider, "viewer"))
    secret = project.directory.new("secret", access_type="restricted")
    project.grant(insider.name, "viewer", directory=secret)
    project.save_slice("secret-cars", "labels.car > 0", directory=secret)
    project.save_slice("all-cars", "labels.car > 0")
    slices = f"/projects/{project.name}/slices"

    assert viewer.http.get(f"{slices}/secret-cars").status_code == 403
    assert insider.http.get(f"{slices}/secret-cars").json()["directory_id"] == str(secret.id)
    assert viewer.http.get(f"{slices}/all-cars").json() == {"query": "labels.car > 0", "directory_id": None}


def test_saving_a_slice_over_a_restricted_directory_needs_a_grant_to_it(
    url: str, tokens: Tokens, owner: Person
) -> None:
    editor = Person(url, tokens, "editor")
    project = _project(owner, (editor, "editor"))
    secret = project.directory.new("secret", access_type="restricted")
    save = SaveSlice(name="peek", query="labels.car > 0", directory_id=secret.id)

    refused = editor.commit(project.name, save)
    assert refused.status_code == 403 and "directory 'secret'" in refused.json()["detail"]
    project.grant(editor.name, "editor", directory=secret)
    assert editor.commit(project.name, save).status_code == 200


def test_a_grant_on_an_empty_restricted_directory_opens_only_that_directory(
    url: str, tokens: Tokens, owner: Person
) -> None:
    guest = Person(url, tokens, "guest")
    project = _project(owner)
    folder = project.directory.new("open")
    folder.add_file(jpeg("pink"), name="o.jpg")
    empty = project.directory.new("inbox", access_type="restricted")
    project.grant(guest.name, "viewer", directory=empty)  # an empty directory is a falsy dataset
    params = {"version": project.version}

    assert guest.http.get(f"/projects/{project.name}/directories/inbox", params=params).status_code == 200
    assert guest.http.get(f"/projects/{project.name}/directories/open", params=params).status_code == 403


# -- 4. project names ----------------------------------------------------------------------------


def test_an_unknown_project_names_no_other_project(owner: Person, stranger: Person) -> None:
    known = _project(owner).name

    answer = stranger.http.get(f"/projects/no-such-{uuid4().hex[:6]}")

    assert answer.status_code == 404
    assert known not in answer.text and "access-" not in answer.text


# -- 5. tokens ------------------------------------------------------------------------------------


def test_a_revoked_token_is_refused_on_the_next_request(url: str, tokens: Tokens) -> None:
    ana = Person(url, tokens, "ana")
    (listed,) = ana.http.get("/tokens").json()

    assert ana.http.get("/me").status_code == 200
    assert ana.token not in json.dumps(listed) and hashlib.sha256(ana.token.encode()).hexdigest() not in str(listed)
    assert ana.http.delete(f"/tokens/{listed['token_id']}").status_code == 204
    assert ana.http.get("/me").status_code == 401


@pytest.mark.timeout(60)  # a stream that outlived its token would wait here forever
def test_an_open_stream_of_changes_ends_when_its_token_is_revoked(url: str, tokens: Tokens, owner: Person) -> None:
    viewer = Person(url, tokens, "viewer")
    project = _project(owner, (viewer, "viewer"))
    photos = project.directory.new("photos")
    received = []
    with connect_sse(viewer.http, "GET", f"/projects/{project.name}/changes", params={"since": 0}) as source:
        for event in source.iter_sse():
            if event.event != "change":
                continue
            received.append(json.loads(event.data)["event"])
            if received[-1] == "DirectoryCreated":
                (listed,) = viewer.http.get("/tokens").json()
                assert viewer.http.delete(f"/tokens/{listed['token_id']}").status_code == 204
                photos.add_file(jpeg(), name="after-the-revoke.jpg")  # wakes the stream, which must end

    assert "FileAdded" not in received


def test_only_its_principal_or_a_server_admin_may_revoke_a_token(url: str, tokens: Tokens) -> None:
    ana, bob = Person(url, tokens, "ana"), Person(url, tokens, "bob")
    root = Person(url, tokens, "root", admin=True)
    (bobs,) = bob.http.get("/tokens").json()

    assert ana.http.get("/tokens", params={"principal": bob.name}).status_code == 403
    assert ana.http.delete(f"/tokens/{bobs['token_id']}").status_code == 404  # not even whose it is
    assert bob.http.get("/me").status_code == 200
    assert root.http.delete(f"/tokens/{bobs['token_id']}").status_code == 204
    assert bob.http.get("/me").status_code == 401


def test_a_token_made_with_a_short_lived_one_expires_with_it(url: str, tokens: Tokens) -> None:
    brief = Person(url, tokens, "brief", expires_in=timedelta(seconds=3))
    (own,) = brief.http.get("/tokens").json()

    forever = brief.http.post("/tokens", json={"principal": brief.name}).json()
    a_day = brief.http.post("/tokens", json={"principal": brief.name, "expires_in_s": 86_400}).json()

    for minted in (forever, a_day):
        assert datetime.fromisoformat(minted["expires_at"]) <= datetime.fromisoformat(own["expires_at"])
    time.sleep(3.2)
    for minted in (forever, a_day):
        assert httpx.get(f"{url}/me", headers={"Authorization": f"Bearer {minted['token']}"}).status_code == 401


def test_the_command_line_revokes_a_token_or_every_token_of_a_principal(
    url: str, tokens: Tokens, running_stack: tuple[Settings, str]
) -> None:
    ana = Person(url, tokens, "ana")
    other = tokens.create(ana.name, created_by="test")
    bob = Person(url, tokens, "bob")

    def annolog_cli(*arguments: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "annolog", "token", "revoke", *arguments]
        return subprocess.run(command, env=environment(running_stack[0]), capture_output=True, text=True, timeout=60)

    one = annolog_cli(bob.token, "--json")
    every = annolog_cli("--principal", ana.name, "--json")

    assert (one.returncode, json.loads(one.stdout)) == (0, {"revoked": 1})
    assert (every.returncode, json.loads(every.stdout)) == (0, {"revoked": 2})
    for token in (bob.token, ana.token, other):
        assert httpx.get(f"{url}/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert annolog_cli(bob.token).returncode == 2  # nothing left to revoke: said so


def test_a_signed_blob_url_is_valid_for_a_minute_only(owner: Person) -> None:
    project = _project(owner)
    folder = project.directory.new("all")
    photo = folder.add_file(jpeg("gold"), name="g.jpg")

    answer = owner.http.get(
        f"/projects/{project.name}/files/{photo.id}/blob", params={"version": project.version, "directory": folder.id}
    )

    assert answer.status_code == 307
    assert parse_qs(urlsplit(answer.headers["location"]).query)["X-Amz-Expires"] == ["60"]
