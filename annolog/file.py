"""Files and instances in the SDK: values read at a version, with writes for latest handles."""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from uuid import UUID

from annolog import keypoints as kp
from annolog import masks
from annolog.core.commands import AddInstance, ChangeFileMetadata, ChangeInstance, CopyFile, DeleteInstance
from annolog.core.errors import InvalidInputError
from annolog.core.geometry import InstanceKind, Point, Shape, Track, joined, rings
from annolog.core.mask import RLE_MEDIA_TYPE, Mask
from annolog.projections.readmodels import FileView, InstanceView, MaskView, Outcome

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

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


class Rle(MaskView):
    """A mask as COCO writes it, its counts at hand: read from its blob when it has one."""

    counts: str


Rings = Sequence[Sequence[Point]]
"""A polygon of several parts: one ring of points per part."""


@dataclass(frozen=True)
class _Geometry:
    kind: InstanceKind
    points: tuple[Point, ...] = ()
    parts: tuple[int, ...] = ()
    mask: Mask | None = None
    visibility: tuple[int, ...] = ()


def _rings(polygon: Rings) -> _Geometry:
    return _Geometry(InstanceKind.polygon, *joined(polygon))


_IMPLIED = {
    "box": InstanceKind.box,
    "polygons": InstanceKind.polygon,
    "mask": InstanceKind.mask,
    "keypoints": InstanceKind.keypoints,
}
"""The kind each geometry argument draws."""


