"""Commands that run or check the projection on the stack itself: projector, status, replay.

They open the log and the views' database directly, so with ANNOLOG_SERVER_URL set they
refuse (`stack_settings`) instead of acting on an empty local data directory.
"""

from dataclasses import asdict
from typing import TYPE_CHECKING, Annotated, Any

import typer

from annolog.api.cli.app import JsonOption, app, database, emit, stack_settings

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from annolog.eventlog.log import EventLog
    from annolog.projections.status import Status


@app.command()
def projector(
    batch_size: Annotated[int, typer.Option(help="commits judged per database transaction")] = 500,
    wait: Annotated[float, typer.Option(help="seconds to wait at start for Kafka and the database to be up")] = 120,
) -> None:
    """Project the log into the views until stopped (SIGTERM/SIGINT finish the current batch).

    Positions live in the database, in the same transaction as the rows, so a projector
    that crashed resumes exactly where it stopped. Several may run: on PostgreSQL they
    split the partitions between them, and take over a stopped one's within seconds.
    An idle projector waits on the log, it does not poll. Outages of Kafka or the
    database pause it (one warning each) until they are over.
    """
    import signal
    import threading

    from annolog.api.bootstrap import build_log, wait_until_up
    from annolog.projections.daemon import run

    settings = stack_settings("projector")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda _signal, _frame: stop.set())
    signal.signal(signal.SIGINT, lambda _signal, _frame: stop.set())
    engine = wait_until_up(lambda: database(settings), wait_s=wait)
    event_log = wait_until_up(lambda: build_log(settings), wait_s=wait)
    typer.echo("projector running", err=True)
    run(engine, event_log, stop=stop, batch_size=batch_size)


@app.command(name="replay")
def replay_command(
    project: Annotated[
        str | None, typer.Option("--project", "-p", help="with --version: replay this project only up to it")
    ] = None,
    version: Annotated[int | None, typer.Option(help="the version to replay up to (needs --project)")] = None,
    keep: Annotated[bool, typer.Option(help="keep the rebuilt tables for inspection")] = False,
    as_json: JsonOption = False,
) -> None:
    """Rebuild the views from the first log record into fresh tables and compare checksums.

    The whole log is replayed as far as the live views have projected it, and compared with
    them as they were then (a projector may go on running). With --project and --version the
    project is replayed up to that version and compared with the live views read as of it.
    Exits 1 when a table differs.
    """
    from annolog.api.bootstrap import build_log
    from annolog.projections.replay import drop_database, fresh_database

    if (project is None) != (version is None):
        raise typer.BadParameter("--project and --version go together")
    settings = stack_settings("replay")
    live, log = database(settings), build_log(settings)
    target = fresh_database(live)
    try:
        report = _replayed(live, target, log, project, version)
    finally:
        if not keep:
            drop_database(target)
    emit(report, as_json, _replay_text)
    if not report["equal"]:
        raise typer.Exit(code=1)


def _replayed(
    live: "Engine", target: "Engine", log: "EventLog", project: str | None, version: int | None
) -> dict[str, Any]:
    """Replay into ``target`` (all of it, or ``project`` up to ``version``) and compare with ``live``."""
    from annolog.projections.deep import projected_snapshot
    from annolog.projections.queries import project_named
    from annolog.projections.replay import checksums, checksums_in, replay, replay_until, snapshot_checksums
    from annolog.projections.status import projection_status

    records = None
    if project is None or version is None:
        with projected_snapshot(live) as (db, until):
            records = replay(log, target, until=until)
            ours, theirs = checksums_in(db), checksums(target)
    else:
        with live.connect() as db:
            project_id = project_named(db, project).project_id
        replay_until(log, target, project_id, version)
        ours, theirs = snapshot_checksums(live, project_id, version), snapshot_checksums(target, project_id, version)
    replayed = projection_status(target, log)
    return {
        "project": project,
        "version": version,
        "replayed_records": records,
        "equal": ours == theirs,
        "tables": {t: {"live": d, "replayed": theirs[t], "equal": theirs[t] == d} for t, d in ours.items()},
        "rejected_records": replayed.rejected_records,
        "latest_rejected": [asdict(r) for r in replayed.latest_rejected],
    }


def _replay_text(report: dict[str, Any]) -> str:
    if report["project"] is None:
        lines = [f"replayed {report['replayed_records']} log records"]
    else:
        lines = [f"replayed project {report['project']!r} up to version {report['version']}"]
    if report["rejected_records"]:
        lines.append(f"{report['rejected_records']} log record(s) are not commits; rejected where they stand:")
        lines.append(_rejected_lines(report["latest_rejected"], report["rejected_records"]))
    lines += [
        f"  {table:<14} {d['live'][:16]}  {d['replayed'][:16]}  {'equal' if d['equal'] else 'DIFFERENT'}"
        for table, d in report["tables"].items()
    ]
    return "\n".join(lines)


def _rejected_lines(records: "list[dict[str, Any]]", total: int) -> str:
    lines = [f"  partition {r['partition']}, offset {r['offset']} ({r['size']} bytes): {r['reason']}" for r in records]
    if total > len(records):
        lines.append(f"  … and {total - len(records)} more")
    return "\n".join(lines)


@app.command()
def status(as_json: JsonOption = False) -> None:
    """How far each log partition is projected, and the log records rejected as not being commits."""
    from annolog.api.bootstrap import build_log
    from annolog.projections.status import projection_status

    settings = stack_settings("status")
    found = projection_status(database(settings), build_log(settings))
    emit(asdict(found), as_json, lambda _: _status_text(found))


def _status_text(found: "Status") -> str:
    lines = [f"{'partition':>9}  {'projected':>12}  {'end':>12}  {'rejected':>8}"]
    lines += [f"{p.partition:>9}  {p.projected:>12}  {p.end:>12}  {p.rejected_records:>8}" for p in found.partitions]
    lines.append(f"{found.rejected_records} log record(s) rejected as not being commits")
    if found.latest_rejected:
        lines.append(_rejected_lines([asdict(r) for r in found.latest_rejected], found.rejected_records))
    return "\n".join(lines)
