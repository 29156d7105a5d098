"""Commands that run the HTTP API and hand out its tokens."""

from datetime import timedelta

import typer

from annolog.api.bootstrap import build_service, wait_until_up
from annolog.api.cli.app import app, database, emit
from annolog.api.settings import load_settings
from annolog.api.tokens import PREFIX, Principal, Tokens, token_id
from annolog.api.wire import TOKEN_LIFETIME_MAX

token_app = typer.Typer(help="API tokens (stored only as hashes).", no_args_is_help=True)
app.add_typer(token_app, name="token")


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="the address to listen on"),
    port: int = typer.Option(8000, help="the port to listen on"),
    workers: int = typer.Option(1, help="API processes; they share nothing but the stack"),
    access_log: bool = typer.Option(True, help="a line per request on stderr"),
    wait: float = typer.Option(120, help="seconds to wait at start for Kafka and the database to be up"),
) -> None:
    """Run the HTTP API (OpenAPI at /docs) over the stack the ANNOLOG_* settings name.

    On the server stack run `annolog projector` beside it; on the embedded default each
    API process projects its own writes.
    """
    import uvicorn

    settings = load_settings()
    wait_until_up(lambda: build_service(settings).close(), wait_s=wait)  # each worker then builds its own
    uvicorn.run(
        "annolog.api.http:from_settings", factory=True, host=host, port=port, workers=workers, access_log=access_log
    )


@token_app.command("create")
def create_token(
    principal: str = typer.Argument(..., help="who the token acts as: the actor of its commits"),
    admin: bool = typer.Option(False, help="a server admin may create tokens for others through the API"),
    expires_in_days: float = typer.Option(
        None, min=0, max=TOKEN_LIFETIME_MAX.days, help="days until it expires (default: never)"
    ),
    as_json: bool = typer.Option(False, "--json", help="print JSON for scripts"),
) -> None:
    """Create an API token and print it: the only time it is shown."""
    expires = None if expires_in_days is None else timedelta(days=expires_in_days)
    token = Tokens(database()).create(principal, created_by="annolog token create", admin=admin, expires_in=expires)
    issued = {"principal": principal, "admin": admin, "token": token, "token_id": token_id(token)}
    emit(issued, as_json, lambda _: token)


@token_app.command("revoke")
def revoke_token(
    token: str = typer.Argument(None, help="the token's id (from create or GET /tokens), or the token itself"),
    principal: str = typer.Option(None, help="instead: revoke every token of this principal"),
    as_json: bool = typer.Option(False, "--json", help="print JSON for scripts"),
) -> None:
    """Revoke a token (or all of a principal's): the next request with it is refused."""
    if (token is None) == (principal is None):
        raise typer.BadParameter("give a token id (or the token), or --principal, not both")
    tokens = Tokens(database())
    if principal is not None:
        revoked = tokens.revoke_all(principal)
    else:
        key = token_id(token) if token.startswith(PREFIX) else token
        tokens.revoke(Principal("annolog token revoke", admin=True), key)
        revoked = 1
    emit({"revoked": revoked}, as_json, lambda done: f"revoked {done['revoked']} token(s)")