def _geometry(
    kind: InstanceKind | str | None,
    box: Box | None,
    points: Sequence[Point] | None,
    polygons: Rings | None,
    mask: "npt.ArrayLike | None",
    keypoints: Sequence[kp.Keypoint] | None,
) -> _Geometry:
    named = (("box", box), ("points", points), ("polygons", polygons), ("mask", mask), ("keypoints", keypoints))
    given = [name for name, value in named if value is not None]
    if len(given) > 1:
        raise InvalidInputError(
            f"give one geometry (box=, points=, polygons=, mask= or keypoints=), got {' and '.join(given)}"
        )
    implied = _IMPLIED.get(given[0] if given else "")
    if kind is not None and implied is not None and _kind(kind) != implied:
        raise InvalidInputError(f"{given[0]}= draws a {implied}, not a {kind}")
    if box is not None:
        x_min, y_min, x_max, y_max = box
        return _Geometry(InstanceKind.box, ((x_min, y_min), (x_max, y_max)))
    if polygons is not None:
        return _rings(polygons)
    if mask is not None:
        return _Geometry(InstanceKind.mask, mask=masks.encode(mask))
    if keypoints is not None:
        xy, visibility = kp.split(keypoints)
        return _Geometry(InstanceKind.keypoints, xy, visibility=visibility)
    if kind is None:
        raise InvalidInputError(
            "an instance needs box=(x_min, y_min, x_max, y_max), mask= (a height x width array), "
            "polygons= (rings of points), keypoints= ((x, y, visibility) per keypoint) or kind= (polygon, "
            "point, line, tag) with points="
        )
    return _Geometry(_kind(kind), tuple((x, y) for x, y in points or ()))


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
        points: Sequence[Point] | None = None,
        polygons: Rings | None = None,
        mask: "npt.ArrayLike | None" = None,
        keypoints: kp.Keypoints | None = None,
        attributes: dict[str, Any] | None = None,
        frame: int | None = None,
        track: Track | None = None,
    ) -> "Instance":
        """Draw an instance: ``box=(x_min, y_min, x_max, y_max)``, ``mask=`` (a height x width
        array, non-zero where the object is), ``polygons=`` (a polygon of several rings),
        ``keypoints=`` ((x, y, visibility) per keypoint of the label's skeleton, in its order,
        or a mapping by keypoint name: those left out are not labelled), or ``kind=`` and ``points=``.
        On a video, ``frame`` is the 0-based frame it is drawn on and ``track`` the object it
        follows across frames (the same track on every frame of one car).

        >>> road = file.add_instance("road", mask=pixels)  # doctest: +SKIP
        >>> road.mask.shape == (file.height, file.width)  # doctest: +SKIP
        True
        >>> clip.add_instance("car", box=(4, 4, 20, 16), frame=12, track=3)  # doctest: +SKIP
        >>> file.add_instance("person", keypoints={"head": (50, 10, 2)}).keypoints  # doctest: +SKIP
        [(50, 10, 2), (0.0, 0.0, 0)]
        """
        geometry = _geometry(kind, box, points, polygons, mask, self._in_order(label, keypoints))
        command = AddInstance(
            file_id=self.id,
            label=label,
            **_shape_fields(geometry, self._kept),
            attributes=attributes or {},
            frame=frame,
            track=track,
        )
        self._commit([command])
        view = InstanceView(instance_id=command.instance_id, file_id=self.id, revision=1, **_view_fields(command))
        instance = Instance(self, view, counts=None if geometry.mask is None else geometry.mask.counts)
        self.instances.append(instance)
        return instance

    def _in_order(self, label: str, keypoints: kp.Keypoints | None) -> Sequence[kp.Keypoint] | None:
        """Keypoints given by name, in the order of ``label``'s skeleton at the latest version."""
        if not isinstance(keypoints, Mapping):
            return keypoints
        skeleton = self.directory.project.skeletons().get(label)
        if skeleton is None:
            raise InvalidInputError(f"label {label!r} declares no skeleton, so its keypoints have no names")
        return kp.in_order(label, keypoints, skeleton.keypoints)

    def copy(self, directory: "Directory", *, copy_instances: bool = True) -> "File":
        """A new file over the same bytes in ``directory``, remembering it was copied from this one."""
        command = CopyFile(source_file_id=self.id, directory_id=directory.id, copy_instances=copy_instances)
        directory._writable("copy a file into it")
        directory._committed(self._commit([command]))
        return directory._files([command.file_id])[0]

    def set_metadata(self, metadata: dict[str, Any]) -> None:
        self._commit([ChangeFileMetadata(file_id=self.id, metadata=metadata)])
        self.metadata = metadata

    def _kept(self, mask: Mask) -> Mask:
        """``mask`` as it is committed: a large one's counts uploaded to the project as a blob."""
        project = self.directory.project
        return masks.kept(mask, lambda data: project.store_blob(data, name="mask.rle", media_type=RLE_MEDIA_TYPE))

    def _mask_counts(self, sha256: str) -> str:
        """The counts blob of a mask one of this file's instances has at the version it was read at."""
        scope = self.directory.scope.model_copy(update={"version": self.version})
        return self.directory.project.backend.read_mask(scope, self.id, sha256).decode("ascii")

    def _commit(self, commands: list[Any]) -> Outcome:
        self.directory._writable(f"change file {self.name!r}")
        outcome = self.directory.project.execute(commands)
        self.directory._committed(outcome)
        self.version = outcome.version
        return outcome

    def __repr__(self) -> str:
        return f"File({self.name!r}, {len(self.instances)} instances, version {self.version})"


def _shape_fields(geometry: _Geometry, kept: Callable[[Mask], Mask]) -> dict[str, Any]:
    return {
        "kind": geometry.kind,
        "points": geometry.points,
        "parts": geometry.parts,
        "mask": None if geometry.mask is None else kept(geometry.mask),
        "visibility": geometry.visibility,
    }


def _view_fields(shape: Shape) -> dict[str, Any]:
    """What an instance view says of ``shape`` (a command just accepted)."""
    fields = shape.model_dump(
        include={"label", "points", "attributes", "parts", "mask", "visibility", "frame", "track"}
    )
    return fields | {"kind": shape.kind.value}


