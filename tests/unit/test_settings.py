"""One settings object, and the deployment files speak its language."""

from pathlib import Path

import pytest
import yaml

from annolog.api.bootstrap import build_log
from annolog.api.settings import ENV_PREFIX, Settings, load_settings
from annolog.core import ConfigurationError

COMPOSE = Path(__file__).parent.parent.parent / "docker-compose.yml"


def _compose_environments() -> dict[str, dict[str, str]]:
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    return {name: s["environment"] for name, s in services.items() if name in ("api", "projector")}


def test_every_annolog_name_in_docker_compose_is_a_setting() -> None:
    known = {ENV_PREFIX + field.upper() for field in Settings.model_fields}
    for service, environment in _compose_environments().items():
        names = {key for key in environment if key.startswith(ENV_PREFIX)}
        assert names, f"{service} sets no {ENV_PREFIX}* variable"
        assert names <= known, f"{service} sets unknown settings {sorted(names - known)}"


def test_the_compose_environment_is_valid_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for environment in _compose_environments().values():
        for key, value in environment.items():
            monkeypatch.setenv(key, value)
        settings = load_settings()
        assert settings.log_url == "kafka://kafka:9092" and settings.kafka_partitions == 12


def test_nothing_configured_means_the_embedded_default(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings()
    assert settings.log_url is None and settings.database_url is None and settings.blob_url is None
    assert settings.embedded_database == Path("annolog-data/annolog.db")


def test_a_bad_setting_is_named_by_its_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANNOLOG_LOG_URL", "http://broker:9092")
    monkeypatch.setenv("ANNOLOG_KAFKA_PARTITIONS", "zero")
    with pytest.raises(ConfigurationError) as error:
        load_settings()
    assert "ANNOLOG_LOG_URL: expected kafka://host:port" in str(error.value)
    assert "ANNOLOG_KAFKA_PARTITIONS: Input should be a valid integer" in str(error.value)


def test_a_kafka_log_without_signing_keys_refuses_to_start_unless_unsigned_on_purpose() -> None:
    with pytest.raises(ConfigurationError, match="ANNOLOG_LOG_SIGNING_KEYS is not set.*ANNOLOG_LOG_UNSIGNED=true"):
        build_log(load_settings(log_url="kafka://127.0.0.1:1"))


@pytest.mark.parametrize(("blob_url", "remote"), [(None, False), ("s3://bucket/blobs", True)])
def test_a_reader_learns_whether_blobs_are_remote_without_building_a_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, blob_url: str | None, remote: bool
) -> None:
    # Every array and directory reader asks, to pick its disk cache; building an S3 client
    # to answer cost ~20 ms a reader.
    from uuid import uuid4

    import annolog.local

    def no_store(settings: Settings) -> None:
        raise AssertionError("a blob store was built to answer whether blobs are remote")

    monkeypatch.setattr(annolog.local, "build_blobs", no_store)
    settings = load_settings(data_dir=tmp_path, blob_url=blob_url)
    assert annolog.local.DatabaseSource(settings, uuid4(), 0).remote is remote
