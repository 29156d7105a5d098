"""The rules of the views: what each event needs to be true, and the rows it changes.

A rule is a pure function of one event, its commit and a read-only ``ViewState`` (the
views as they stand at this point of the log, earlier events of the same commit
included). It raises the error users see when the event may not happen
(``NotFoundError``, ``ConflictError``, ``AccessDenied``, ``InvalidInputError``) and
otherwise returns the changes it wants: rows to add, rows to close, audit entries and
label-count deltas. Nothing here touches a database, a clock or anything but its
arguments, so the projector can judge one commit at a time against SQL (the oracle) or
a whole batch against an in-memory overlay, and replaying the same log judges every
commit the same way.

Labels evolve (rename, merge, retire, declared attributes) without touching instances:
instances and label counts store a label by its first name (``stored_as``), which no later
event changes, so a rename or a merge closes and adds one ``labels`` row whatever the
number of instances, and reads map stored names to the names of their version. A name
that is some label's stored name cannot be taken by another label (it would make two
labels' instances one). Schema changes need admin: they change what every annotator's
existing work means and what training reads. New instances must use a label's current,
active name; an edit may keep a retired label on an instance that already has it.

``EVENTS`` declares everything about an event type in one place: its model, the least
role it needs and its rule. A new event type is one entry here plus its Avro branch in
``eventlog/schemas`` (a test fails when any of them is missing).
"""

import hashlib
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any, Protocol
from uuid import UUID

from annolog.core.arrays import check_ndim, chunk_coords, grid
from annolog.core.commit import Commit
from annolog.core.errors import AccessDenied, ConflictError, InvalidInputError, NotFoundError
from annolog.core.events import (
    ArrayChunksWritten,
    ArrayCreated,
    ArrayResized,
    ChunkWrite,
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
    LabelAttributesDeclared,
    LabelDefined,
    LabelMerged,
    LabelRenamed,
    LabelRetired,
    ProjectCreated,
    Role,
    RoleGranted,
    RoleRevoked,
    SkeletonDeclared,
    SliceSaved,
    TagMoved,
    VersionTagged,
)
from annolog.core.geometry import InstanceKind, check_inside, placed
from annolog.core.labels import check_attributes, stored_specs
from annolog.core.mask import Mask, check_mask_fits
from annolog.core.model import Model
from annolog.core.permissions import PROJECT_SCOPE, RANK, rank_in_directory, rank_on_file, role_of_rank
from annolog.core.skeleton import check_keypoint_count

Key = tuple[Any, ...]
Row = Mapping[str, Any]
"""A current row of a view: its columns without the project id and the version bounds."""

KEYS: dict[str, tuple[str, ...]] = {
    "labels": ("name",),
    "directories": ("directory_id",),
    "files": ("file_id",),
    "memberships": ("directory_id", "file_id"),
    "instances": ("instance_id",),
    "label_counts": ("file_id", "label"),
    "tags": ("tag",),
    "roles": ("principal", "scope_id"),
    "slices": ("name",),
    "arrays": ("name",),
    "array_chunks": ("array", "chunk"),
    "skeletons": ("label",),
}
"""The key of each versioned view: at most one current row per key and project."""


def _key_getter(columns: tuple[str, ...]) -> Callable[[Row], Key]:
    if len(columns) == 1:
        (column,) = columns
        return lambda row: (row[column],)
    return itemgetter(*columns)


_KEY_OF = {table: _key_getter(columns) for table, columns in KEYS.items()}


def key_of(table: str, row: Row) -> Key:
    """The key of ``row`` in ``table``."""
    return _KEY_OF[table](row)


# -- what rules return ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Add:
    """``row`` is true in ``table`` from this commit's version on."""

    table: str
    row: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Close:
    """The current row of ``table`` with ``key`` is no longer true after this commit."""

    table: str
    key: Key


@dataclass(frozen=True, slots=True)
class Entry:
    """One line of the audit history: an entity's value before and after the event."""

    event: str
    entity: str
    entity_id: str
    before: Any
    after: Any
    file_id: UUID | None = None
    directory_id: UUID | None = None


@dataclass(frozen=True, slots=True)
class Count:
    """The file has ``delta`` more instances of ``label`` (summed over the commit)."""

    file_id: UUID
    label: str
    delta: int


RowChange = Add | Close
Change = Add | Close | Entry | Count


class ViewState(Protocol):
    """The views as a rule reads them: current rows, and the few questions rows by key cannot answer."""

    def row(self, table: str, key: Key) -> Row | None:
        """The current row of ``table`` with ``key``."""

    def existed(self, table: str, key: Key) -> bool:
        """Whether any version ever had a row with ``key`` (ids are never reused)."""

    def labels(self) -> Mapping[str, Row]:
        """The current label rows, by name (merged and retired labels included)."""

    def label_stored_as(self, stored: str) -> Row | None:
        """The current label whose instances are stored under ``stored`` (its first name; no two
        labels share one), so a rule finds a renamed label without a scan of every label."""

    def label_with_index(self, index: int) -> Row:
        """The current label with class ``index`` (every index ever given has one)."""

    def directory_named(self, name: str) -> bool:
        """Whether a current directory has ``name``."""

    def file_named(self, directory_id: UUID, name: str) -> bool:
        """Whether a file named ``name`` is in the directory now."""

    def holders(self, file_id: UUID) -> Mapping[UUID, int | None]:
        """Every directory that ever held the file, with the end of its latest membership
        (``None`` while it holds the file)."""

    def grants(self, principal: str) -> Mapping[UUID, int]:
        """The principal's rank per scope (``PROJECT_SCOPE`` or a directory id)."""

    def instances_of(self, file_id: UUID) -> Sequence[Row]:
        """The file's current instances."""