class Instance:
    """A handle on one instance at one revision; edits name that revision.

    Editing through a handle whose revision someone else has moved on raises
    ``ConflictError``: the other edit is never lost. A successful edit moves the handle.
    """

    def __init__(self, file: File, view: InstanceView, *, counts: str | None = None) -> None:
        self.file = file
        self.id: UUID = view.instance_id
        self._set(view, counts)

    def _set(self, view: InstanceView, counts: str | None) -> None:
        """Take ``view``'s values; ``counts`` are its mask's when the caller has them at hand (a
        blob mask it just wrote), so they are not read back."""
        self.label, self.kind, self.points, self.attributes = (
            view.label,
            InstanceKind(view.kind),
            view.points,
            view.attributes,
        )
        self.parts, self.stored_rle, self.revision = view.parts, view.mask, view.revision
        self._counts = counts if counts is not None else None if view.mask is None else view.mask.counts
        self.frame, self.track = view.frame, view.track  # where on a video: its frame, and the object it follows
        self.visibility = view.visibility

    @property
    def box(self) -> Box | None:
        """(x_min, y_min, x_max, y_max) for a box, else None."""
        if self.kind != InstanceKind.box:
            return None
        (x_min, y_min), (x_max, y_max) = self.points
        return x_min, y_min, x_max, y_max

    @property
    def polygons(self) -> list[tuple[Point, ...]]:
        """A polygon's rings (one, or one per part); empty for other kinds."""
        if self.kind != InstanceKind.polygon:
            return []
        return rings(self.points, self.parts)

    @property
    def rle(self) -> Rle | None:
        """A mask instance's mask as COCO compressed RLE, with its area and box; None for other kinds.

        A large mask's counts are a blob (``stored_rle`` names it, see ``core.mask``): they are read
        the first time they are asked for, through the file, and kept.
        """
        stored = self.stored_rle
        if stored is None:
            return None
        if self._counts is None:
            assert stored.counts_sha256 is not None  # a mask holds its counts inline or in a blob
            self._counts = self.file._mask_counts(stored.counts_sha256)
        return Rle(**stored.model_dump(exclude={"counts"}), counts=self._counts)

    @property
    def mask(self) -> "np.ndarray[Any, np.dtype[np.bool_]] | None":
        """A mask instance's pixels, height x width bool (decoded by pycocotools); None for other kinds."""
        rle = self.rle
        return None if rle is None else masks.decode(rle)

    @property
    def keypoints(self) -> list[kp.Keypoint]:
        """A keypoints instance's (x, y, visibility) per keypoint, in its skeleton's order; empty for other kinds."""
        return kp.joined(self.points, self.visibility)

    def update(
        self,
        *,
        label: str | None = None,
        box: Box | None = None,
        kind: InstanceKind | str | None = None,
        points: Sequence[Point] | None = None,
        polygons: Rings | None = None,
        mask: "npt.ArrayLike | None" = None,
        keypoints: kp.Keypoints | None = None,
        attributes: dict[str, Any] | None = None,
        frame: int | None = None,
        track: Track | None = None,
    ) -> "Instance":
        """Change the instance; what is not given stays as it is (on a video, its frame and track
        too; keypoints given by name replace them all: those left out are not labelled).

        >>> road.update(mask=wider)  # doctest: +SKIP
        """
        if box is None and points is None and polygons is None and mask is None and keypoints is None:
            stored = None if self.stored_rle is None else Mask(**self.stored_rle.model_dump(exclude_none=True))
            shape = _Geometry(self.kind, self.points, self.parts, stored, self.visibility)
        else:
            ordered = self.file._in_order(label or self.label, keypoints)
            shape = _geometry(kind, box, points, polygons, mask, ordered)
        command = ChangeInstance(
            instance_id=self.id,
            expected_revision=self.revision,
            label=label or self.label,
            **_shape_fields(shape, self.file._kept),
            attributes=self.attributes if attributes is None else attributes,
            frame=self.frame if frame is None else frame,
            track=self.track if track is None else track,
        )
        self.file._commit([command])
        self._set(
            InstanceView(
                instance_id=self.id, file_id=self.file.id, revision=self.revision + 1, **_view_fields(command)
            ),
            None if shape.mask is None else shape.mask.counts or self._counts,  # kept, or just drawn
        )
        return self

    def delete(self) -> None:
        self.file._commit([DeleteInstance(instance_id=self.id, expected_revision=self.revision)])
        self.file.instances = [i for i in self.file.instances if i.id != self.id]

    def __repr__(self) -> str:
        geometry = f"mask of {self.stored_rle.area} pixels" if self.stored_rle is not None else str(self.points)
        on = "" if self.frame is None else f", frame {self.frame}"
        return f"Instance({self.label!r}, {self.kind}, {geometry}{on}, revision {self.revision})"
