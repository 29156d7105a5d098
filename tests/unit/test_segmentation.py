"""Segmentation targets of a pinned file (annolog.segmentation): which instances get a mask and a
box, drawn as pycocotools draws them, and which are left out of Mask R-CNN's rows."""

from uuid import UUID

import numpy as np
import pytest
from pycocotools import mask as coco_mask

from annolog import masks
from annolog.core.errors import InvalidInputError
from annolog.pinned import Entry, ShapeEntry
from annolog.projections.readmodels import MaskView
from annolog.segmentation import segments

HEIGHT, WIDTH = 30, 40
TWO_RINGS = ((20.0, 20.0), (30.0, 20.0), (30.0, 28.0), (0.0, 25.0), (5.0, 25.0), (5.0, 29.0), (0.0, 29.0))


def _road() -> tuple[np.ndarray, MaskView]:
    pixels = np.zeros((HEIGHT, WIDTH), dtype=bool)
    pixels[5:10, 3:20] = True
    return pixels, MaskView(**masks.encode(pixels).model_dump())


def _entry(*shapes: ShapeEntry, boxes: tuple[tuple[float, float, float, float], ...] = ()) -> Entry:
    return Entry(
        file_id=UUID(int=1),
        sha256="0" * 64,
        name="street.png",
        boxes=boxes,
        box_labels=tuple(7 for _ in boxes),
        tags=(),
        shapes=shapes,
    )


def test_masks_and_polygons_become_rows_of_box_label_and_mask_in_instance_order() -> None:
    pixels, road = _road()
    found = segments(
        _entry(ShapeEntry(0, "mask", (), mask=road), ShapeEntry(1, "polygon", TWO_RINGS, parts=(3, 4))),
        HEIGHT,
        WIDTH,
    )
    assert found.labels == (0, 1)
    assert found.boxes.tolist() == [[3, 5, 20, 10], [0, 20, 30, 29]]  # the mask's set pixels, the rings' extent
    assert found.masks.dtype == np.uint8 and found.masks.shape == (2, HEIGHT, WIDTH)
    assert np.array_equal(found.masks[0], pixels)
    drawn = coco_mask.decode(
        coco_mask.merge(coco_mask.frPyObjects([[20, 20, 30, 20, 30, 28], [0, 25, 5, 25, 5, 29, 0, 29]], HEIGHT, WIDTH))
    )
    assert np.array_equal(found.masks[1], drawn)  # both rings, as COCOeval draws them


def test_boxes_lines_points_and_shapes_with_an_empty_box_are_left_unmasked() -> None:
    flat = ShapeEntry(2, "polygon", ((1.0, 4.0), (9.0, 4.0), (5.0, 4.0)))  # all on one row: no area
    empty = MaskView(**masks.encode(np.zeros((HEIGHT, WIDTH))).model_dump())
    found = segments(
        _entry(
            ShapeEntry(3, "point", ((4.0, 4.0),)),
            flat,
            ShapeEntry(0, "mask", (), mask=empty),
            boxes=((1.0, 2.0, 8.0, 9.0),),
        ),
        HEIGHT,
        WIDTH,
    )
    assert found.boxes.shape == (0, 4) and found.masks.shape == (0, HEIGHT, WIDTH) and found.labels == ()
    assert [(s.label, s.kind, s.points) for s in found.unmasked] == [
        (7, "box", ((1.0, 2.0), (8.0, 9.0))),
        (3, "point", ((4.0, 4.0),)),
        (2, "polygon", flat.points),
        (0, "mask", ()),
    ]


def test_a_polygon_s_box_is_clipped_to_the_image_it_may_overhang_by_a_pixel() -> None:
    overhanging = ShapeEntry(1, "polygon", ((-1.0, -0.5), (WIDTH + 1.0, 0.0), (WIDTH + 1.0, HEIGHT + 1.0)))
    assert segments(_entry(overhanging), HEIGHT, WIDTH).boxes.tolist() == [[0, 0, WIDTH, HEIGHT]]


def test_a_mask_that_does_not_cover_the_decoded_image_is_refused_naming_the_file() -> None:
    _, road = _road()
    with pytest.raises(InvalidInputError, match=r"file 'street.png': a 40x30 mask does not cover its 30x40"):
        segments(_entry(ShapeEntry(0, "mask", (), mask=road)), WIDTH, HEIGHT)
