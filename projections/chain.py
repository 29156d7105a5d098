"""Tamper evidence: a hash chain over each project's accepted commits.

Each accepted commit stores ``sha256(previous chain ‖ version ‖ sha256(record bytes))``,
the record bytes being exactly what the log holds. Changing, dropping or reordering any
accepted record — or editing a stored hash — breaks every link from there on, and
``verify`` (``annolog verify``) recomputes the chain from the log to find the first break.
"""

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from uuid import UUID

from sqlalchemy import Connection, Engine, select

from eventlog.log import EventLog, LogRecord
from projections.tables import commits

GENESIS = "0" * 64
"""The "previous hash" of a project's first commit."""


def link(previous: str, version: int, payload: bytes) -> str:
    """The chain hash of the accepted commit that made ``version`` from the log bytes ``payload``."""
    digest = hashlib.sha256(bytes.fromhex(previous))
    digest.update(version.to_bytes(8, "big"))
    digest.update(hashlib.sha256(payload).digest())
    return digest.hexdigest()


def previous_link(db: Connection, project_id: UUID, version: int) -> str:
    """The chain hash of the commit that made ``version - 1`` (GENESIS before the first)."""
    if version == 1:
        return GENESIS
    found = db.execute(
        select(commits.c.chain).where(commits.c.project_id == project_id, commits.c.version == version - 1)
    ).scalar_one()
    return str(found)


@dataclass(frozen=True)
class Break:
    """Where the chain stops matching, and why."""

    project_id: UUID
    version: int
    commit_id: UUID | None
    reason: str


@dataclass(frozen=True)
class Verification:
    """The outcome of ``verify``: how many accepted commits matched, and the first break."""

    checked: int
    first_break: Break | None


@dataclass
class _Head:
    version: int = 0
    chain: str = GENESIS


def _records(log: EventLog) -> Iterator[LogRecord]:
    for partition in range(log.partitions):
        yield from log.read(partition, 0)


def verify(engine: Engine, log: EventLog, *, on_record: Callable[[], object] = lambda: None) -> Verification:
    """Recompute every project's chain from the log and compare it with the stored hashes.

    ``on_record`` is called for each log record read (a progress bar's tick)."""
    with engine.connect() as db:
        stored = {
            row.commit_id: row
            for row in db.execute(
                select(commits.c.commit_id, commits.c.project_id, commits.c.version, commits.c.chain).where(
                    commits.c.accepted
                )
            )
        }
    heads: dict[UUID, _Head] = {}
    checked = 0
    for record in _records(log):
        on_record()
        row = stored.pop(record.commit.commit_id, None)
        if row is None:
            continue  # rejected, a duplicate append, or not projected yet
        head = heads.setdefault(row.project_id, _Head())
        if row.version != head.version + 1:
            reason = f"the log holds version {row.version} right after version {head.version}"
            return Verification(checked, Break(row.project_id, head.version + 1, row.commit_id, reason))
        head.version, head.chain = row.version, link(head.chain, row.version, record.payload)
        if head.chain != row.chain:
            reason = f"the stored hash is {row.chain}, the log's record hashes to {head.chain}"
            return Verification(checked, Break(row.project_id, row.version, row.commit_id, reason))
        checked += 1
    if stored:
        lost = min(stored.values(), key=lambda r: r.version)
        reason = "the views hold this accepted commit but the log does not"
        return Verification(checked, Break(lost.project_id, lost.version, lost.commit_id, reason))
    return Verification(checked, None)
