"""Instance kinds and the shape rules their geometry must obey."""

import math
from collections.abc import Sequence
from enum import StrEnum
from itertools import accumulate, chain
from typing import Annotated

from pydantic import AfterValidator, Field, model_validator

from annolog.core.errors import InvalidInputError
from annolog.core.mask import Mask
from annolog.core.model import INT32_MAX, Model
from annolog.core.text import JsonObject, check_name

Point = tuple[float, float]
"""An (x, y) pixel coordinate; the origin is the image's top-left corner."""

Attributes = JsonObject
"""Free-form JSON attributes of an instance (e.g. ``{"score": 0.91, "occluded": true}``)."""

Track = (
    Annotated[int, Field(ge=-(2**63), le=2**63 - 1, strict=True)]
    | Annotated[str, Field(min_length=1, max_length=200), AfterValidator(check_name)]
)
"""A track id: a (64-bit) number or a name. ``5`` and ``"5"`` are different tracks."""


class InstanceKind(StrEnum):
    box = "box"
    polygon = "polygon"
    point = "point"
    line = "line"
    tag = "tag"
    mask = "mask"
    keypoints = "keypoints"


def _check_box(points: tuple[Point, ...]) -> None:
    (x_min, y_min), (x_max, y_max) = points
    if not (x_max > x_min and y_max > y_min):
        raise InvalidInputError(
            f"box {(x_min, y_min, x_max, y_max)} is empty or inverted: it needs x_min < x_max and y_min < y_max"
        )


# How many points each kind takes: (fewest, most); None means no upper bound.
_POINT_COUNTS: dict[InstanceKind, tuple[int, int | None]] = {
    InstanceKind.box: (2, 2),
    InstanceKind.polygon: (3, None),
    InstanceKind.point: (1, 1),
    InstanceKind.line: (2, None),
    InstanceKind.tag: (0, 0),
    InstanceKind.mask: (0, 0),  # its pixels are in ``Shape.mask``
    InstanceKind.keypoints: (1, None),  # one per keypoint of the label's skeleton (the rules check)
}


def check_geometry(kind: InstanceKind, points: tuple[Point, ...]) -> None:
    """Raise ``InvalidInputError`` unless ``points`` is a valid shape of ``kind``.

    A box is two points, (x_min, y_min) and (x_max, y_max), with positive area; a tag has
    no geometry at all, and a mask none in points. Coordinates must be finite numbers.
    """
    fewest, most = _POINT_COUNTS[kind]
    if len(points) < fewest or (most is not None and len(points) > most):
        wanted = str(fewest) if fewest == most else f"at least {fewest}"
        raise InvalidInputError(f"a {kind} needs {wanted} points, got {len(points)}")
    if not all(map(math.isfinite, chain.from_iterable(points))):
        raise InvalidInputError(f"{kind} coordinates must be finite numbers, got {points}")
    if kind is InstanceKind.box:
        _check_box(points)


EDGE_SLACK = 1.0
"""Pixels a point may lie past the image's edge: real datasets round box corners
outwards by a fraction of a pixel, and refusing those would refuse whole datasets."""


def check_inside(points: tuple[Point, ...], width: int | None, height: int | None) -> None:
    """Raise ``InvalidInputError`` unless every point lies on the ``width`` x ``height`` image.

    Files of unknown size (not images) take any finite point. Up to ``EDGE_SLACK`` pixels
    past an edge is accepted, so that boxes rounded by other tools still import; exports
    clip to the image.
    """
    if width is None or height is None:
        return
    for x, y in points:
        if not (-EDGE_SLACK <= x <= width + EDGE_SLACK and -EDGE_SLACK <= y <= height + EDGE_SLACK):
            raise InvalidInputError(
                f"point {(x, y)} lies outside its {width}x{height} image: "
                f"coordinates must be within 0..{width} and 0..{height} pixels"
            )


def rings(points: Sequence[Point], parts: Sequence[int]) -> list[tuple[Point, ...]]:
    """A polygon's rings: ``points`` split by ``parts`` (see ``check_parts``), or one ring without them."""
    ends = list(accumulate(parts or (len(points),)))
    return [tuple(points[start:end]) for start, end in zip([0, *ends], ends)]


