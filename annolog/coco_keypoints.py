"""COCO keypoints: a category's ``keypoints``/``skeleton`` as a label's skeleton, an annotation's
``keypoints`` as a keypoints instance, and back.

A COCO keypoints annotation is one person with three things: its keypoints, its ``bbox`` and
``area`` (the area of its outline, which OKS, COCO's keypoint similarity, takes as the person's
scale), and usually a ``segmentation``. An annolog instance has one kind, so the annotation
becomes a keypoints instance, and what the instance cannot hold is kept, exactly as the file
had it, in its attributes under ``"coco"`` (``{"bbox": [...], "area": ..., "segmentation":
...}``) and written back from there on export. Deriving them instead would change what
COCOeval measures: the keypoints' extent is not the person's box, and OKS with another area
scores other distances as a match. A keypoints instance drawn in annolog has no ``"coco"``
attribute; its ``bbox`` and ``area`` are the extent of its labelled keypoints, as pycocotools'
``loadRes`` derives them for keypoint results. Editing an imported instance's keypoints
leaves what it kept as imported: drop ``attributes["coco"]`` to have them derived instead.
``num_keypoints`` is always the number of labelled keypoints (visibility 1 or 2), as COCO
defines it.

Skeleton edges are 1-based in COCO files and 0-based in annolog (``core.skeleton``).

>>> skeleton_of(["nose", "left_eye"], [[1, 2]]).skeleton
((0, 1),)
>>> category_fields(skeleton_of(["nose", "left_eye"], [[1, 2]]))
{'keypoints': ['nose', 'left_eye'], 'skeleton': [[1, 2]]}
"""

from collections.abc import Sequence
from typing import Any

from pydantic import JsonValue

from annolog.core.errors import InvalidInputError
from annolog.core.geometry import InstanceKind, Point, check_inside, placed
from annolog.core.skeleton import Skeleton
from annolog.plan import PlannedInstance

KEPT = "coco"
"""The attribute under which a keypoints instance keeps its annotation's ``bbox``, ``area`` and
``segmentation`` for export."""


def skeleton_of(keypoints: Sequence[str], edges: Sequence[Sequence[int]]) -> Skeleton:
    """A category's keypoints and its 1-based ``skeleton`` edges as a skeleton (0-based edges);
    ``InvalidInputError`` says why they are not one."""
    if any(min(edge, default=0) < 1 for edge in edges):
        raise InvalidInputError(f"skeleton edges count keypoints from 1 in a COCO file; got {[list(e) for e in edges]}")
    return Skeleton(keypoints=tuple(keypoints), skeleton=tuple((i - 1, j - 1) for i, j in edges))


def category_fields(skeleton: Skeleton) -> dict[str, Any]:
    """A skeleton as a COCO category's ``keypoints`` and (1-based) ``skeleton``."""
    return {"keypoints": list(skeleton.keypoints), "skeleton": [[i + 1, j + 1] for i, j in skeleton.skeleton]}


def planned_keypoints(
    label: str,
    values: Sequence[float],
    skeleton: Skeleton,
    attributes: dict[str, JsonValue],
    where: str,
    size: tuple[int, int],
) -> PlannedInstance:
    """COCO's flat ``[x1, y1, v1, ...]`` as a keypoints instance of ``label``; ``InvalidInputError``
    says why it cannot be one (a count other than the skeleton's, a flag other than 0, 1, 2, a
    labelled keypoint off the image)."""
    names = skeleton.keypoints
    if len(values) != 3 * len(names):
        raise InvalidInputError(
            f"{len(values)} values are not x, y, visibility for each of the {len(names)} keypoints "
            f"of label {label!r} ({', '.join(names)})"
        )
    flags = values[2::3]
    if any(flag not in (0, 1, 2) for flag in flags):
        raise InvalidInputError(f"a keypoint's visibility is 0, 1 or 2; got {sorted(set(flags))}")
    points: tuple[Point, ...] = tuple(zip(values[0::3], values[1::3]))
    visibility = tuple(int(flag) for flag in flags)
    check_inside(placed(InstanceKind.keypoints, points, visibility), *size)
    return PlannedInstance(label, InstanceKind.keypoints, points, attributes, where, visibility=visibility)


def kept(bbox: Sequence[float], area: float | None, segmentation: Any) -> dict[str, JsonValue]:
    """What a keypoints instance keeps of its annotation (see the module's docstring); a missing
    ``area`` is the box's, so that an export read back keeps the same."""
    width, height = bbox[2], bbox[3]
    held: dict[str, JsonValue] = {"bbox": list(bbox), "area": width * height if area is None else area}
    if segmentation:
        held["segmentation"] = segmentation
    return held


def keypoints_geometry(points: Sequence[Point], visibility: Sequence[int], held: JsonValue | None) -> dict[str, Any]:
    """A keypoints instance's ``keypoints``, ``num_keypoints``, and the ``bbox``, ``area`` and
    ``segmentation`` it kept, or else its labelled keypoints' extent."""
    labelled = [point for point, flag in zip(points, visibility) if flag]
    geometry: dict[str, Any] = {
        "keypoints": [value for (x, y), flag in zip(points, visibility) for value in (x, y, flag)],
        "num_keypoints": len(labelled),
    }
    if isinstance(held, dict) and "bbox" in held:
        return {**{key: held[key] for key in ("segmentation", "bbox", "area") if key in held}, **geometry}
    xs, ys = [x for x, _ in labelled] or [0.0], [y for _, y in labelled] or [0.0]
    width, height = round(max(xs) - min(xs), 10), round(max(ys) - min(ys), 10)
    return {"bbox": [min(xs), min(ys), width, height], "area": round(width * height, 10), **geometry}
