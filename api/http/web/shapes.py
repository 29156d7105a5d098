"""Instances as SVG shapes in the image's own pixel space (the SVG's viewBox is the image's
width and height), so the browser scales shapes and image together at any size."""

import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from uuid import UUID

from annolog.core.geometry import rings
from annolog.projections.readmodels import FileView, InstanceView


@dataclass(frozen=True)
class Shape:
    """One SVG element: its tag, its attributes (escaped by the template), and what it shows."""

    element: str
    attributes: dict[str, str]
    label: str
    color: str


def color(label: str) -> str:
    """A label's colour, the same on every page and every visit: its hue comes from a hash
    of the name (crc32, not ``hash()``, which changes per process)."""
    return f"hsl({zlib.crc32(label.encode()) % 360} 85% 45%)"


def _number(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _points(points: tuple[tuple[float, float], ...]) -> str:
    return " ".join(f"{_number(x)},{_number(y)}" for x, y in points)


def _dots(points: tuple[tuple[float, float], ...], visibility: tuple[int, ...], radius: float) -> str:
    """A keypoints instance as one path of a dot per labelled keypoint (two half-circle arcs
    each); keypoints not labelled (visibility 0) are placeholders and are not drawn."""
    r = _number(radius)
    return " ".join(
        f"M {_number(x - radius)},{_number(y)} a {r},{r} 0 1,0 {_number(2 * radius)},0 "
        f"a {r},{r} 0 1,0 {_number(-2 * radius)},0"
        for (x, y), v in zip(points, visibility)
        if v
    )


def _geometry(instance: InstanceView, radius: float) -> tuple[str, dict[str, str]] | None:
    points = instance.points
    if instance.kind == "box":
        (x0, y0), (x1, y1) = points
        return "rect", {"x": _number(x0), "y": _number(y0), "width": _number(x1 - x0), "height": _number(y1 - y0)}
    if instance.kind == "polygon" and instance.parts:  # one closed sub-path per ring
        return "path", {"d": " ".join(f"M {_points(ring)} Z" for ring in rings(points, instance.parts))}
    if instance.kind == "polygon":
        return "polygon", {"points": _points(points)}
    if instance.mask is not None:  # its extent: the page draws outlines, not pixels
        extent = dict(zip(("x", "y", "width", "height"), map(str, instance.mask.bbox)))
        return "rect", extent | {"class": "mask"}
    if instance.kind == "line":
        return "polyline", {"points": _points(points)}
    if instance.kind == "point":
        ((x, y),) = points
        return "circle", {"cx": _number(x), "cy": _number(y), "r": _number(radius), "class": "point"}
    if instance.kind == "keypoints":
        return "path", {"d": _dots(points, instance.visibility, radius), "class": "keypoints"}
    return None  # a tag has no geometry: it is listed, not drawn


def shapes(file: FileView, changes: Mapping[UUID, str] | None = None) -> list[Shape]:
    """The drawable instances of ``file``; none when its size is unknown (not an image).

    With ``changes`` (a diff's instance id → added, changed or deleted), each shape is
    classed by its change, ``unchanged`` when it has none, so a diff shows what moved.
    """
    if not file.width or not file.height:
        return []
    radius = max(file.width, file.height) / 100
    drawn = []
    for instance in file.instances:
        geometry = _geometry(instance, radius)
        if geometry is not None:
            element, attributes = geometry
            attributes |= {"stroke": color(instance.label), "data-instance": str(instance.instance_id)}
            if changes is not None:
                change = changes.get(instance.instance_id, "unchanged")
                attributes["class"] = f"{attributes.get('class', '')} {change}".strip()
            drawn.append(Shape(element, attributes, instance.label, color(instance.label)))
    return drawn
