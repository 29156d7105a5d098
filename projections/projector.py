"""The projector: reads commits in log order, judges each, and writes the views exactly once.

For a batch of records it opens ONE transaction that (1) locks and reads the partition's
stored offset, (2) judges each commit inside a savepoint — applied whole, or rolled back
and recorded as rejected with its reason — and (3) stores the next offset. A crash
anywhere loses the whole batch and nothing else; the next run starts again from the
stored offset. A ``commit_id`` already judged is skipped, so a client's retry that
appended the same commit twice is applied once.

Nothing a record holds can stop a partition: a record that is not a valid commit is
recorded in ``rejected_records``, and a commit the judge fails on (a bug in a rule) is
rejected with the failure as its reason. Only a database outage aborts the batch, which
is then retried from the stored offset as a whole.
"""

import hashlib
import json
import logging
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import Connection, Engine, insert, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError

from annolog.core.commit import Commit
from annolog.core.errors import (
    AnnologError,
    ConflictError,
    InvalidInputError,
    JudgeFailed,
    NotFoundError,
)
from annolog.core.events import ProjectCreated
from annolog.eventlog.log import BadRecord, EventLog, LogRecord, Record
from annolog.projections.chain import link, previous_link
from annolog.projections.database import is_outage
from annolog.projections.judge import judge
from annolog.projections.judgement import Judgement
from annolog.projections.notify import announce
from annolog.projections.tables import commits, log_positions, projects, rejected_records

log = logging.getLogger(__name__)


def _opening(db: Connection, commit: Commit) -> tuple[str, int]:
    """The project's name and current version, creating the project row for ProjectCreated."""
    found = db.execute(
        select(projects.c.name, projects.c.version).where(projects.c.project_id == commit.project_id)
    ).first()
    first = commit.events[0]
    if not isinstance(first, ProjectCreated):
        if found is None:
            raise NotFoundError(f"project {commit.project_id} does not exist")
        if any(isinstance(e, ProjectCreated) for e in commit.events):
            raise InvalidInputError("ProjectCreated must be the first event of its commit")
        return found.name, found.version
    if found is not None:
        raise ConflictError(f"project {found.name!r} already exists")
    if first.project_id != commit.project_id:
        raise InvalidInputError(f"ProjectCreated is for {first.project_id} but the commit is for {commit.project_id}")
    if db.execute(select(projects.c.project_id).where(projects.c.name == first.name)).first():
        raise ConflictError(f"a project named {first.name!r} already exists")
    db.execute(
        insert(projects).values(project_id=commit.project_id, name=first.name, version=0, created_by=commit.actor)
    )
    return first.name, 0


_CREATED_ID = {
    "DirectoryCreated": "directory_id",
    "FileAdded": "file_id",
    "FileCopied": "file_id",
    "InstanceAdded": "instance_id",
}
"""The id of the thing each creating event makes: fresh on every attempt unless the client chose it."""


def commit_digest(commit: Commit) -> str:
    """sha256 of what ``commit`` says: its project, actor, command and events, not its time,
    and up to the ids of what it creates.

    Stored with the outcome, it tells a retry (same digest: the first outcome stands) from
    a commit id re-sent with other contents (a conflict the service reports). A retry may
    carry fresh ids for what it creates (the server fills in omitted ids; a bulk import makes
    new ones on each run), so each created id — and every reference to it in the commit —
    counts as "the k-th thing this commit creates".
    """
    said = commit.model_dump(mode="json", include={"project_id", "actor", "command", "events"})
    created: dict[str, str] = {}
    for event in said["events"]:
        if (field := _CREATED_ID.get(event["type"])) is not None:
            created.setdefault(event[field], f"created-{len(created)}")
    text = json.dumps(said, sort_keys=True, separators=(",", ":"))
    for real, ordinal in created.items():  # 36-character UUIDs: no other text can match one
        text = text.replace(f'"{real}"', f'"{ordinal}"')
    return hashlib.sha256(text.encode()).hexdigest()


def _outcome(record: LogRecord, **outcome: Any) -> dict[str, Any]:
    commit = record.commit
    return {
        "commit_id": commit.commit_id,
        "project_id": commit.project_id,
        "partition": record.position.partition,
        "offset": record.position.offset,
        "actor": commit.actor,
        "time": commit.time,
        "command": commit.command,
        "digest": commit_digest(commit),
        **outcome,
    }


