"""COCO files are planned from a stream: memory holds a chunk of files, not the document."""

import json
import math
import random
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

from annolog.coco import plan_coco, read_coco
from annolog.plan import Box, PlannedFile
from tests.cocofiles import CATEGORIES, boxes_for

CHUNK = 200  # files per commit, as ingest reads them
_LABELS = {c["id"]: c["name"] for c in CATEGORIES}


def _corners(bbox: list[float]) -> Box:
    x, y, width, height = bbox
    return (x, y, x + width, y + height)


def _images(count: int) -> list[dict[str, Any]]:
    return [
        {"id": i + 1, "file_name": f"img-{i:05d}.jpg", "width": 640, "height": 480, "license": 3} for i in range(count)
    ]


def _planned(path: Path) -> list[tuple[str, list[tuple[str, Box]]]]:
    """Every planned file's name and boxes (as corners), read chunk by chunk as ingest reads them."""
    found = []
    with plan_coco(read_coco(path), images_dir=None) as plan:
        for start in range(0, len(plan.files), CHUNK):
            found += [
                (f.name, [(i.label, (*i.points[0], *i.points[1])) for i in f.instances])
                for f in plan.files[start : start + CHUNK]
            ]
    return found


def _peak(run: Callable[[], object]) -> int:
    tracemalloc.start()
    try:
        run()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _walk(path: Path) -> None:
    with plan_coco(read_coco(path), images_dir=None) as plan:
        for start in range(0, len(plan.files), CHUNK):
            chunk: list[PlannedFile] = list(plan.files[start : start + CHUNK])
            assert chunk


def test_planning_a_large_coco_file_takes_a_small_part_of_the_memory_its_document_takes(tmp_path: Path) -> None:
    images = _images(4_000)
    path = tmp_path / "annotations.json"
    path.write_text(json.dumps({"images": images, "annotations": boxes_for(images, 10), "categories": CATEGORIES}))

    document = _peak(lambda: json.loads(path.read_text()))
    streamed = _peak(lambda: _walk(path))

    assert streamed < document / 5, f"planning peaked at {streamed:,} bytes; the parsed document takes {document:,}"


def test_annotations_before_their_images_and_in_any_order_are_planned_with_their_images(tmp_path: Path) -> None:
    images = _images(30)
    annotations = boxes_for(images, 4)
    random.Random(7).shuffle(annotations)
    path = tmp_path / "annotations.json"
    path.write_text(json.dumps({"annotations": annotations, "categories": CATEGORIES, "images": images}))

    planned = _planned(path)

    assert planned == [
        (
            image["file_name"],
            [(_LABELS[a["category_id"]], _corners(a["bbox"])) for a in annotations if a["image_id"] == image["id"]],
        )
        for image in images
    ]


def test_a_nan_in_a_bbox_refuses_that_annotation_only(tmp_path: Path) -> None:
    """Python's json reads NaN, which the streaming parser refuses: the file is read whole, as before."""
    images = _images(2)
    annotations = boxes_for(images, 2)
    annotations[1]["bbox"][2] = math.nan
    path = tmp_path / "annotations.json"
    path.write_text(json.dumps({"images": images, "annotations": annotations, "categories": CATEGORIES}))

    with plan_coco(read_coco(path), images_dir=None) as plan:
        assert [str(p).split(":")[0] for p in plan.problems] == ["annotations[1] (id 2)"]
        assert sum(len(f.instances) for f in plan.files[0 : len(plan.files)]) == 3
