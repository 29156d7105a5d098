"""Commands that run or check the projection: the projector, replay, verify."""

import signal
import time
from dataclasses import asdict
from types import FrameType

import typer
from tqdm import tqdm

from api.bootstrap import build_log
from api.cli.app import app, database, emit
from api.settings import load_settings
from projections.chain import Verification
from projections.chain import verify as verify_chain
from projections.projector import Projector
from projections.queries import project_named
from projections.replay import (
    checksums,
    drop_database,
    fresh_database,
    replay,
    replay_until,
    snapshot_checksums,
)


@app.command()
def projector(
    batch_size: int = typer.Option(500, help="commits judged per database transaction"),
    idle_pause: float = typer.Option(0.01, help="seconds to wait when the log has nothing new"),
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
    worker = Projector(database(), build_log(load_settings()), batch_size=batch_size)
    typer.echo("projector running", err=True)
    while not stopping:
        if worker.catch_up() == 0:
            time.sleep(idle_pause)


@app.command(name="replay")
def replay_command(
    project: str = typer.Option(None, help="with --version: replay this project only up to that version"),
    version: int = typer.Option(None, help="the version to replay up to (needs --project)"),
    keep: bool = typer.Option(False, help="keep the rebuilt tables for inspection"),
) -> None:
    """Rebuild the views from the first log record into fresh tables and compare checksums.

    With --project and --version the project is replayed up to that version and compared
    with the live views read as of it.
    """
    if (project is None) != (version is None):
        raise typer.BadParameter("--project and --version go together")
    live, log = database(), build_log(load_settings())
    target = fresh_database(live)
    try:
        if project is None:
            typer.echo(f"replayed {replay(log, target)} log records")
            ours, theirs = checksums(live), checksums(target)
        else:
            with live.connect() as db:
                project_id = project_named(db, project).project_id
            replay_until(log, target, project_id, version)
            typer.echo(f"replayed project {project!r} up to version {version}")
            ours, theirs = (
                snapshot_checksums(live, project_id, version),
                snapshot_checksums(target, project_id, version),
            )
        for table, digest in ours.items():
            typer.echo(
                f"  {table:<14} {digest[:16]}  {theirs[table][:16]}  "
                f"{'equal' if theirs[table] == digest else 'DIFFERENT'}"
            )
    finally:
        if not keep:
            drop_database(target)
    if ours != theirs:
        raise typer.Exit(code=1)


@app.command()
def verify(as_json: bool = typer.Option(False, "--json", help="print JSON for scripts")) -> None:
    """Recompute every project's tamper-evidence chain from the log; report the first break.

    Exits 1 when a stored hash does not match the log (a record or a view was altered).
    """
    log = build_log(load_settings())
    with tqdm(desc="verifying", unit=" records", disable=as_json, leave=False) as bar:
        outcome = verify_chain(database(), log, on_record=lambda: bar.update())
    found = outcome.first_break
    result = {"checked": outcome.checked, "intact": found is None, "first_break": found and asdict(found)}
    emit(result, as_json, lambda _: _verdict(outcome))
    if found is not None:
        raise typer.Exit(code=1)


def _verdict(outcome: Verification) -> str:
    found = outcome.first_break
    if found is None:
        return f"chain intact: {outcome.checked} accepted commits match the log"
    return (
        f"chain BROKEN after {outcome.checked} matching commits: project {found.project_id}, "
        f"version {found.version} (commit {found.commit_id}): {found.reason}"
    )
