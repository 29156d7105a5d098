"""Commands: orders from users, checked without state, turned into the events they cause.

A command validates everything it can on its own (names, geometry, hashes) when it is
constructed; the rules that need state (does the file exist, is the revision current)
are judged later by the projector, in log order. Ids a command creates are generated
here, on the client, so that a retried command carries the same ids.
"""

from abc import abstractmethod
from typing import Annotated
from uuid import UUID

from pydantic import AfterValidator, Field

from annolog.core.arrays import ArrayShape, ArraySpec
from annolog.core.commit import Commit
from annolog.core.events import (
    LATEST,
    AccessType,
    ArrayChunksWritten,
    ArrayCreated,
    ArrayResized,
    ChunkWrites,
    DirectoryCreated,
    Event,
    FileAdded,
    FileCopied,
    FileDescription,
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
    Metadata,
    ProjectCreated,
    Region,
    Revision,
    Role,
    RoleGranted,
    RoleRevoked,
    SkeletonDeclared,
    SliceQuery,
    SliceSaved,
    TagMoved,
    TagName,
    Version,
    VersionTagged,
)
from annolog.core.geometry import Shape
from annolog.core.ids import project_id_for, uuid7
from annolog.core.labels import Declaration
from annolog.core.model import Model
from annolog.core.skeleton import Skeleton
from annolog.core.text import Name, PathName


class Command(Model):
    """An order; ``events()`` is what it causes if the projector accepts it."""

    @abstractmethod
    def events(self) -> tuple[Event, ...]:
        """The events this command causes, in order."""

    def commit(self, *, project_id: UUID, actor: str, commit_id: UUID | None = None) -> Commit:
        """This command as one commit of ``project_id`` by ``actor``.

        Pass the ``commit_id`` of an earlier attempt to make a retry idempotent.
        """
        return Commit(
            commit_id=commit_id or uuid7(),
            project_id=project_id,
            actor=actor,
            command=type(self).__name__,
            events=self.events(),
        )


class CreateProject(Command):
    name: PathName

    @property
    def project_id(self) -> UUID:
        return project_id_for(self.name)

    def events(self) -> tuple[Event, ...]:
        return (ProjectCreated(project_id=self.project_id, name=self.name),)


class DefineLabel(Command):
    name: Name

    def events(self) -> tuple[Event, ...]:
        return (LabelDefined(name=self.name),)


class RenameLabel(Command):
    """Call label ``name`` ``new_name`` from now on; it keeps its class index and instances."""

    name: Name
    new_name: Name

    def events(self) -> tuple[Event, ...]:
        return (LabelRenamed(**self.model_dump()),)


class MergeLabel(Command):
    """Fold label ``name`` into ``into``: its instances read and count as ``into`` from now on."""

    name: Name
    into: Name

    def events(self) -> tuple[Event, ...]:
        return (LabelMerged(**self.model_dump()),)


class RetireLabel(Command):
    """Refuse new instances of label ``name``; those it has stay."""

    name: Name

    def events(self) -> tuple[Event, ...]:
        return (LabelRetired(**self.model_dump()),)


class DeclareLabelAttributes(Command):
    """Declare the attributes instances of label ``name`` may carry, e.g. ``{"occluded": "bool"}``."""

    name: Name
    attributes: Declaration

    def events(self) -> tuple[Event, ...]:
        return (LabelAttributesDeclared(name=self.name, attributes=self.attributes),)


class DeclareSkeleton(Command, Skeleton):
    """Give ``label`` keypoints by name and the edges between them (0-based), COCO-style."""

    label: Name

    def events(self) -> tuple[Event, ...]:
        return (SkeletonDeclared(**self.model_dump()),)


class CreateDirectory(Command):
    name: PathName
    access_type: AccessType = AccessType.project
    directory_id: UUID = Field(default_factory=uuid7)

    def events(self) -> tuple[Event, ...]:
        return (DirectoryCreated(**self.model_dump()),)


class AddFile(Command, FileDescription):
    directory_id: UUID
    file_id: UUID = Field(default_factory=uuid7)

    def events(self) -> tuple[Event, ...]:
        return (FileAdded(**self.model_dump()),)


