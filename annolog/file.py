"""Files and instances in the SDK: values read at a version, with writes for latest handles."""

from typing import TYPE_CHECKING, Any
from uuid import UUID

from annolog.core.commands import AddInstance, ChangeFileMetadata, ChangeInstance, CopyFile, DeleteInstance
from annolog.core.errors import InvalidInputError
from annolog.core.geometry import InstanceKind, Point, Track
from annolog.projections.readmodels import FileView, InstanceView, Outcome

if TYPE_CHECKING:
    from annolog.dataset import Dataset
    from annolog.directory import Directory

Box = tuple[float, float, float, float]
"""x_min, y_min, x_max, y_max in pixels."""


def _kind(kind: InstanceKind | str) -> InstanceKind:
    try:
        return InstanceKind(kind)
    except ValueError:
        kinds = ", ".join(InstanceKind)
        raise InvalidInputError(f"unknown instance kind {kind!r}; kinds: {kinds}") from None


def _geometry(
    kind: InstanceKind | str | None, box: Box | None, points: tuple[Point, ...] | list[Point] | None
) -> tuple[InstanceKind, tuple[Point, ...]]:
    if box is not None:
        if points is not None or (kind is not None and kind != InstanceKind.box):
            raise InvalidInputError("give either box= (a box) or kind= with points=, not both")
        x_min, y_min, x_max, y_max = box
        return InstanceKind.box, ((x_min, y_min), (x_max, y_max))
    if kind is None:
        raise InvalidInputError(
            "an instance needs box=(x_min, y_min, x_max, y_max) or kind= (polygon, point, line, tag)"
        )
    return _kind(kind), tuple((x, y) for x, y in points or ())


class File:
    """A file as read through a dataset (a directory or a slice) at the dataset's version."""

    def __init__(self, directory: "Dataset", view: FileView) -> None:
        self.directory = directory
        self.id: UUID = view.file_id
        self.name = view.name
        self.sha256 = view.sha256
        self.media_type = view.media_type
        self.size = view.size
        self.width, self.height = view.width, view.height
        self.frames, self.fps = view.frames, view.fps  # a video's frame count and rate; None for a picture
        self.metadata = view.metadata
        self.copied_from = view.copied_from
        self.version = view.version
        self.instances = [Instance(self, instance) for instance in view.instances]

    def read(self) -> bytes:
        """The file's bytes (checked against its sha256)."""
        return self.directory.project.backend.read_blob(self.directory.scope, self.id)

    def add_instance(
        self,
        label: str,
        *,
        box: Box | None = None,
        kind: InstanceKind | str | None = None,
        points: tuple[Point, ...] | list[Point] | None = None,
        attributes: dict[str, Any] | None = None,
        frame: int | None = None,
        track: Track | None = None,
    ) -> "Instance":
        """Draw an instance: ``box=(x_min, y_min, x_max, y_max)``, or ``kind=`` and ``points=``.

        On a video, ``frame`` is the 0-based frame it is drawn on and ``track`` the object it
        follows across frames (the same track on every frame of the same car):

        >>> clip.add_instance("car", box=(4, 4, 20, 16), frame=12, track=3)  # doctest: +SKIP
        """
        kind_, points_ = _geometry(kind, box, points)
        command = AddInstance(
            file_id=self.id,
            label=label,
            kind=kind_,
            points=points_,
            attributes=attributes or {},
            frame=frame,
            track=track,
        )
        self._commit([command])
        instance = Instance(
            self,
            InstanceView(
                instance_id=command.instance_id,
                file_id=self.id,
                label=label,
                kind=kind_.value,
                points=points_,
                attributes=attributes or {},
                revision=1,
                frame=command.frame,
                track=command.track,
            ),
        )
        self.instances.append(instance)
        return instance

    def copy(self, directory: "Directory", *, copy_instances: bool = True) -> "File":
        """A new file over the same bytes in ``directory``, remembering it was copied from this one."""
        command = CopyFile(source_file_id=self.id, directory_id=directory.id, copy_instances=copy_instances)
        directory._writable("copy a file into it")
        directory._committed(self._commit([command]))
        return directory._files([command.file_id])[0]

    def set_metadata(self, metadata: dict[str, Any]) -> None:
        self._commit([ChangeFileMetadata(file_id=self.id, metadata=metadata)])
        self.metadata = metadata

    def _commit(self, commands: list[Any]) -> Outcome:
        self.directory._writable(f"change file {self.name!r}")
        outcome = self.directory.project.execute(commands)
        self.directory._committed(outcome)
        self.version = outcome.version
        return outcome

    def __repr__(self) -> str:
        return f"File({self.name!r}, {len(self.instances)} instances, version {self.version})"


class Instance:
    """A handle on one instance at one revision; edits name that revision.

    Editing through a handle whose revision someone else has moved on raises
    ``ConflictError``: the other edit is never lost. A successful edit moves the handle.
    """

    def __init__(self, file: File, view: InstanceView) -> None:
        self.file = file
        self.id: UUID = view.instance_id
        self.frame, self.track = view.frame, view.track  # where on a video: its frame, and the object it follows
        self._set(view.label, InstanceKind(view.kind), view.points, view.attributes, view.revision)

    def _set(
        self, label: str, kind: InstanceKind, points: tuple[Point, ...], attributes: dict[str, Any], revision: int
    ) -> None:
        self.label, self.kind, self.points, self.attributes, self.revision = label, kind, points, attributes, revision

    @property
    def box(self) -> Box | None:
        """(x_min, y_min, x_max, y_max) for a box, else None."""
        if self.kind != InstanceKind.box:
            return None
        (x_min, y_min), (x_max, y_max) = self.points
        return x_min, y_min, x_max, y_max

    def update(
        self,
        *,
        label: str | None = None,
        box: Box | None = None,
        kind: InstanceKind | str | None = None,
        points: tuple[Point, ...] | list[Point] | None = None,
        attributes: dict[str, Any] | None = None,
        frame: int | None = None,
        track: Track | None = None,
    ) -> "Instance":
        """Change the instance; what is not given stays as it is (on a video, its frame and track too)."""
        if box is None and points is None:
            kind_, points_ = self.kind, self.points
        else:
            kind_, points_ = _geometry(kind or (None if box is None else InstanceKind.box), box, points)
        command = ChangeInstance(
            instance_id=self.id,
            expected_revision=self.revision,
            label=label or self.label,
            kind=kind_,
            points=points_,
            attributes=self.attributes if attributes is None else attributes,
            frame=self.frame if frame is None else frame,
            track=self.track if track is None else track,
        )
        self.file._commit([command])
        self.frame, self.track = command.frame, command.track
        self._set(command.label, command.kind, command.points, command.attributes, self.revision + 1)
        return self

    def delete(self) -> None:
        self.file._commit([DeleteInstance(instance_id=self.id, expected_revision=self.revision)])
        self.file.instances = [i for i in self.file.instances if i.id != self.id]

    def __repr__(self) -> str:
        on = "" if self.frame is None else f", frame {self.frame}"
        return f"Instance({self.label!r}, {self.kind}, {self.points}{on}, revision {self.revision})"
