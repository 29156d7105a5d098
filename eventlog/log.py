"""The port every event log implements: append a commit, read in order from a position."""

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol
from uuid import UUID

from annolog.core.commit import Commit
from annolog.core.errors import CommitTooLarge, UndecodableRecord
from annolog.eventlog.codec import CommitCodec

DEFAULT_MAX_COMMIT_BYTES = 16 * 1024 * 1024
"""Largest encoded commit either log accepts, so that both refuse the same commits.
Bulk imports split their work into commits below it."""


@dataclass(frozen=True, order=True)
class Position:
    """Where a record is: its partition and its offset there (offsets only grow)."""

    partition: int
    offset: int


@dataclass(frozen=True)
class LogRecord:
    """A commit where it is in the log, with the exact bytes stored (what the audit chain hashes)."""

    position: Position
    commit: Commit
    payload: bytes


@dataclass(frozen=True)
class BadRecord:
    """A record at ``position`` that is not a valid, authentic commit, and why.

    The projector judges it rejected where it stands (a replay decides the same) and
    goes on: one bad record never stalls its partition.
    """

    position: Position
    payload: bytes
    reason: str


Record = LogRecord | BadRecord
"""What reading a log yields at each position: a commit, or a record that is not one."""

_MAX_REASON_CHARS = 1000  # a hostile record can make a decoder's message as long as itself


class EventLog(Protocol):
    """An append-only, ordered log of commits, split into partitions by project.

    All commits of one project go to one partition, in append order; that order is the
    order the projector judges them in. Offsets are opaque, increasing integers: read
    from ``0`` for everything, from a stored offset to resume, from ``end()`` for nothing.
    """

    @property
    def partitions(self) -> int:
        """How many partitions the log has (fixed for its lifetime)."""
        ...

    def partition_of(self, project_id: UUID) -> int:
        """The partition that holds every commit of ``project_id``."""
        ...

    def append(self, commit: Commit) -> Position:
        """Durably append one commit as one record; its position once acknowledged.

        Raises ``LogUnavailable`` when the log cannot be reached and ``CommitTooLarge``
        when the encoded commit is over the size limit; in both cases nothing was written.
        """
        ...

    def append_many(self, commits: Sequence[Commit]) -> list[Position]:
        """Append several commits, pipelined; positions in the same order as ``commits``."""
        ...

    def read(self, partition: int, start: int, *, limit: int | None = None) -> Iterator[Record]:
        """Records of ``partition`` from offset ``start`` to the end as it was when called.

        A record that is not a valid commit is yielded as a ``BadRecord`` where it stands,
        never raised: the reader decides what to do with it and goes on.
        """
        ...

    def end(self, partition: int) -> int:
        """An offset no record of ``partition`` has yet: reading from it yields nothing."""
        ...

    def wait(self, positions: Mapping[int, int], timeout_s: float) -> frozenset[int]:
        """Block until a partition of ``positions`` has a record at or past the offset given
        for it, or until ``timeout_s`` passes; at once when one is there already. Returns the
        partitions found with such records (some of them, not always all), none on a timeout:
        the reader reads those, and asks the others again when it waits next.

        This is how an idle reader waits without spending CPU: it passes the next offset it
        would read of each partition it reads. Like ``read``, one thread at a time. Raises
        ``LogUnavailable`` when the log cannot be asked.
        """
        ...

    def check(self) -> None:
        """Raise ``LogUnavailable`` unless appending and reading can work now; quick, for ``/ready``."""
        ...

    def close(self) -> None:
        """Release connections; the log object is unusable afterwards."""
        ...


def check_size(data: bytes, commit: Commit, limit: int) -> None:
    """Refuse an encoded commit over ``limit`` bytes before anything is sent."""
    if len(data) > limit:
        raise CommitTooLarge(
            f"commit {commit.commit_id} ({commit.command}, {len(commit.events)} events) encodes "
            f"to {len(data):,} bytes, over the log's limit of {limit:,} bytes; "
            "split it into smaller commits"
        )


def decode_record(
    codec: CommitCodec,
    position: Position,
    payload: bytes | None,
    *,
    partition_of: Callable[[UUID], int] | None = None,
) -> Record:
    """The commit at ``position``, or a ``BadRecord`` saying why the bytes are not one.

    A missing value (Kafka hands one back for a record written without a value) is an
    empty record. With ``partition_of`` a commit outside its project's partition is bad
    too: judged there, its project's order would depend on how partitions interleave.
    The reason is a pure function of the record, so a replay states it again.
    """
    data = payload or b""
    try:
        commit = codec.decode(data)
    except UndecodableRecord as exc:
        return BadRecord(position, data, _bounded(str(exc)))
    home = position.partition if partition_of is None else partition_of(commit.project_id)
    if home != position.partition:
        reason = (
            f"commit {commit.commit_id} of project {commit.project_id} is in partition {position.partition}, "
            f"but that project's commits are in partition {home}"
        )
        return BadRecord(position, data, reason)
    return LogRecord(position, commit, data)


def _bounded(reason: str) -> str:
    return reason if len(reason) <= _MAX_REASON_CHARS else reason[: _MAX_REASON_CHARS - 1] + "…"
