"""The rules that need state, judged per event in log order, and the rows each event writes.

Each rule function checks what it must against the views as they are at this point of
the commit (earlier events of the same commit included), then writes its rows at the
commit's version. A broken rule raises a domain error (``NotFoundError``,
``ConflictError``, ``AccessDenied``); the projector then rolls the whole commit back and
records the rejection. Nothing here reads a clock or anything but the commit and the
views, so replaying the same log judges every commit the same way.
"""

import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from sqlalchemy import Connection, Row, func, insert, select, update

from core.commit import Commit
from core.errors import AccessDenied, ConflictError, NotFoundError
from core.events import (
    AccessType,
    DirectoryCreated,
    Event,
    FileAdded,
    FileCopied,
    FileMetadataChanged,
    FileMirrored,
    FileRemovedFromDirectory,
    InstanceAdded,
    InstanceChanged,
    InstanceDeleted,
    LabelDefined,
    ProjectCreated,
    Role,
    RoleGranted,
    RoleRevoked,
    SliceSaved,
    TagMoved,
    VersionTagged,
)
from core.permissions import NEEDED, RANK, role_of_rank
from projections import rows
from projections.access import PROJECT_SCOPE, grants, rank_in_directory, rank_on_file
from projections.tables import (
    directories,
    files,
    history,
    instances,
    label_counts,
    labels,
    memberships,
    projects,
    roles,
    slices,
    tags,
)

_INTERNAL = {"project_id", "valid_from", "valid_to"}


