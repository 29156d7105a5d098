"""COCO segmentation through annolog: polygons of one or several parts and RLE masks (compressed
and not, ``iscrowd``) in and out, checked by pycocotools; YOLO's segment lines."""

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pycocotools import mask as coco_mask
from pycocotools.coco import COCO

import annolog
from annolog.core.mask import INLINE_COUNTS
from annolog.export import export_yolo
from annolog.ingest import import_coco
from tests.cocofiles import CATEGORIES, cocoeval_stats, exported_coco, quietly, write_coco, write_images

WIDTH, HEIGHT = 64, 48


def _pixels(top: int, left: int, size: int) -> np.ndarray:
    pixels = np.zeros((HEIGHT, WIDTH), dtype=np.uint8, order="F")
    pixels[top : top + size, left : left + size] = 1
    pixels[top + 2, left + 2] = 0
    return pixels


def _runs(pixels: np.ndarray) -> list[int]:
    """COCO's uncompressed RLE: column-major run lengths, zeros first (written here as a COCO file
    from another tool would hold it; pycocotools only ever writes the compressed form)."""
    flat = pixels.flatten(order="F")
    edges = np.flatnonzero(np.diff(flat)) + 1
    runs = np.diff(np.concatenate([[0], edges, [flat.size]])).tolist()
    return runs if flat[0] == 0 else [0, *runs]


