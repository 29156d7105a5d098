"""Tamper evidence: a hash chain over each project's accepted commits.

Each accepted commit stores ``sha256(previous chain ‖ version ‖ sha256(record bytes))``,
the record bytes being exactly what the log holds. Changing, dropping or reordering any
accepted record — or editing a stored hash — breaks every link from there on, and
``verify`` (``annolog verify``) recomputes the chain from the log to find the first break.

Someone who can rewrite the log and the views together can forge a chain consistent with
itself; what they cannot forge is a head kept elsewhere. So ``verify`` reports each
project's head, and checks the chain still passes through heads (``Anchor``) kept earlier.
"""

import hashlib
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from sqlalchemy import Connection, Engine, select

from annolog.core.errors import InvalidInputError
from annolog.core.events import ProjectCreated
from annolog.eventlog.log import BadRecord, EventLog, Record
from annolog.projections.tables import commits

GENESIS = "0" * 64
"""The "previous hash" of a project's first commit."""

_ANCHOR = re.compile(r"(?P<project>.+)=(?P<version>[0-9]{1,10}):(?P<chain>[0-9a-f]{64})")  # not \d: it takes '¹'


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
    """Where the chain stops matching, and why (``project_id`` is None for an anchor naming
    a project the log never created)."""

    project_id: UUID | None
    version: int
    commit_id: UUID | None
    reason: str


@dataclass(frozen=True)
class Head:
    """The last accepted commit of a project as the log's chain computes it: worth keeping
    outside the database (``Anchor``), since whoever can rewrite both log and views can
    make a chain that is consistent with itself, but not one that reaches a kept head."""

    project_id: UUID
    project: str
    version: int
    chain: str

    def __str__(self) -> str:
        return f"{self.project}={self.version}:{self.chain}"


@dataclass(frozen=True)
class Anchor:
    """A head kept from an earlier ``verify``: the project's chain must pass through it.

    >>> Anchor.parse("cars=12:" + "ab" * 32).version
    12
    """

    project: str
    version: int
    chain: str

    @classmethod
    def parse(cls, text: str) -> "Anchor":
        """``<project>=<version>:<chain hash>``, as ``verify`` prints each head."""
        found = _ANCHOR.fullmatch(text)
        if found is None:
            raise InvalidInputError(
                f"head {text!r} is not <project>=<version>:<chain hash> (64 hex digits), e.g. cars=12:{GENESIS}"
            )
        return cls(found["project"], int(found["version"]), found["chain"])


@dataclass(frozen=True)
class SkippedRecord:
    """A log record that is not a valid commit: reported by ``verify``, which goes on."""

    partition: int
    offset: int
    reason: str


@dataclass(frozen=True)
class Verification:
    """The outcome of ``verify``: how many accepted commits matched, the first break, each
    project's head as far as it matched, and the log records that are not commits."""

    checked: int
    first_break: Break | None
    heads: list[Head]
    bad_records: list[SkippedRecord]


@dataclass
class _Head:
    version: int = 0
    chain: str = GENESIS


class _Walk:
    """One pass over the log: each project's chain recomputed and held against the stored
    hashes and the anchors, stopping at the first break."""

    def __init__(self, stored: dict[UUID, Any], anchors: Sequence[Anchor]) -> None:
        self.stored = stored
        self.anchors = {(a.project, a.version): a for a in anchors}
        self.names: dict[UUID, str] = {}
        self.heads: dict[UUID, _Head] = {}
        self.bad_records: list[SkippedRecord] = []
        self.checked = 0

    def step(self, record: Record) -> Break | None:
        if isinstance(record, BadRecord):
            self.bad_records.append(SkippedRecord(record.position.partition, record.position.offset, record.reason))
            return None
        row = self.stored.pop(record.commit.commit_id, None)
        if row is None:
            return None  # rejected, a duplicate append, or not projected yet
        first = record.commit.events[0]
        if isinstance(first, ProjectCreated):
            self.names[row.project_id] = first.name
        head = self.heads.setdefault(row.project_id, _Head())
        if row.version != head.version + 1:
            reason = f"the log holds version {row.version} right after version {head.version}"
            return Break(row.project_id, head.version + 1, row.commit_id, reason)
        head.version, head.chain = row.version, link(head.chain, row.version, record.payload)
        if head.chain != row.chain:
            reason = f"the stored hash is {row.chain}, the log's record hashes to {head.chain}"
            return Break(row.project_id, row.version, row.commit_id, reason)
        self.checked += 1
        return self._anchored(row.project_id, row.commit_id, head)

    def _anchored(self, project_id: UUID, commit_id: UUID, head: _Head) -> Break | None:
        anchor = self.anchors.pop((self.names.get(project_id, str(project_id)), head.version), None)
        if anchor is None or anchor.chain == head.chain:
            return None
        reason = f"the anchored head is {anchor.chain}, the log's chain reaches {head.chain} at this version"
        return Break(project_id, head.version, commit_id, reason)

    def end(self) -> Break | None:
        """A break found only once the whole log was read: views or anchors the log never reached."""
        if self.stored:
            lost = min(self.stored.values(), key=lambda r: r.version)
            reason = "the views hold this accepted commit but the log does not"
            return Break(lost.project_id, lost.version, lost.commit_id, reason)
        for anchor in sorted(self.anchors.values(), key=lambda a: (a.project, a.version)):
            ids = [pid for pid, name in self.names.items() if name == anchor.project]
            reached = self.heads[ids[0]].version if ids else 0
            reason = (
                f"the anchored head {anchor.project}={anchor.version}:{anchor.chain} is never reached: "
                f"the log's chain of {anchor.project!r} ends at version {reached}"
            )
            return Break(ids[0] if ids else None, anchor.version, None, reason)
        return None

    def outcome(self, found: Break | None) -> Verification:
        heads = [
            Head(project_id, self.names.get(project_id, str(project_id)), head.version, head.chain)
            for project_id, head in self.heads.items()
        ]
        return Verification(self.checked, found, sorted(heads, key=lambda h: h.project), self.bad_records)


def _records(log: EventLog) -> Iterator[Record]:
    for partition in range(log.partitions):
        yield from log.read(partition, 0)


def verify(
    engine: Engine,
    log: EventLog,
    *,
    anchors: Sequence[Anchor] = (),
    on_record: Callable[[], object] = lambda: None,
) -> Verification:
    """Recompute every project's chain from the log and compare it with the stored hashes
    and with ``anchors`` (heads kept from an earlier run, which the chain must pass through).

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
    walk = _Walk(stored, anchors)
    for record in _records(log):
        on_record()
        if (found := walk.step(record)) is not None:
            return walk.outcome(found)
    return walk.outcome(walk.end())
