"""The context of one commit being judged: its version, caches, buffers and the errors users see.

A bulk commit asks the same questions thousands of times (may the actor annotate this
file? is this label defined?), so answers are kept for the rest of the commit and
forgotten when an event of the commit may have changed them. New instances are buffered
and written together; rules that read instances flush them first.
"""

from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from sqlalchemy import Connection, Row, exists, insert, select, update

from annolog.core.commit import Commit
from annolog.core.errors import AccessDenied, ConflictError, NotFoundError
from annolog.core.events import Event, Role
from annolog.core.permissions import NEEDED, RANK, role_of_rank
from annolog.projections import rows
from annolog.projections.access import PROJECT_SCOPE, grants, rank_in_directory, rank_on_file
from annolog.projections.tables import (
    directories,
    files,
    history,
    instances,
    label_counts,
    labels,
    memberships,
    projects,
)

INTERNAL = {"project_id", "valid_from", "valid_to"}
"""Bookkeeping columns that are not part of what a row says."""


def public(row: Row[Any] | None) -> dict[str, Any] | None:
    """A row as the audit history shows it: no bookkeeping columns, ids as text."""
    if row is None:
        return None
    return {k: str(v) if isinstance(v, UUID) else v for k, v in row._mapping.items() if k not in INTERNAL}


