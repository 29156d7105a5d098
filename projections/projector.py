"""The projector: reads commits in log order, judges each, and writes the views exactly once.

For a batch of records it opens ONE transaction that (1) locks and reads the partition's
stored offset, (2) judges the batch's commits in log order, each applied whole or
recorded as rejected with its reason, and (3) stores the next offset. A crash anywhere
loses the whole batch and nothing else; the next run starts again from the stored
offset. A ``commit_id`` already judged is skipped, so a client's retry that appended the
same commit twice is applied once.

Two paths judge with the same rules (``core.rules``) and write the same rows. The batch
path (``batch.apply_batch``) reads in sets, judges in memory and writes in bulk; it is
the default. The row path (``apply_record``) asks SQL each question and writes each row
at once, inside a savepoint per commit: it is the oracle the batch path is tested
against, and the fallback that re-judges a batch whose bulk write hit a constraint.

Nothing a record holds can stop a partition: a record that is not a valid commit is
recorded in ``rejected_records``, and a commit the judge fails on (a bug in a rule) is
rejected with the failure as its reason. Only a database outage aborts the batch, which
is then retried from the stored offset as a whole.
"""

import gc
import logging
import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any
from uuid import UUID

from sqlalchemy import Connection, Engine, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from annolog.core.rules import judge, opening
from annolog.eventlog.log import BadRecord, EventLog, LogRecord, Record
from annolog.projections import outcomes
from annolog.projections.batch import apply_batch
from annolog.projections.chain import link, previous_link
from annolog.projections.database import is_outage
from annolog.projections.notify import announce
from annolog.projections.rowstate import SqlState
from annolog.projections.tables import commits, history, log_positions, projects, rejected_records

log = logging.getLogger(__name__)


def apply_record(db: Connection, record: Record, *, stop_at: Mapping[UUID, int] | None = None) -> None:
    """Judge one record inside the caller's transaction, one SQL statement at a time:
    accepted, rejected, or a duplicate.

    ``stop_at`` leaves alone the commits of each project it names once that project has
    reached the version given (a replay up to a version).

    Raises only when the database is unreachable; then the caller's transaction is lost.
    """
    if isinstance(record, BadRecord):
        db.execute(insert(rejected_records).values(outcomes.bad_record(record)))
        return
    commit = record.commit
    if db.execute(select(commits.c.commit_id).where(commits.c.commit_id == commit.commit_id)).first():
        log.info("commit %s at %s was judged before; skipped", commit.commit_id, record.position)
        return
    found = db.execute(
        select(projects.c.name, projects.c.version).where(projects.c.project_id == commit.project_id)
    ).first()
    if (stop := (stop_at or {}).get(commit.project_id)) is not None and (found.version if found else 0) >= stop:
        return
    savepoint = db.begin_nested()
    try:
        name, version = opening(commit, None if found is None else (found.name, found.version), _name_taken(db))
        if version == 0:
            db.execute(
                insert(projects).values(project_id=commit.project_id, name=name, version=0, created_by=commit.actor)
            )
        entries = judge(commit, name, version + 1, SqlState(db, commit.project_id))
        if entries:
            db.execute(insert(history), outcomes.history(commit, version + 1, entries))
        db.execute(update(projects).where(projects.c.project_id == commit.project_id).values(version=version + 1))
    except Exception as exc:  # anything but an outage is this commit's rejection
        if is_outage(db.dialect.name, exc):  # the batch is retried whole, nothing is rejected
            raise
        savepoint.rollback()
        db.execute(insert(commits).values(outcomes.rejected(record, exc)))
        return
    savepoint.commit()
    chain = link(previous_link(db, commit.project_id, version + 1), version + 1, record.payload)
    db.execute(insert(commits).values(outcomes.accepted(record, version + 1, chain)))


def _name_taken(db: Connection) -> Callable[[str], bool]:
    return lambda name: db.execute(select(projects.c.project_id).where(projects.c.name == name)).first() is not None


def stored_offset(db: Connection, partition: int, *, lock: bool = False) -> int:
    """The next offset to project in ``partition`` (0 if it was never projected).

    With ``lock`` the position row is locked (created if missing) until the transaction
    ends, so two projectors of one partition take turns instead of both applying a batch.
    """
    query = select(log_positions.c.next_offset).where(log_positions.c.partition == partition)
    found = db.execute(query.with_for_update() if lock else query).scalar_one_or_none()
    if found is None and lock:  # two projectors may both find none: the second insert is a no-op
        first = _insert_new(db.dialect.name)(log_positions).values(partition=partition, next_offset=0)
        db.execute(first.on_conflict_do_nothing())
        found = db.execute(query.with_for_update()).scalar_one()
    return int(found or 0)