class State(ViewState, Protocol):
    """A ``ViewState`` the judging loop can change, one row change at a time."""

    def apply(self, change: RowChange, version: int) -> None:
        """Make ``change`` at ``version``; later reads see it."""


# -- the context every rule gets -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Judging:
    """One commit being judged: who, in which project, at which version, against which state.

    Its lookups raise the errors users see, naming the project.
    """

    commit: Commit
    project_name: str
    version: int
    state: ViewState

    def entry(self, event: Event, entity: str, entity_id: object, before: Any, after: Any, **where: Any) -> Entry:
        return Entry(event.type, entity, str(entity_id), before, after, **where)

    def directory(self, directory_id: UUID) -> Row:
        found = self.state.row("directories", (directory_id,))
        if found is None:
            raise NotFoundError(f"directory {directory_id} does not exist in project {self.project_name!r}")
        return found

    def file(self, file_id: UUID) -> Row:
        found = self.state.row("files", (file_id,))
        if found is None:
            raise NotFoundError(f"file {file_id} does not exist in project {self.project_name!r}")
        return found

    def instance(self, instance_id: UUID, expected_revision: int) -> Row:
        found = self.state.row("instances", (instance_id,))
        if found is None:
            raise NotFoundError(f"instance {instance_id} does not exist in project {self.project_name!r}")
        if found["revision"] != expected_revision:
            raise ConflictError(
                f"instance {instance_id} is at revision {found['revision']} but the edit expected revision "
                f"{expected_revision}: someone changed it first; reload it and edit again"
            )
        return found

    def label(self, name: str) -> Row:
        """The current row of label ``name``; a name it had before a rename is not one."""
        defined = self.state.labels()
        found = defined.get(name)
        if found is not None:
            return found
        renamed = self.state.label_stored_as(name)
        if renamed is not None:
            raise NotFoundError(
                f"label {name!r} was renamed to {renamed['name']!r} in project {self.project_name!r}; "
                f"use {renamed['name']!r}"
            )
        raise NotFoundError(
            f"label {name!r} is not defined in project {self.project_name!r}; "
            f"defined labels: {', '.join(sorted(defined)) or 'none'}"
        )

    def usable_label(self, name: str, *, kept: str | None = None) -> Row:
        """The label an instance may be given: active, or retired if the instance already reads as
        it (``kept``: the stored name the instance has; it may be a label merged into this one)."""
        found = self.label(name)
        state = label_state(found)
        if state == MERGED:
            into = self.label_by_index(found["into"])["name"]
            raise ConflictError(
                f"label {name!r} was merged into {into!r} in project {self.project_name!r}; use {into!r}"
            )
        if state == RETIRED and (kept is None or self.label_name_of(kept) != found["name"]):  # merged-in ones too
            raise ConflictError(
                f"label {name!r} is retired in project {self.project_name!r}: its instances stay, new ones are refused"
            )
        return found

    def label_by_index(self, index: int) -> Row:
        """The label with class ``index``, following merges to the label that holds it now."""
        found = self.state.label_with_index(index)
        while label_state(found) == MERGED:
            found = self.state.label_with_index(found["into"])
        return found

    def label_name_of(self, stored: str) -> str:
        """The name instances stored as ``stored`` go by now (after renames and merges)."""
        found = self.state.labels().get(stored)
        if found is not None and stored_name(found) == stored and label_state(found) != MERGED:
            return stored  # never renamed nor merged: the common case
        holder = self.state.label_stored_as(stored)
        assert holder is not None, f"instances stored as {stored!r}, which no label stores under"
        return str(self.label_by_index(holder["class_index"])["name"])

    def new_id(self, table: str, what: str, id_: UUID) -> None:
        if self.state.existed(table, (id_,)):
            raise ConflictError(f"{what} {id_} already exists in project {self.project_name!r}")

    def free_name_in(self, directory: Row, name: str) -> None:
        if self.state.file_named(directory["directory_id"], name):
            raise ConflictError(f"directory {directory['name']!r} already has a file named {name!r}")

    def existing_version(self, version: int) -> None:
        if version > self.version:
            raise NotFoundError(
                f"version {version} of project {self.project_name!r} does not exist; latest is {self.version - 1}"
            )

    def authorize(self, event: Event, *, directory: Row | None = None, file_id: UUID | None = None) -> None:
        """Raise ``AccessDenied`` unless the actor may cause ``event`` where it applies."""
        needed = EVENTS[event.type].needs
        if needed is None:
            return
        granted = self.state.grants(self.commit.actor)
        if directory is not None:
            rank, where = rank_in_directory(granted, directory), f"directory {directory['name']!r}"
        elif file_id is not None:
            holders = self.state.holders(file_id)
            rank = rank_on_file(granted, holders, self.directory)
            where = f"file {file_id}"
        else:
            rank, where = granted.get(PROJECT_SCOPE, 0), "the project"
        if rank < RANK[needed]:
            has = role_of_rank(rank)
            raise AccessDenied(
                f"{self.commit.actor} may not {event.type} in {where} of project {self.project_name!r}: "
                f"that needs {needed} or higher, {self.commit.actor} has {has or 'no role'} there"
            )


