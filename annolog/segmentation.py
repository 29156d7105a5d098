"""Instance-segmentation targets of a pinned file: which instances have pixels, their boxes and masks.

Mask R-CNN (torchvision's ``maskrcnn_resnet50_fpn``, and its kin) needs a mask for every box it
trains on. Of annolog's kinds, masks and polygons have pixels: a mask's box is the box of its
set pixels (stored with its RLE, so no decoding), a polygon's the extent of its vertices on the
image, and its mask is drawn as COCO's tools draw it. Boxes, lines and points have no pixels;
they are left to the caller, as is any mask or polygon whose box is empty — torchvision refuses
those, and its own COCO reference drops them the same way. Framework-free: the PyTorch and
TensorFlow adapters wrap the arrays.
"""

from dataclasses import dataclass
from typing import Any

import numpy as np

from annolog import masks
from annolog.core.errors import InvalidInputError
from annolog.core.geometry import InstanceKind, rings
from annolog.pinned import Entry, ShapeEntry

Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class Segments:
    """A file's instances with pixels, aligned row by row, and the instances that have none."""

    boxes: "np.ndarray[Any, np.dtype[np.float32]]"  # N x 4, x_min y_min x_max y_max in pixels
    labels: tuple[int, ...]  # class indices
    masks: "np.ndarray[Any, np.dtype[np.uint8]]"  # N x height x width, 1 inside
    unmasked: tuple[ShapeEntry, ...]  # boxes (kind "box"), lines, points, and shapes with an empty box


def segments(entry: Entry, height: int, width: int) -> Segments:
    """The segmentation targets of ``entry`` on its decoded ``height`` x ``width`` image."""
    boxed = [(shape, _box(shape, entry.name, height, width)) for shape in entry.shapes]
    kept = [(shape, box) for shape, box in boxed if box is not None]
    boxes = tuple(
        ShapeEntry(label, InstanceKind.box.value, ((x_min, y_min), (x_max, y_max)))
        for label, (x_min, y_min, x_max, y_max) in zip(entry.box_labels, entry.boxes)
    )
    return Segments(
        boxes=np.asarray([box for _, box in kept], dtype=np.float32).reshape(-1, 4),
        labels=tuple(shape.label for shape, _ in kept),
        masks=masks.stack([_region(shape) for shape, _ in kept], height, width),
        unmasked=boxes + tuple(shape for shape, box in boxed if box is None),
    )


def _box(shape: ShapeEntry, name: str, height: int, width: int) -> Box | None:
    """The box of a shape with pixels, clipped to the image; None for other kinds or an empty box."""
    if shape.mask is not None:
        if tuple(shape.mask.size) != (height, width):
            raise InvalidInputError(
                f"file {name!r}: a {shape.mask.size[1]}x{shape.mask.size[0]} mask does not cover "
                f"its {width}x{height} decoded image"
            )
        x, y, w, h = shape.mask.bbox
        box: Box = (x, y, x + w, y + h)
    elif shape.kind == InstanceKind.polygon:
        xs, ys = zip(*shape.points)
        box = (max(min(xs), 0.0), max(min(ys), 0.0), min(max(xs), width), min(max(ys), height))
    else:
        return None
    x_min, y_min, x_max, y_max = box
    return box if x_max > x_min and y_max > y_min else None


def _region(shape: ShapeEntry) -> masks.Region:
    if shape.mask is not None:
        return shape.mask
    return [[coordinate for point in ring for coordinate in point] for ring in rings(shape.points, shape.parts)]
