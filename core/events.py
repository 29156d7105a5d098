"""Domain events: the facts the log records, named in the past tense.

An event says what happened, never how to undo it; the projector derives every view
from events alone. Events carry no project id (the commit that groups them does) and no
wall-clock time (so that replay is exact). Changing an event's fields means a new Avro
schema version in ``eventlog/schemas`` with defaults for what was added.
"""

from enum import StrEnum
from typing import Annotated, Literal, Union
from uuid import UUID

from pydantic import AfterValidator, Field

from annolog.core.arrays import ArrayShape, ArraySpec, ChunkKey
from annolog.core.geometry import Shape
from annolog.core.labels import Declaration
from annolog.core.model import INT32_MAX as INT32_MAX  # defined below masks, read from here by the entry points
from annolog.core.model import Model
from annolog.core.model import Sha256 as Sha256  # defined below masks, read from here by the layers above
from annolog.core.query import MAX_QUERY_LENGTH, parse
from annolog.core.skeleton import Skeleton
from annolog.core.text import JsonObject, Name, PathName, check_text

Metadata = JsonObject


def _not_a_version_number(tag: str) -> str:
    if tag.isdigit():
        raise ValueError(f"tag {tag!r} looks like a version number; '3' always means version 3")
    return tag


TagName = Annotated[
    str,
    Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"),
    AfterValidator(_not_a_version_number),
]
Version = Annotated[int, Field(ge=1, le=INT32_MAX)]


LATEST = "latest"
"""What a version argument writes for the newest version, in the SDK, the API, the CLI and the pages."""


def tag_of(version: int | str | None) -> str | None:
    """The tag a version argument asks for; None for a number or the latest. Only ASCII digits
    make a number: ``str.isdigit`` also takes '¹' and '٣', which ``int`` then refuses or misreads."""
    if isinstance(version, str) and version != LATEST and not (version.isascii() and version.isdigit()):
        return version
    return None


Revision = Annotated[int, Field(ge=1, le=INT32_MAX)]


class AccessType(StrEnum):
    project = "project"  # anyone with a role in the project
    restricted = "restricted"  # only principals granted this directory


class Role(StrEnum):
    owner = "owner"
    admin = "admin"
    editor = "editor"
    annotator = "annotator"
    viewer = "viewer"


class ProjectCreated(Model):
    type: Literal["ProjectCreated"] = "ProjectCreated"
    project_id: UUID
    name: PathName


class LabelDefined(Model):
    type: Literal["LabelDefined"] = "LabelDefined"
    name: Name


class LabelRenamed(Model):
    """The label's instances, counts and class index now go by ``new_name``; earlier versions keep ``name``."""

    type: Literal["LabelRenamed"] = "LabelRenamed"
    name: Name
    new_name: Name


class LabelMerged(Model):
    """From now on the label's instances read as ``into`` and count as it; its class slot stays, unused."""

    type: Literal["LabelMerged"] = "LabelMerged"
    name: Name
    into: Name


class LabelRetired(Model):
    """No new instances of the label; the ones it has stay, readable and editable."""

    type: Literal["LabelRetired"] = "LabelRetired"
    name: Name


class LabelAttributesDeclared(Model):
    """The label's attributes from now on (replacing any declared before); see ``core.labels``."""

    type: Literal["LabelAttributesDeclared"] = "LabelAttributesDeclared"
    name: Name
    attributes: Declaration


class SkeletonDeclared(Skeleton):
    """``label`` holds keypoints named ``keypoints``, joined by ``skeleton`` (0-based edges).

    Declaring again replaces the names and edges; the number of keypoints stays what it was
    first declared (the instances of the label hold that many points).
    """

    type: Literal["SkeletonDeclared"] = "SkeletonDeclared"
    label: Name


class DirectoryCreated(Model):
    type: Literal["DirectoryCreated"] = "DirectoryCreated"
    directory_id: UUID
    name: PathName
    access_type: AccessType = AccessType.project


class FileDescription(Model):
    """What a file is: its bytes' hash and what is known about them at ingest."""

    sha256: Sha256
    name: Name
    media_type: Name
    size: Annotated[int, Field(ge=0, le=2**63 - 1)]
    width: Annotated[int, Field(gt=0, le=INT32_MAX)] | None = None
    height: Annotated[int, Field(gt=0, le=INT32_MAX)] | None = None
    metadata: Metadata = Field(default_factory=dict)
    frames: Annotated[int, Field(gt=0, le=INT32_MAX)] | None = None
    """How many frames a video (or other multi-frame medium) has; None for a single picture,
    whose instances sit on no frame. Added in commit-v4 (older records read as None)."""
    fps: Annotated[float, Field(gt=0, allow_inf_nan=False)] | None = None
    """The average frame rate, frames per second, as the container states it; None when unknown."""


class FileAdded(FileDescription):
    type: Literal["FileAdded"] = "FileAdded"
    file_id: UUID
    directory_id: UUID


class FileMetadataChanged(Model):
    type: Literal["FileMetadataChanged"] = "FileMetadataChanged"
    file_id: UUID
    metadata: Metadata


class FileMirrored(Model):
    """The same file, with the same instances, is now also a member of ``directory_id``."""

    type: Literal["FileMirrored"] = "FileMirrored"
    file_id: UUID
    directory_id: UUID


class FileRemovedFromDirectory(Model):
    """The membership ends; the file and its instances stay (other directories may hold it)."""

    type: Literal["FileRemovedFromDirectory"] = "FileRemovedFromDirectory"
    file_id: UUID
    directory_id: UUID