ACTIVE, RETIRED, MERGED = "active", "retired", "merged"
"""The states of a label."""


def stored_name(label: Row) -> str:
    """The name a label's instances and counts are stored under: its first name."""
    return str(label.get("stored_as") or label["name"])  # views made before renames hold NULL


def label_state(label: Row) -> str:
    return str(label.get("state") or ACTIVE)


def _public(row: Row) -> dict[str, Any]:
    """A row as the audit history shows it: ids as text."""
    return {k: str(v) if isinstance(v, UUID) else v for k, v in row.items()}


def _replace(table: str, before: Row | None, row: dict[str, Any]) -> list[Change]:
    """Close ``before`` (if there is one) and add ``row`` in its place."""
    closed: list[Change] = [] if before is None else [Close(table, key_of(table, before))]
    return [*closed, Add(table, row)]


# -- one rule per event type --------------------------------------------------------------------


def _project_created(j: Judging, e: ProjectCreated) -> list[Change]:
    # The opening checked that the project is new; its creator becomes its owner.
    owner = {"principal": j.commit.actor, "scope_id": PROJECT_SCOPE, "role": Role.owner.value}
    return [Add("roles", owner), j.entry(e, "project", e.project_id, None, {"name": e.name, "owner": j.commit.actor})]


def _free_label_name(j: Judging, name: str, label: Row | None = None) -> None:
    """Refuse ``name`` for ``label`` (None: a new one) if a label has it, or stores its
    instances under it (two labels' instances would become one)."""
    if name in j.state.labels():
        raise ConflictError(f"label {name!r} is already defined in project {j.project_name!r}")
    holder = j.state.label_stored_as(name)
    if holder is not None and (label is None or holder["class_index"] != label["class_index"]):
        raise ConflictError(
            f"label name {name!r} is still how label {holder['name']!r} (renamed from it) stores its instances "
            f"in project {j.project_name!r}; choose another name"
        )


def _label_defined(j: Judging, e: LabelDefined) -> list[Change]:
    j.authorize(e)
    _free_label_name(j, e.name)
    index = len(j.state.labels())  # labels are never removed (merged ones keep their row): indices never move
    # NULL, not the name and "active": so views made before labels could change (their rows
    # got these columns NULL) equal a rebuild, and `verify --deep` finds no difference.
    row = {"name": e.name, "class_index": index, "stored_as": None, "state": None, "into": None, "attributes": None}
    return [Add("labels", row), j.entry(e, "label", e.name, None, {"name": e.name, "class_index": index})]


def _changed_label(j: Judging, e: Event, before: Row, old: dict[str, Any], **changed: Any) -> list[Change]:
    """Close ``before`` and add it with ``changed``; the audit entry shows ``old`` and the changes."""
    after = dict(before) | {"stored_as": stored_name(before), "state": label_state(before)} | changed
    entry = j.entry(e, "label", stored_name(before), old, {k: changed[k] for k in old})
    return [Close("labels", (before["name"],)), Add("labels", after), entry]


def _not_merged(j: Judging, label: Row, doing: str) -> None:
    if label_state(label) == MERGED:
        into = j.label_by_index(label["into"])["name"]
        raise ConflictError(f"label {label['name']!r} was merged into {into!r}; a merged label cannot be {doing}")


def _label_renamed(j: Judging, e: LabelRenamed) -> list[Change]:
    j.authorize(e)
    label = j.label(e.name)
    _not_merged(j, label, "renamed")
    _free_label_name(j, e.new_name, label)
    return _changed_label(j, e, label, {"name": e.name}, name=e.new_name)


def _label_merged(j: Judging, e: LabelMerged) -> list[Change]:
    j.authorize(e)
    label, target = j.label(e.name), j.label(e.into)
    if e.name == e.into:
        raise InvalidInputError(f"label {e.name!r} cannot be merged into itself")
    _not_merged(j, label, "merged again")
    if label_state(target) != ACTIVE:
        raise ConflictError(f"label {e.into!r} is {label_state(target)}: labels can only be merged into an active one")
    _same_keypoints(j, e, label, target)
    old = {"state": label_state(label), "into": None}
    return _changed_label(j, e, label, old, state=MERGED, into=target["class_index"])