def _public(row: Row[Any] | None) -> dict[str, Any] | None:
    """A row as the audit history shows it: no bookkeeping columns, ids as text."""
    if row is None:
        return None
    return {k: str(v) if isinstance(v, UUID) else v for k, v in row._mapping.items() if k not in _INTERNAL}


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
    _known_files: set[UUID] = field(default_factory=set)
    _directories: dict[UUID, Row[Any]] = field(default_factory=dict)
    # New instances are inserted together; any other rule flushes them first (it may read them).
    _new_instances: list[dict[str, Any]] = field(default_factory=list)
    _new_instance_ids: set[UUID] = field(default_factory=set)

    @property
    def project_id(self) -> UUID:
        return self.commit.project_id

    def record(self, event: Event, entity: str, entity_id: object, before: Any, after: Any,
               *, file_id: UUID | None = None, directory_id: UUID | None = None) -> None:
        """Note one change for the audit history (written at the end of the commit)."""
        self._history.append({
            "commit_id": self.commit.commit_id, "seq": len(self._history), "project_id": self.project_id,
            "version": self.version, "event": event.type, "entity": entity, "entity_id": str(entity_id),
            "file_id": file_id, "directory_id": directory_id, "before": before, "after": after,
        })

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
        reused = self.db.execute(select(instances.c.instance_id).where(
            instances.c.project_id == self.project_id,
            instances.c.instance_id.in_(self._new_instance_ids)).limit(1)).scalar_one_or_none()
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
        self.db.execute(update(projects).where(projects.c.project_id == self.project_id)
                        .values(version=self.version))

    # -- lookups that raise the errors users see -------------------------------------------

    def directory(self, directory_id: UUID) -> Row[Any]:
        if directory_id not in self._directories:  # directories are never changed, only created
            found = rows.current(self.db, directories, self.project_id, directory_id=directory_id)
            if found is None:
                raise NotFoundError(f"directory {directory_id} does not exist in project {self.project_name!r}")
            self._directories[directory_id] = found
        return self._directories[directory_id]

    def knows_new_file(self, file_id: UUID, directory: Row[Any]) -> None:
        """A file this commit added to ``directory``: it exists, and the actor's rank on it is the
        rank in its only directory (which the add itself was authorized against)."""
        self._known_files.add(file_id)
        if self._grants is not None:
            self._file_ranks[file_id] = rank_in_directory(self._grants, directory)

    def require_file(self, file_id: UUID) -> None:
        """Like ``file`` when only existence matters; remembered for the rest of the commit."""
        if file_id not in self._known_files:
            self.file(file_id)
            self._known_files.add(file_id)

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
            self._labels = set(self.db.execute(select(labels.c.name).where(
                labels.c.project_id == self.project_id, labels.c.valid_to.is_(None))).scalars())
        return self._labels

    def label(self, name: str) -> None:
        if name not in self.labels():
            raise NotFoundError(
                f"label {name!r} is not defined in project {self.project_name!r}; "
                f"defined labels: {', '.join(sorted(self.labels())) or 'none'}"
            )

    def free_name_in(self, directory: Row[Any], name: str) -> None:
        same_name = select(files.c.file_id).where(files.c.project_id == self.project_id, files.c.name == name,
                                                  files.c.valid_to.is_(None))
        query = select(memberships.c.file_id).where(
            memberships.c.project_id == self.project_id, memberships.c.directory_id == directory.directory_id,
            memberships.c.valid_to.is_(None), memberships.c.file_id.in_(same_name))
        if self.db.execute(query.limit(1)).first() is not None:
            raise ConflictError(f"directory {directory.name!r} already has a file named {name!r}")

    def new_id(self, table: Any, what: str, **key: Any) -> None:
        if rows.ever_existed(self.db, table, self.project_id, **key):
            raise ConflictError(f"{what} {next(iter(key.values()))} already exists in project {self.project_name!r}")

    def existing_version(self, version: int) -> None:
        if version > self.version:
            raise NotFoundError(
                f"version {version} of project {self.project_name!r} does not exist; "
                f"latest is {self.version - 1}"
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
    current = {(r.file_id, r.label): r._mapping["count"] for r in j.db.execute(
        select(label_counts.c.file_id, label_counts.c.label, counts).where(
            label_counts.c.project_id == j.project_id, label_counts.c.file_id.in_(files_touched),
            label_counts.c.valid_to.is_(None)))}
    new_rows = []
    for (file_id, label), delta in sorted(deltas.items()):
        if (file_id, label) in current:
            rows.close(j.db, label_counts, j.project_id, j.version, file_id=file_id, label=label)
        count = current.get((file_id, label), 0) + delta
        if count > 0:
            new_rows.append({"project_id": j.project_id, "file_id": file_id, "label": label, "count": count,
                             "valid_from": j.version, "valid_to": None})
    if new_rows:
        j.db.execute(insert(label_counts), new_rows)


# -- one rule per event type --------------------------------------------------------------------


def _project_created(j: Judgement, e: ProjectCreated) -> None:
    # The projector checked that the project is new; its creator becomes its owner.
    owner = {"principal": j.commit.actor, "scope_id": PROJECT_SCOPE, "role": Role.owner.value}
    rows.add(j.db, roles, j.project_id, j.version, **owner)
    j.record(e, "project", e.project_id, None, {"name": e.name, "owner": j.commit.actor})


def _label_defined(j: Judgement, e: LabelDefined) -> None:
    j.authorize(e)
    if rows.current(j.db, labels, j.project_id, name=e.name) is not None:
        raise ConflictError(f"label {e.name!r} is already defined in project {j.project_name!r}")
    defined = j.db.execute(select(func.count(labels.c.name.distinct())).where(labels.c.project_id == j.project_id))
    index = int(defined.scalar_one())  # labels are never removed, so indices never move
    rows.add(j.db, labels, j.project_id, j.version, name=e.name, class_index=index)
    j.labels().add(e.name)
    j.record(e, "label", e.name, None, {"name": e.name, "class_index": index})


def _directory_created(j: Judgement, e: DirectoryCreated) -> None:
    j.authorize(e)
    j.new_id(directories, "directory", directory_id=e.directory_id)
    taken = j.db.execute(select(directories.c.directory_id).where(
        directories.c.project_id == j.project_id, directories.c.name == e.name,
        directories.c.valid_to.is_(None))).first()
    if taken is not None:
        raise ConflictError(f"project {j.project_name!r} already has a directory named {e.name!r}")
    values = {"directory_id": e.directory_id, "name": e.name, "access_type": e.access_type.value}
    rows.add(j.db, directories, j.project_id, j.version, **values)
    j.record(e, "directory", e.directory_id, None, {**values, "directory_id": str(e.directory_id)},
             directory_id=e.directory_id)


def _add_membership(j: Judgement, e: Event, file_id: UUID, directory: Row[Any], name: str) -> None:
    if rows.current(j.db, memberships, j.project_id, directory_id=directory.directory_id, file_id=file_id):
        raise ConflictError(f"file {file_id} is already in directory {directory.name!r}")
    j.free_name_in(directory, name)
    _join(j, e, file_id, directory)


def _join(j: Judgement, e: Event, file_id: UUID, directory: Row[Any]) -> None:
    rows.add(j.db, memberships, j.project_id, j.version, directory_id=directory.directory_id, file_id=file_id)
    j.record(e, "membership", file_id, None, {"directory": directory.name},
             file_id=file_id, directory_id=directory.directory_id)


def _file_added(j: Judgement, e: FileAdded) -> None:
    directory = j.directory(e.directory_id)
    j.authorize(e, directory=directory)
    j.new_id(files, "file", file_id=e.file_id)
    values = e.model_dump(exclude={"type", "directory_id"}) | {"copied_from": None, "created_version": j.version}
    rows.add(j.db, files, j.project_id, j.version, **values)
    j.record(e, "file", e.file_id, None, values | {"file_id": str(e.file_id)}, file_id=e.file_id)
    j.free_name_in(directory, e.name)  # a new file is in no directory yet
    _join(j, e, e.file_id, directory)
    j.knows_new_file(e.file_id, directory)


def _file_metadata_changed(j: Judgement, e: FileMetadataChanged) -> None:
    before = j.file(e.file_id)
    j.authorize(e, file_id=e.file_id)
    values = {k: v for k, v in before._mapping.items() if k not in _INTERNAL | {"file_id"}}
    rows.replace(j.db, files, j.project_id, j.version, {"file_id": e.file_id}, values | {"metadata": e.metadata})
    j.record(e, "file", e.file_id, {"metadata": before.metadata}, {"metadata": e.metadata}, file_id=e.file_id)


def _file_mirrored(j: Judgement, e: FileMirrored) -> None:
    file, directory = j.file(e.file_id), j.directory(e.directory_id)
    j.authorize(e, directory=directory)
    j.authorize(e, file_id=e.file_id)
    _add_membership(j, e, e.file_id, directory, file.name)


def _file_removed(j: Judgement, e: FileRemovedFromDirectory) -> None:
    directory = j.directory(e.directory_id)
    j.authorize(e, directory=directory)
    if rows.current(j.db, memberships, j.project_id, directory_id=e.directory_id, file_id=e.file_id) is None:
        raise NotFoundError(f"file {e.file_id} is not in directory {directory.name!r}")
    rows.close(j.db, memberships, j.project_id, j.version, directory_id=e.directory_id, file_id=e.file_id)
    j.record(e, "membership", e.file_id, {"directory": directory.name}, None,
             file_id=e.file_id, directory_id=e.directory_id)


def _copy_instances(j: Judgement, e: FileCopied) -> None:
    query = select(instances).where(instances.c.project_id == j.project_id,
                                    instances.c.file_id == e.source_file_id, instances.c.valid_to.is_(None))
    for source in j.db.execute(query.order_by(instances.c.instance_id)).all():
        copy_id = uuid.uuid5(e.file_id, str(source.instance_id))  # the same id on every replay
        values = {k: v for k, v in source._mapping.items() if k not in _INTERNAL | {"instance_id", "file_id"}}
        rows.add(j.db, instances, j.project_id, j.version, instance_id=copy_id, file_id=e.file_id,
                 **(values | {"revision": 1}))
        j.count_label(e.file_id, source.label, +1)


def _file_copied(j: Judgement, e: FileCopied) -> None:
    source, directory = j.file(e.source_file_id), j.directory(e.directory_id)
    j.authorize(e, directory=directory)
    j.authorize(e, file_id=e.source_file_id)
    j.new_id(files, "file", file_id=e.file_id)
    values = {k: v for k, v in source._mapping.items() if k not in _INTERNAL | {"file_id", "created_version"}}
    rows.add(j.db, files, j.project_id, j.version, file_id=e.file_id,
             **(values | {"copied_from": e.source_file_id, "created_version": j.version}))
    if e.with_instances:
        _copy_instances(j, e)
    j.record(e, "file", e.file_id, None, _public(j.file(e.file_id)), file_id=e.file_id)
    _add_membership(j, e, e.file_id, directory, source.name)
    j.knows_new_file(e.file_id, directory)


def _shape(e: InstanceAdded | InstanceChanged) -> dict[str, Any]:
    return {"label": e.label, "kind": e.kind.value, "points": [list(p) for p in e.points],
            "attributes": e.attributes}


def _instance_added(j: Judgement, e: InstanceAdded) -> None:
    j.require_file(e.file_id)
    j.authorize(e, file_id=e.file_id)
    j.label(e.label)
    j.add_instance({"instance_id": e.instance_id, "file_id": e.file_id, "revision": 1, **_shape(e)})
    j.count_label(e.file_id, e.label, +1)
    j.record(e, "instance", e.instance_id, None, _shape(e) | {"revision": 1}, file_id=e.file_id)


def _instance_changed(j: Judgement, e: InstanceChanged) -> None:
    before = j.instance(e.instance_id, e.expected_revision)
    j.authorize(e, file_id=before.file_id)
    j.label(e.label)
    after = _shape(e) | {"file_id": before.file_id, "revision": before.revision + 1}
    rows.replace(j.db, instances, j.project_id, j.version, {"instance_id": e.instance_id}, after)
    j.count_label(before.file_id, before.label, -1)
    j.count_label(before.file_id, e.label, +1)
    old = {k: before._mapping[k] for k in ("label", "kind", "points", "attributes", "revision")}
    j.record(e, "instance", e.instance_id, old, _shape(e) | {"revision": after["revision"]}, file_id=before.file_id)


def _instance_deleted(j: Judgement, e: InstanceDeleted) -> None:
    before = j.instance(e.instance_id, e.expected_revision)
    j.authorize(e, file_id=before.file_id)
    rows.close(j.db, instances, j.project_id, j.version, instance_id=e.instance_id)
    j.count_label(before.file_id, before.label, -1)
    old = {k: before._mapping[k] for k in ("label", "kind", "points", "attributes", "revision")}
    j.record(e, "instance", e.instance_id, old, None, file_id=before.file_id)


def _version_tagged(j: Judgement, e: VersionTagged) -> None:
    j.authorize(e)
    if rows.current(j.db, tags, j.project_id, tag=e.tag) is not None:
        raise ConflictError(f"tag {e.tag!r} already exists in project {j.project_name!r}; move it with MoveTag")
    version = e.version or j.version
    j.existing_version(version)
    rows.add(j.db, tags, j.project_id, j.version, tag=e.tag, version=version)
    j.record(e, "tag", e.tag, None, {"version": version})


def _tag_moved(j: Judgement, e: TagMoved) -> None:
    j.authorize(e)
    before = rows.current(j.db, tags, j.project_id, tag=e.tag)
    if before is None:
        raise NotFoundError(f"tag {e.tag!r} does not exist in project {j.project_name!r}")
    j.existing_version(e.version)
    rows.replace(j.db, tags, j.project_id, j.version, {"tag": e.tag}, {"version": e.version})
    j.record(e, "tag", e.tag, {"version": before.version}, {"version": e.version})


def _scope(j: Judgement, directory_id: UUID | None) -> UUID:
    return PROJECT_SCOPE if directory_id is None else j.directory(directory_id).directory_id


def _guard_owner(j: Judgement, e: RoleGranted | RoleRevoked, role: str) -> None:
    if role == Role.owner and grants(j.db, j.project_id, j.commit.actor).get(PROJECT_SCOPE) != RANK[Role.owner]:
        raise AccessDenied(f"only an owner of project {j.project_name!r} may grant or revoke owner ({e.type})")


def _role_granted(j: Judgement, e: RoleGranted) -> None:
    j.authorize(e)
    scope = _scope(j, e.directory_id)
    _guard_owner(j, e, e.role)
    before = rows.current(j.db, roles, j.project_id, principal=e.principal, scope_id=scope)
    if before is not None and before.role == e.role:
        raise ConflictError(f"{e.principal} already has role {e.role} there in project {j.project_name!r}")
    rows.replace(j.db, roles, j.project_id, j.version, {"principal": e.principal, "scope_id": scope},
                 {"role": e.role.value})
    j.record(e, "role", e.principal, before and {"role": before.role},
             {"role": e.role.value, "directory_id": e.directory_id and str(e.directory_id)},
             directory_id=e.directory_id)


def _role_revoked(j: Judgement, e: RoleRevoked) -> None:
    j.authorize(e)
    scope = _scope(j, e.directory_id)
    before = rows.current(j.db, roles, j.project_id, principal=e.principal, scope_id=scope)
    if before is None or before.role != e.role:
        raise NotFoundError(f"{e.principal} does not have role {e.role} there in project {j.project_name!r}")
    _guard_owner(j, e, e.role)
    rows.close(j.db, roles, j.project_id, j.version, principal=e.principal, scope_id=scope)
    j.record(e, "role", e.principal, {"role": before.role}, None, directory_id=e.directory_id)


def _slice_saved(j: Judgement, e: SliceSaved) -> None:
    j.authorize(e)
    if e.directory_id is not None:
        j.directory(e.directory_id)
    before = rows.current(j.db, slices, j.project_id, name=e.name)
    after = {"query": e.query, "directory_id": e.directory_id}
    rows.replace(j.db, slices, j.project_id, j.version, {"name": e.name}, after)
    j.record(e, "slice", e.name, before and {"query": before.query},
             {"query": e.query, "directory_id": e.directory_id and str(e.directory_id)}, directory_id=e.directory_id)


_RULES: dict[str, Callable[[Judgement, Any], None]] = {
    "ProjectCreated": _project_created,
    "LabelDefined": _label_defined,
    "DirectoryCreated": _directory_created,
    "FileAdded": _file_added,
    "FileMetadataChanged": _file_metadata_changed,
    "FileMirrored": _file_mirrored,
    "FileRemovedFromDirectory": _file_removed,
    "FileCopied": _file_copied,
    "InstanceAdded": _instance_added,
    "InstanceChanged": _instance_changed,
    "InstanceDeleted": _instance_deleted,
    "VersionTagged": _version_tagged,
    "TagMoved": _tag_moved,
    "RoleGranted": _role_granted,
    "RoleRevoked": _role_revoked,
    "SliceSaved": _slice_saved,
}


_READS_INSTANCES = {"InstanceChanged", "InstanceDeleted", "FileCopied"}
"""Rules that read instance rows, so the buffered new instances must be written before them."""


def judge(j: Judgement) -> None:
    """Apply every event of the commit in order; raises the first rule a commit breaks."""
    for event in j.commit.events:
        if event.type in _READS_INSTANCES:
            j.flush()
        _RULES[event.type](j, event)
        j.changed(event)
    j.finish()