def _rejection(record: LogRecord, exc: Exception) -> dict[str, Any]:
    """The outcome row of a commit the judge refused, or failed on."""
    if isinstance(exc, AnnologError):
        return _outcome(record, accepted=False, error=type(exc).__name__, reason=str(exc))
    if isinstance(exc, IntegrityError):  # a rule the judge missed; the database's constraint caught it
        return _outcome(
            record, accepted=False, error=ConflictError.__name__, reason=f"conflicts with stored data: {exc.orig}"
        )
    log.exception("the judge failed on commit %s at %s; it is rejected", record.commit.commit_id, record.position)
    # A driver error's text carries the statement and its parameters: the log has them, the reason only the cause.
    cause = exc.orig if isinstance(exc, DBAPIError) else exc
    first_line = next(iter(str(cause).splitlines()), "")
    reason = f"the judge failed on this commit ({type(cause).__name__}: {first_line}); rejected so the log goes on"
    return _outcome(record, accepted=False, error=JudgeFailed.__name__, reason=reason)


def _reject_bad_record(db: Connection, record: BadRecord) -> None:
    log.error(
        "log record at partition %d, offset %d is not a valid commit and is rejected: %s",
        record.position.partition,
        record.position.offset,
        record.reason,
    )
    db.execute(
        insert(rejected_records).values(
            partition=record.position.partition,
            offset=record.position.offset,
            payload_sha256=hashlib.sha256(record.payload).hexdigest(),
            size=len(record.payload),
            reason=record.reason,
        )
    )


def apply_record(db: Connection, record: Record) -> None:
    """Judge one record inside the caller's transaction: accepted, rejected, or a duplicate.

    Raises only when the database is unreachable; then the caller's transaction is lost.
    """
    if isinstance(record, BadRecord):
        _reject_bad_record(db, record)
        return
    commit = record.commit
    if db.execute(select(commits.c.commit_id).where(commits.c.commit_id == commit.commit_id)).first():
        log.info("commit %s at %s was judged before; skipped", commit.commit_id, record.position)
        return
    savepoint = db.begin_nested()
    try:
        name, version = _opening(db, commit)
        judge(Judgement(db, commit, name, version + 1))
    except Exception as exc:  # anything but an outage is this commit's rejection
        if is_outage(db.dialect.name, exc):  # the batch is retried whole, nothing is rejected
            raise
        savepoint.rollback()
        db.execute(insert(commits).values(_rejection(record, exc)))
        return
    savepoint.commit()
    chain = link(previous_link(db, commit.project_id, version + 1), version + 1, record.payload)
    db.execute(insert(commits).values(_outcome(record, accepted=True, version=version + 1, chain=chain)))


def stored_offset(db: Connection, partition: int, *, lock: bool = False) -> int:
    """The next offset to project in ``partition`` (0 if it was never projected).

    With ``lock`` the position row is locked (created if missing) until the transaction
    ends, so two projectors of one partition take turns instead of both applying a batch.
    """
    query = select(log_positions.c.next_offset).where(log_positions.c.partition == partition)
    found = db.execute(query.with_for_update() if lock else query).scalar_one_or_none()
    if found is None and lock:
        db.execute(insert(log_positions).values(partition=partition, next_offset=0))
    return int(found or 0)


class Projector:
    """Projects one log into one database; run one per partition set (see ``annolog projector``).

    >>> projector = Projector(engine, log)  # doctest: +SKIP
    >>> projector.catch_up()                # doctest: +SKIP
    """

    def __init__(self, engine: Engine, log: EventLog, *, batch_size: int = 500) -> None:
        self._engine = engine
        self._log = log
        self._batch_size = batch_size

    def run_batch(self, partition: int, *, until: int | None = None) -> int:
        """Project up to ``batch_size`` new records of ``partition``, none at or past the offset
        ``until``; how many were applied.

        Records are read before the write transaction opens (the embedded log shares the
        SQLite file, whose write lock the transaction holds); if another projector moved
        the stored offset meanwhile, this batch is dropped and 0 returned.
        """
        with self._engine.connect() as db:
            start = stored_offset(db, partition)
        limit = self._batch_size if until is None else min(self._batch_size, until - start)
        if limit <= 0:
            return 0
        read = self._log.read(partition, start, limit=limit)
        records = [r for r in read if until is None or r.position.offset < until]
        if not records:
            return 0
        with self._engine.begin() as db:
            if stored_offset(db, partition, lock=True) != start:
                return 0
            for record in records:
                apply_record(db, record)
            db.execute(
                update(log_positions)
                .where(log_positions.c.partition == partition)
                .values(next_offset=records[-1].position.offset + 1)
            )
            announce(db)
        return len(records)

    def catch_up(self, partitions: Iterable[int] | None = None, *, until: Mapping[int, int] | None = None) -> int:
        """Project everything appended so far; the number of records projected.

        ``until`` gives each partition an offset to stop before, and leaves a partition it
        does not name alone: a replay that must end where another projection stands.
        """
        total = 0
        for partition in partitions if partitions is not None else range(self._log.partitions):
            stop = None if until is None else until.get(partition, 0)
            while (count := self.run_batch(partition, until=stop)) > 0:
                total += count
        return total
