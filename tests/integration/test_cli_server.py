"""The command line with ANNOLOG_SERVER_URL set: every command acts on that server (through
its HTTP API, as ANNOLOG_TOKEN's principal), or on the stack its own settings name, or
refuses, naming the setting; none acts on an empty local data directory. Against a real
`annolog serve` on Kafka + PostgreSQL + S3."""

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from uuid import uuid4

import httpx
import pytest
from sqlalchemy import create_engine

import annolog
from annolog.api.settings import Settings
from annolog.api.tokens import Tokens
from tests.stack import environment

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.s3]


@pytest.fixture(scope="module")
def url(running_stack: tuple[Settings, str]) -> str:
    return running_stack[1]


@pytest.fixture(scope="module")
def tokens(running_stack: tuple[Settings, str]) -> Iterator[Tokens]:
    engine = create_engine(running_stack[0].database_url or "")
    yield Tokens(engine)
    engine.dispose()


def _name(role: str) -> str:
    return f"{role}-{uuid4().hex[:6]}"


def _annolog(
    url: str, token: str, workdir: Path, *args: str, extra: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The command line as a user of the server runs it, in a directory of their own."""
    env = {"ANNOLOG_SERVER_URL": url, "ANNOLOG_TOKEN": token, "PATH": "/usr/bin:/bin", **(extra or {})}
    return subprocess.run(
        [sys.executable, "-m", "annolog", *args], capture_output=True, text=True, env=env, cwd=workdir, timeout=120
    )


def _me(url: str, token: str) -> httpx.Response:
    return httpx.get(f"{url}/me", headers={"Authorization": f"Bearer {token}"}, timeout=30)


@pytest.mark.parametrize(
    "command",
    [["replay"], ["verify"], ["status"], ["projector", "--wait", "1"], ["serve", "--wait", "1"]],
    ids=lambda command: command[0],
)
def test_a_command_that_needs_the_stack_refuses_to_act_on_a_local_directory_instead(
    url: str, tokens: Tokens, tmp_path: Path, command: list[str]
) -> None:
    token = tokens.create(_name("operator"), created_by="test")

    result = _annolog(url, token, tmp_path, *command)

    assert (result.returncode, "Traceback" in result.stderr) == (2, False), result.stderr
    assert f"ConfigurationError: `annolog {command[0]}` works on the stack itself" in result.stderr
    assert f"ANNOLOG_SERVER_URL is set ({url})" in result.stderr and "ANNOLOG_DATABASE_URL" in result.stderr
    assert list(tmp_path.iterdir()) == []  # no ./annolog-data made


def test_a_command_that_needs_the_stack_acts_on_it_where_its_settings_are_given_too(
    running_stack: tuple[Settings, str], tokens: Tokens, tmp_path: Path
) -> None:
    settings, url = running_stack
    token = tokens.create(_name("operator"), created_by="test")
    stack = {k: v for k, v in environment(settings).items() if k.startswith("ANNOLOG_") or k.startswith("AWS_")}

    result = _annolog(url, token, tmp_path, "status", "--json", extra=stack)

    assert result.returncode == 0, result.stderr
    assert len(json.loads(result.stdout)["partitions"]) == settings.kafka_partitions == 3
    assert list(tmp_path.iterdir()) == []


def test_token_create_makes_a_working_token_on_the_server(url: str, tokens: Tokens, tmp_path: Path) -> None:
    ana = _name("ana")
    token = tokens.create(ana, created_by="test")

    result = _annolog(url, token, tmp_path, "token", "create", ana, "--expires-in-days", "1", "--json")

    assert result.returncode == 0, result.stderr
    issued = json.loads(result.stdout)
    assert (issued["principal"], issued["admin"]) == (ana, False)
    assert _me(url, issued["token"]).json() == {"principal": ana, "admin": False}
    (made,) = [t for t in tokens.list_for(tokens.authenticate(token), ana) if t.token_id == issued["token_id"]]
    assert made.created_by == ana and made.expires_at is not None
    assert list(tmp_path.iterdir()) == []


def test_token_create_through_the_server_keeps_its_rules(url: str, tokens: Tokens, tmp_path: Path) -> None:
    token = tokens.create(_name("bob"), created_by="test")

    for_another = _annolog(url, token, tmp_path, "token", "create", _name("eve"))
    an_admin = _annolog(url, token, tmp_path, "token", "create", _name("eve"), "--admin")

    assert (for_another.returncode, "Traceback" in for_another.stderr) == (2, False), for_another.stderr
    assert "AccessDenied" in for_another.stderr and "needs a server admin" in for_another.stderr
    assert an_admin.returncode == 2 and "makes no admin tokens" in an_admin.stderr
    assert list(tmp_path.iterdir()) == []


def test_token_revoke_revokes_on_the_server_one_token_or_all_of_a_principal_the_callers_own_last(
    url: str, tokens: Tokens, tmp_path: Path
) -> None:
    admin = tokens.create(_name("admin"), created_by="test", admin=True)
    cy = _name("cy")
    first, second = tokens.create(cy, created_by="test"), tokens.create(cy, created_by="test")
    own = [tokens.create(cy, created_by="test") for _ in range(3)]

    one = _annolog(url, admin, tmp_path, "token", "revoke", first, "--json")
    every = _annolog(url, admin, tmp_path, "token", "revoke", "--principal", cy, "--json")

    assert (one.returncode, json.loads(one.stdout)) == (0, {"revoked": 1}), one.stderr
    assert (every.returncode, json.loads(every.stdout)) == (0, {"revoked": 4}), every.stderr
    assert [_me(url, t).status_code for t in (first, second, *own)] == [401] * 5

    dee = _name("dee")
    mine = [tokens.create(dee, created_by="test") for _ in range(3)]
    themselves = _annolog(url, mine[0], tmp_path, "token", "revoke", "--principal", dee, "--json")
    assert (themselves.returncode, json.loads(themselves.stdout)) == (0, {"revoked": 3}), themselves.stderr
    assert [_me(url, t).status_code for t in mine] == [401] * 3
    assert list(tmp_path.iterdir()) == []


def test_listing_tagging_and_history_act_on_the_servers_projects(url: str, tokens: Tokens, tmp_path: Path) -> None:
    token = tokens.create(_name("owner"), created_by="test")
    project = annolog.Client(url, token=token).create_project(_name("served"), labels=["car"])
    project.directory.new("all")
    made = project.version

    listed = _annolog(url, token, tmp_path, "project", "list", "--json")
    directories = _annolog(url, token, tmp_path, "directory", "list", "-p", project.name, "--json")
    tagged = _annolog(url, token, tmp_path, "tag", "release-1", "-p", project.name, "--json")
    moved = _annolog(url, token, tmp_path, "tag", "release-1", str(made), "-p", project.name, "--force", "--json")
    changes = _annolog(url, token, tmp_path, "history", "-p", project.name, "-d", "all", "--json")

    assert [p["name"] for p in json.loads(listed.stdout)] == [project.name], listed.stderr
    assert [d["name"] for d in json.loads(directories.stdout)] == ["all"], directories.stderr
    assert json.loads(tagged.stdout) == {"tag": "release-1", "version": made + 1, "before": None}, tagged.stderr
    assert json.loads(moved.stdout) == {"tag": "release-1", "version": made, "before": made + 1}, moved.stderr
    assert [c["event"] for c in json.loads(changes.stdout)] == ["DirectoryCreated"], changes.stderr
    assert annolog.Client(url, token=token).project(project.name).directory.list(version="release-1")
    assert list(tmp_path.iterdir()) == []
