"""The `annolog` Typer application and what its commands share: options, settings, output.

Commands import SQLAlchemy, Kafka, uvicorn and the SDK inside their own bodies: `annolog
--help` then loads Typer and little else, and so does each `serve --workers` process, which
re-imports the script that started it before it can answer uvicorn's health check.
"""

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from sqlalchemy import Engine

    import annolog
    from annolog.api.settings import Settings

app = typer.Typer(help="annolog: versioned training data on an event log.", no_args_is_help=True)

ProjectOption = Annotated[str, typer.Option("--project", "-p", help="the project's name")]
DirectoryOption = Annotated[str, typer.Option("--directory", "-d", help="the directory's name")]
JsonOption = Annotated[bool, typer.Option("--json", help="print JSON for scripts")]


STACK_SETTINGS = frozenset({"data_dir", "log_url", "database_url", "blob_url"})
"""The settings that name a stack; without any, the stack is the default ``./annolog-data``."""


def stack_settings(command: str) -> "Settings":
    """The settings of the stack itself, for a command that opens its log and database directly.

    No API exposes those, so such a command cannot go through an annolog server. With only
    ``ANNOLOG_SERVER_URL`` set it would act on the default local data directory instead of
    the server's stack, and report success: it refuses. With the stack's own settings given
    too (the shell `make serve` prints), it acts on that stack.
    """
    from annolog.api.settings import ENV_PREFIX, load_settings
    from annolog.core.errors import ConfigurationError

    settings = load_settings()
    if settings.server_url is not None and not settings.model_fields_set & STACK_SETTINGS:
        raise ConfigurationError(
            f"`annolog {command}` works on the stack itself (its log and database), which no API exposes, and "
            f"only {ENV_PREFIX}SERVER_URL is set ({settings.server_url}), so it would act on the local "
            f"{settings.data_dir} instead: run it where the stack's {ENV_PREFIX}* settings are "
            f"({ENV_PREFIX}LOG_URL, {ENV_PREFIX}DATABASE_URL, {ENV_PREFIX}BLOB_URL; {ENV_PREFIX}DATA_DIR "
            "for an embedded one)"
        )
    return settings


def database(settings: "Settings") -> "Engine":
    """The views' database ``settings`` name, with its schema in place."""
    from annolog.projections.database import create_schema, open_database

    engine = open_database(settings.database_url, embedded=settings.embedded_database)
    create_schema(engine)
    return engine


def open_client(actor: str | None = None) -> "annolog.Client":
    """The SDK client the settings name: an annolog server (``ANNOLOG_SERVER_URL``, as the
    token's principal), or the stack itself as ``actor`` (default: the operating-system user)."""
    import annolog
    from annolog.api.bootstrap import build_service
    from annolog.api.settings import load_settings

    settings = load_settings()
    if settings.server_url is not None:
        token = settings.token.get_secret_value() if settings.token else None
        return annolog.Client(settings.server_url, token=token)
    return annolog.Client(build_service(settings), actor=actor)


def emit(value: Any, as_json: bool, human: Callable[[Any], str]) -> None:
    """Print ``value`` as JSON for scripts (``--json``), or as ``human`` renders it for people."""
    typer.echo(json.dumps(value, indent=2, default=str) if as_json else human(value))