@dataclass
class Judgement:
    """One commit being judged: where it writes, at which version, and what it collected."""

    db: Connection
    commit: Commit
    project_name: str
    version: int
    _history: list[dict[str, Any]] = field(default_factory=list)
    _label_deltas: Counter[tuple[UUID, str]] = field(default_factory=Counter)
    # Per-commit caches: a bulk commit asks the same questions thousands of times.
    _grants: dict[UUID, int] | None = None
    _file_ranks: dict[UUID, int] = field(default_factory=dict)
    _labels: set[str] | None = None
    _file_sizes: dict[UUID, tuple[int | None, int | None]] = field(default_factory=dict)
    _directories: dict[UUID, Row[Any]] = field(default_factory=dict)
    # New instances are inserted together; any other rule flushes them first (it may read them).
    _new_instances: list[dict[str, Any]] = field(default_factory=list)
    _new_instance_ids: set[UUID] = field(default_factory=set)

    @property
    def project_id(self) -> UUID:
        return self.commit.project_id

    def record(
        self,
        event: Event,
        entity: str,
        entity_id: object,
        before: Any,
        after: Any,
        *,
        file_id: UUID | None = None,
        directory_id: UUID | None = None,
    ) -> None:
        """Note one change for the audit history (written at the end of the commit)."""
        self._history.append(
            {
                "commit_id": self.commit.commit_id,
                "seq": len(self._history),
                "project_id": self.project_id,
                "version": self.version,
                "event": event.type,
                "entity": entity,
                "entity_id": str(entity_id),
                "file_id": file_id,
                "directory_id": directory_id,
                "before": before,
                "after": after,
            }
        )

    def count_label(self, file_id: UUID, label: str, delta: int) -> None:
        self._label_deltas[(file_id, label)] += delta

    def add_instance(self, row: dict[str, Any]) -> None:
        """Buffer a new instance (its id checked against this commit's other new ones)."""
        if row["instance_id"] in self._new_instance_ids:
            raise ConflictError(f"instance {row['instance_id']} is added twice in one commit")
        self._new_instance_ids.add(row["instance_id"])
        self._new_instances.append(row | {"project_id": self.project_id, "valid_from": self.version, "valid_to": None})

    def flush(self) -> None:
        """Insert buffered instances, refusing ids that ever existed (one query for all)."""
        if not self._new_instances:
            return
        reused = self.db.execute(
            select(instances.c.instance_id)
            .where(instances.c.project_id == self.project_id, instances.c.instance_id.in_(self._new_instance_ids))
            .limit(1)
        ).scalar_one_or_none()
        if reused is not None:
            raise ConflictError(f"instance {reused} already exists in project {self.project_name!r}")
        self.db.execute(insert(instances), self._new_instances)
        self._new_instances, self._new_instance_ids = [], set()

    def changed(self, event: Event) -> None:
        """Forget what ``event`` may have made stale."""
        if event.type in ("RoleGranted", "RoleRevoked"):
            self._grants = None
        if event.type in ("RoleGranted", "RoleRevoked", "FileMirrored", "FileRemovedFromDirectory"):
            self._file_ranks.clear()

    def finish(self) -> None:
        """Write what the commit collected: instances, label counts, history, the project's version."""
        self.flush()
        _apply_label_deltas(self)
        if self._history:
            self.db.execute(insert(history), self._history)
        self.db.execute(update(projects).where(projects.c.project_id == self.project_id).values(version=self.version))

    # -- lookups that raise the errors users see -------------------------------------------

    def directory(self, directory_id: UUID) -> Row[Any]:
        if directory_id not in self._directories:  # directories are never changed, only created
            found = rows.current(self.db, directories, self.project_id, directory_id=directory_id)
            if found is None:
                raise NotFoundError(f"directory {directory_id} does not exist in project {self.project_name!r}")
            self._directories[directory_id] = found
        return self._directories[directory_id]

    def knows_new_file(self, file_id: UUID, directory: Row[Any], size: tuple[int | None, int | None]) -> None:
        """A file of ``size`` (width, height) this commit added to ``directory``: it exists, and the
        actor's rank on it is the rank in its only directory (which the add was authorized against)."""
        self._file_sizes[file_id] = size
        if self._grants is not None:
            self._file_ranks[file_id] = rank_in_directory(self._grants, directory)

    def file_size(self, file_id: UUID) -> tuple[int | None, int | None]:
        """The file's (width, height), raising like ``file`` if it does not exist; remembered for
        the rest of the commit (a file's size never changes)."""
        if file_id not in self._file_sizes:
            found = self.file(file_id)
            self._file_sizes[file_id] = (found.width, found.height)
        return self._file_sizes[file_id]

    def file(self, file_id: UUID) -> Row[Any]:
        found = rows.current(self.db, files, self.project_id, file_id=file_id)
        if found is None:
            raise NotFoundError(f"file {file_id} does not exist in project {self.project_name!r}")
        return found

    def instance(self, instance_id: UUID, expected_revision: int) -> Row[Any]:
        found = rows.current(self.db, instances, self.project_id, instance_id=instance_id)
        if found is None:
            raise NotFoundError(f"instance {instance_id} does not exist in project {self.project_name!r}")
        if found.revision != expected_revision:
            raise ConflictError(
                f"instance {instance_id} is at revision {found.revision} but the edit expected revision "
                f"{expected_revision}: someone changed it first; reload it and edit again"
            )
        return found

    def labels(self) -> set[str]:
        if self._labels is None:
            self._labels = set(
                self.db.execute(
                    select(labels.c.name).where(labels.c.project_id == self.project_id, labels.c.valid_to.is_(None))
                ).scalars()
            )
        return self._labels

    def label(self, name: str) -> None:
        if name not in self.labels():
            raise NotFoundError(
                f"label {name!r} is not defined in project {self.project_name!r}; "
                f"defined labels: {', '.join(sorted(self.labels())) or 'none'}"
            )

    def free_name_in(self, directory: Row[Any], name: str) -> None:
        # From the few files with this name to their membership, both by index: the other way
        # round scans the whole directory whenever the planner has no statistics (a replay).
        member = select(memberships.c.file_id).where(
            memberships.c.project_id == self.project_id,
            memberships.c.directory_id == directory.directory_id,
            memberships.c.file_id == files.c.file_id,
            memberships.c.valid_to.is_(None),
        )
        query = select(files.c.file_id).where(
            files.c.project_id == self.project_id,
            files.c.name == name,
            files.c.valid_to.is_(None),
            exists(member),
        )
        if self.db.execute(query.limit(1)).first() is not None:
            raise ConflictError(f"directory {directory.name!r} already has a file named {name!r}")

    def new_id(self, table: Any, what: str, **key: Any) -> None:
        if rows.ever_existed(self.db, table, self.project_id, **key):
            raise ConflictError(f"{what} {next(iter(key.values()))} already exists in project {self.project_name!r}")

    def existing_version(self, version: int) -> None:
        if version > self.version:
            raise NotFoundError(
                f"version {version} of project {self.project_name!r} does not exist; latest is {self.version - 1}"
            )

    # -- access ----------------------------------------------------------------------------

    def _deny(self, event: Event, where: str, rank: int, needed: Role) -> None:
        has = role_of_rank(rank)
        raise AccessDenied(
            f"{self.commit.actor} may not {event.type} in {where} of project {self.project_name!r}: "
            f"that needs {needed} or higher, {self.commit.actor} has {has or 'no role'} there"
        )

    def authorize(self, event: Event, *, directory: Row[Any] | None = None, file_id: UUID | None = None) -> None:
        """Raise ``AccessDenied`` unless the actor may cause ``event`` where it applies."""
        needed = NEEDED[event.type]
        if self._grants is None:
            self._grants = grants(self.db, self.project_id, self.commit.actor)
        granted = self._grants
        if directory is not None:
            rank, where = rank_in_directory(granted, directory), f"directory {directory.name!r}"
        elif file_id is not None:
            if file_id not in self._file_ranks:
                self._file_ranks[file_id] = rank_on_file(self.db, self.project_id, granted, file_id)
            rank, where = self._file_ranks[file_id], f"file {file_id}"
        else:
            rank, where = granted.get(PROJECT_SCOPE, 0), "the project"
        if rank < RANK[needed]:
            self._deny(event, where, rank, needed)


def _apply_label_deltas(j: Judgement) -> None:
    """New per-file label counts: one read of the affected rows, one insert of the new ones."""
    deltas = {key: delta for key, delta in j._label_deltas.items() if delta}
    if not deltas:
        return
    files_touched = {file_id for file_id, _ in deltas}
    counts = label_counts.c["count"]  # a Row's .count is tuple.count
    current = {
        (r.file_id, r.label): r._mapping["count"]
        for r in j.db.execute(
            select(label_counts.c.file_id, label_counts.c.label, counts).where(
                label_counts.c.project_id == j.project_id,
                label_counts.c.file_id.in_(files_touched),
                label_counts.c.valid_to.is_(None),
            )
        )
    }
    new_rows = []
    for (file_id, label), delta in sorted(deltas.items()):
        if (file_id, label) in current:
            rows.close(j.db, label_counts, j.project_id, j.version, file_id=file_id, label=label)
        count = current.get((file_id, label), 0) + delta
        if count > 0:
            new_rows.append(
                {
                    "project_id": j.project_id,
                    "file_id": file_id,
                    "label": label,
                    "count": count,
                    "valid_from": j.version,
                    "valid_to": None,
                }
            )
    if new_rows:
        j.db.execute(insert(label_counts), new_rows)
