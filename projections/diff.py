"""The diff of two versions: the files added to and removed from a set of directories, and
the instances added, changed and deleted (and the metadata changed) on the files in them at
both versions.

Which files differ is one query over the rows whose validity starts or ends between the two
versions, keyset-paged by file id; only those files are then read, at both versions, and
their instances compared. A file whose instances were edited and edited back is no change.
"""

from collections.abc import Sequence
from typing import Any, NamedTuple
from uuid import UUID

from sqlalchemy import Connection, Table, and_, case, exists, func, literal, or_, select

from annolog.core.errors import InvalidInputError
from annolog.projections.queries import files_by_id
from annolog.projections.readmodels import FileChange, FileView, InstanceChange, InstanceView
from annolog.projections.tables import files, instances, memberships, valid_at


class _Candidate(NamedTuple):
    """A file that may differ: in the directories at base, at head, or at both (then with
    instance rows that started or ended in between)."""

    file_id: UUID
    at_base: bool
    at_head: bool


def diff_page(
    db: Connection,
    project_id: UUID,
    base: int,
    head: int,
    *,
    directory_ids: Sequence[UUID] | None,
    after: UUID | None,
    limit: int,
) -> tuple[list[FileChange], UUID | None]:
    """Up to ``limit`` changed files of ``directory_ids`` (None: of any directory) from ``base``
    to ``head``, by file id after ``after``, and the id the next page starts after (None: none).

    A page is full unless it is the last, and a next page is named only when there is a
    change on it: candidates are read one past the page, and those whose changes cancel
    out are read past.
    """
    if limit < 1:
        raise InvalidInputError(f"limit must be at least 1, got {limit}")
    changes: list[FileChange] = []
    while True:
        found = _candidates(db, project_id, base, head, directory_ids, after=after, limit=limit + 1)
        changes += _compared(db, project_id, base, head, found)
        if len(changes) > limit:
            return changes[:limit], changes[limit - 1].file_id
        if len(found) <= limit:
            return changes, None
        after = found[-1].file_id


def _candidates(
    db: Connection,
    project_id: UUID,
    base: int,
    head: int,
    directory_ids: Sequence[UUID] | None,
    *,
    after: UUID | None,
    limit: int,
) -> list[_Candidate]:
    """The files in the directories at base or head, in id order, that are at only one of
    them or whose own rows (metadata) or instance rows changed in between."""
    at_base, at_head = valid_at(memberships, base), valid_at(memberships, head)
    in_base = func.max(case((at_base, 1), else_=0))
    in_head = func.max(case((at_head, 1), else_=0))
    query = (
        select(memberships.c.file_id, in_base, in_head)
        .where(memberships.c.project_id == project_id, at_base | at_head)
        .group_by(memberships.c.file_id)
        .having(
            or_(
                in_base != in_head, _touched(files, project_id, base, head), _touched(instances, project_id, base, head)
            )
        )
        .order_by(memberships.c.file_id)
        .limit(limit)
    )
    if directory_ids is not None:
        query = query.where(memberships.c.directory_id.in_(directory_ids))
    if after is not None:
        query = query.where(memberships.c.file_id > after)
    return [_Candidate(r[0], bool(r[1]), bool(r[2])) for r in db.execute(query)]


def _touched(table: Table, project_id: UUID, base: int, head: int) -> Any:
    """Whether the membership's file has a row in ``table`` (its own, or its instances') that
    began or ended in (base, head]."""

    def within(column: Any) -> Any:
        return and_(column > base, column <= head)

    return exists(
        select(literal(1)).where(
            table.c.project_id == project_id,
            table.c.file_id == memberships.c.file_id,
            or_(within(table.c.valid_from), within(table.c.valid_to)),
        )
    )


def _compared(db: Connection, project_id: UUID, base: int, head: int, found: list[_Candidate]) -> list[FileChange]:
    # Both sides name labels as head does: a rename touches no instance, so it is no change.
    before = _read(db, project_id, [c.file_id for c in found if c.at_base], base, head)
    after = _read(db, project_id, [c.file_id for c in found if c.at_head], head, head)
    changes = (_file_change(before.get(c.file_id), after.get(c.file_id)) for c in found)
    return [change for change in changes if change is not None]


def _read(db: Connection, project_id: UUID, ids: list[UUID], version: int, named_at: int) -> dict[UUID, FileView]:
    found = files_by_id(db, project_id, ids, version, named_at=named_at) if ids else []
    return {f.file_id: f for f in found}


def _file_change(before: FileView | None, after: FileView | None) -> FileChange | None:
    if before is None:
        return None if after is None else FileChange(**_named(after), change="added", before=None, after=after)
    if after is None:
        return FileChange(**_named(before), change="removed", before=before, after=None)
    changed = _instance_changes(before.instances, after.instances)
    if not changed and before.metadata == after.metadata:
        return None
    return FileChange(**_named(after), change="changed", before=before, after=after, instances=changed)


def _named(file: FileView) -> dict[str, Any]:
    return {"file_id": file.file_id, "name": file.name}


def _instance_changes(before: Sequence[InstanceView], after: Sequence[InstanceView]) -> tuple[InstanceChange, ...]:
    """The instances added, changed and deleted from ``before`` to ``after``, by instance id.

    Only what an instance says counts (label, kind, points, attributes, frame, track): its revision counts
    edits, so an instance edited and edited back is unchanged.
    """
    old, new = {i.instance_id: i for i in before}, {i.instance_id: i for i in after}
    changes = []
    for instance_id in sorted(old.keys() | new.keys()):
        was, now = old.get(instance_id), new.get(instance_id)
        if was is None:
            changes.append(InstanceChange(instance_id=instance_id, change="added", before=None, after=now))
        elif now is None:
            changes.append(InstanceChange(instance_id=instance_id, change="deleted", before=was, after=None))
        elif _content(was) != _content(now):
            changes.append(InstanceChange(instance_id=instance_id, change="changed", before=was, after=now))
    return tuple(changes)


def _content(instance: InstanceView) -> dict[str, Any]:
    return instance.model_dump(exclude={"revision"})
