"""The one settings object: every knob annolog reads, from ANNOLOG_* environment variables."""

from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from annolog.core.errors import ConfigurationError
from annolog.core.model import describe_validation_error
from annolog.eventlog.signing import SigningKeys

ENV_PREFIX = "ANNOLOG_"


class Settings(BaseSettings):
    """Unset URLs mean the embedded default: everything in ``data_dir``, no services.

    Set ``ANNOLOG_LOG_URL=kafka://host:9092``, ``ANNOLOG_DATABASE_URL=postgresql+psycopg2://…``
    and ``ANNOLOG_BLOB_URL=s3://bucket/prefix`` to run on the server stack instead.
    The command line talks to an annolog server instead when ``ANNOLOG_SERVER_URL`` (and
    ``ANNOLOG_TOKEN``) are set.
    """

    # Inputs stay out of pydantic's own messages (tracebacks): some are secrets. Our message
    # (``load_settings``) names each bad field's value, and never a secret's (see below).
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_file=".env", extra="forbid", frozen=True, hide_input_in_errors=True
    )

    data_dir: Path = Path("annolog-data")
    log_url: str | None = None
    kafka_topic: str = "annolog.commits"
    kafka_partitions: Annotated[int, Field(ge=1)] = 12
    kafka_replication_factor: Annotated[int, Field(ge=1)] = 1
    log_signing_keys: SecretStr | None = None
    """``kid:secret[,kid:secret…]``: the first signs the commits appended to Kafka, all verify."""
    log_unsigned: bool = False
    """Run a Kafka log without signatures on purpose (anyone who can write the topic can then
    commit as anyone); without it a Kafka log needs ``log_signing_keys``."""
    database_url: str | None = None
    blob_url: str | None = None
    s3_endpoint_url: str | None = None
    server_url: str | None = None
    token: SecretStr | None = None

    @field_validator("log_url")
    @classmethod
    def _log_url_is_kafka(cls, value: str | None) -> str | None:
        if value is not None and (urlsplit(value).scheme != "kafka" or not urlsplit(value).netloc):
            raise ValueError("expected kafka://host:port[,host:port…] (unset for the embedded log)")
        return value

    @field_validator("database_url")
    @classmethod
    def _database_url_is_postgres(cls, value: str | None) -> str | None:
        if value is not None and not urlsplit(value).scheme.startswith("postgresql"):
            raise ValueError("expected postgresql+psycopg2://user:password@host:port/db (unset for SQLite)")
        return value

    @field_validator("blob_url")
    @classmethod
    def _blob_url_is_s3(cls, value: str | None) -> str | None:
        if value is not None and (urlsplit(value).scheme != "s3" or not urlsplit(value).netloc):
            raise ValueError("expected s3://bucket[/prefix] (unset for the local blob directory)")
        return value

    @field_validator("server_url")
    @classmethod
    def _server_url_is_http(cls, value: str | None) -> str | None:
        if value is not None and urlsplit(value).scheme not in ("http", "https"):
            raise ValueError("expected http(s)://host:port of `annolog serve`")
        return value

    @model_validator(mode="after")
    def _signing_keys_parse(self) -> "Settings":
        # A model-level check: a field's error would echo its input, and this input is a secret.
        try:
            self.signing_keys
        except ValueError as exc:
            raise ValueError(f"{ENV_PREFIX}LOG_SIGNING_KEYS: {exc}") from None
        return self

    @property
    def signing_keys(self) -> SigningKeys | None:
        """The keys that sign and verify Kafka records, or None when the log is unsigned."""
        if self.log_signing_keys is None:
            return None
        return SigningKeys.parse(self.log_signing_keys.get_secret_value())

    def environment(self) -> dict[str, str]:
        """The ``ANNOLOG_*`` variables that make ``load_settings()`` in another process return
        these settings (secrets in the clear: for the processes one starts, never for a log)."""
        return {
            f"{ENV_PREFIX}{name.upper()}": value.get_secret_value() if isinstance(value, SecretStr) else str(value)
            for name, value in self.model_dump().items()
            if value is not None
        }

    @property
    def embedded_database(self) -> Path:
        """The SQLite file of the embedded default: its log and its views."""
        return self.data_dir / "annolog.db"


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment (and ``overrides``), or ``ConfigurationError`` naming the key."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        message = describe_validation_error("settings", exc, field_name=lambda field: ENV_PREFIX + field.upper())
        raise ConfigurationError(message) from exc
