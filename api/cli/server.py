"""`annolog serve`: the HTTP API over the stack, in one process or several."""

from typing import Annotated

import typer

from annolog.api.cli.app import app, stack_settings

SHUTDOWN_GRACE_S = 5
"""On SIGTERM, how long requests in flight may finish before they are cancelled: a live stream
(an open directory page, a subscriber) never finishes, so without a limit the server never stops."""


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="the address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="the port to listen on")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="API processes; they share nothing but the stack")] = 1,
    access_log: Annotated[bool, typer.Option(help="a line per request on stderr")] = True,
    wait: Annotated[float, typer.Option(help="seconds to wait at start for Kafka and the database to be up")] = 120,
    worker_healthcheck_timeout: Annotated[
        int,
        typer.Option(
            min=1,
            help="with --workers: seconds a worker may take to answer uvicorn's health check (while it starts, "
            "or under load) before it is replaced",
        ),
    ] = 30,
) -> None:
    """Run the HTTP API (OpenAPI at /docs) over the stack the ANNOLOG_* settings name.

    On the server stack run `annolog projector` beside it; on the embedded default each
    API process projects its own writes.
    """
    import uvicorn

    from annolog.api.bootstrap import build_service, wait_until_up

    settings = stack_settings("serve")
    wait_until_up(lambda: build_service(settings).close(), wait_s=wait)  # each worker then builds its own
    uvicorn.run(
        "annolog.api.http:from_settings",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        access_log=access_log,
        # uvicorn's 5 s default replaced workers still starting on a busy machine, again and again.
        timeout_worker_healthcheck=worker_healthcheck_timeout,
        timeout_graceful_shutdown=SHUTDOWN_GRACE_S,
    )
