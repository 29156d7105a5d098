"""The server stack runs as documented, first time: blobs land under the URL's prefix, a
missing bucket is a 503 on /ready that says how to create it, and `make serve` starts the
whole stack the README's Python then runs on, and `make stop` stops it."""

import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import uuid4

import boto3
import httpx
import pytest
from fastapi.testclient import TestClient

from annolog.api.bootstrap import build_blobs, build_service
from annolog.api.http import create_app
from annolog.api.settings import Settings, load_settings
from tests.stack import AWS, free_port

ROOT = Path(__file__).parents[2]
SCRIPTS = ROOT / "scripts"


@pytest.fixture
def s3(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    for name, value in AWS.items():
        monkeypatch.setenv(name, value)
    return boto3.client("s3", endpoint_url=s3_endpoint)


@pytest.fixture
def bucket(s3: Any) -> Iterator[str]:
    name = f"annolog-stack-{uuid4().hex[:10]}"
    s3.create_bucket(Bucket=name)
    yield name
    for listed in s3.list_objects_v2(Bucket=name).get("Contents", []):
        s3.delete_object(Bucket=name, Key=listed["Key"])
    s3.delete_bucket(Bucket=name)


@pytest.mark.s3
@pytest.mark.parametrize(("path", "folder"), [("/blobs", "blobs/"), ("/blobs/", "blobs/"), ("/a/b", "a/b/"), ("", "")])
def test_an_s3_blob_url_stores_blobs_in_the_folder_its_path_names(
    s3: Any, bucket: str, s3_endpoint: str, path: str, folder: str
) -> None:
    store = build_blobs(load_settings(blob_url=f"s3://{bucket}{path}", s3_endpoint_url=s3_endpoint))

    sha256 = store.put(b"in its folder")

    keys = [listed["Key"] for listed in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert keys == [f"{folder}{sha256[:2]}/{sha256}"]
    assert store.get(sha256) == b"in its folder"


@pytest.mark.kafka
@pytest.mark.postgres
@pytest.mark.s3
def test_ready_is_a_503_naming_a_missing_bucket_and_how_to_create_it_until_it_exists(
    server_settings: Settings, s3: Any
) -> None:
    missing = f"annolog-missing-{uuid4().hex[:10]}"
    service = build_service(server_settings.model_copy(update={"blob_url": f"s3://{missing}/blobs"}))
    try:
        ready = TestClient(create_app(service)).get("/ready")
        assert ready.status_code == 503
        checks = ready.json()["checks"]
        assert checks["log"] == "ok" and checks["database"] == "ok"
        assert f"bucket '{missing}' does not exist" in checks["blobs"]
        assert f"create it (e.g. aws s3 mb s3://{missing} --endpoint-url" in checks["blobs"]

        s3.create_bucket(Bucket=missing)  # no restart needed once it is there
        assert TestClient(create_app(service)).get("/ready").json()["blobs"] == "ok"
    finally:
        service.close()
        s3.delete_bucket(Bucket=missing)


def _readme_server_python() -> str:
    """The first Python block of the README's "The server stack" section, as a newcomer copies it."""
    section = (ROOT / "README.md").read_text().split("\n## The server stack\n", 1)[1].split("\n## ", 1)[0]
    found = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert found, "the README's server section has no Python example"
    return found.group(1)


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs: a zombie left for an init that does not reap (containers) does not."""
    try:
        return "\nState:\tZ" not in Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False


def _credentials(settings: dict[str, str]) -> dict[str, str]:
    return {
        "aws_access_key_id": settings["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": settings["AWS_SECRET_ACCESS_KEY"],
        "region_name": settings["AWS_DEFAULT_REGION"],
    }


class ServeScript:
    """scripts/serve.sh (what `make serve` and `make stop` run) over services of its own:
    another state dir and other ports, so the shared services are never touched."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.api_port = free_port()
        ports = {name: str(free_port()) for name in ("PG", "KAFKA", "KAFKA_CONTROLLER", "S3")}
        self.env = {
            **{name: value for name, value in os.environ.items() if not name.startswith(("ANNOLOG_", "AWS_"))},
            **{f"ANNOLOG_{name}_PORT": port for name, port in ports.items()},
            "ANNOLOG_SERVICES_DIR": str(state_dir),
            "ANNOLOG_API_PORT": str(self.api_port),
            "PYTHON": sys.executable,
        }

    def run(self, script: str, action: str, *, shell: dict[str, str] | None = None) -> str:
        """Run ``script action``; ``shell``: variables the caller's shell holds besides."""
        env = {**self.env, **(shell or {})}
        done = subprocess.run([SCRIPTS / script, action], env=env, capture_output=True, text=True, timeout=180)
        assert done.returncode == 0, f"{script} {action} failed:\n{done.stderr[-3000:]}"
        return done.stdout

    def settings(self) -> dict[str, str]:
        exports = (self.state_dir / "serve.env").read_text().splitlines()
        return dict(line.removeprefix("export ").split("=", 1) for line in exports if line.startswith("export "))

    def pids(self) -> list[int]:
        return [int((self.state_dir / "run" / f"annolog-{name}.pid").read_text()) for name in ("api", "projector")]

    def python(self, *arguments: str) -> str:
        """``python ARGUMENTS`` in a shell that sourced serve.env."""
        env = {**self.env, **self.settings()}
        done = subprocess.run([sys.executable, *arguments], env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr[-3000:]
        return done.stdout


@pytest.fixture
def serve_script() -> Iterator[ServeScript]:
    # Not pytest's tmp_path: the PostgreSQL of scripts/postgres.sh runs as user postgres
    # when we are root, and must reach the state dir.
    state_dir = Path(tempfile.mkdtemp(prefix="annolog-serve-"))
    state_dir.chmod(0o755)
    script = ServeScript(state_dir)
    try:
        yield script
    finally:
        script.run("serve.sh", "stop")
        shutil.rmtree(state_dir)


def test_make_serve_runs_its_recipe_and_make_stop_stops_the_stack() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^serve: .*\n\t@scripts/serve\.sh start$", makefile, re.MULTILINE)
    assert re.search(r"^stop:\n\t@scripts/serve\.sh stop$", makefile, re.MULTILINE)


def test_serve_script_starts_a_stack_the_readme_runs_on_and_stops_it(serve_script: ServeScript) -> None:
    printed = serve_script.run("serve.sh", "start")

    assert printed == (serve_script.state_dir / "serve.env").read_text()
    settings = serve_script.settings()
    assert settings["ANNOLOG_BLOB_URL"] == "s3://annolog/blobs"
    assert settings["ANNOLOG_LOG_SIGNING_KEYS"].startswith("local:")
    assert {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "ANNOLOG_S3_ENDPOINT_URL"} <= set(settings)
    assert settings["ANNOLOG_TOKEN"].startswith("al_")
    load_settings(**{k.removeprefix("ANNOLOG_").lower(): v for k, v in settings.items() if k.startswith("ANNOLOG_")})

    assert serve_script.python("-c", _readme_server_python()) == "3 b'hello, annolog'\n"
    assert "hello" in serve_script.python("-m", "annolog", "project", "list")  # the README says it works
    assert serve_script.python("-m", "annolog", "token", "create", "ana").startswith("al_")
    s3 = boto3.client("s3", endpoint_url=settings["ANNOLOG_S3_ENDPOINT_URL"], **_credentials(settings))
    assert [listed["Key"][:6] for listed in s3.list_objects_v2(Bucket="annolog")["Contents"]] == ["blobs/"]

    pids = serve_script.pids()
    assert serve_script.run("serve.sh", "start") == printed, "a second start changes nothing"
    assert serve_script.pids() == pids

    serve_script.run("serve.sh", "stop")
    assert not any(_alive(pid) for pid in pids)
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://127.0.0.1:{serve_script.api_port}/health", timeout=2)


def test_serve_script_starts_empty_once_the_s3_server_lost_the_blobs(serve_script: ServeScript) -> None:
    serve_script.run("serve.sh", "start")
    first_token = serve_script.settings()["ANNOLOG_TOKEN"]
    serve_script.python("-c", _readme_server_python())

    serve_script.run("s3.sh", "stop")  # as `make test` does to the services under a running stack
    serve_script.run("serve.sh", "start", shell=serve_script.settings())  # run where serve.env was sourced

    assert serve_script.settings()["ANNOLOG_TOKEN"] != first_token
    assert serve_script.python("-c", _readme_server_python()) == "3 b'hello, annolog'\n"  # the name 'hello' is free