def _same_keypoints(j: Judging, e: LabelMerged, label: Row, target: Row) -> None:
    """A label with a skeleton merges only into one whose skeleton has as many keypoints: its
    keypoints instances read as the target's from then on, one point per keypoint of it."""
    source = j.state.row("skeletons", (stored_name(label),))
    if source is None:
        return
    into = j.state.row("skeletons", (stored_name(target),))
    if into is None or len(into["keypoints"]) != len(source["keypoints"]):
        has = "no skeleton" if into is None else f"a skeleton of {len(into['keypoints'])} keypoints"
        raise ConflictError(
            f"label {e.name!r} has a skeleton of {len(source['keypoints'])} keypoints and {e.into!r} has {has}: "
            f"its keypoints instances would fit no skeleton; declare {e.into!r} a skeleton of "
            f"{len(source['keypoints'])} keypoints first, or merge into a label that has one"
        )


def _label_retired(j: Judging, e: LabelRetired) -> list[Change]:
    j.authorize(e)
    label = j.label(e.name)
    _not_merged(j, label, "retired")
    if label_state(label) == RETIRED:
        raise ConflictError(f"label {e.name!r} is already retired in project {j.project_name!r}")
    return _changed_label(j, e, label, {"state": ACTIVE}, state=RETIRED)


def _label_attributes_declared(j: Judging, e: LabelAttributesDeclared) -> list[Change]:
    j.authorize(e)
    label = j.label(e.name)
    _not_merged(j, label, "given attributes")
    return _changed_label(j, e, label, {"attributes": label.get("attributes")}, attributes=stored_specs(e.attributes))


def _skeleton_declared(j: Judging, e: SkeletonDeclared) -> list[Change]:
    j.authorize(e)
    stored = stored_name(j.label(e.label))  # what a skeleton is kept under: it follows the label's renames
    before = j.state.row("skeletons", (stored,))
    if before is not None and len(before["keypoints"]) != len(e.keypoints):
        # Refused whether or not instances use it now: finding out would read every instance of
        # the label, and its instances at earlier versions still hold the first count.
        raise ConflictError(
            f"label {e.label!r} has a skeleton of {len(before['keypoints'])} keypoints, and its keypoints "
            f"instances hold one point each; a skeleton of {len(e.keypoints)} keypoints needs a new label "
            "(names and edges may change, the count may not)"
        )
    row = {"label": stored, "keypoints": list(e.keypoints), "skeleton": [list(edge) for edge in e.skeleton]}
    shown = None if before is None else {k: before[k] for k in ("keypoints", "skeleton")}
    entry = j.entry(e, "skeleton", stored, shown, {k: row[k] for k in ("keypoints", "skeleton")})  # as its label's
    return [*_replace("skeletons", before, row), entry]


def _directory_created(j: Judging, e: DirectoryCreated) -> list[Change]:
    j.authorize(e)
    j.new_id("directories", "directory", e.directory_id)
    if j.state.directory_named(e.name):
        raise ConflictError(f"project {j.project_name!r} already has a directory named {e.name!r}")
    values = {"directory_id": e.directory_id, "name": e.name, "access_type": e.access_type.value}
    entry = j.entry(e, "directory", e.directory_id, None, _public(values), directory_id=e.directory_id)
    return [Add("directories", values), entry]


def _join(j: Judging, e: Event, file_id: UUID, directory: Row) -> list[Change]:
    membership = {"directory_id": directory["directory_id"], "file_id": file_id}
    where = {"file_id": file_id, "directory_id": directory["directory_id"]}
    return [
        Add("memberships", membership),
        j.entry(e, "membership", file_id, None, {"directory": directory["name"]}, **where),
    ]


def _add_membership(j: Judging, e: Event, file_id: UUID, directory: Row, name: str) -> list[Change]:
    if j.state.row("memberships", (directory["directory_id"], file_id)) is not None:
        raise ConflictError(f"file {file_id} is already in directory {directory['name']!r}")
    j.free_name_in(directory, name)
    return _join(j, e, file_id, directory)


def _file_added(j: Judging, e: FileAdded) -> list[Change]:
    directory = j.directory(e.directory_id)
    j.authorize(e, directory=directory)
    j.new_id("files", "file", e.file_id)
    # In the views' column order, so that a copy's history lists the same keys in the same order
    # whether its source row came from the database or from this batch.
    described = e.model_dump(exclude={"type", "directory_id", "file_id"})
    values = {"file_id": e.file_id, **described, "copied_from": None, "created_version": j.version}
    entry = j.entry(e, "file", e.file_id, None, values | {"file_id": str(e.file_id)}, file_id=e.file_id)
    j.free_name_in(directory, e.name)  # a new file is in no directory yet
    return [Add("files", values), entry, *_join(j, e, e.file_id, directory)]


def _file_metadata_changed(j: Judging, e: FileMetadataChanged) -> list[Change]:
    before = j.file(e.file_id)
    j.authorize(e, file_id=e.file_id)
    entry = j.entry(e, "file", e.file_id, {"metadata": before["metadata"]}, {"metadata": e.metadata}, file_id=e.file_id)
    return [*_replace("files", before, dict(before) | {"metadata": e.metadata}), entry]


def _file_mirrored(j: Judging, e: FileMirrored) -> list[Change]:
    file, directory = j.file(e.file_id), j.directory(e.directory_id)
    j.authorize(e, directory=directory)
    j.authorize(e, file_id=e.file_id)
    return _add_membership(j, e, e.file_id, directory, file["name"])


