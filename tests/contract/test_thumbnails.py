"""The thumbnail route over the embedded service: cached bytes, conditional requests, the
sizes offered, and the same read rules as the file's own bytes."""

import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from PIL import Image

import annolog
from annolog.api.http import create_app
from annolog.api.service import Service
from annolog.api.tokens import Tokens
from annolog.blobs.thumbnail_cache import ThumbnailCache
from annolog.blobs.thumbnails import Thumbnail
from annolog.core import BlobStoreUnavailable


def _photo(color: str) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (640, 480), color).save(out, "JPEG")
    return out.getvalue()


@dataclass
class World:
    """A project with an open and a restricted directory, a photo in each, and a viewer."""

    service: Service
    project: str
    version: int
    open: str
    secret: str
    photo: str
    hidden: str
    notes: str
    sha256: str
    http: dict[str, TestClient]

    def thumbnail(self, who: str, file: str, directory: str, *, size: int = 256, **headers: str) -> Response:
        return self.http[who].get(
            f"/projects/{self.project}/files/{file}/thumbnail",
            params={"version": self.version, "directory": directory, "size": size},
            headers={name.replace("_", "-"): value for name, value in headers.items()},
        )


@pytest.fixture
def world(service: Service) -> Iterator[World]:
    project = annolog.Client(service, actor="owner").create_project("thumbs", labels=["car"])
    open_dir, secret = project.directory.new("open"), project.directory.new("secret", access_type="restricted")
    photo, hidden = open_dir.add_file(_photo("red"), name="a.jpg"), secret.add_file(_photo("blue"), name="s.jpg")
    notes = open_dir.add_file(b"just words", name="notes.txt")
    project.grant("viewer", "viewer")
    tokens, app = Tokens(service.engine), create_app(service)
    http = {
        who: TestClient(app, headers={"Authorization": f"Bearer {tokens.create(who, created_by='test')}"})
        for who in ("owner", "viewer")
    }
    yield World(
        service,
        "thumbs",
        project.version,
        str(open_dir.id),
        str(secret.id),
        str(photo.id),
        str(hidden.id),
        str(notes.id),
        photo.sha256,
        http,
    )
    for client in http.values():
        client.close()


def test_a_thumbnail_is_an_upright_jpeg_sent_to_be_kept_privately_for_a_year(world: World) -> None:
    answer = world.thumbnail("viewer", world.photo, world.open)

    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "image/jpeg"
    assert answer.headers["cache-control"] == "private, max-age=31536000, immutable"
    assert answer.headers["etag"] == f'"{world.sha256}-256"'
    assert Image.open(io.BytesIO(answer.content)).size == (256, 192)


def test_a_cached_thumbnail_is_served_identical_without_touching_the_blob_store(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = world.thumbnail("viewer", world.photo, world.open).content

    def unreachable(sha256: str) -> bytes:
        raise BlobStoreUnavailable(f"the test took the blob store away (asked for {sha256})")

    monkeypatch.setattr(world.service.blobs, "get", unreachable)
    again = world.thumbnail("owner", world.photo, world.open)

    assert again.status_code == 200 and again.content == first


def test_each_size_is_cached_apart(world: World) -> None:
    small, large = (world.thumbnail("viewer", world.photo, world.open, size=s) for s in (128, 512))

    assert Image.open(io.BytesIO(small.content)).size == (128, 96)
    assert Image.open(io.BytesIO(large.content)).size == (512, 384)
    assert small.headers["etag"] != large.headers["etag"]


def test_a_thumbnail_the_browser_holds_is_answered_304_without_a_body(world: World) -> None:
    etag = world.thumbnail("viewer", world.photo, world.open).headers["etag"]

    for held in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        answer = world.thumbnail("viewer", world.photo, world.open, if_none_match=held)
        assert (answer.status_code, answer.content, answer.headers["etag"]) == (304, b"", etag), held
    assert world.thumbnail("viewer", world.photo, world.open, if_none_match='"other"').status_code == 200


def test_a_size_not_offered_is_a_422_naming_the_sizes_that_are(world: World) -> None:
    answer = world.thumbnail("viewer", world.photo, world.open, size=300)

    assert answer.status_code == 422
    assert "size must be one of 128, 256, 512" in answer.json()["detail"]


def test_a_file_that_is_no_image_is_a_422_not_a_500(world: World) -> None:
    answer = world.thumbnail("viewer", world.notes, world.open)

    assert answer.status_code == 422
    assert "'notes.txt' is text/plain, not an image" in answer.json()["detail"]


def test_a_restricted_file_has_no_thumbnail_for_those_who_may_not_read_it(world: World) -> None:
    assert world.thumbnail("viewer", world.hidden, world.secret).status_code == 403
    assert world.thumbnail("viewer", world.hidden, world.open).status_code == 404  # an id learnt elsewhere
    assert world.thumbnail("owner", world.hidden, world.secret).status_code == 200


def test_server_processes_of_one_machine_share_the_cache(tmp_path: Path) -> None:
    made = Thumbnail(sha256="ab" * 32, size=128, media_type="image/png", data=b"\x89PNG...")
    one, other = ThumbnailCache(tmp_path / "thumbnails"), ThumbnailCache(tmp_path / "thumbnails")

    one.put(made)

    assert other.get(made.sha256, 128) == made
    assert other.get(made.sha256, 256) is None
