"""Commands that run or check the projection: the projector, status, replay, verify."""

import json
import signal
import threading
from dataclasses import asdict
from pathlib import Path
from types import FrameType
from typing import Any

import typer
from sqlalchemy import Engine
from tqdm import tqdm

from annolog.api.bootstrap import build_log, wait_until_up
from annolog.api.cli.app import app, database, emit
from annolog.api.settings import load_settings
from annolog.core.errors import InvalidInputError
from annolog.eventlog.log import EventLog
from annolog.projections.chain import Anchor, Verification
from annolog.projections.chain import verify as verify_chain
from annolog.projections.daemon import run
from annolog.projections.deep import Difference, deep_verify
from annolog.projections.queries import project_named
from annolog.projections.replay import (
    checksums,
    drop_database,
    fresh_database,
    replay,
    replay_until,
    snapshot_checksums,
)
from annolog.projections.status import RejectedRecord, Status, projection_status


@app.command()
def projector(
    batch_size: int = typer.Option(500, help="commits judged per database transaction"),
    idle_pause: float = typer.Option(0.01, help="seconds to wait when the log has nothing new"),
    wait: float = typer.Option(120, help="seconds to wait at start for Kafka and the database to be up"),
) -> None:
    """Project the log into the views until stopped (SIGTERM/SIGINT finish the current batch).

    Positions live in the database, in the same transaction as the rows, so a projector
    that crashed resumes exactly where it stopped; several may run (they take turns).
    Outages of Kafka or the database pause it (one warning each) until they are over.
    """
    stop = threading.Event()

    def stopping(_signal: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, stopping)
    signal.signal(signal.SIGINT, stopping)
    settings = load_settings()
    engine = wait_until_up(database, wait_s=wait)
    event_log = wait_until_up(lambda: build_log(settings), wait_s=wait)
    typer.echo("projector running", err=True)
    run(engine, event_log, stop=stop, batch_size=batch_size, idle_pause_s=idle_pause)


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
        _report_rejected(target, log)
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


def _report_rejected(target: Engine, log: EventLog) -> None:
    """Say which log records the replay found not to be commits (it judged them and went on)."""
    replayed = projection_status(target, log)
    if replayed.rejected_records:
        typer.echo(f"{replayed.rejected_records} log record(s) are not commits; rejected where they stand:")
        typer.echo(_rejected_lines(replayed.latest_rejected, replayed.rejected_records))


def _rejected_lines(records: list[RejectedRecord], total: int) -> str:
    lines = [f"  partition {r.partition}, offset {r.offset} ({r.size} bytes): {r.reason}" for r in records]
    if total > len(records):
        lines.append(f"  … and {total - len(records)} more")
    return "\n".join(lines)


@app.command()
def status(as_json: bool = typer.Option(False, "--json", help="print JSON for scripts")) -> None:
    """How far each log partition is projected, and the log records rejected as not being commits."""
    found = projection_status(database(), build_log(load_settings()))
    emit(asdict(found), as_json, lambda _: _status_text(found))


def _status_text(found: Status) -> str:
    lines = [f"{'partition':>9}  {'projected':>12}  {'end':>12}  {'rejected':>8}"]
    lines += [f"{p.partition:>9}  {p.projected:>12}  {p.end:>12}  {p.rejected_records:>8}" for p in found.partitions]
    lines.append(f"{found.rejected_records} log record(s) rejected as not being commits")
    if found.latest_rejected:
        lines.append(_rejected_lines(found.latest_rejected, found.rejected_records))
    return "\n".join(lines)


@app.command()
def verify(
    as_json: bool = typer.Option(False, "--json", help="print JSON for scripts; keep it to anchor later runs"),
    deep: bool = typer.Option(False, "--deep", help="also replay the log into scratch tables and compare every row"),
    head: list[str] = typer.Option(
        [], "--head", help="PROJECT=VERSION:HASH, a head the chain must still pass through (repeatable)"
    ),
    heads: Path = typer.Option(None, "--heads", help="a file `annolog verify --json` wrote: its heads, as --head"),
) -> None:
    """Recompute every project's tamper-evidence chain from the log; report the first break.

    Prints each project's head (PROJECT=VERSION:HASH): keep heads outside the database and
    pass them back with --head or --heads, and a log rewritten wholesale no longer reaches
    them. --deep replays the log and names the first view row (a commit's actor, a history
    row, any view) that differs from what the log makes. Exits 1 on any of these; log
    records that are not commits are listed, and the check goes on past them.
    """
    anchors = [_anchor(text) for text in head] + (_anchors_in(heads) if heads is not None else [])
    engine, log = database(), build_log(load_settings())
    with tqdm(desc="verifying", unit=" records", disable=as_json, leave=False) as bar:
        outcome = verify_chain(engine, log, anchors=anchors, on_record=lambda: bar.update())
    difference = deep_verify(engine, log) if deep else None
    intact = outcome.first_break is None and difference is None
    result: dict[str, Any] = {"intact": intact, **asdict(outcome)}
    if deep:
        result["first_difference"] = difference and asdict(difference)
    emit(result, as_json, lambda _: _verdict(outcome, deep, difference))
    if not intact:
        raise typer.Exit(code=1)


def _anchor(text: str) -> Anchor:
    try:
        return Anchor.parse(text)
    except InvalidInputError as exc:
        raise typer.BadParameter(str(exc), param_hint="--head") from exc


def _anchors_in(path: Path) -> list[Anchor]:
    try:
        report = json.loads(path.read_text())
        return [Anchor(h["project"], int(h["version"]), h["chain"]) for h in report["heads"]]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise typer.BadParameter(
            f"{path} is not a report `annolog verify --json` wrote ({type(exc).__name__}: {exc})", param_hint="--heads"
        ) from exc


def _verdict(outcome: Verification, deep: bool, difference: Difference | None) -> str:
    found = outcome.first_break
    if found is None:
        lines = [f"chain intact: {outcome.checked} accepted commits match the log"]
    else:
        lines = [
            f"chain BROKEN after {outcome.checked} matching commits: project {found.project_id}, "
            f"version {found.version} (commit {found.commit_id}): {found.reason}"
        ]
    lines += ["heads (keep them elsewhere; check them later with --head):"] + [f"  {h}" for h in outcome.heads]
    if outcome.bad_records:
        lines.append(f"{len(outcome.bad_records)} log record(s) are not commits (rejected where they stand):")
        lines += [f"  partition {r.partition}, offset {r.offset}: {r.reason}" for r in outcome.bad_records]
    if deep:
        lines.append(_difference_text(difference))
    return "\n".join(lines)


def _difference_text(difference: Difference | None) -> str:
    if difference is None:
        return "deep check: every view row equals what a replay of the log makes"
    if difference.live is None or difference.replayed is None:
        where = "the replay" if difference.live is None else "the live views"
        return f"deep check: views DIFFER: table {difference.table}, row {difference.key} exists only in {where}"
    changes = ", ".join(
        f"{c}: live {difference.live[c]!r}, replayed {difference.replayed[c]!r}" for c in difference.columns
    )
    return f"deep check: views DIFFER: table {difference.table}, row {difference.key}: {changes}"