def _file_removed(j: Judging, e: FileRemovedFromDirectory) -> list[Change]:
    directory = j.directory(e.directory_id)
    j.authorize(e, directory=directory)
    if j.state.row("memberships", (e.directory_id, e.file_id)) is None:
        raise NotFoundError(f"file {e.file_id} is not in directory {directory['name']!r}")
    where = {"file_id": e.file_id, "directory_id": e.directory_id}
    return [
        Close("memberships", (e.directory_id, e.file_id)),
        j.entry(e, "membership", e.file_id, {"directory": directory["name"]}, None, **where),
    ]


def copied_instance_id(file_id: UUID, source_instance_id: UUID) -> UUID:
    """The id of the copy in ``file_id`` of an instance: the same on every replay."""
    return uuid.uuid5(file_id, str(source_instance_id))


def _copied_instances(j: Judging, e: FileCopied) -> list[Change]:
    changes: list[Change] = []
    for source in sorted(j.state.instances_of(e.source_file_id), key=lambda r: r["instance_id"]):
        copy_id = copied_instance_id(e.file_id, source["instance_id"])
        j.new_id("instances", "instance", copy_id)
        copy = dict(source) | {"instance_id": copy_id, "file_id": e.file_id, "revision": 1}
        changes += [Add("instances", copy), Count(e.file_id, source["label"], +1)]
    return changes


def _file_copied(j: Judging, e: FileCopied) -> list[Change]:
    source, directory = j.file(e.source_file_id), j.directory(e.directory_id)
    j.authorize(e, directory=directory)
    j.authorize(e, file_id=e.source_file_id)
    j.new_id("files", "file", e.file_id)
    values = dict(source) | {"file_id": e.file_id, "copied_from": e.source_file_id, "created_version": j.version}
    copies = _copied_instances(j, e) if e.with_instances else []
    entry = j.entry(e, "file", e.file_id, None, _public(values), file_id=e.file_id)
    membership = _add_membership(j, e, e.file_id, directory, source["name"])
    return [Add("files", values), *copies, entry, *membership]


def _shape(e: InstanceAdded | InstanceChanged) -> dict[str, Any]:
    """The instance's columns, as JSON gives them back (lists, not tuples): an overlay row and
    a stored one must compare equal. No parts, mask, visibility, frame or track are NULL, as in
    rows made before them."""
    return {
        "label": e.label,
        "kind": e.kind.value,
        "points": [list(p) for p in e.points],
        "attributes": e.attributes,
        "parts": list(e.parts) or None,
        "mask": None if e.mask is None else _mask(e.mask),
        "visibility": list(e.visibility) or None,
        "frame": e.frame,
        "track": e.track,
    }


def _mask(mask: Mask) -> dict[str, Any]:
    """A mask's JSON: its counts inline, or its blob's digest and length (the other pair is left
    out, not null, so the rows of inline masks stay as they were before masks had blobs)."""
    return mask.model_dump(exclude_none=True) | {"size": list(mask.size), "bbox": list(mask.bbox)}


_WHERE_SET = ("parts", "visibility", "frame", "track")
"""Columns the history shows only where set: a picture's instance has no frame or track, a
single-ring polygon no parts, and only keypoints have visibility."""


def _stored(e: InstanceAdded | InstanceChanged, label: Row) -> dict[str, Any]:
    """The instance's columns as the instances view stores them: the label by its stored name."""
    check_attributes(e.label, label.get("attributes"), e.attributes)
    return _shape(e) | {"label": stored_name(label)}


def _shown(j: Judging, row: Row) -> dict[str, Any]:
    """An instance as the audit history shows it: its label by the name it goes by now, a mask
    by its extent and its counts' digest (a history of mask edits need not hold every mask
    again: the views at each version do)."""
    shown = {k: row[k] for k in ("label", "kind", "points", "attributes", "revision")}
    shown["label"] = j.label_name_of(row["label"])
    shown |= {k: row[k] for k in _WHERE_SET if row.get(k) is not None}
    if (mask := row.get("mask")) is not None and "counts" in mask:
        digest = hashlib.sha256(mask["counts"].encode()).hexdigest()  # the sha256 its blob would have
        shown["mask"] = {k: v for k, v in mask.items() if k != "counts"} | {"counts_sha256": digest}
    elif mask is not None:
        shown["mask"] = mask
    return shown


def _fits(e: InstanceAdded | InstanceChanged, file: Row) -> None:
    """Raise ``InvalidInputError`` unless the instance fits ``file``: its points (those labelled)
    and mask on the picture, its frame one the file has."""
    check_inside(placed(e.kind, e.points, e.visibility), file["width"], file["height"])
    if e.mask is not None:
        check_mask_fits(e.mask, file["width"], file["height"])
    if e.frame is None:
        return
    frames = file.get("frames")
    if frames is None:
        raise InvalidInputError(
            f"frame {e.frame} given for an instance on file {file['name']!r} ({file['media_type']}), "
            "which is a single picture with no frames: leave frame out"
        )
    if e.frame >= frames:
        raise InvalidInputError(
            f"frame {e.frame} is past the end of file {file['name']!r}, which has {frames} frames (0 to {frames - 1})"
        )


