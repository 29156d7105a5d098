"""Where the projection stands: each partition's projected offset against the log's end,
and the log records judged rejected because they are not commits (what operators watch)."""

from dataclasses import dataclass

from sqlalchemy import Connection, Engine, func, select

from annolog.eventlog.log import EventLog
from annolog.projections.tables import log_positions, rejected_records

LATEST = 10
"""How many rejected records a status lists (those at the highest offsets)."""


@dataclass(frozen=True)
class PartitionStatus:
    """One partition: the next offset to project, the log's end, and its rejected records."""

    partition: int
    projected: int
    end: int
    rejected_records: int


@dataclass(frozen=True)
class RejectedRecord:
    """A log record that is not a commit, where it is and why it was rejected."""

    partition: int
    offset: int
    payload_sha256: str
    size: int
    reason: str


@dataclass(frozen=True)
class Status:
    partitions: list[PartitionStatus]
    rejected_records: int
    latest_rejected: list[RejectedRecord]


def rejected_count(db: Connection) -> int:
    """How many log records were rejected as not being commits, in every partition."""
    return int(db.execute(select(func.count()).select_from(rejected_records)).scalar_one())


def projection_status(engine: Engine, log: EventLog) -> Status:
    """Each partition's projected offset and end, and the rejected records with the highest
    offsets (the latest of each partition; offsets of different partitions do not compare)."""
    with engine.connect() as db:
        positions = db.execute(select(log_positions.c.partition, log_positions.c.next_offset))
        projected = {row.partition: row.next_offset for row in positions}
        counts = db.execute(
            select(rejected_records.c.partition, func.count().label("n")).group_by(rejected_records.c.partition)
        )
        per_partition = {row.partition: row.n for row in counts}
        latest = db.execute(
            select(rejected_records)
            .order_by(rejected_records.c.offset.desc(), rejected_records.c.partition)
            .limit(LATEST)
        )
        rejected = [RejectedRecord(**row._mapping) for row in latest]
    partitions = [
        PartitionStatus(p, int(projected.get(p, 0)), log.end(p), int(per_partition.get(p, 0)))
        for p in range(log.partitions)
    ]
    return Status(partitions, sum(p.rejected_records for p in partitions), rejected)
