"""The `annolog` command line, for people at a terminal; each module adds its commands."""

import typer

from annolog.api.cli import browse, server, transfer, views
from annolog.api.cli.app import app
from annolog.core.errors import AnnologError

__all__ = ["app", "browse", "main", "server", "transfer", "views"]


def main() -> None:
    try:
        app()
    except AnnologError as error:
        typer.echo(f"annolog: {type(error).__name__}: {error}", err=True)
        raise SystemExit(2) from error
