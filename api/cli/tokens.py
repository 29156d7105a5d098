"""`annolog token create|revoke`: on the stack's token table, or through ANNOLOG_SERVER_URL's API."""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import TYPE_CHECKING, Annotated

import typer

from annolog.api.cli.app import JsonOption, app, database, emit

if TYPE_CHECKING:
    from annolog.api.cli.token_stores import TokenStore

LIFETIME_MAX_DAYS = 36_525
"""api.wire.TOKEN_LIFETIME_MAX in days, written out so that --help imports no FastAPI model."""

token_app = typer.Typer(help="API tokens (stored only as hashes).", no_args_is_help=True)
app.add_typer(token_app, name="token")


@token_app.command("create")
def create_token(
    principal: Annotated[str, typer.Argument(help="who the token acts as: the actor of its commits")],
    admin: Annotated[bool, typer.Option(help="a server admin may create tokens for others through the API")] = False,
    expires_in_days: Annotated[
        float | None, typer.Option(min=0, max=LIFETIME_MAX_DAYS, help="days until it expires (default: never)")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Create an API token and print it: the only time it is shown.

    With ANNOLOG_SERVER_URL set it is made by that server, as ANNOLOG_TOKEN's principal.
    """
    from annolog.api.tokens import token_id

    expires = None if expires_in_days is None else timedelta(days=expires_in_days)
    with _store() as tokens:
        token = tokens.create(principal, admin=admin, expires_in=expires)
    issued = {"principal": principal, "admin": admin, "token": token, "token_id": token_id(token)}
    emit(issued, as_json, lambda _: token)


@token_app.command("revoke")
def revoke_token(
    token: Annotated[
        str | None, typer.Argument(help="the token's id (from create or GET /tokens), or the token itself")
    ] = None,
    principal: Annotated[str | None, typer.Option(help="instead: revoke every token of this principal")] = None,
    as_json: JsonOption = False,
) -> None:
    """Revoke a token (or all of a principal's): the next request with it is refused.

    With ANNOLOG_SERVER_URL set that server revokes them, if ANNOLOG_TOKEN's principal may.
    """
    from annolog.api.tokens import PREFIX, token_id

    if token is not None and principal is None:
        with _store() as tokens:
            tokens.revoke(token_id(token) if token.startswith(PREFIX) else token)
        revoked = 1
    elif principal is not None and token is None:
        with _store() as tokens:
            revoked = tokens.revoke_all(principal)
    else:
        raise typer.BadParameter("give a token id (or the token), or --principal, not both")
    emit({"revoked": revoked}, as_json, lambda done: f"revoked {done['revoked']} token(s)")


@contextmanager
def _store() -> "Iterator[TokenStore]":
    from annolog.api.cli.token_stores import DatabaseTokens, ServerTokens
    from annolog.api.settings import load_settings

    settings = load_settings()
    if settings.server_url is None:
        store: TokenStore = DatabaseTokens(database(settings))
    else:
        store = ServerTokens(settings.server_url, settings.token.get_secret_value() if settings.token else None)
    try:
        yield store
    finally:
        store.close()
