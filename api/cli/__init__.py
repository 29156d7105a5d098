"""The `annolog` command line, for people at a terminal; each module adds its commands.

The modules import only Typer at the top (their commands import the rest), so that
`annolog --help` answers at once and a `serve --workers` process starts light.
"""

import typer

from annolog.api.cli import browse, server, tokens, transfer, verify, views
from annolog.api.cli.app import app
from annolog.core.errors import AnnologError

__all__ = ["app", "browse", "main", "server", "tokens", "transfer", "verify", "views"]


def main() -> None:
    try:
        app()
    except AnnologError as error:
        typer.echo(f"annolog: {type(error).__name__}: {error}", err=True)
        raise SystemExit(2) from error
