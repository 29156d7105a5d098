"""SqlLog: the embedded event log, an append-only table in the embedded SQLite file.

One partition, whose offsets are the table's AUTOINCREMENT keys: SQLite has one writer
at a time, so a key is visible only after every smaller key is, and a reader that
resumes from a stored offset never skips a record. (That is not true of a PostgreSQL
sequence under concurrent writers, which is why the server stack uses Kafka instead.)

An idle reader ``wait``s on the log instead of polling it: an append in this process
wakes it at once (every ``SqlLog`` on one file shares an ``_Appends`` signal); an append
by another process on the same file, which SQLite cannot signal, is seen by a recheck of
the largest offset every ``_RECHECK_S`` seconds, one indexed query.
"""

import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from uuid import UUID

from sqlalchemy import (
    Column,
    Engine,
    Integer,
    LargeBinary,
    MetaData,
    Table,
    Uuid,
    create_engine,
    event,
    func,
    insert,
    select,
)
from sqlalchemy.exc import OperationalError

from annolog.core.commit import Commit
from annolog.core.errors import LogUnavailable
from annolog.eventlog.codec import CommitCodec
from annolog.eventlog.log import DEFAULT_MAX_COMMIT_BYTES, Position, Record, check_size, decode_record

_PAGE = 500  # records fetched per query while reading: bounded memory on long replays
_RECHECK_S = 0.5
"""How late a waiter may see an append made by another process on the same file."""

metadata = MetaData()
log_records = Table(
    "log_records",
    metadata,
    Column("position", Integer, primary_key=True),
    Column("project_id", Uuid, nullable=False),
    Column("commit_id", Uuid, nullable=False),
    Column("payload", LargeBinary, nullable=False),
    sqlite_autoincrement=True,  # never reuse an offset, even after the last row is deleted
)


def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    # pysqlite's own transaction handling breaks SAVEPOINT; let SQLAlchemy emit BEGIN.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    # WAL lets readers (projector, SDK reads) run while a writer appends.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def open_sqlite(path: Path, *, busy_timeout_s: float = 10.0, read_only: bool = False) -> Engine:
    """An engine on the embedded SQLite file at ``path`` (created with its directory).

    Writers wait up to ``busy_timeout_s`` for the file's lock before giving up. A
    ``read_only`` engine (training workers) never takes the write lock, so many readers
    run beside the writer.
    """
    if read_only:
        engine = create_engine(f"sqlite:///file:{path}?mode=ro&uri=true", connect_args={"timeout": busy_timeout_s})
        event.listen(engine, "connect", _configure_sqlite)
        return engine
    path.parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(f"sqlite:///{path}", connect_args={"timeout": busy_timeout_s})
    event.listen(engine, "connect", _configure_sqlite)
    event.listen(engine, "begin", _begin_immediate)
    return engine


def _begin_immediate(connection: Any) -> None:
    # Take the write lock up front: a deferred transaction that reads, then writes, fails
    # at once (busy timeout or not) when another writer committed in between.
    connection.exec_driver_sql("BEGIN IMMEDIATE")


class _Appends:
    """A count of the appends to one log file made in this process, that waiters sleep on."""

    _by_file: dict[str, "_Appends"] = {}
    _registry_lock = threading.Lock()

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._count = 0

    @classmethod
    def to(cls, engine: Engine) -> "_Appends":
        """The signal every ``SqlLog`` of this process on ``engine``'s file shares."""
        with cls._registry_lock:
            return cls._by_file.setdefault(str(engine.url.database), cls())

    @property
    def count(self) -> int:
        with self._changed:
            return self._count

    def announce(self) -> None:
        with self._changed:
            self._count += 1
            self._changed.notify_all()

    def sleep(self, seen: int, timeout_s: float) -> None:
        """Until an append after the one that made the count ``seen``, or ``timeout_s``."""
        with self._changed:
            self._changed.wait_for(lambda: self._count != seen, timeout_s)


class SqlLog:
    """The ``EventLog`` of the embedded default (see ``eventlog.log.EventLog``)."""

    partitions = 1

    def __init__(
        self,
        engine: Engine,
        *,
        codec: CommitCodec | None = None,
        max_commit_bytes: int = DEFAULT_MAX_COMMIT_BYTES,
    ) -> None:
        self._engine = engine
        self._codec = codec or CommitCodec.default()
        self._max_commit_bytes = max_commit_bytes
        self._appends = _Appends.to(engine)
        with self._errors_mapped("create the log table"):
            metadata.create_all(engine)

    def partition_of(self, project_id: UUID) -> int:
        return 0

    def append(self, commit: Commit) -> Position:
        return self.append_many([commit])[0]

    def append_many(self, commits: Sequence[Commit]) -> list[Position]:
        """Append ``commits`` in one transaction: all of them are in the log, or none."""
        rows = [self._row(commit) for commit in commits]
        with self._errors_mapped(f"append {len(rows)} commit(s) (none was written)"), self._engine.begin() as db:
            append = insert(log_records).returning(log_records.c.position)
            offsets = [db.execute(append.values(row)).scalar_one() for row in rows]
        self._appends.announce()  # once committed: a woken reader finds the records
        return [Position(0, offset) for offset in offsets]

    def read(self, partition: int, start: int, *, limit: int | None = None) -> Iterator[Record]:
        stop = self.end(partition)
        remaining = limit if limit is not None else stop
        while start < stop and remaining > 0:
            page = self._page(start, stop, min(_PAGE, remaining))
            for offset, payload in page:
                yield decode_record(self._codec, Position(0, offset), payload)
            if not page:
                return
            start, remaining = page[-1][0] + 1, remaining - len(page)

    def end(self, partition: int) -> int:
        return (self._last_offset() or 0) + 1

    def wait(self, positions: Mapping[int, int], timeout_s: float) -> frozenset[int]:
        deadline = time.monotonic() + timeout_s
        while True:
            seen = self._appends.count  # taken before the check: an append after it wakes the sleep
            last = self._last_offset()  # None while empty: offsets start at 1, so end() alone cannot say
            if 0 in positions and last is not None and last >= positions[0]:
                return frozenset({0})
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return frozenset()
            self._appends.sleep(seen, min(remaining, _RECHECK_S))

    def check(self) -> None:
        self.end(0)

    def close(self) -> None:
        self._engine.dispose()

    def _last_offset(self) -> int | None:
        with self._errors_mapped("find the end of the log"), self._engine.connect() as db:
            last = db.execute(select(func.max(log_records.c.position))).scalar_one()
        return None if last is None else int(last)

    def _row(self, commit: Commit) -> dict[str, Any]:
        payload = self._codec.encode(commit)
        check_size(payload, commit, self._max_commit_bytes)
        return {"project_id": commit.project_id, "commit_id": commit.commit_id, "payload": payload}

    def _page(self, start: int, stop: int, size: int) -> list[tuple[int, bytes]]:
        query = (
            select(log_records.c.position, log_records.c.payload)
            .where(log_records.c.position >= start, log_records.c.position < stop)
            .order_by(log_records.c.position)
            .limit(size)
        )
        with self._errors_mapped(f"read the log from offset {start}"), self._engine.connect() as db:
            return [(row.position, row.payload) for row in db.execute(query)]

    @contextmanager
    def _errors_mapped(self, action: str) -> Iterator[None]:
        """SQLite's "database is locked" / "unable to open" become ``LogUnavailable``."""
        try:
            yield
        except OperationalError as exc:
            raise LogUnavailable(
                f"could not {action} in the embedded log {self._engine.url.database}: {exc.orig}"
            ) from exc
