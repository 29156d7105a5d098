"""The role × page matrix over the real stack (`annolog serve` over Kafka + PostgreSQL + S3):
each page answers each role with the exact status, signed in by cookie instead of bearer."""

import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any
from uuid import uuid4

import httpx
import pytest

import annolog
from annolog.api.settings import Settings
from annolog.api.tokens import Tokens
from tests.e2e.conftest import jpeg

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.s3]

COOKIE = "annolog_session"
ROLES = ("owner", "admin", "editor", "annotator", "viewer")
EVERYONE = (*ROLES, "no role")
ANONYMOUS = ("no cookie", "wrong cookie", "expired cookie")
ADMINS = ("owner", "admin")


@pytest.fixture(scope="module")
def world(running_stack: tuple[Settings, str], tokens: Tokens) -> dict[str, Any]:
    """A project with an open and a restricted directory, a file in each, and one principal per role."""
    url = running_stack[1]
    name = f"pages-{uuid4().hex[:6]}"
    who = {role: f"{role}-{uuid4().hex[:4]}" for role in EVERYONE}
    token = {role: tokens.create(principal, created_by="test") for role, principal in who.items()}
    project = annolog.Client(url, token=token["owner"]).create_project(name, labels=["car"])
    open_dir, secret = project.directory.new("open"), project.directory.new("secret", access_type="restricted")
    photo, hidden = open_dir.add_file(jpeg(), name="a.jpg"), secret.add_file(jpeg("blue"), name="s.jpg")
    photo.add_instance("car", box=(1, 1, 9, 9))
    for role in ROLES[1:]:
        project.grant(who[role], role)
    cookies = {role: {COOKIE: secret_} for role, secret_ in token.items()}
    cookies |= {"no cookie": {}, "wrong cookie": {COOKIE: "al_not-a-token"}}
    cookies["expired cookie"] = {
        COOKIE: tokens.create(who["viewer"], created_by="test", expires_in=timedelta(seconds=1))
    }
    time.sleep(1.1)
    return {
        "url": url,
        "project": name,
        "version": project.version,
        "file": photo.id,
        "hidden": hidden.id,
        "cookies": cookies,
    }


Expected = Callable[[str], int]
"""The status a page answers a role that is signed in."""


def _readers(role: str) -> int:
    return 403 if role == "no role" else 200


def _admins(role: str) -> int:
    return 200 if role in ADMINS else 403


PAGES: dict[str, tuple[str, Expected]] = {
    "projects": ("/ui/", lambda role: 200),  # everyone signed in; the list holds only their projects
    "directories at latest": ("/ui/p/{project}/v/latest/", _readers),
    "directories at a pinned version": ("/ui/p/{project}/v/{version}/", _readers),
    "open directory": ("/ui/p/{project}/v/latest/d/open", _readers),
    "slice of the open directory": ("/ui/p/{project}/v/{version}/d/open?query=labels.car+%3E+0", _readers),
    "open file": ("/ui/p/{project}/v/latest/f/{file}?d=open", _readers),
    "open file's image": ("/ui/p/{project}/v/{version}/f/{file}/image?d=open", _readers),
    "restricted directory": ("/ui/p/{project}/v/latest/d/secret", _admins),
    "restricted file": ("/ui/p/{project}/v/latest/f/{hidden}?d=secret", _admins),
    "restricted file's image": ("/ui/p/{project}/v/{version}/f/{hidden}/image?d=secret", _admins),
    # An id learnt elsewhere opens no restricted file: not in any directory the reader may read.
    "restricted file through the readable directories": (
        "/ui/p/{project}/v/latest/f/{hidden}",
        lambda role: 403 if role == "no role" else 200 if role in ADMINS else 404,
    ),
    "open file's thumbnail": ("/ui/p/{project}/v/{version}/f/{file}/thumbnail?size=128&d=open", _readers),
    "restricted file's thumbnail": ("/ui/p/{project}/v/{version}/f/{hidden}/thumbnail?d=secret", _admins),
    "diff of the open directory": ("/ui/p/{project}/diff?base=1&head=latest&d=open", _readers),
    "diff of the restricted directory": ("/ui/p/{project}/diff?base=1&head=latest&d=secret", _admins),
    "diff of every readable directory": ("/ui/p/{project}/diff?base=1&head={version}", _readers),
    "label statistics": ("/ui/p/{project}/v/latest/stats?since=1&d=open", _readers),
    "label statistics of the restricted directory": ("/ui/p/{project}/v/latest/stats?d=secret", _admins),
    "live changes of the open directory": ("/ui/p/{project}/changes?d=open", _readers),
    "live changes of the restricted directory": ("/ui/p/{project}/changes?d=secret", _admins),
    "open directory's tiles": ("/ui/p/{project}/v/latest/tiles?d=open", _readers),
    "restricted directory's tiles": ("/ui/p/{project}/v/latest/tiles?d=secret", _admins),
    "audit": ("/ui/p/{project}/audit", _admins),
}


def _status(world: dict[str, Any], role: str, path: str) -> int:
    """The status alone: a live stream's body never ends, so it is not read."""
    with (
        httpx.Client(base_url=world["url"], cookies=world["cookies"][role], timeout=30) as browser,
        browser.stream("GET", path.format(**world)) as response,
    ):
        return response.status_code


@pytest.mark.parametrize("role", [*EVERYONE, *ANONYMOUS])
def test_every_page_answers_each_role_with_the_exact_status(world: dict[str, Any], role: str) -> None:
    statuses = {name: _status(world, role, path) for name, (path, _) in PAGES.items()}
    assert statuses == {name: 401 if role in ANONYMOUS else expected(role) for name, (_, expected) in PAGES.items()}


def test_an_image_comes_through_the_server_not_as_a_signed_url(world: dict[str, Any]) -> None:
    path = PAGES["open file's image"][0].format(**world)
    with httpx.Client(base_url=world["url"], cookies=world["cookies"]["viewer"], timeout=30) as browser:
        response = browser.get(path)
    assert (response.status_code, response.content) == (200, jpeg())


def test_a_bearer_token_opens_no_page(world: dict[str, Any]) -> None:
    token = world["cookies"]["owner"][COOKIE]
    with httpx.Client(base_url=world["url"], headers={"Authorization": f"Bearer {token}"}, timeout=30) as http:
        assert http.get("/ui/").status_code == 401
