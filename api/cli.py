"""The `annolog` command line: run the projector, replay the log, for people at a terminal."""

import signal
import time
from types import FrameType

import typer
from sqlalchemy import Engine

from api.bootstrap import build_log
from api.settings import load_settings
from core.errors import AnnologError
from projections.database import create_schema, open_database
from projections.projector import Projector
from projections.replay import checksums, drop_database, fresh_database, replay

app = typer.Typer(help="annolog: versioned training data on an event log.", no_args_is_help=True)


def _database() -> Engine:
    settings = load_settings()
    engine = open_database(settings.database_url, embedded=settings.embedded_database)
    create_schema(engine)
    return engine


@app.command()
def projector(
    batch_size: int = typer.Option(500, help="commits judged per database transaction"),
    idle_pause: float = typer.Option(0.05, help="seconds to wait when the log has nothing new"),
) -> None:
    """Project the log into the views until stopped (SIGTERM/SIGINT finish the current batch).

    Positions live in the database, in the same transaction as the rows, so a projector
    that crashed resumes exactly where it stopped; several may run (they take turns).
    """
    stopping = False

    def stop(_signal: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    worker = Projector(_database(), build_log(load_settings()), batch_size=batch_size)
    typer.echo("projector running", err=True)
    while not stopping:
        if worker.catch_up() == 0:
            time.sleep(idle_pause)


@app.command(name="replay")
def replay_command(keep: bool = typer.Option(False, help="keep the rebuilt tables for inspection")) -> None:
    """Rebuild every view from the first log record into fresh tables and compare checksums."""
    live = _database()
    target = fresh_database(live)
    count = replay(build_log(load_settings()), target)
    ours, theirs = checksums(live), checksums(target)
    typer.echo(f"replayed {count} log records into {target.url.render_as_string(hide_password=True)}")
    for table, digest in ours.items():
        same = "equal" if theirs[table] == digest else "DIFFERENT"
        typer.echo(f"  {table:<14} {digest[:16]}  {theirs[table][:16]}  {same}")
    if not keep:
        drop_database(target)
    if ours != theirs:
        raise typer.Exit(code=1)


def main() -> None:
    try:
        app()
    except AnnologError as error:
        typer.echo(f"annolog: {type(error).__name__}: {error}", err=True)
        raise SystemExit(2) from error


if __name__ == "__main__":
    main()
