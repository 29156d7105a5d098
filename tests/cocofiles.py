"""Synthetic COCO datasets on disk, for tests and benchmarks: small JPEGs and boxes inside them."""

import contextlib
import io
import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from PIL import Image, ImageDraw

import annolog
from annolog.export import export_coco

CATEGORIES = [{"id": 1, "name": "car"}, {"id": 2, "name": "person"}, {"id": 7, "name": "bicycle"}]


def write_images(folder: Path, count: int, *, size: tuple[int, int] = (64, 48), seed: int = 0) -> list[dict[str, Any]]:
    """``count`` distinct JPEGs in ``folder`` and their COCO image entries (ids 1..count)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    entries = []
    for i in range(count):
        image = Image.new("RGB", size, (rng.randrange(256), rng.randrange(256), rng.randrange(256)))
        ImageDraw.Draw(image).rectangle((i % size[0], 0, size[0] - 1, i % size[1]), fill=(i % 256, 0, 255 - i % 256))
        name = f"img-{i:05d}.jpg"
        image.save(folder / name, "JPEG", quality=85)
        entries.append({"id": i + 1, "file_name": name, "width": size[0], "height": size[1]})
    return entries


def boxes_for(
    images: list[dict[str, Any]], per_image: int, *, seed: int = 0, scores: bool = False
) -> list[dict[str, Any]]:
    """``per_image`` boxes inside each image, over ``CATEGORIES``, with ids 1.. in order."""
    rng = random.Random(seed)
    annotations = []
    for image in images:
        for _ in range(per_image):
            width, height = rng.randint(2, image["width"] // 2), rng.randint(2, image["height"] // 2)
            x, y = rng.randint(0, image["width"] - width), rng.randint(0, image["height"] - height)
            annotation = {
                "id": len(annotations) + 1,
                "image_id": image["id"],
                "category_id": rng.choice(CATEGORIES)["id"],
                "bbox": [x + 0.5, y + 0.25, width - 0.5, height - 0.25],
                "area": (width - 0.5) * (height - 0.25),
                "iscrowd": 0,
            }
            if scores:
                annotation["score"] = round(rng.random(), 3)
            annotations.append(annotation)
    return annotations


def write_coco(
    path: Path,
    images: list[dict[str, Any]],
    annotations: list[dict[str, Any]],
    categories: list[dict[str, Any]] = CATEGORIES,
) -> Path:
    path.write_text(json.dumps({"images": images, "annotations": annotations, "categories": categories}))
    return path


def synthetic_coco(root: Path, images: int, per_image: int, *, size: tuple[int, int] = (64, 48)) -> tuple[Path, Path]:
    """A COCO file and its image folder under ``root``: (annotations.json, images/)."""
    entries = write_images(root / "images", images, size=size)
    return write_coco(root / "annotations.json", entries, boxes_for(entries, per_image)), root / "images"


T = TypeVar("T")


def quietly(run: Callable[[], T]) -> T:
    """``run()`` without the progress pycocotools prints."""
    with contextlib.redirect_stdout(io.StringIO()):
        return run()


def cocoeval_stats(truth: Any, detections: list[dict[str, Any]], iou_type: str, **params: Any) -> list[float]:
    """pycocotools' COCOeval summary (AP, AP50, …) of ``detections`` against ``truth`` (a ``COCO``),
    quietly; ``params`` are set on the evaluation's params first (categories, keypoint sigmas)."""
    from pycocotools.cocoeval import COCOeval  # the masks extra's, not every importer's

    evaluation = COCOeval(truth, quietly(lambda: truth.loadRes(detections)), iou_type)
    for name, value in params.items():
        setattr(evaluation.params, name, value)
    quietly(lambda: (evaluation.evaluate(), evaluation.accumulate(), evaluation.summarize()))
    return list(evaluation.stats)


def exported_coco(project: "annolog.Project", out: Path) -> dict[str, Any]:
    """``project``'s directory "train" exported as COCO into ``out`` (nothing skipped), read back."""
    summary = export_coco(project.directory.get("train"), out)
    assert summary.skipped == []
    return json.loads((out / "annotations.json").read_text())  # type: ignore[no-any-return]
