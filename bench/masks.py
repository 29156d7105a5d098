"""Mask ingest: instances/s from a COCO file of RLE masks, and the bytes each mask costs in the log and views.

Writes a COCO file of ``--images`` JPEGs (``--size``) with ``--per-image`` crowd masks each, as
compressed RLE of a few ellipses (what a segmentation tool exports), and imports it into the
embedded stack with ``import_coco``. The peer is pycocotools reading the same file and measuring
every mask (``COCO`` + ``annToRLE`` + ``area``): what any COCO tool pays before it can do
anything with the masks. Bytes per mask: the log records (Avro) and the instances rows' masks
(JSON, as stored), next to the RLE's own length in the file.

    python -m bench.masks --images 200 --per-image 20
"""

import argparse
import contextlib
import io
import json
import tempfile
from contextlib import closing
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from pycocotools import mask as coco_mask
from pycocotools.coco import COCO
from sqlalchemy import func, select

from annolog.api.bootstrap import build_service
from annolog.api.settings import load_settings
from annolog.eventlog.codec import CommitCodec
from annolog.eventlog.log import LogRecord
from annolog.ingest import import_coco
from annolog.projections.tables import instances
from bench.common import timed
from bench.ingest import _directory


def _masks(rng: np.random.Generator, count: int, width: int, height: int) -> list[dict[str, Any]]:
    """``count`` compressed RLEs, each an ellipse at a random place and size."""
    rows, columns = np.ogrid[:height, :width]
    found = []
    for _ in range(count):
        cx, cy = rng.uniform(0, width), rng.uniform(0, height)
        rx, ry = rng.uniform(4, width / 4), rng.uniform(4, height / 4)
        pixels = ((columns - cx) / rx) ** 2 + ((rows - cy) / ry) ** 2 <= 1
        rle = coco_mask.encode(np.asfortranarray(pixels, dtype=np.uint8))
        found.append({"size": [height, width], "counts": rle["counts"].decode()})
    return found


def _coco(root: Path, images: int, per_image: int, size: tuple[int, int]) -> tuple[Path, int]:
    """The COCO file and its images under ``root``; and the RLE characters it holds."""
    width, height = size
    rng = np.random.default_rng(0)
    (root / "images").mkdir(parents=True)
    entries, annotations = [], []
    for i in range(images):
        name = f"img-{i:05d}.jpg"
        Image.new("RGB", size, (i % 256, (i // 256) % 256, 90)).save(root / "images" / name, quality=80)
        entries.append({"id": i + 1, "file_name": name, "width": width, "height": height})
        for rle in _masks(rng, per_image, width, height):
            x, y, w, h = coco_mask.toBbox({**rle, "counts": rle["counts"].encode()}).tolist()
            annotations.append(
                {"id": len(annotations) + 1, "image_id": i + 1, "category_id": 1 + len(annotations) % 3}
                | {"segmentation": rle, "bbox": [x, y, w, h], "iscrowd": 1, "area": 0}
            )
    categories = [{"id": n, "name": name} for n, name in enumerate(["road", "sky", "tree"], 1)]
    path = root / "annotations.json"
    path.write_text(json.dumps({"images": entries, "annotations": annotations, "categories": categories}))
    return path, sum(len(a["segmentation"]["counts"]) for a in annotations)


def _pycocotools_alone(path: Path) -> int:
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO(str(path))
    return sum(int(coco_mask.area(coco.annToRLE(a)) > 0) for a in coco.loadAnns(coco.getAnnIds()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=200, help="images in the COCO file")
    parser.add_argument("--per-image", type=int, default=20, help="masks per image")
    parser.add_argument("--size", default="640x480", help="the images' size, WxH")
    parser.add_argument("--batch-files", type=int, default=100, help="files per commit")
    args = parser.parse_args()
    width, _, height = args.size.partition("x")
    with tempfile.TemporaryDirectory(prefix="annolog-bench-masks-") as scratch:
        root = Path(scratch)
        path, rle_chars = _coco(root / "coco", args.images, args.per_image, (int(width), int(height)))
        measured, alone = timed(lambda: _pycocotools_alone(path))
        service = build_service(load_settings(data_dir=root / "annolog"))
        with closing(service):
            directory = _directory(service)
            summary, seconds = timed(
                lambda: import_coco(directory, path, root / "coco" / "images", batch_files=args.batch_files)
            )
            masks = summary.instances_added
            if summary.problems or masks != args.images * args.per_image:
                raise RuntimeError(f"the bench's own masks were refused: {summary.problems[:1]}")
            codec = CommitCodec.default()
            records = [r for p in range(service.log.partitions) for r in service.log.read(p, 0)]
            log_bytes = sum(len(codec.encode(r.commit)) for r in records if isinstance(r, LogRecord))
            with service.engine.connect() as db:
                view_bytes = db.execute(select(func.sum(func.length(instances.c.mask)))).scalar_one()
        print(f"{masks:,} masks of {args.size} on {args.images:,} images (embedded: SQLite, local blobs)")
        print(f"  import_coco -> queryable       {seconds:7.2f} s  {masks / seconds:>10,.0f} masks/s")
        print(f"  pycocotools load + measure     {alone:7.2f} s  {measured / alone:>10,.0f} masks/s")
        print(f"  ratio import / pycocotools alone: {(masks / seconds) / (measured / alone):.3f}")
        print(f"  RLE in the COCO file           {rle_chars / masks:10,.0f} bytes/mask")
        print(f"  log (Avro records, all events) {log_bytes / masks:10,.0f} bytes/mask")
        print(f"  views (instances.mask JSON)    {view_bytes / masks:10,.0f} bytes/mask")
        print(f"  per million masks: log {log_bytes / masks:.0f} MB, mask column {view_bytes / masks:.0f} MB")


if __name__ == "__main__":
    main()