def _segmented(images: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """On each image: a triangle, a polygon of two parts, a crowd as compressed RLE, one as runs."""
    annotations: list[dict[str, Any]] = []
    for image in images:
        compressed = coco_mask.encode(_pixels(5, 30, 10))
        shapes = [
            {"segmentation": [[2.0, 2.0, 20.0, 2.0, 11.0, 16.5]], "bbox": [2.0, 2.0, 18.0, 14.5], "iscrowd": 0},
            {
                "segmentation": [
                    [30.0, 30.0, 40.0, 30.0, 40.0, 40.0],
                    [50.0, 30.0, 60.0, 30.0, 60.0, 44.0, 50.0, 44.0],
                ],
                "bbox": [30.0, 30.0, 30.0, 14.0],
                "iscrowd": 0,
            },
            {
                "segmentation": {"size": [HEIGHT, WIDTH], "counts": compressed["counts"].decode()},
                "bbox": [30.0, 5.0, 10.0, 10.0],
                "iscrowd": 1,
            },
            {
                "segmentation": {"size": [HEIGHT, WIDTH], "counts": _runs(_pixels(20, 4, 6))},
                "bbox": [4, 20, 6, 6],
                "iscrowd": 1,
            },
        ]
        for category, shape in zip([1, 2, 7, 1], shapes):
            annotations.append(
                {"id": len(annotations) + 1, "image_id": image["id"], "category_id": category, "area": 1, **shape}
            )
    return annotations


@pytest.fixture
def imported(tmp_path: Path) -> tuple[annolog.Project, Path]:
    """A project with a directory "train" imported from a COCO file of segmentations; and that file."""
    project = annolog.Client(tmp_path / "data").create_project("streets")
    images = write_images(tmp_path / "images", 3, size=(WIDTH, HEIGHT))
    source = write_coco(tmp_path / "in.json", images, _segmented(images))
    summary = import_coco(project.directory.new("train"), source, tmp_path / "images")
    assert summary.problems == [] and summary.instances_added == 12
    return project, source


def test_polygons_and_rle_import_as_polygon_and_mask_instances_with_the_pixels_pycocotools_draws(
    imported: tuple[annolog.Project, Path],
) -> None:
    project, _ = imported
    first = project.directory.get("train")[0]

    triangle, parts, crowd, runs = _by_shape(first.instances)
    assert triangle.kind == "polygon" and triangle.parts == () and len(triangle.points) == 3
    assert parts.polygons == [
        ((30.0, 30.0), (40.0, 30.0), (40.0, 40.0)),
        ((50.0, 30.0), (60.0, 30.0), (60.0, 44.0), (50.0, 44.0)),
    ]
    assert crowd.kind == "mask" and crowd.attributes == {"iscrowd": 1} and (crowd.mask == _pixels(5, 30, 10)).all()
    assert runs.kind == "mask" and (runs.mask == _pixels(20, 4, 6)).all() and runs.rle.bbox == (4, 20, 6, 6)


def _by_shape(instances: list[annolog.Instance]) -> list[annolog.Instance]:
    """Triangle, two-part polygon, the crowd at column 30, the crowd at column 4."""
    polygons = sorted((i for i in instances if i.kind == "polygon"), key=lambda i: len(i.parts))
    masks = sorted((i for i in instances if i.kind == "mask"), key=lambda i: -i.rle.bbox[0])
    return [*polygons, *masks]


def test_a_segmentation_export_scores_perfectly_against_itself_in_cocoeval(
    imported: tuple[annolog.Project, Path], tmp_path: Path
) -> None:
    project, _ = imported
    exported_coco(project, tmp_path / "out")

    truth = quietly(lambda: COCO(str(tmp_path / "out" / "annotations.json")))
    detections = [{**a, "score": 1.0} for a in truth.loadAnns(truth.getAnnIds())]
    stats = cocoeval_stats(truth, detections, "segm", useCats=1)
    assert len(truth.getAnnIds()) == 12
    # Crowds are ignored as ground truth, so AP is over the polygons; each matches itself exactly.
    assert stats[0] == pytest.approx(1.0) and stats[1] == pytest.approx(1.0)


def test_import_export_import_is_the_identity(imported: tuple[annolog.Project, Path], tmp_path: Path) -> None:
    project, source = imported
    first = exported_coco(project, tmp_path / "first")
    again = annolog.Client(tmp_path / "again").create_project("streets")
    import_coco(again.directory.new("train"), tmp_path / "first" / "annotations.json", tmp_path / "images")

    assert _shapes(again) == _shapes(project)
    assert exported_coco(again, tmp_path / "second")["annotations"] == first["annotations"]
    names = {c["id"]: c["name"] for c in CATEGORIES}
    exported_names = {c["id"]: c["name"] for c in first["categories"]}
    for before, after in zip(json.loads(source.read_text())["annotations"], first["annotations"]):
        assert after["segmentation"] == before["segmentation"] or _same_pixels(before, after)
        assert after["iscrowd"] == before["iscrowd"]
        assert exported_names[after["category_id"]] == names[before["category_id"]]


def test_an_export_made_after_a_merge_imports_again_into_its_own_project_adding_nothing(
    imported: tuple[annolog.Project, Path], tmp_path: Path
) -> None:
    project, _ = imported
    first, second = project.labels[:2]
    project.label(second).merge_into(first)
    exported_coco(project, tmp_path / "merged")  # the merged label's slot stays a category, with no annotation

    again = import_coco(project.directory.get("train"), tmp_path / "merged" / "annotations.json", tmp_path / "images")

    assert (again.problems, again.instances_added, again.files_added) == ([], 0, 0)


def _shapes(project: annolog.Project) -> list[tuple[Any, ...]]:
    return sorted(
        (f.name, i.label, i.kind, i.points, i.parts, i.rle and i.rle.model_dump_json(), sorted(i.attributes.items()))
        for f in project.directory.get("train")
        for i in f.instances
    )


def _same_pixels(before: dict[str, Any], after: dict[str, Any]) -> bool:
    """An uncompressed RLE comes back compressed: the same mask in COCO's other spelling."""
    height, width = before["segmentation"]["size"]
    runs = coco_mask.frPyObjects(before["segmentation"], height, width)
    exported = {**after["segmentation"], "counts": after["segmentation"]["counts"].encode()}
    return bool((coco_mask.decode(runs) == coco_mask.decode(exported)).all())


def test_a_segmentation_that_does_not_fit_its_image_is_listed_and_the_rest_imports(tmp_path: Path) -> None:
    project = annolog.Client(tmp_path / "data").create_project("streets")
    images = write_images(tmp_path / "images", 1, size=(WIDTH, HEIGHT))
    wrong_size = {"size": [WIDTH, HEIGHT], "counts": _runs(np.zeros((WIDTH, HEIGHT), np.uint8))}
    annotations = [
        {"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1], "segmentation": wrong_size, "iscrowd": 1},
        {"id": 2, "image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1], "segmentation": [[1, 1, 2, 2]]},
        {"id": 3, "image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1], "segmentation": [[1, 1, 99, 1, 5, 5]]},
        {"id": 4, "image_id": 1, "category_id": 1, "bbox": [1, 1, 5, 5], "segmentation": []},  # a box
    ]
    source = write_coco(tmp_path / "in.json", images, annotations)

    summary = import_coco(project.directory.new("train"), source, tmp_path / "images")

    assert [str(p) for p in summary.problems] == [
        "annotations[0] (id 1): segmentation: mask of size 48x64 does not cover its 64x48 image: "
        "a mask has one value per pixel of the image",
        "annotations[1] (id 2): segmentation: each polygon is a flat list of x, y pairs, at least 3 of them",
        "annotations[2] (id 3): segmentation: point (99.0, 1.0) lies outside its 64x48 image: "
        "coordinates must be within 0..64 and 0..48 pixels",
    ]
    assert [i.kind for i in project.directory.get("train")[0].instances] == ["box"]


def test_yolo_writes_single_ring_polygons_as_segments_and_lists_what_it_cannot_hold(
    imported: tuple[annolog.Project, Path], tmp_path: Path
) -> None:
    project, _ = imported
    summary = export_yolo(project.directory.get("train"), tmp_path / "yolo")

    lines = (tmp_path / "yolo" / "labels" / "img-00000.txt").read_text().splitlines()
    assert lines == ["0 0.03125 0.041667 0.3125 0.041667 0.171875 0.34375"]
    assert summary.instances == 3
    assert [str(p) for p in summary.skipped] == [
        f"file 'img-{i:05d}.jpg': 3 instance(s) of kind mask, polygon of several parts: YOLO cannot hold them"
        for i in range(3)
    ]


def test_a_mask_over_the_inline_threshold_imports_as_a_blob_trains_and_exports_its_full_rle(tmp_path: Path) -> None:
    height, width = 480, 640
    pixels = np.asfortranarray((np.random.default_rng(3).random((height, width)) < 0.5).astype(np.uint8))
    counts = coco_mask.encode(pixels)["counts"].decode()
    assert len(counts) > INLINE_COUNTS
    project = annolog.Client(tmp_path / "data").create_project("streets")
    images = write_images(tmp_path / "images", 1, size=(width, height))
    segmentation = {"size": [height, width], "counts": counts}
    annotation = {"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1], "segmentation": segmentation}
    source = write_coco(tmp_path / "in.json", images, [{**annotation, "iscrowd": 1, "area": 1}])

    assert import_coco(project.directory.new("train"), source, tmp_path / "images").instances_added == 1
    again = import_coco(project.directory.get("train"), source, tmp_path / "images")
    assert (again.instances_added, again.instances_present) == (0, 1)  # known by its digest, its blob unread

    (mask,) = project.directory.get("train")[0].instances
    assert mask.stored_rle is not None and mask.stored_rle.counts is None
    assert mask.stored_rle.counts_size == len(counts) and (mask.mask == pixels.astype(bool)).all()
    _, target = project.directory.get("train").to_pytorch(masks=True)[0]
    assert target["masks"].shape == (1, height, width) and (target["masks"][0].numpy() == pixels).all()
    (exported,) = exported_coco(project, tmp_path / "out")["annotations"]
    assert exported["segmentation"] == segmentation