MAX_BATCH_EVENTS = 50_000
"""Events one batch holds at most (a single larger commit is a batch of its own): what bounds
the projector's memory, since bulk commits run to thousands of events each (bench.ingest's
replay of 300,000 boxes in 153 commits peaked at 1.5 GB as one batch)."""


def _events_in(record: Record) -> int:
    """What a record weighs in a batch: its events (a bad record, one)."""
    return len(record.commit.events) if isinstance(record, LogRecord) else 1


def _batch(records: Iterable[Record], until: int | None, max_events: int) -> list[Record]:
    """The records before offset ``until``, stopping once they hold ``max_events`` events."""
    taken: list[Record] = []
    events = 0
    for record in records:
        if until is not None and record.position.offset >= until:
            break
        taken.append(record)
        events += _events_in(record)
        if events >= max_events:
            break
    return taken


def _read_ahead(records: Sequence[Record], batch_size: int, max_events: int) -> int:
    """How many records to read next time: as many as fit ``max_events`` at the size of these,
    so that a log of bulk commits is not read (and decoded) again and again past each cut."""
    per_record = sum(map(_events_in, records)) / len(records)
    return max(1, min(batch_size, math.ceil(max_events / per_record)))


@contextmanager
def _without_gc_pauses() -> Iterator[None]:
    """Keep the cyclic garbage collector out of a batch.

    A batch allocates hundreds of thousands of short-lived, acyclic objects (decoded
    commits, overlay rows, COPY lines), and the collector would walk the growing heap
    again and again: 40% of a rebuild's time (bench.project, 2,000 files: 3.4 s -> 2.1 s
    without it). Collection resumes when the batch ends.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _insert_new(dialect: str) -> Any:
    """The dialect's INSERT, which can say ON CONFLICT DO NOTHING (both databases support it)."""
    return postgresql.insert if dialect == "postgresql" else sqlite.insert


class Projector:
    """Projects one log into one database; run one per partition set (see ``annolog projector``).

    ``stop_at`` leaves alone the commits of each project it names once that project has
    reached the version given: a replay up to a version.

    >>> projector = Projector(engine, log)  # doctest: +SKIP
    >>> projector.catch_up()                # doctest: +SKIP
    """

    def __init__(
        self,
        engine: Engine,
        log: EventLog,
        *,
        batch_size: int = 500,
        max_events: int = MAX_BATCH_EVENTS,
        in_sets: bool = True,
        stop_at: Mapping[UUID, int] | None = None,
    ) -> None:
        self._engine = engine
        self._log = log
        self._batch_size = batch_size
        self._max_events = max_events
        self._in_sets = in_sets
        self._stop_at = dict(stop_at or {})
        self._read_ahead: dict[int, int] = {}  # per partition: records to read, cut to what max_events lets hold

    def run_batch(self, partition: int, *, until: int | None = None) -> int:
        """Project up to ``batch_size`` new records of ``partition`` (fewer once they hold
        ``max_events`` events), none at or past the offset ``until``; how many were applied.

        Records are read before the write transaction opens (the embedded log shares the
        SQLite file, whose write lock the transaction holds); if another projector moved
        the stored offset meanwhile, this batch is dropped and 0 returned.
        """
        with _without_gc_pauses():
            return self._run_batch(partition, until)

    def _run_batch(self, partition: int, until: int | None) -> int:
        with self._engine.connect() as db:
            start = stored_offset(db, partition)
        ahead = self._read_ahead.get(partition, self._batch_size)
        limit = ahead if until is None else min(ahead, until - start)
        if limit <= 0:
            return 0
        records = _batch(self._log.read(partition, start, limit=limit), until, self._max_events)
        if not records:
            return 0
        self._read_ahead[partition] = _read_ahead(records, self._batch_size, self._max_events)
        if not self._in_sets:
            return self._apply(partition, start, records, in_sets=False)
        try:
            return self._apply(partition, start, records, in_sets=True)
        except Exception as exc:  # e.g. a constraint the judge missed: the row path names the commit
            if is_outage(self._engine.dialect.name, exc):
                raise
            log.warning(
                "judging partition %d from offset %d in one batch failed (%s: %s); "
                "judging that batch again one commit at a time",
                partition,
                start,
                type(exc).__name__,
                next(iter(str(exc).splitlines()), ""),
            )
            return self._apply(partition, start, records, in_sets=False)

    def _apply(self, partition: int, start: int, records: Sequence[Record], *, in_sets: bool) -> int:
        with self._engine.begin() as db:
            if stored_offset(db, partition, lock=True) != start:
                return 0
            if in_sets:
                apply_batch(db, records, stop_at=self._stop_at)
            else:
                for record in records:
                    apply_record(db, record, stop_at=self._stop_at)
            db.execute(
                update(log_positions)
                .where(log_positions.c.partition == partition)
                .values(next_offset=records[-1].position.offset + 1)
            )
            announce(db, {r.commit.project_id for r in records if isinstance(r, LogRecord)})
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
