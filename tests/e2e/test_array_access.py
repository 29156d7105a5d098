"""Arrays behind their roles, end to end through real HTTP on Kafka + PostgreSQL + S3: every
array route for every role, and chunk hashes that must open nothing they were not written to."""

import hashlib
from collections.abc import Callable
from typing import Any
from uuid import uuid4

import httpx
import pytest

import annolog
from annolog.api.tokens import Tokens
from annolog.core.commands import CreateArray, WriteArrayChunks
from annolog.core.events import ChunkWrite
from tests.e2e.conftest import jpeg
from tests.e2e.test_access import Person

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.s3]

OCTETS = {"Content-Type": "application/octet-stream"}


@pytest.fixture(scope="module")
def owner(url: str, tokens: Tokens) -> Person:
    return Person(url, tokens, "owner")


def _write(key: str, sha256: str | None, size: int = 0) -> WriteArrayChunks:
    return WriteArrayChunks(
        array="mri", chunks=[ChunkWrite(chunk=key, sha256=sha256, size=size, expected_revision=None)]
    )


def _upload(person: Person, project: str, data: bytes) -> httpx.Response:
    return person.http.post(f"/projects/{project}/chunks", content=data, headers=OCTETS)


def _array_project(person: Person) -> tuple[annolog.Project, str]:
    """A project of ``person``'s with the array 'mri', one chunk of it written: the chunk's sha256."""
    project = person.sdk.create_project(f"arrays-{uuid4().hex[:8]}")
    data = f"chunk of {project.name}".encode()
    sha256 = _upload(person, project.name, data).json()["sha256"]
    create = CreateArray(name="mri", shape=(4, 4), dtype="uint8", chunks=(2, 2))
    assert person.commit(project.name, create, _write("0.0", sha256, len(data))).status_code == 200
    return project, sha256


Route = Callable[[Person, str, int, str], httpx.Response]
READS: dict[str, Route] = {
    "list": lambda p, project, v, _: p.http.get(f"/projects/{project}/arrays", params={"version": v}),
    "get": lambda p, project, v, _: p.http.get(f"/projects/{project}/arrays/mri", params={"version": v}),
    "chunks": lambda p, project, v, _: p.http.post(
        f"/projects/{project}/arrays/mri/chunks", params={"version": v}, json={"chunks": None}
    ),
    "bytes": lambda p, project, _, sha256: p.http.get(f"/projects/{project}/arrays/mri/blobs/{sha256}"),
}
WRITES: dict[str, Route] = {
    "upload": lambda p, project, *_: _upload(p, project, f"{p.name}'s".encode()),
    "commit": lambda p, project, *_: p.commit(project, _write("1.1", None)),  # clears a chunk: names no bytes
}
WRITTEN = {"upload": 201, "commit": 200}
"""What each write answers when the role may write."""
ROLES: dict[str, tuple[int, bool]] = {  # role: (status of every read, whether it may write)
    "owner": (200, True),
    "editor": (200, True),
    "annotator": (200, False),
    "viewer": (200, False),
    "directory viewer": (403, False),  # a grant on a directory does not open the project's arrays
    "no role": (403, False),
}


def _expected(role: str, route: str) -> int:
    reads, writes = ROLES[role]
    if route in READS:
        return reads
    return WRITTEN[route] if writes else 403


def test_every_array_route_answers_each_role_as_its_rank_allows(url: str, tokens: Tokens, owner: Person) -> None:
    project, sha256 = _array_project(owner)
    people = {role: owner if role == "owner" else Person(url, tokens, role.replace(" ", "-")) for role in ROLES}
    for role in ("editor", "annotator", "viewer"):
        project.grant(people[role].name, role)
    project.grant(people["directory viewer"].name, "viewer", directory=project.directory.new("inbox"))
    version = project.version

    found: dict[tuple[str, str], int] = {}
    for role, person in people.items():
        for name, route in (READS | WRITES).items():
            found[role, name] = route(person, project.name, version, sha256).status_code
    expected = {(role, name): _expected(role, name) for role in ROLES for name in READS | WRITES}

    assert found == expected


def test_array_routes_of_an_unknown_project_are_not_found(owner: Person) -> None:
    missing = f"no-such-{uuid4().hex[:6]}"
    answers = {name: route(owner, missing, 1, "0" * 64).status_code for name, route in (READS | WRITES).items()}
    assert set(answers.values()) == {404}, answers


def test_a_chunk_is_served_immutable_and_checked_by_its_hash(owner: Person) -> None:
    project, sha256 = _array_project(owner)

    answer = READS["bytes"](owner, project.name, project.version, sha256)

    assert answer.status_code == 200 and hashlib.sha256(answer.content).hexdigest() == sha256
    assert answer.headers["content-type"] == "application/octet-stream"
    assert "immutable" in answer.headers["cache-control"] and "private" in answer.headers["cache-control"]


def _same_answer(refused: httpx.Response, sha256: str, nowhere: httpx.Response) -> bool:
    """Whether ``refused`` (naming ``sha256``) reads exactly as ``nowhere`` (naming zeros): no oracle for hashes."""
    text = refused.json()["detail"].replace(sha256, "<hash>")
    return text == nowhere.json()["detail"].replace("0" * 64, "<hash>")


def test_a_chunk_hash_of_another_project_can_be_neither_read_nor_named(owner: Person, url: str, tokens: Tokens) -> None:
    _, leaked = _array_project(owner)
    thief = Person(url, tokens, "thief")
    loot, _ = _array_project(thief)

    read, read_nowhere = (READS["bytes"](thief, loot.name, loot.version, sha) for sha in (leaked, "0" * 64))
    named, named_nowhere = (thief.commit(loot.name, _write("1.0", sha, 9)) for sha in (leaked, "0" * 64))

    assert (read.status_code, named.status_code) == (404, 404)
    assert _same_answer(read, leaked, read_nowhere) and _same_answer(named, leaked, named_nowhere)


def test_an_editor_cannot_make_a_chunk_of_a_restricted_files_bytes(url: str, tokens: Tokens, owner: Person) -> None:
    editor = Person(url, tokens, "editor")
    project, _ = _array_project(owner)
    project.grant(editor.name, "editor")
    secret = project.directory.new("secret", access_type="restricted").add_file(jpeg("maroon"), name="s.jpg")

    peek = editor.commit(project.name, _write("1.1", secret.sha256, secret.size))

    assert peek.status_code == 404 and secret.sha256 in peek.json()["detail"]
    assert READS["bytes"](editor, project.name, project.version, secret.sha256).status_code == 404


def test_a_nul_in_an_array_name_is_invalid_input(owner: Person) -> None:
    project, _ = _array_project(owner)
    params: dict[str, Any] = {"version": project.version}

    assert owner.http.get(f"/projects/{project.name}/arrays/m%00ri", params=params).status_code == 422
