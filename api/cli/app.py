"""The `annolog` Typer application and what its commands share: settings, the database."""

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import typer
from sqlalchemy import Engine

from annolog.api.bootstrap import build_service
from annolog.api.settings import load_settings
from annolog.projections.database import create_schema, open_database

if TYPE_CHECKING:
    import annolog

app = typer.Typer(help="annolog: versioned training data on an event log.", no_args_is_help=True)


def database() -> Engine:
    """The views' database the settings name, with its schema in place."""
    settings = load_settings()
    engine = open_database(settings.database_url, embedded=settings.embedded_database)
    create_schema(engine)
    return engine


def open_client(actor: str | None = None) -> "annolog.Client":
    """The SDK client the settings name: an annolog server (``ANNOLOG_SERVER_URL``, as the
    token's principal), or the stack itself as ``actor`` (default: the operating-system user)."""
    import annolog  # the SDK builds on api; imported here so `api` never needs it at import time

    settings = load_settings()
    if settings.server_url is not None:
        token = settings.token.get_secret_value() if settings.token else None
        return annolog.Client(settings.server_url, token=token)
    return annolog.Client(build_service(settings), actor=actor)


def emit(value: Any, as_json: bool, human: Callable[[Any], str]) -> None:
    """Print ``value`` as JSON for scripts (``--json``), or as ``human`` renders it for people."""
    typer.echo(json.dumps(value, indent=2, default=str) if as_json else human(value))