class ChangeFileMetadata(Command):
    file_id: UUID
    metadata: Metadata

    def events(self) -> tuple[Event, ...]:
        return (FileMetadataChanged(**self.model_dump()),)


class MirrorFile(Command):
    file_id: UUID
    directory_id: UUID

    def events(self) -> tuple[Event, ...]:
        return (FileMirrored(**self.model_dump()),)


class RemoveFileFromDirectory(Command):
    file_id: UUID
    directory_id: UUID

    def events(self) -> tuple[Event, ...]:
        return (FileRemovedFromDirectory(**self.model_dump()),)


class CopyFile(Command):
    source_file_id: UUID
    directory_id: UUID
    copy_instances: bool = True
    file_id: UUID = Field(default_factory=uuid7)

    def events(self) -> tuple[Event, ...]:
        return (
            FileCopied(
                file_id=self.file_id,
                source_file_id=self.source_file_id,
                directory_id=self.directory_id,
                with_instances=self.copy_instances,
            ),
        )


class AddInstance(Command, Shape):
    file_id: UUID
    instance_id: UUID = Field(default_factory=uuid7)

    def events(self) -> tuple[Event, ...]:
        return (InstanceAdded(**self.model_dump()),)


class ChangeInstance(Command, Shape):
    instance_id: UUID
    expected_revision: Revision

    def events(self) -> tuple[Event, ...]:
        return (InstanceChanged(**self.model_dump()),)


class DeleteInstance(Command):
    instance_id: UUID
    expected_revision: Revision

    def events(self) -> tuple[Event, ...]:
        return (InstanceDeleted(**self.model_dump()),)


def _not_latest(tag: str) -> str:
    if tag == LATEST:
        raise ValueError(f"a tag may not be named {LATEST!r}: that always means the newest version")
    return tag


NewTagName = Annotated[TagName, AfterValidator(_not_latest)]
"""A tag a command may create. Only commands refuse "latest": a tag of that name in an older
log still replays; it just cannot be read by name."""


class TagVersion(Command):
    """Name ``version``, or without one the version this very commit makes."""

    tag: NewTagName
    version: Version | None = None

    def events(self) -> tuple[Event, ...]:
        return (VersionTagged(**self.model_dump()),)


class MoveTag(Command):
    tag: TagName
    version: Version

    def events(self) -> tuple[Event, ...]:
        return (TagMoved(**self.model_dump()),)


class GrantRole(Command):
    principal: Name
    role: Role
    directory_id: UUID | None = None

    def events(self) -> tuple[Event, ...]:
        return (RoleGranted(**self.model_dump()),)


class RevokeRole(Command):
    principal: Name
    role: Role
    directory_id: UUID | None = None

    def events(self) -> tuple[Event, ...]:
        return (RoleRevoked(**self.model_dump()),)


class SaveSlice(Command):
    """Save ``query`` under ``name``, over one directory or (without one) the whole project."""

    name: Name
    query: SliceQuery
    directory_id: UUID | None = None

    def events(self) -> tuple[Event, ...]:
        return (SliceSaved(**self.model_dump()),)


class CreateArray(Command, ArraySpec):
    """A new array, all fill value; only its layout is stored."""

    name: PathName

    def events(self) -> tuple[Event, ...]:
        return (ArrayCreated(**self.model_dump()),)


class WriteArrayChunks(Command):
    """Replace chunks of an array (their bytes already stored), each on the condition its write read."""

    array: PathName
    chunks: Annotated[ChunkWrites, Field(min_length=1)]
    region: Region | None = None
    expected_shape: ArrayShape | None = None

    def events(self) -> tuple[Event, ...]:
        return (ArrayChunksWritten(**self.model_dump()),)


class ResizeArray(Command):
    """Change an array's shape, if nobody wrote it since its revision ``expected_revision`` was read."""

    array: PathName
    shape: ArrayShape
    expected_revision: Revision
    chunks: ChunkWrites = Field(default_factory=list)

    def events(self) -> tuple[Event, ...]:
        return (ArrayResized(**self.model_dump()),)


COMMANDS: dict[str, type[Command]] = {command.__name__: command for command in Command.__subclasses__()}
"""Every command by name: how a command travels over HTTP, ``{"command": name, "args": {...}}``."""
