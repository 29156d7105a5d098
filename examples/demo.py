"""annolog embedded, the whole story: import, mirror, pin, edit, slice, audit, export, train, arrays, replay.

Run with `make demo`. No services and no downloads: the photographs are the samples
scikit-image ships, and the log, the views and the blobs live in a fresh temporary
directory (set ANNOLOG_DATA_DIR to keep them somewhere).
"""

import json
import os
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from skimage import data as samples

import annolog
from annolog.api.bootstrap import build_service
from annolog.api.service import Service
from annolog.api.settings import load_settings
from annolog.ingest import IngestSummary
from annolog.projections.replay import checksums, drop_database, fresh_database, replay
from examples.train import train

CATEGORIES = ["person", "helmet", "flag", "rocket", "cup", "spoon", "cat", "camera"]
# Boxes drawn by hand on scikit-image's sample photographs: x, y, width, height in pixels.
PHOTOS: dict[str, tuple[str, list[tuple[str, tuple[int, int, int, int]]]]] = {
    "astronaut.jpg": (
        "astronaut",
        [("person", (18, 12, 345, 500)), ("helmet", (276, 343, 235, 169)), ("rocket", (350, 0, 110, 280)),
         ("flag", (0, 0, 97, 509))],
    ),
    "coffee.jpg": ("coffee", [("cup", (170, 18, 242, 291)), ("spoon", (315, 67, 109, 260))]),
    "chelsea.jpg": ("chelsea", [("cat", (16, 0, 382, 298))]),
    "rocket.jpg": ("rocket", [("rocket", (300, 121, 40, 306))]),
    "camera.jpg": ("camera", [("person", (0, 64, 325, 448)), ("camera", (252, 137, 79, 48))]),
}  # fmt: skip
PREDICTIONS = {"astronaut.jpg": 0.97, "coffee.jpg": 0.93, "chelsea.jpg": 0.88, "rocket.jpg": 0.64, "camera.jpg": 0.95}


