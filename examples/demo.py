"""annolog on the embedded default: label, mirror, pin a version, edit, audit, replay.

Run with `make demo`. No services: the log, the views and the blobs live in a fresh
temporary directory (set ANNOLOG_DATA_DIR to keep them somewhere).
"""

import io
import os
import tempfile
from typing import Any

from PIL import Image, ImageDraw

import annolog
from examples.train import train
from projections.replay import checksums, drop_database, fresh_database, replay


def street_photo(seed: int) -> bytes:
    """A small synthetic street scene (a road and a car-coloured block), as JPEG bytes."""
    image = Image.new("RGB", (320, 200), (120 + seed * 20, 170, 210))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 130, 320, 200), fill=(70, 70, 70))
    draw.rectangle((40 + seed * 30, 110, 120 + seed * 30, 150), fill=(200, 30, 30))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return out.getvalue()


def show(title: str, directory: annolog.Directory) -> None:
    print(f"  {title} ({directory!r}):")
    for file in directory:
        boxes = ", ".join(f"{i.label} {i.box}" for i in file.instances) or "no instances"
        print(f"    {file.name:<12} {boxes}")


def change(before: dict[str, Any] | None, after: dict[str, Any] | None) -> str:
    """What an audited change did, in a few words: only the fields that changed."""
    if before is None and after is not None:
        return (
            f"in directory {after['directory']}"
            if "directory" in after
            else f"created {after.get('name') or after.get('label')}"
        )
    if after is None:
        return "removed"
    assert before is not None
    return ", ".join(f"{key}: {before.get(key)} -> {value}" for key, value in after.items() if before.get(key) != value)


def main() -> None:
    data_dir = os.environ.get("ANNOLOG_DATA_DIR") or tempfile.mkdtemp(prefix="annolog-demo-")
    client = annolog.Client(data_dir, actor="ana")
    print(f"annolog demo, embedded default in {data_dir}\n")

    project = client.create_project("streets", labels=["car", "pedestrian"])
    everything = project.directory.new("all")
    review = project.directory.new("review")
    photos = [
        everything.add_file(street_photo(i), name=f"street-{i}.jpg", metadata={"weather": "rain"}) for i in range(3)
    ]
    for i, photo in enumerate(photos):
        photo.add_instance("car", box=(40 + i * 30, 110, 120 + i * 30, 150))
    review.add(photos[0])  # a mirror: the same file, the same instances
    v1 = project.tag("v1")
    print(f"1. three photos with a car each; street-0 mirrored into 'review'; tagged v1 = version {v1}")

    project.grant("ben", "annotator")
    as_ben = annolog.Client(project.service, actor="ben").project("streets")
    car = as_ben.directory.get("review")[0].instances[0]
    car.update(box=(42, 108, 124, 152), attributes={"reviewed": True})
    print("2. ben, granted annotator, moves the car's box through the 'review' directory\n")
    show("all, latest: the mirror shows the edit", project.directory.get("all"))
    show("all, pinned at v1: unchanged", project.directory.get("all", version="v1"))

    stale = project.directory.get("all", version=None)[0].instances[0]
    car.update(label="pedestrian")
    try:
        stale.update(label="car")
    except annolog.ConflictError as error:
        print(f"\n3. a stale edit is refused, never lost:\n    ConflictError: {error}")

    print("\n4. the audit history of street-0.jpg:")
    for entry in project.history(file=photos[0]):
        print(f"    v{entry.version:<3} {entry.actor:<4} {entry.event:<16} {change(entry.before, entry.after)}")

    pinned = project.directory.get("all", version="v1")
    first, second = train(pinned, steps=2, batch_size=2), train(pinned, steps=2, batch_size=2)
    print(f"\n5. a tiny CNN trained on v1 streamed from annolog (no export): losses {first.losses};")
    print(
        f"   a second run on the same pinned version saw bit-identical batches: "
        f"{first.batch_digests == second.batch_digests}"
    )

    service = project.service
    target = fresh_database(service.engine)
    records = replay(service.log, target)
    same = checksums(target) == checksums(service.engine)
    drop_database(target)
    print(f"\n6. replayed {records} log records into fresh tables: identical to the live views: {same}")
    client.close()


if __name__ == "__main__":
    main()
