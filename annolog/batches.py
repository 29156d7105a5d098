"""The commits of a bulk import: bounded in size, and named after their content so a retry is applied once."""

import hashlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from uuid import UUID, uuid5

from annolog.core.commands import Command
from annolog.core.errors import ConflictError, InvalidInputError, NotFoundError
from annolog.eventlog.log import DEFAULT_MAX_COMMIT_BYTES
from annolog.projections.readmodels import Outcome

if TYPE_CHECKING:
    from annolog.project import Project

MAX_COMMIT_BYTES = DEFAULT_MAX_COMMIT_BYTES // 4
"""A quarter of what the log accepts: weights are JSON sizes, close to but not the Avro size."""
MAX_COMMIT_EVENTS = 20_000

_ID_FIELDS = {"file_id", "instance_id"}  # fresh on every attempt, so not part of a batch's content


@dataclass
class Batch:
    """Commands for one commit and a digest of what they do (their content without fresh ids)."""

    commands: list[Command] = field(default_factory=list)
    contents: list[bytes] = field(default_factory=list)
    size: int = 0

    def add(self, command: Command, content: bytes) -> None:
        self.commands.append(command)
        self.contents.append(content)
        self.size += len(content)

    @property
    def digest(self) -> str:
        return hashlib.sha256(b"".join(self.contents)).hexdigest()


def content_of(command: Command) -> bytes:
    """What ``command`` does, without the ids generated for this attempt."""
    return command.model_dump_json(exclude=_ID_FIELDS).encode() + b"\n"


def batches(
    groups: Iterable[Sequence[Command]], *, max_bytes: int = MAX_COMMIT_BYTES, max_events: int = MAX_COMMIT_EVENTS
) -> Iterator[Batch]:
    """Whole groups (a file and its boxes) per batch while they fit; a group too big for one
    commit on its own is split, its file first, so every instance follows its file."""
    batch = Batch()
    for group in groups:
        contents = [content_of(command) for command in group]
        if batch.commands and (
            batch.size + sum(map(len, contents)) > max_bytes or len(batch.commands) + len(group) > max_events
        ):
            yield batch
            batch = Batch()
        for command, content in zip(group, contents):
            if batch.commands and (batch.size + len(content) > max_bytes or len(batch.commands) >= max_events):
                yield batch
                batch = Batch()
            batch.add(command, content)
    if batch.commands:
        yield batch


def commit_once(project: "Project", batch: Batch, *, namespace: UUID, started_at: int) -> Outcome:
    """Commit ``batch`` with an id derived from its content, so that re-running an interrupted
    import re-sends the same commit id for the same work and the log applies it once.

    The same content can legitimately come twice: files imported, removed, then imported
    again, or a batch rejected earlier for a reason since gone. A content id applied at or
    before ``started_at`` (its files would have been seen and skipped), or rejected, is
    therefore tried once more under an id of this run; that attempt's error is the answer.
    """
    try:
        outcome = project.execute(batch.commands, commit_id=uuid5(namespace, batch.digest))
        if outcome.version > started_at:
            return outcome
    except (ConflictError, NotFoundError, InvalidInputError):
        pass  # rejected now, or rejected the first time this content came: judged again below
    return project.execute(batch.commands, commit_id=uuid5(namespace, f"{batch.digest}@{started_at}"))