def joined(polygon: Sequence[Sequence[Point]]) -> tuple[tuple[Point, ...], tuple[int, ...]]:
    """The points and parts of a polygon of these rings (a single ring has no parts): ``rings``' inverse."""
    points = tuple((x, y) for ring in polygon for x, y in ring)
    return points, tuple(len(ring) for ring in polygon) if len(polygon) > 1 else ()


def check_parts(kind: InstanceKind, parts: tuple[int, ...], points: tuple[Point, ...]) -> None:
    """Raise ``InvalidInputError`` unless ``parts`` splits a polygon's ``points`` into rings.

    A polygon of several parts (COCO's list of polygons for one object, e.g. a car behind a
    pole) keeps every vertex in ``points``, ring after ring, and the rings' lengths in
    ``parts``; a single ring has no ``parts``, so single-ring polygons read as they always
    did and every reader of ``points`` (boxes, exports) still sees all the vertices.
    """
    if not parts:
        return
    if kind is not InstanceKind.polygon:
        raise InvalidInputError(f"only a polygon has parts; a {kind} got parts {parts}")
    if len(parts) < 2 or min(parts) < 3 or sum(parts) != len(points):
        raise InvalidInputError(
            f"polygon parts {parts} must be two or more rings of at least 3 points each, adding up to the "
            f"{len(points)} points (a single ring has no parts)"
        )


Visibility = Annotated[int, Field(ge=0, le=2)]
"""COCO's keypoint flag: 0 not labelled (its point means nothing), 1 labelled but not visible, 2 visible."""


def check_visibility(kind: InstanceKind, visibility: tuple[int, ...], points: tuple[Point, ...]) -> None:
    """Raise ``InvalidInputError`` unless a keypoints instance, and only one, has a flag per point."""
    if kind is InstanceKind.keypoints and len(visibility) != len(points):
        raise InvalidInputError(
            f"a keypoints instance has one visibility flag per point: {len(points)} points, got {len(visibility)} flags"
        )
    if kind is not InstanceKind.keypoints and visibility:
        raise InvalidInputError(f"only a keypoints instance has visibility flags; a {kind} got {visibility}")


def placed(kind: InstanceKind, points: tuple[Point, ...], visibility: tuple[int, ...]) -> tuple[Point, ...]:
    """The points that lie on the image: all of them, but a keypoint not labelled (visibility 0)
    is a placeholder (COCO writes (0, 0)) and is neither bounded nor drawn."""
    if kind is not InstanceKind.keypoints:
        return points
    return tuple(p for p, v in zip(points, visibility) if v)


class Shape(Model):
    """What an instance is: a label, a kind, its geometry and attributes.

    Shared by the command that draws an instance, the one that edits it, and the
    events that record both, so the rules live in one place. A ``mask`` instance carries
    its pixels in ``mask`` and no points; a polygon of several rings says where each
    ends in ``parts``; a ``keypoints`` instance has a point per keypoint of its label's
    skeleton, in the skeleton's order, and their COCO visibility flags in ``visibility``.
    """

    label: Annotated[str, Field(min_length=1, max_length=200), AfterValidator(check_name)]
    kind: InstanceKind
    points: tuple[Point, ...] = ()
    attributes: Attributes = Field(default_factory=dict)
    parts: tuple[Annotated[int, Field(ge=0)], ...] = ()
    mask: Mask | None = None
    visibility: tuple[Visibility, ...] = ()
    frame: Annotated[int, Field(ge=0, le=INT32_MAX)] | None = None
    """The 0-based frame of a multi-frame file (a video) the instance is drawn on; None on a
    single picture, or for an instance of the whole video (a tag of the clip)."""
    track: Track | None = None
    """The object an instance follows across frames: the same track on frames 3 and 4 is the
    same car. CVAT numbers tracks, Label Studio and others name them, so both are kept as given."""

    @model_validator(mode="after")
    def _geometry_fits_kind(self) -> "Shape":
        check_geometry(self.kind, self.points)
        check_parts(self.kind, self.parts, self.points)
        check_visibility(self.kind, self.visibility, self.points)
        if (self.kind is InstanceKind.mask) != (self.mask is not None):
            got = "none" if self.mask is None else "one"
            raise InvalidInputError(f"a mask instance, and only one, carries a mask; a {self.kind} got {got}")
        return self
