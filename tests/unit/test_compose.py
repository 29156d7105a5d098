"""docker-compose.yml starts in order and stays up: health-ordered, pinned, restarted, and
in step with what annolog reads. Docker cannot run here, so the file's structure is checked."""

import re
import shlex
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

COMPOSE = Path(__file__).parent.parent.parent / "docker-compose.yml"
LONG_RUNNING = ("kafka", "postgres", "minio", "api", "projector")
ONE_SHOT = "minio-init"


@pytest.fixture(scope="module")
def services() -> dict[str, dict[str, Any]]:
    loaded: dict[str, dict[str, Any]] = yaml.safe_load(COMPOSE.read_text())["services"]
    return loaded


@pytest.fixture(scope="module")
def annolog_env(services: dict[str, dict[str, Any]]) -> dict[str, str]:
    assert services["api"]["environment"] == services["projector"]["environment"]
    environment: dict[str, str] = services["api"]["environment"]
    return environment


def test_the_stack_is_the_services_annolog_needs_and_the_bucket_init(services: dict[str, dict[str, Any]]) -> None:
    assert set(services) == {*LONG_RUNNING, ONE_SHOT}


def test_every_image_is_pinned_to_a_release(services: dict[str, dict[str, Any]]) -> None:
    images = {name: s["image"] for name, s in services.items() if "image" in s}
    assert set(images) == {"kafka", "postgres", "minio", ONE_SHOT}
    for name, image in images.items():
        _, _, tag = image.rpartition(":")
        # A major alone (postgres:16) moves too: a release has a minor, or MinIO's RELEASE stamp.
        assert re.fullmatch(r"\d+\.\d+(\.\d+)?|RELEASE\.[0-9TZ-]+", tag), f"{name}: {image} is not pinned"


def test_kafka_postgres_minio_and_the_api_have_healthchecks(services: dict[str, dict[str, Any]]) -> None:
    for name in ("kafka", "postgres", "minio", "api"):
        check = services[name].get("healthcheck", {})
        assert check.get("test", [None])[0] == "CMD", f"{name} has no healthcheck command"
        assert {"interval", "timeout", "retries"} <= set(check), f"{name}'s healthcheck has no bounds"


def test_the_api_is_healthy_only_when_ready_on_the_port_it_serves(services: dict[str, dict[str, Any]]) -> None:
    api = services["api"]
    port = shlex.split(api["command"])[shlex.split(api["command"]).index("--port") + 1]
    probe = " ".join(api["healthcheck"]["test"])
    assert f"http://127.0.0.1:{port}/ready" in probe  # /ready is a 503 until log, database and bucket answer
    assert api["ports"] == [f"{port}:{port}"]


def test_every_dependency_waits_for_health_or_for_the_one_shot_to_succeed(
    services: dict[str, dict[str, Any]],
) -> None:
    for name, service in services.items():
        for dependency, spec in service.get("depends_on", {}).items():
            expected = "service_completed_successfully" if dependency == ONE_SHOT else "service_healthy"
            assert spec == {"condition": expected}, f"{name} -> {dependency}: {spec}"
            if expected == "service_healthy":
                assert "healthcheck" in services[dependency], f"{name} waits on {dependency}, which has no healthcheck"


def test_the_api_waits_for_every_backing_service_and_the_bucket(services: dict[str, dict[str, Any]]) -> None:
    assert set(services["api"]["depends_on"]) == {"kafka", "postgres", "minio", ONE_SHOT}
    assert set(services["projector"]["depends_on"]) == {"kafka", "postgres"}
    assert set(services[ONE_SHOT]["depends_on"]) == {"minio"}


def test_services_are_restarted_and_the_one_shot_only_until_it_succeeds(services: dict[str, dict[str, Any]]) -> None:
    for name in LONG_RUNNING:
        assert services[name].get("restart") == "unless-stopped", name
    assert services[ONE_SHOT].get("restart") == "on-failure"


def test_the_bucket_annolog_uses_is_the_one_minio_init_creates(
    services: dict[str, dict[str, Any]], annolog_env: dict[str, str]
) -> None:
    alias, _, bucket = services[ONE_SHOT]["command"][-1].partition("/")
    assert services[ONE_SHOT]["command"][:2] == ["mb", "--ignore-existing"]
    assert urlsplit(annolog_env["ANNOLOG_BLOB_URL"]).netloc == bucket
    target = urlsplit(services[ONE_SHOT]["environment"][f"MC_HOST_{alias}"])
    assert f"{target.scheme}://{target.hostname}:{target.port}" == annolog_env["ANNOLOG_S3_ENDPOINT_URL"]


def test_annolog_and_the_bucket_init_use_minios_credentials(
    services: dict[str, dict[str, Any]], annolog_env: dict[str, str]
) -> None:
    root = services["minio"]["environment"]
    credentials = (root["MINIO_ROOT_USER"], root["MINIO_ROOT_PASSWORD"])
    assert (annolog_env["AWS_ACCESS_KEY_ID"], annolog_env["AWS_SECRET_ACCESS_KEY"]) == credentials
    target = urlsplit(next(iter(services[ONE_SHOT]["environment"].values())))
    assert (target.username, target.password) == credentials
    assert urlsplit(annolog_env["ANNOLOG_S3_ENDPOINT_URL"]).hostname == "minio"


def test_the_log_and_database_urls_reach_the_compose_services(
    services: dict[str, dict[str, Any]], annolog_env: dict[str, str]
) -> None:
    broker = urlsplit(annolog_env["ANNOLOG_LOG_URL"]).netloc
    assert f"PLAINTEXT://{broker}" in services["kafka"]["environment"]["KAFKA_ADVERTISED_LISTENERS"]
    database = urlsplit(annolog_env["ANNOLOG_DATABASE_URL"])
    postgres = services["postgres"]["environment"]
    assert (database.hostname, database.port) == ("postgres", 5432)
    assert (database.username, database.password) == (postgres["POSTGRES_USER"], postgres["POSTGRES_PASSWORD"])
    assert database.path == f"/{postgres['POSTGRES_DB']}"
