"""The rules that need state, judged per event in log order, and the rows each event writes.

Each rule function checks what it must against the views as they are at this point of
the commit (earlier events of the same commit included), then writes its rows at the
commit's version. A broken rule raises a domain error (``NotFoundError``,
``ConflictError``, ``AccessDenied``); the projector then rolls the whole commit back and
records the rejection. Nothing here reads a clock or anything but the commit and the
views, so replaying the same log judges every commit the same way.
"""

import uuid
from collections.abc import Callable
from typing import Any
from uuid import UUID

from sqlalchemy import Row, func, select

from annolog.core.errors import AccessDenied, ConflictError, NotFoundError
from annolog.core.events import (
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
from annolog.core.geometry import check_inside
from annolog.core.permissions import RANK
from annolog.projections import rows
from annolog.projections.access import PROJECT_SCOPE, grants
from annolog.projections.judgement import INTERNAL, Judgement, public
from annolog.projections.tables import (
    directories,
    files,
    instances,
    labels,
    memberships,
    roles,
    slices,
    tags,
)

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
    taken = j.db.execute(
        select(directories.c.directory_id).where(
            directories.c.project_id == j.project_id, directories.c.name == e.name, directories.c.valid_to.is_(None)
        )
    ).first()
    if taken is not None:
        raise ConflictError(f"project {j.project_name!r} already has a directory named {e.name!r}")
    values = {"directory_id": e.directory_id, "name": e.name, "access_type": e.access_type.value}
    rows.add(j.db, directories, j.project_id, j.version, **values)
    j.record(
        e,
        "directory",
        e.directory_id,
        None,
        {**values, "directory_id": str(e.directory_id)},
        directory_id=e.directory_id,
    )


def _add_membership(j: Judgement, e: Event, file_id: UUID, directory: Row[Any], name: str) -> None:
    if rows.current(j.db, memberships, j.project_id, directory_id=directory.directory_id, file_id=file_id):
        raise ConflictError(f"file {file_id} is already in directory {directory.name!r}")
    j.free_name_in(directory, name)
    _join(j, e, file_id, directory)


def _join(j: Judgement, e: Event, file_id: UUID, directory: Row[Any]) -> None:
    rows.add(j.db, memberships, j.project_id, j.version, directory_id=directory.directory_id, file_id=file_id)
    j.record(
        e,
        "membership",
        file_id,
        None,
        {"directory": directory.name},
        file_id=file_id,
        directory_id=directory.directory_id,
    )


def _file_added(j: Judgement, e: FileAdded) -> None:
    directory = j.directory(e.directory_id)
    j.authorize(e, directory=directory)
    j.new_id(files, "file", file_id=e.file_id)
    values = e.model_dump(exclude={"type", "directory_id"}) | {"copied_from": None, "created_version": j.version}
    rows.add(j.db, files, j.project_id, j.version, **values)
    j.record(e, "file", e.file_id, None, values | {"file_id": str(e.file_id)}, file_id=e.file_id)
    j.free_name_in(directory, e.name)  # a new file is in no directory yet
    _join(j, e, e.file_id, directory)
    j.knows_new_file(e.file_id, directory, (e.width, e.height))


def _file_metadata_changed(j: Judgement, e: FileMetadataChanged) -> None:
    before = j.file(e.file_id)
    j.authorize(e, file_id=e.file_id)
    values = {k: v for k, v in before._mapping.items() if k not in INTERNAL | {"file_id"}}
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
    j.record(
        e, "membership", e.file_id, {"directory": directory.name}, None, file_id=e.file_id, directory_id=e.directory_id
    )


def _copy_instances(j: Judgement, e: FileCopied) -> None:
    query = select(instances).where(
        instances.c.project_id == j.project_id, instances.c.file_id == e.source_file_id, instances.c.valid_to.is_(None)
    )
    for source in j.db.execute(query.order_by(instances.c.instance_id)).all():
        copy_id = uuid.uuid5(e.file_id, str(source.instance_id))  # the same id on every replay
        values = {k: v for k, v in source._mapping.items() if k not in INTERNAL | {"instance_id", "file_id"}}
        rows.add(
            j.db,
            instances,
            j.project_id,
            j.version,
            instance_id=copy_id,
            file_id=e.file_id,
            **(values | {"revision": 1}),
        )
        j.count_label(e.file_id, source.label, +1)


def _file_copied(j: Judgement, e: FileCopied) -> None:
    source, directory = j.file(e.source_file_id), j.directory(e.directory_id)
    j.authorize(e, directory=directory)
    j.authorize(e, file_id=e.source_file_id)
    j.new_id(files, "file", file_id=e.file_id)
    values = {k: v for k, v in source._mapping.items() if k not in INTERNAL | {"file_id", "created_version"}}
    rows.add(
        j.db,
        files,
        j.project_id,
        j.version,
        file_id=e.file_id,
        **(values | {"copied_from": e.source_file_id, "created_version": j.version}),
    )
    if e.with_instances:
        _copy_instances(j, e)
    j.record(e, "file", e.file_id, None, public(j.file(e.file_id)), file_id=e.file_id)
    _add_membership(j, e, e.file_id, directory, source.name)
    j.knows_new_file(e.file_id, directory, (source.width, source.height))


def _shape(e: InstanceAdded | InstanceChanged) -> dict[str, Any]:
    return {"label": e.label, "kind": e.kind.value, "points": [list(p) for p in e.points], "attributes": e.attributes}


def _instance_added(j: Judgement, e: InstanceAdded) -> None:
    size = j.file_size(e.file_id)
    j.authorize(e, file_id=e.file_id)
    check_inside(e.points, *size)
    j.label(e.label)
    j.add_instance({"instance_id": e.instance_id, "file_id": e.file_id, "revision": 1, **_shape(e)})
    j.count_label(e.file_id, e.label, +1)
    j.record(e, "instance", e.instance_id, None, _shape(e) | {"revision": 1}, file_id=e.file_id)


def _instance_changed(j: Judgement, e: InstanceChanged) -> None:
    before = j.instance(e.instance_id, e.expected_revision)
    j.authorize(e, file_id=before.file_id)
    check_inside(e.points, *j.file_size(before.file_id))
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
    rows.replace(
        j.db, roles, j.project_id, j.version, {"principal": e.principal, "scope_id": scope}, {"role": e.role.value}
    )
    j.record(
        e,
        "role",
        e.principal,
        before and {"role": before.role},
        {"role": e.role.value, "directory_id": e.directory_id and str(e.directory_id)},
        directory_id=e.directory_id,
    )


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
    # A slice over a restricted directory is read with that directory's grant, so saving one needs it too.
    j.authorize(e, directory=None if e.directory_id is None else j.directory(e.directory_id))
    before = rows.current(j.db, slices, j.project_id, name=e.name)
    after = {"query": e.query, "directory_id": e.directory_id}
    rows.replace(j.db, slices, j.project_id, j.version, {"name": e.name}, after)
    j.record(
        e,
        "slice",
        e.name,
        before and {"query": before.query},
        {"query": e.query, "directory_id": e.directory_id and str(e.directory_id)},
        directory_id=e.directory_id,
    )


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
