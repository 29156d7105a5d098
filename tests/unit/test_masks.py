"""Masks and polygons of several parts in core and its rules (no pycocotools there), and the SDK's
one bridge to pycocotools (annolog.masks)."""

import hashlib
from uuid import UUID

import numpy as np
import pytest
from pycocotools import mask as coco_mask

from annolog import masks
from annolog.api.http.web.shapes import shapes
from annolog.core.commit import Commit
from annolog.core.errors import InvalidInputError
from annolog.core.events import FileAdded, InstanceAdded, InstanceChanged
from annolog.core.geometry import InstanceKind, Shape
from annolog.core.mask import Mask, counts_of, in_blob
from annolog.core.rules import judge
from annolog.projections.readmodels import InstanceView
from tests.factories import file_view
from tests.unit.test_rules import EVERYWHERE, PHOTO, PROJECT, Judged, opened

ROAD = UUID(int=40)


@pytest.fixture
def project() -> Judged:
    return opened()


SMALL = Mask(size=(80, 100), counts="222", area=2, bbox=(1, 0, 1, 2))
"""Not the pixels those counts draw: core never decodes, so any consistent claim passes it."""


def _mask(size: tuple[int, int] = (80, 100), area: int = 2, bbox: tuple[int, int, int, int] = (1, 0, 1, 2)) -> dict:
    return {"size": size, "counts": "222", "area": area, "bbox": bbox}


@pytest.mark.parametrize(
    ("fields", "why"),
    [
        (_mask(bbox=(99, 0, 2, 2)), "lies outside its 100x80 mask"),
        (_mask(area=5), "area 5 does not fit its box"),
        (_mask(area=0), "only an empty mask has an empty box"),
        (_mask() | {"counts": "abc{"}, "should match pattern"),
        (_mask(size=(0, 3)), "greater than 0"),
    ],
)
def test_a_mask_whose_claims_cannot_be_true_is_refused_without_decoding_it(fields: dict, why: str) -> None:
    with pytest.raises(InvalidInputError, match=why):
        Mask(**fields)


def test_a_mask_instance_carries_a_mask_and_no_points_and_no_other_kind_carries_one() -> None:
    with pytest.raises(InvalidInputError, match="a mask got none"):
        Shape(label="road", kind=InstanceKind.mask)
    with pytest.raises(InvalidInputError, match="a box got one"):
        Shape(label="road", kind=InstanceKind.box, points=((0, 0), (1, 1)), mask=SMALL)
    with pytest.raises(InvalidInputError, match="a mask needs 0 points"):
        Shape(label="road", kind=InstanceKind.mask, points=((0, 0),), mask=SMALL)


@pytest.mark.parametrize(
    ("kind", "points", "parts", "why"),
    [
        (InstanceKind.polygon, 6, (3,), "two or more rings"),
        (InstanceKind.polygon, 6, (4, 3), "adding up to the 6 points"),
        (InstanceKind.polygon, 6, (2, 4), "at least 3 points each"),
        (InstanceKind.line, 6, (3, 3), "only a polygon has parts"),
    ],
)
def test_polygon_parts_that_do_not_split_its_points_into_rings_are_refused(
    kind: InstanceKind, points: int, parts: tuple[int, ...], why: str
) -> None:
    with pytest.raises(InvalidInputError, match=why):
        Shape(label="car", kind=kind, points=tuple((float(i), float(i % 2)) for i in range(points)), parts=parts)


def _road(mask: Mask = SMALL) -> InstanceAdded:
    return InstanceAdded(instance_id=ROAD, file_id=PHOTO, label="car", kind=InstanceKind.mask, mask=mask)


def test_a_mask_the_size_of_its_image_is_a_row_with_its_rle_and_counts_as_its_label(project: Judged) -> None:
    project.commit(_road())

    row = project.state.row("instances", (ROAD,))
    assert row is not None and row["mask"] == {"size": [80, 100], "counts": "222", "area": 2, "bbox": [1, 0, 1, 2]}
    assert row["points"] == [] and row["parts"] is None
    assert project.state.row("label_counts", (PHOTO, "car"))["count"] == 1  # type: ignore[index]


def test_a_mask_of_another_size_than_its_image_or_on_a_file_of_unknown_size_is_refused(project: Judged) -> None:
    with pytest.raises(InvalidInputError, match="mask of size 80x100 does not cover its 100x80 image"):
        project.commit(_road(Mask(size=(100, 80), counts="2", area=2, bbox=(0, 0, 1, 2))))
    document = UUID(int=21)
    project.commit(
        FileAdded(file_id=document, directory_id=EVERYWHERE, sha256="cd" * 32, name="a.pdf", media_type="x/pdf", size=1)
    )
    on_document = _road().model_copy(update={"file_id": document})
    with pytest.raises(InvalidInputError, match="needs an image of known width and height"):
        project.commit(on_document)