def _fits_skeleton(j: Judging, e: InstanceAdded | InstanceChanged, label: Row) -> None:
    """A keypoints instance holds a point per keypoint of its label's skeleton (as of this commit)."""
    if e.kind is InstanceKind.keypoints:
        skeleton = j.state.row("skeletons", (stored_name(label),))
        check_keypoint_count(e.label, None if skeleton is None else tuple(skeleton["keypoints"]), len(e.points))


def _instance_added(j: Judging, e: InstanceAdded) -> list[Change]:
    file = j.file(e.file_id)
    j.authorize(e, file_id=e.file_id)
    _fits(e, file)
    label = j.usable_label(e.label)
    _fits_skeleton(j, e, label)
    shape = _stored(e, label)
    j.new_id("instances", "instance", e.instance_id)
    row = {"instance_id": e.instance_id, "file_id": e.file_id, "revision": 1, **shape}
    return [
        Add("instances", row),
        Count(e.file_id, shape["label"], +1),
        j.entry(e, "instance", e.instance_id, None, _shown(j, row), file_id=e.file_id),
    ]


def _instance_changed(j: Judging, e: InstanceChanged) -> list[Change]:
    before = j.instance(e.instance_id, e.expected_revision)
    file = j.file(before["file_id"])
    j.authorize(e, file_id=before["file_id"])
    _fits(e, file)
    label = j.usable_label(e.label, kept=before["label"])
    _fits_skeleton(j, e, label)
    shape = _stored(e, label)
    after = {"instance_id": e.instance_id, "file_id": before["file_id"], "revision": before["revision"] + 1}
    after |= shape
    return [
        *_replace("instances", before, after),
        Count(before["file_id"], before["label"], -1),
        Count(before["file_id"], shape["label"], +1),
        j.entry(e, "instance", e.instance_id, _shown(j, before), _shown(j, after), file_id=file["file_id"]),
    ]


def _instance_deleted(j: Judging, e: InstanceDeleted) -> list[Change]:
    before = j.instance(e.instance_id, e.expected_revision)
    j.authorize(e, file_id=before["file_id"])
    return [
        Close("instances", (e.instance_id,)),
        Count(before["file_id"], before["label"], -1),
        j.entry(e, "instance", e.instance_id, _shown(j, before), None, file_id=before["file_id"]),
    ]


def _version_tagged(j: Judging, e: VersionTagged) -> list[Change]:
    j.authorize(e)
    if (named := j.state.row("tags", (e.tag,))) is not None:
        raise ConflictError(_pinned(j.project_name, e.tag, named["version"], e.version))
    version = e.version or j.version
    j.existing_version(version)
    return [Add("tags", {"tag": e.tag, "version": version}), j.entry(e, "tag", e.tag, None, {"version": version})]


def _pinned(project: str, tag: str, named: int, asked: int | None) -> str:
    """Why a tag is not tagged again, and the one way to move it, as the SDK, CLI and API spell it."""
    to = asked or "V"
    return (
        f"tag {tag!r} already names version {named} of project {project!r}, and a tag pins its version "
        f"for good; to move it (admin): project.tag({tag!r}, {to}, force=True), `annolog tag {tag} {to} "
        f"--force`, or a MoveTag command"
    )


def _tag_moved(j: Judging, e: TagMoved) -> list[Change]:
    j.authorize(e)
    before = j.state.row("tags", (e.tag,))
    if before is None:
        raise NotFoundError(f"tag {e.tag!r} does not exist in project {j.project_name!r}")
    j.existing_version(e.version)
    entry = j.entry(e, "tag", e.tag, {"version": before["version"]}, {"version": e.version})
    return [*_replace("tags", before, {"tag": e.tag, "version": e.version}), entry]


def _scope(j: Judging, directory_id: UUID | None) -> UUID:
    return PROJECT_SCOPE if directory_id is None else j.directory(directory_id)["directory_id"]


def _guard_owner(j: Judging, e: RoleGranted | RoleRevoked) -> None:
    if e.role == Role.owner and j.state.grants(j.commit.actor).get(PROJECT_SCOPE) != RANK[Role.owner]:
        raise AccessDenied(f"only an owner of project {j.project_name!r} may grant or revoke owner ({e.type})")


def _role_granted(j: Judging, e: RoleGranted) -> list[Change]:
    j.authorize(e)
    scope = _scope(j, e.directory_id)
    _guard_owner(j, e)
    before = j.state.row("roles", (e.principal, scope))
    if before is not None and before["role"] == e.role:
        raise ConflictError(f"{e.principal} already has role {e.role} there in project {j.project_name!r}")
    after = {"role": e.role.value, "directory_id": e.directory_id and str(e.directory_id)}
    entry = j.entry(e, "role", e.principal, before and {"role": before["role"]}, after, directory_id=e.directory_id)
    return [*_replace("roles", before, {"principal": e.principal, "scope_id": scope, "role": e.role.value}), entry]


def _role_revoked(j: Judging, e: RoleRevoked) -> list[Change]:
    j.authorize(e)
    scope = _scope(j, e.directory_id)
    before = j.state.row("roles", (e.principal, scope))
    if before is None or before["role"] != e.role:
        raise NotFoundError(f"{e.principal} does not have role {e.role} there in project {j.project_name!r}")
    _guard_owner(j, e)
    return [
        Close("roles", (e.principal, scope)),
        j.entry(e, "role", e.principal, {"role": before["role"]}, None, directory_id=e.directory_id),
    ]