def section(title: str) -> None:
    print(f"\n{title}\n{'-' * len(title)}")


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """Rows under their headers, each column as wide as its widest cell."""
    cells = [[str(c) for c in headers], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    for n, row in enumerate(cells):
        print("  " + "  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
        if n == 0:
            print("  " + "  ".join("-" * width for width in widths))


def write_photos(folder: Path) -> tuple[Path, Path]:
    """The sample photographs as JPEGs, a COCO file of their boxes (with one mistake), and model predictions."""
    folder.mkdir(parents=True, exist_ok=True)
    images, boxes, guesses = [], [], []
    ids = {name: i + 1 for i, name in enumerate(CATEGORIES)}
    for image_id, (name, (sample, shapes)) in enumerate(PHOTOS.items(), start=1):
        pixels: np.ndarray[Any, Any] = getattr(samples, sample)()
        Image.fromarray(pixels).save(folder / name, "JPEG", quality=90)
        images.append({"id": image_id, "file_name": name, "width": pixels.shape[1], "height": pixels.shape[0]})
        for label, bbox in shapes:
            boxes.append({"id": len(boxes) + 1, "image_id": image_id, "category_id": ids[label], "bbox": list(bbox)})
        label, bbox = shapes[0]
        guess = [bbox[0] + 4, bbox[1] + 4, bbox[2] - 8, bbox[3] - 8]
        guesses.append({"id": image_id, "image_id": image_id, "category_id": ids[label], "bbox": guess,
                        "score": PREDICTIONS[name]})  # fmt: skip
    boxes.append({"id": 99, "image_id": 3, "category_id": 42, "bbox": [10, 10, 50, 50]})  # a category that is not there
    categories = [{"id": i, "name": name} for name, i in ids.items()]
    truth, predictions = folder / "boxes.json", folder / "predictions.json"
    truth.write_text(json.dumps({"images": images, "annotations": boxes, "categories": categories}, indent=1))
    predictions.write_text(json.dumps({"images": images, "annotations": guesses, "categories": categories}, indent=1))
    return truth, predictions


def show_import(summary: IngestSummary) -> None:
    table(
        ["files added", "instances added", "labels defined", "versions", "seconds"],
        [[summary.files_added, summary.instances_added, len(summary.labels_defined),
          versions(summary), f"{summary.seconds:.2f}"]],
    )  # fmt: skip
    for problem in summary.problems:
        print(f"  refused, with where it is: {problem}")


def versions(summary: IngestSummary) -> str:
    first, last = summary.first_version, summary.last_version
    return "none" if first is None else str(first) if first == last else f"{first} to {last}"


def boxes_of(directory: annolog.Directory, name: str) -> str:
    file = next(f for f in directory if f.name == name)
    return ", ".join(f"{i.label} {tuple(round(c) for c in i.box or ())}" for i in file.instances)


def change(before: dict[str, Any] | None, after: dict[str, Any] | None) -> str:
    """What an audited change did, in a few words: only the fields that changed."""
    if before is None and after is not None:
        return (
            f"into {after['directory']}"
            if "directory" in after
            else f"created {after.get('name') or after.get('label')}"
        )
    if after is None:
        return "removed"
    assert before is not None
    changed = [key for key in after if key != "revision" and before.get(key) != after[key]]
    return ", ".join(f"{key} {short(before.get(key))} -> {short(after[key])}" for key in changed)


def short(value: object) -> str:
    """Points as whole pixels, the rest as it is."""
    if isinstance(value, list) and all(isinstance(point, list) for point in value):
        return " ".join(f"({round(x)}, {round(y)})" for x, y in value)
    return str(value)


def replayed_identically(service: Service) -> None:
    target = fresh_database(service.engine)
    try:
        records = replay(service.log, target)
        live, rebuilt = checksums(service.engine), checksums(target)
    finally:
        drop_database(target)
    print(f"  {records} log records replayed into fresh tables; checksum of each view:")
    table(["view", "live", "rebuilt", ""], [[t, d[:12], rebuilt[t][:12], "equal" if rebuilt[t] == d else "DIFFERENT"]
                                          for t, d in live.items()])  # fmt: skip


def show_arrays(project: annolog.Project, folder: Path) -> None:
    """Stack the photographs (grey, 256 x 256) into one array; edit it; read the version before."""
    names = sorted(PHOTOS)
    stack = np.stack([np.asarray(Image.open(folder / name).convert("L").resize((256, 256))) for name in names])
    photos = project.array.new("photos", shape=(10_000, 256, 256), dtype="uint8", chunks=(1, 256, 256))
    photos[: len(names)] = stack  # one commit; the other 9,995 rows cost nothing
    before = project.tag("photos-array-v1")
    photos[0, :64, :64] = 255  # one commit rewriting one chunk
    pinned = project.array.get("photos", version=before)
    table(
        ["read", "mean of photos[0, :64, :64]"],
        [["latest", f"{photos[0, :64, :64].mean():.1f}"],
         [f"pinned at version {before}", f"{pinned[0, :64, :64].mean():.1f}"],
         ["an unwritten row, photos[9999]", f"{photos[9_999].mean():.1f}"]],
    )  # fmt: skip
    writes = project.history(array=photos)
    print(f"  {photos!r}; its history: " + "; ".join(f"v{e.version} {e.actor} {e.event}" for e in writes))


def main() -> None:
    started = time.perf_counter()
    data_dir = Path(os.environ.get("ANNOLOG_DATA_DIR") or tempfile.mkdtemp(prefix="annolog-demo-"))
    service = build_service(load_settings(data_dir=data_dir))  # one service, two people using it
    ana, ben = annolog.Client(service, actor="ana"), annolog.Client(service, actor="ben")
    print(f"annolog demo: the embedded default in {data_dir} (no services)")

    section("1. Import five photographs and a COCO file of their boxes")
    truth, predictions = write_photos(data_dir / "incoming")
    project = ana.create_project("photos")
    photos = project.directory.new("photos")
    show_import(photos.import_coco(truth, truth.parent))

    section("2. Mirror the photos with people into 'people'; tag v1")
    people = project.directory.new("people")
    for file in photos:
        if any(i.label == "person" for i in file.instances):
            people.add(file)  # the same file with the same boxes, not a copy
    v1 = project.tag("v1")
    print(f"  'people' holds {', '.join(f.name for f in people)}; v1 = version {v1}")

    section("3. Ben edits a box through the mirror; the pinned v1 does not move")
    project.define_labels("photographer")
    project.grant("ben", "annotator")
    cameraman = next(f for f in ben.project("photos").directory.get("people") if f.name == "camera.jpg")
    person = next(i for i in cameraman.instances if i.label == "person")
    person.update(label="photographer", box=(20, 64, 320, 512))
    table(
        ["camera.jpg seen through", "boxes"],
        [["people, latest", boxes_of(project.directory.get("people"), "camera.jpg")],
         ["photos, latest (the mirror)", boxes_of(project.directory.get("photos"), "camera.jpg")],
         ["photos, pinned at v1", boxes_of(project.directory.get("photos", version="v1"), "camera.jpg")]],
    )  # fmt: skip

    section("4. Import a model's predictions; slice by score")
    show_import(project.directory.get("photos").import_coco(predictions, predictions=True))
    confident = project.directory.get("photos").slice("attributes.score > 0.9")
    table(
        ["file", "prediction score"],
        [[f.name, max(i.attributes["score"] for i in f.instances if "score" in i.attributes)] for f in confident],  # type: ignore[type-var]
    )
    print(f"  {len(confident)} of {len(photos)} photos match 'attributes.score > 0.9'")

    section("5. The audit history of camera.jpg")
    table(
        ["version", "who", "what", "change"],
        [[f"v{e.version}", e.actor, e.event, change(e.before, e.after)] for e in project.history(file=cameraman)],
    )

    section("6. Export v1 for other tools")
    pinned = project.directory.get("photos", version="v1")
    exports = data_dir / "exports"
    coco, yolo = pinned.export_coco(exports / "coco", images=True), pinned.export_yolo(exports / "yolo")
    table(
        ["format", "files", "boxes", "written to"],
        [["COCO", coco.files, coco.instances, f"{coco.out}/annotations.json (+ images/)"],
         ["YOLO", yolo.files, yolo.instances, f"{yolo.out}/labels/*.txt, classes.txt"]],
    )  # fmt: skip

    section("7. Train torchvision's Faster R-CNN on v1, streamed from annolog, twice")
    first, second = train(pinned, steps=3, batch_size=2), train(pinned, steps=3, batch_size=2)
    table(["run", "losses per step"], [["1", first.losses], ["2", second.losses]])
    print(f"  both runs saw bit-identical batches: {first.batch_digests == second.batch_digests}")

    section("8. The photographs as one array: a slice's mean, an edit, the old version still readable")
    show_arrays(project, data_dir / "incoming")

    section("9. Replay the log: the views are a pure function of it")
    replayed_identically(service)
    ana.close()
    print(f"\ndone in {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