def test_the_audit_shows_a_mask_edit_by_extent_and_digest_not_by_its_counts(project: Judged) -> None:
    project.commit(_road())
    wider = Mask(size=(80, 100), counts="2l3", area=4, bbox=(0, 0, 2, 2))
    changed = InstanceChanged(instance_id=ROAD, expected_revision=1, label="car", kind=InstanceKind.mask, mask=wider)

    (entry,) = judge(Commit(project_id=PROJECT, actor="ana", command="Test", events=(changed,)), "s", 3, project.state)

    assert entry.before["mask"] == {
        "size": [80, 100],
        "area": 2,
        "bbox": [1, 0, 1, 2],
        "counts_sha256": hashlib.sha256(b"222").hexdigest(),
    }
    assert entry.after["mask"]["area"] == 4 and entry.after["revision"] == 2 and "counts" not in entry.after["mask"]


def test_encode_measures_as_pycocotools_and_decode_gives_the_pixels_back() -> None:
    pixels = np.zeros((5, 7), dtype=bool)
    pixels[1:4, 2:6] = True
    pixels[2, 3] = False

    mask = masks.encode(pixels)

    assert (mask.size, mask.area, mask.bbox) == ((5, 7), 11, (2, 1, 4, 3))
    assert (masks.decode(mask) == pixels).all()


def test_an_uncompressed_coco_rle_is_the_same_mask_as_its_compressed_form() -> None:
    pixels = np.zeros((4, 6), dtype=np.uint8, order="F")
    pixels[1:3, 1:5] = 1
    compressed = coco_mask.encode(pixels)
    runs = [4 + 1, 2, 1 + 1, 2, 1 + 1, 2, 1 + 1, 2, 1 + 4]  # column-major runs, zeros first

    from_runs = masks.from_coco({"size": [4, 6], "counts": runs})

    assert from_runs == masks.from_coco({"size": [4, 6], "counts": compressed["counts"].decode()})
    assert (masks.decode(from_runs) == pixels.astype(bool)).all()


@pytest.mark.parametrize(
    ("rle", "why"),
    [
        ({"size": [2, 3], "counts": [1, 2]}, "adding up to 2x3 = 6"),
        ({"size": [2, 3], "counts": "o" * 12}, "not a valid COCO RLE"),
        ({"size": [2], "counts": "6"}, "size \\[height, width\\]"),
        ({"size": [2, 3], "counts": 6}, "a string \\(compressed\\) or a list"),
    ],
)
def test_a_coco_rle_whose_runs_do_not_fill_its_size_is_refused(rle: dict, why: str) -> None:
    with pytest.raises(InvalidInputError, match=why):
        masks.from_coco(rle)


def test_a_mask_array_that_is_not_two_dimensional_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="height x width array of pixels, got shape \\(2, 2, 3\\)"):
        masks.encode(np.ones((2, 2, 3)))


def test_the_web_page_draws_a_polygon_of_several_parts_ring_by_ring_and_a_mask_by_its_extent() -> None:
    common = {"file_id": PHOTO, "label": "car", "attributes": {}, "revision": 1}
    parted = InstanceView(
        instance_id=UUID(int=1),
        kind="polygon",
        points=((0, 0), (9, 0), (0, 9), (20, 20), (30, 20), (20, 30)),
        parts=(3, 3),
        **common,
    )
    road = InstanceView(instance_id=UUID(int=2), kind="mask", points=(), mask=SMALL.model_dump(), **common)
    file = file_view(PHOTO, parted, road)

    ring, extent = shapes(file)

    assert (ring.element, ring.attributes["d"]) == ("path", "M 0,0 9,0 0,9 Z M 20,20 30,20 20,30 Z")
    assert (extent.element, extent.attributes["class"]) == ("rect", "mask")
    assert [extent.attributes[k] for k in ("x", "y", "width", "height")] == ["1", "0", "1", "2"]


def test_a_mask_carries_its_counts_inline_or_as_a_blob_never_both_nor_neither() -> None:
    inline = masks.encode(np.eye(4, dtype=bool))
    blob, data = in_blob(inline)

    assert (blob.counts, blob.counts_size) == (None, len(data)) and blob.counts_sha256 == hashlib.sha256(
        data
    ).hexdigest()
    assert counts_of(blob, data) == inline
    with pytest.raises(InvalidInputError, match="exactly one of them"):
        Mask(**(inline.model_dump() | {"counts_sha256": blob.counts_sha256, "counts_size": blob.counts_size}))
    with pytest.raises(InvalidInputError, match="exactly one of them"):
        Mask(size=(4, 4), area=4, bbox=(0, 0, 4, 4))


def test_a_mask_blob_whose_bytes_are_not_its_digest_is_refused() -> None:
    blob, data = in_blob(masks.encode(np.eye(4, dtype=bool)))

    with pytest.raises(InvalidInputError, match="do not match it"):
        counts_of(blob, data + b"0")


def test_the_sdk_keeps_small_masks_inline_and_uploads_the_counts_of_large_ones() -> None:
    uploaded: list[bytes] = []
    small = masks.encode(np.eye(40, dtype=bool))
    large = masks.encode(np.random.default_rng(0).random((600, 600)) < 0.5)

    assert masks.kept(small, uploaded.append) == small and uploaded == []
    kept = masks.kept(large, uploaded.append)
    assert kept.counts is None and uploaded == [(large.counts or "").encode()]
    assert masks.counts_digest(kept) == masks.counts_digest(large)