def _slice_saved(j: Judging, e: SliceSaved) -> list[Change]:
    # A slice over a restricted directory is read with that directory's grant, so saving one needs it too.
    j.authorize(e, directory=None if e.directory_id is None else j.directory(e.directory_id))
    before = j.state.row("slices", (e.name,))
    after = {"query": e.query, "directory_id": e.directory_id and str(e.directory_id)}
    entry = j.entry(e, "slice", e.name, before and {"query": before["query"]}, after, directory_id=e.directory_id)
    row = {"name": e.name, "query": e.query, "directory_id": e.directory_id}
    return [*_replace("slices", before, row), entry]


def _array(j: Judging, name: str) -> Row:
    found = j.state.row("arrays", (name,))
    if found is None:
        raise NotFoundError(f"array {name!r} does not exist in project {j.project_name!r}")
    return found


def _same_ndim(array: Row, shape: Sequence[Any], what: str) -> None:
    try:
        check_ndim(shape, len(array["shape"]), what)
    except ValueError as exc:
        raise InvalidInputError(f"array {array['name']!r}: {exc}") from exc


def _array_created(j: Judging, e: ArrayCreated) -> list[Change]:
    j.authorize(e)
    if j.state.row("arrays", (e.name,)) is not None:  # arrays are never removed: current is ever
        raise ConflictError(f"project {j.project_name!r} already has an array named {e.name!r}")
    row = e.model_dump(exclude={"type"}) | {"revision": 1, "created_version": j.version}
    row["shape"], row["chunks"] = list(e.shape), list(e.chunks)
    return [Add("arrays", row), j.entry(e, "array", e.name, None, row)]


def _chunks_written(j: Judging, array: Row, writes: Sequence[ChunkWrite], bounds: Sequence[int]) -> list[Change]:
    """Each chunk's new row, if its write read the revision the chunk is at; ``bounds`` is the grid."""
    name, changes = array["name"], []
    for write in writes:
        coords = chunk_coords(write.chunk)
        if len(coords) != len(bounds) or any(c >= b for c, b in zip(coords, bounds)):
            raise InvalidInputError(f"chunk {write.chunk} lies outside array {name!r}, whose chunk grid is {bounds}")
        before = j.state.row("array_chunks", (name, write.chunk))
        revision = 0 if before is None else before["revision"]
        if write.expected_revision is not None and write.expected_revision != revision:
            raise ConflictError(
                f"chunk {write.chunk} of array {name!r} is at revision {revision} but the write read revision "
                f"{write.expected_revision}: someone wrote it first; read it again and write again"
            )
        stored = {"sha256": write.sha256, "size": write.size, "revision": revision + 1}
        changes += _replace("array_chunks", before, {"array": name, "chunk": write.chunk, **stored})
    return changes


def _array_chunks_written(j: Judging, e: ArrayChunksWritten) -> list[Change]:
    j.authorize(e)
    array = _array(j, e.array)
    if e.expected_shape is not None and list(e.expected_shape) != array["shape"]:
        raise ConflictError(
            f"array {e.array!r} has shape {tuple(array['shape'])} but the write read shape {e.expected_shape}: "
            "it was resized since; read it again and write again"
        )
    if e.region is not None:
        _same_ndim(array, e.region, "the region written")
    changes = _chunks_written(j, array, e.chunks, grid(array["shape"], array["chunks"]))
    region = None if e.region is None else [list(r) for r in e.region]
    after = {"region": region, "chunks": len(e.chunks)}
    entry = j.entry(e, "array", e.array, {"revision": array["revision"]}, after | {"revision": array["revision"] + 1})
    return [*changes, *_replace("arrays", array, dict(array) | {"revision": array["revision"] + 1}), entry]


def _array_resized(j: Judging, e: ArrayResized) -> list[Change]:
    j.authorize(e)
    array = _array(j, e.array)
    _same_ndim(array, e.shape, "the new shape")
    if array["revision"] != e.expected_revision:
        raise ConflictError(
            f"array {e.array!r} is at revision {array['revision']} but the resize read revision "
            f"{e.expected_revision}: it was written since; read it again and resize again"
        )
    # The chunks a shrink clears lie in the old grid; the edges it rewrites in both.
    kept = grid(e.shape, array["chunks"])
    bounds = [max(old, new) for old, new in zip(grid(array["shape"], array["chunks"]), kept)]
    for write in e.chunks:
        if write.sha256 is not None and any(c >= k for c, k in zip(chunk_coords(write.chunk), kept)):
            raise InvalidInputError(
                f"chunk {write.chunk} lies outside the new shape {e.shape} of array {e.array!r}: a resize may "
                "only clear it (sha256 None), not write it"
            )
    changes = _chunks_written(j, array, e.chunks, bounds)
    after = dict(array) | {"shape": list(e.shape), "revision": array["revision"] + 1}
    entry = j.entry(e, "array", e.array, {"shape": array["shape"]}, {"shape": after["shape"]})
    return [*changes, *_replace("arrays", array, after), entry]