class FileCopied(Model):
    """A new file over the source's blob; its lineage is kept in ``source_file_id``.

    With ``with_instances`` the source's instances (as of this commit) are copied too;
    each copy's id is ``uuid5(file_id, source instance id)`` so replay makes the same ids.
    """

    type: Literal["FileCopied"] = "FileCopied"
    file_id: UUID
    source_file_id: UUID
    directory_id: UUID
    with_instances: bool


class InstanceAdded(Shape):
    type: Literal["InstanceAdded"] = "InstanceAdded"
    instance_id: UUID
    file_id: UUID


class InstanceChanged(Shape):
    """The instance's whole new shape; applied only if its revision is still ``expected_revision``."""

    type: Literal["InstanceChanged"] = "InstanceChanged"
    instance_id: UUID
    expected_revision: Revision


class InstanceDeleted(Model):
    type: Literal["InstanceDeleted"] = "InstanceDeleted"
    instance_id: UUID
    expected_revision: Revision


class VersionTagged(Model):
    """``tag`` names ``version``; without a version it names the version this commit makes."""

    type: Literal["VersionTagged"] = "VersionTagged"
    tag: TagName
    version: Version | None = None


class TagMoved(Model):
    """A tag is immutable until moved, and the move is its own audited event."""

    type: Literal["TagMoved"] = "TagMoved"
    tag: TagName
    version: Version


class RoleGranted(Model):
    """``principal`` gets ``role`` in the project, or in one restricted directory."""

    type: Literal["RoleGranted"] = "RoleGranted"
    principal: Name
    role: Role
    directory_id: UUID | None = None


def _parses(query: str) -> str:
    parse(query)
    return query


SliceQuery = Annotated[
    str, Field(min_length=1, max_length=MAX_QUERY_LENGTH), AfterValidator(check_text), AfterValidator(_parses)
]


class SliceSaved(Model):
    """A named query, re-evaluated at whatever version the slice is read; saving again replaces it."""

    type: Literal["SliceSaved"] = "SliceSaved"
    name: Name
    query: SliceQuery
    directory_id: UUID | None = None


class RoleRevoked(Model):
    type: Literal["RoleRevoked"] = "RoleRevoked"
    principal: Name
    role: Role
    directory_id: UUID | None = None


class ArrayCreated(ArraySpec):
    """A new, empty array: every element reads as the fill value until written."""

    type: Literal["ArrayCreated"] = "ArrayCreated"
    name: PathName


class ChunkWrite(Model):
    """One chunk's new bytes, and what the writer read of it.

    ``expected_revision`` makes a partial write safe: the writer merged its elements into the
    chunk as it read it (0: never written), so the write holds only if nobody wrote the
    chunk since. A chunk written whole reads nothing and carries None.
    """

    chunk: ChunkKey
    sha256: Sha256 | None
    """The encoded chunk's blob; None when the chunk is all fill value again (nothing stored)."""
    size: Annotated[int, Field(ge=0, le=2**63 - 1)]
    expected_revision: Annotated[int, Field(ge=0, le=INT32_MAX)] | None


def _one_write_per_chunk(chunks: list[ChunkWrite]) -> list[ChunkWrite]:
    keys = [c.chunk for c in chunks]
    if len(set(keys)) != len(keys):
        twice = sorted({k for k in keys if keys.count(k) > 1})
        raise ValueError(f"chunks {', '.join(twice)} are written more than once")
    return chunks


ChunkWrites = Annotated[list[ChunkWrite], Field(max_length=100_000), AfterValidator(_one_write_per_chunk)]
Region = list[tuple[Annotated[int, Field(ge=0, le=2**63 - 1)], Annotated[int, Field(ge=0, le=2**63 - 1)]]]


class ArrayChunksWritten(Model):
    """Chunks of an array replaced, all in one commit; ``region`` is what the writer selected.

    ``expected_shape`` is the shape the writer saw: a write that raced a resize is a
    conflict (its edge chunks were cut for the old shape), retried against the new one.
    """

    type: Literal["ArrayChunksWritten"] = "ArrayChunksWritten"
    array: PathName
    chunks: Annotated[ChunkWrites, Field(min_length=1)]
    region: Region | None = None
    expected_shape: ArrayShape | None = None


class ArrayResized(Model):
    """The array's new shape; applied only if the array is still at ``expected_revision``.

    ``chunks`` clears the chunks the new shape leaves out and rewrites the edge chunks with
    the fill value past it, so that growing again shows the fill value, not old data.
    """

    type: Literal["ArrayResized"] = "ArrayResized"
    array: PathName
    shape: ArrayShape
    expected_revision: Revision
    chunks: ChunkWrites = Field(default_factory=list)


Event = Annotated[
    Union[
        ProjectCreated,
        LabelDefined,
        DirectoryCreated,
        FileAdded,
        FileMetadataChanged,
        FileMirrored,
        FileRemovedFromDirectory,
        FileCopied,
        InstanceAdded,
        InstanceChanged,
        InstanceDeleted,
        VersionTagged,
        TagMoved,
        RoleGranted,
        RoleRevoked,
        SliceSaved,
        ArrayCreated,
        ArrayChunksWritten,
        ArrayResized,
        LabelRenamed,
        LabelMerged,
        LabelRetired,
        LabelAttributesDeclared,
        SkeletonDeclared,
    ],
    Field(discriminator="type"),
]
"""Any domain event; ``type`` says which."""