# -- the registry --------------------------------------------------------------------------------

Rule = Callable[[Judging, Any], list[Change]]


@dataclass(frozen=True)
class EventType:
    """Everything the projector knows of one event type."""

    model: type[Model]
    needs: Role | None
    """The least role the actor needs; None for ``ProjectCreated`` (its actor becomes owner)."""
    rule: Rule


EVENTS: dict[str, EventType] = {
    "ProjectCreated": EventType(ProjectCreated, None, _project_created),
    "LabelDefined": EventType(LabelDefined, Role.editor, _label_defined),
    "DirectoryCreated": EventType(DirectoryCreated, Role.editor, _directory_created),
    "FileAdded": EventType(FileAdded, Role.editor, _file_added),
    "FileMetadataChanged": EventType(FileMetadataChanged, Role.editor, _file_metadata_changed),
    "FileMirrored": EventType(FileMirrored, Role.editor, _file_mirrored),
    "FileRemovedFromDirectory": EventType(FileRemovedFromDirectory, Role.editor, _file_removed),
    "FileCopied": EventType(FileCopied, Role.editor, _file_copied),
    "InstanceAdded": EventType(InstanceAdded, Role.annotator, _instance_added),
    "InstanceChanged": EventType(InstanceChanged, Role.annotator, _instance_changed),
    "InstanceDeleted": EventType(InstanceDeleted, Role.annotator, _instance_deleted),
    "VersionTagged": EventType(VersionTagged, Role.editor, _version_tagged),
    "TagMoved": EventType(TagMoved, Role.admin, _tag_moved),
    "RoleGranted": EventType(RoleGranted, Role.admin, _role_granted),
    "RoleRevoked": EventType(RoleRevoked, Role.admin, _role_revoked),
    "SliceSaved": EventType(SliceSaved, Role.editor, _slice_saved),
    "ArrayCreated": EventType(ArrayCreated, Role.editor, _array_created),
    "ArrayChunksWritten": EventType(ArrayChunksWritten, Role.editor, _array_chunks_written),
    "ArrayResized": EventType(ArrayResized, Role.editor, _array_resized),
    "LabelRenamed": EventType(LabelRenamed, Role.admin, _label_renamed),
    "LabelMerged": EventType(LabelMerged, Role.admin, _label_merged),
    "LabelRetired": EventType(LabelRetired, Role.admin, _label_retired),
    "LabelAttributesDeclared": EventType(LabelAttributesDeclared, Role.admin, _label_attributes_declared),
    "SkeletonDeclared": EventType(SkeletonDeclared, Role.editor, _skeleton_declared),
}
"""Every event type by name: the one place that says what an event needs and does."""


# -- judging one commit ----------------------------------------------------------------------------


def opening(commit: Commit, found: tuple[str, int] | None, name_taken: Callable[[str], bool]) -> tuple[str, int]:
    """The project's name and version before ``commit``, given the project row ``found``
    (name, version) and a test of whether a project name is taken.

    Only a commit that starts with ``ProjectCreated`` may open a project that does not exist.
    """
    first = commit.events[0]
    if not isinstance(first, ProjectCreated):
        if found is None:
            raise NotFoundError(f"project {commit.project_id} does not exist")
        if any(isinstance(e, ProjectCreated) for e in commit.events):
            raise InvalidInputError("ProjectCreated must be the first event of its commit")
        return found
    if found is not None:
        raise ConflictError(f"project {found[0]!r} already exists")
    if first.project_id != commit.project_id:
        raise InvalidInputError(f"ProjectCreated is for {first.project_id} but the commit is for {commit.project_id}")
    if name_taken(first.name):
        raise ConflictError(f"a project named {first.name!r} already exists")
    return first.name, 0


def _counted(state: State, deltas: Iterable[tuple[tuple[UUID, str], int]]) -> list[RowChange]:
    """The label-count rows that sum a commit's deltas into the counts before it."""
    changes: list[RowChange] = []
    for (file_id, label), delta in sorted(deltas):
        if not delta:
            continue
        before = state.row("label_counts", (file_id, label))
        count = (before["count"] if before is not None else 0) + delta
        if before is not None:
            changes.append(Close("label_counts", (file_id, label)))
        if count > 0:
            changes.append(Add("label_counts", {"file_id": file_id, "label": label, "count": count}))
    return changes


def judge(commit: Commit, project_name: str, version: int, state: State) -> list[Entry]:
    """Apply every event of ``commit`` to ``state`` at ``version``, in order, and return the
    audit entries; raises the first rule the commit breaks (``state`` then holds a partial
    commit that the caller must drop)."""
    j = Judging(commit, project_name, version, state)
    entries: list[Entry] = []
    deltas: Counter[tuple[UUID, str]] = Counter()
    for event in commit.events:
        for change in EVENTS[event.type].rule(j, event):
            if isinstance(change, Entry):
                entries.append(change)
            elif isinstance(change, Count):
                deltas[(change.file_id, change.label)] += change.delta
            else:
                state.apply(change, version)
    for change in _counted(state, deltas.items()):
        state.apply(change, version)
    return entries
