"""Exports at a version: COCO that pycocotools reads, YOLO labels, images, and the round trip from an import."""

import io
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from pycocotools.coco import COCO

import annolog
from annolog.core.errors import InvalidInputError
from annolog.export import export_coco, export_yolo
from annolog.ingest import import_coco
from tests.cocofiles import boxes_for, cocoeval_stats, quietly, synthetic_coco, write_coco, write_images


@pytest.fixture
def project(tmp_path: Path) -> annolog.Project:
    """A project owned by the operating-system user, who the command line acts as."""
    return annolog.Client(tmp_path / "data").create_project("streets")


def _annotations(document: dict[str, Any]) -> Counter[tuple[Any, ...]]:
    """Annotations by what they mean — file, category name, box, score, flags — not by their ids."""
    names = {image["id"]: image["file_name"] for image in document["images"]}
    categories = {category["id"]: category["name"] for category in document["categories"]}
    return Counter(
        (
            names[a["image_id"]],
            categories[a["category_id"]],
            tuple(round(v, 6) for v in a["bbox"]),
            a.get("score"),
            a.get("iscrowd", 0),
            json.dumps(a.get("attributes", {}), sort_keys=True),
        )
        for a in document["annotations"]
    )


def test_a_coco_export_loads_in_pycocotools_and_scores_perfectly_against_itself(
    project: annolog.Project, tmp_path: Path
) -> None:
    annotations, images = synthetic_coco(tmp_path / "coco", images=15, per_image=6, size=(320, 240))
    import_coco(project.directory.new("train"), annotations, images)

    summary = export_coco(project.directory.get("train"), tmp_path / "out")

    truth = quietly(lambda: COCO(str(tmp_path / "out" / "annotations.json")))
    assert (summary.files, summary.instances) == (15, 90) == (len(truth.getImgIds()), len(truth.getAnnIds()))
    detections = [{**a, "score": 1.0} for a in truth.loadAnns(truth.getAnnIds())]
    stats = cocoeval_stats(truth, detections, "bbox")
    assert stats[0] == pytest.approx(1.0) and stats[1] == pytest.approx(1.0)


def test_importing_a_coco_file_then_exporting_it_gives_the_same_annotations(
    project: annolog.Project, tmp_path: Path
) -> None:
    entries = write_images(tmp_path / "images", 5)
    entries[0] = {**entries[0], "license": 3, "date_captured": "2024-05-01 10:00:00"}
    boxes = boxes_for(entries, 4, scores=True)
    boxes[0] = {**boxes[0], "iscrowd": 1, "attributes": {"occluded": True, "source": "cvat"}}
    source = write_coco(tmp_path / "in.json", entries, boxes)
    import_coco(project.directory.new("train"), source, tmp_path / "images")

    export_coco(project.directory.get("train"), tmp_path / "out")

    original, exported = json.loads(source.read_text()), json.loads((tmp_path / "out" / "annotations.json").read_text())
    assert _annotations(exported) == _annotations(original)
    assert [{k: v for k, v in i.items() if k != "id"} for i in exported["images"]] == [
        {k: v for k, v in i.items() if k != "id"} for i in original["images"]
    ]
    assert [c["name"] for c in exported["categories"]] == [c["name"] for c in original["categories"]]


def test_an_export_at_a_pinned_version_is_that_version_whatever_changed_since(
    project: annolog.Project, tmp_path: Path
) -> None:
    annotations, images = synthetic_coco(tmp_path / "coco", images=4, per_image=2)
    import_coco(project.directory.new("train"), annotations, images)
    project.tag("v1")
    latest = project.directory.get("train")
    latest[0].instances[0].update(label="bicycle")
    latest.add_file((images / "img-00000.jpg").read_bytes(), name="late.jpg")

    export_coco(project.directory.get("train", version="v1"), tmp_path / "v1")
    export_coco(project.directory.get("train"), tmp_path / "now")

    at_v1 = json.loads((tmp_path / "v1" / "annotations.json").read_text())
    now = json.loads((tmp_path / "now" / "annotations.json").read_text())
    assert _annotations(at_v1) == _annotations(json.loads(annotations.read_text()))
    assert _annotations(now) != _annotations(at_v1) and len(now["images"]) == len(at_v1["images"]) + 1
    assert at_v1["info"]["version"] == str(project.directory.get("train", version="v1").version)


def test_an_export_through_a_tag_records_the_version_number_it_named_and_the_tag(
    project: annolog.Project, tmp_path: Path
) -> None:
    annotations, images = synthetic_coco(tmp_path / "coco", images=2, per_image=1)
    import_coco(project.directory.new("train"), annotations, images)
    v1 = project.tag("v1")
    pinned = project.directory.get("train", version="v1")
    project.directory.new("later")
    project.tag("v1", project.version, force=True)  # what "v1" means moves; the export keeps what it was

    coco, yolo = export_coco(pinned, tmp_path / "coco-out"), export_yolo(pinned, tmp_path / "yolo-out")
    latest = export_coco(project.directory.get("train"), tmp_path / "latest")

    recorded = {"project": "streets", "dataset": repr(pinned), "version": v1, "tag": "v1"}
    assert json.loads((tmp_path / "coco-out" / "annotations.json").read_text())["info"]["annolog"] == recorded
    assert json.loads((tmp_path / "yolo-out" / "annolog.json").read_text()) == recorded
    assert (coco.version, coco.tag) == (yolo.version, yolo.tag) == (v1, "v1")
    assert (latest.version, latest.tag) == (project.version, None)


def test_a_yolo_export_writes_normalised_boxes_per_image_and_the_classes_in_index_order(
    project: annolog.Project, tmp_path: Path
) -> None:
    entries = write_images(tmp_path / "images", 2, size=(200, 100))
    boxes = [
        {"id": 1, "image_id": 1, "category_id": 7, "bbox": [10, 20, 40, 30]},
        {"id": 2, "image_id": 1, "category_id": 1, "bbox": [0, 0, 200, 100]},
    ]
    categories = [{"id": 1, "name": "car"}, {"id": 7, "name": "bicycle"}]
    import_coco(
        project.directory.new("train"),
        write_coco(tmp_path / "in.json", entries, boxes, categories),
        tmp_path / "images",
    )
    project.directory.get("train")[0].add_instance("car", kind="point", points=[(5, 5)])

    summary = export_yolo(project.directory.get("train"), tmp_path / "yolo", images=True)

    assert (tmp_path / "yolo" / "classes.txt").read_text() == "car\nbicycle\n"
    assert (tmp_path / "yolo" / "labels" / "img-00000.txt").read_text() == "1 0.15 0.35 0.2 0.3\n0 0.5 0.5 1 1\n"
    assert (tmp_path / "yolo" / "labels" / "img-00001.txt").read_text() == ""  # an image with no boxes
    assert [str(p) for p in summary.skipped] == [
        "file 'img-00000.jpg': 1 instance(s) of kind point: YOLO cannot hold them"
    ]
    assert (tmp_path / "yolo" / "images" / "img-00001.jpg").read_bytes() == (
        tmp_path / "images" / "img-00001.jpg"
    ).read_bytes()


def test_the_export_command_writes_a_tagged_version_with_its_images(project: annolog.Project, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    import annolog.api.cli.transfer  # noqa: F401  (registers the commands)
    from annolog.api.cli.app import app

    annotations, images = synthetic_coco(tmp_path / "coco", images=3, per_image=2)
    import_coco(project.directory.new("train"), annotations, images)
    project.tag("release-1")
    project.directory.get("train").add_file((images / "img-00000.jpg").read_bytes(), name="later.jpg")
    args = ["export", "coco", str(tmp_path / "out"), "-p", "streets", "-d", "train", "--version", "release-1"]

    result = CliRunner().invoke(app, [*args, "--images", "--json"], env={"ANNOLOG_DATA_DIR": str(tmp_path / "data")})

    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout[result.stdout.index("{") :])
    assert (summary["files"], summary["instances"], summary["images_copied"]) == (3, 6, 3)
    assert sorted(p.name for p in (tmp_path / "out" / "images").iterdir()) == sorted(p.name for p in images.iterdir())


def _photo(color: str, *, format: str = "PNG") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 30), color).save(out, format)
    return out.getvalue()


def test_files_of_one_name_export_under_distinct_names_each_with_its_own_bytes_and_labels(
    project: annolog.Project, tmp_path: Path
) -> None:
    project.define_labels("car")
    day, night = project.directory.new("day"), project.directory.new("night")
    red, blue = day.add_file(_photo("red"), name="cat.png"), night.add_file(_photo("blue"), name="cat.png")
    green = day.add_file(_photo("green"), name="Cat.png")  # the same file on a case-blind disk
    yellow = night.add_file(_photo("yellow", format="JPEG"), name="cat.jpg")  # the same YOLO labels/cat.txt
    red.add_instance("car", box=(0, 0, 20, 15))

    summary = export_yolo(project.slice("file.size > 0"), tmp_path / "yolo", images=True)  # both directories

    renamed = {r.file_id: r.exported_as for r in summary.renamed}
    assert renamed == {
        blue.id: f"cat-{blue.id.hex[-8:]}.png",
        green.id: f"Cat-{green.id.hex[-8:]}.png",
        yellow.id: f"cat-{yellow.id.hex[-8:]}.jpg",
    }
    for file in (red, blue, green, yellow):
        assert (tmp_path / "yolo" / "images" / renamed.get(file.id, "cat.png")).read_bytes() == file.read()
    assert (tmp_path / "yolo" / "labels" / "cat.txt").read_text() == "0 0.25 0.25 0.5 0.5\n"
    assert (tmp_path / "yolo" / "labels" / f"cat-{blue.id.hex[-8:]}.txt").read_text() == ""
    assert all(r.reason == "another file of the export has its name" for r in summary.renamed)


def test_a_coco_export_names_each_image_once_and_points_its_annotations_at_it(
    project: annolog.Project, tmp_path: Path
) -> None:
    first = project.directory.new("day").add_file(_photo("red"), name="a.png")
    second = project.directory.new("night").add_file(_photo("blue"), name="a.png")

    summary = export_coco(project.slice("file.size > 0"), tmp_path / "coco", images=True)

    names = [image["file_name"] for image in json.loads((tmp_path / "coco" / "annotations.json").read_text())["images"]]
    assert names == ["a.png", f"a-{second.id.hex[-8:]}.png"]
    assert [(tmp_path / "coco" / "images" / name).read_bytes() for name in names] == [first.read(), second.read()]
    assert [str(r) for r in summary.renamed] == [
        f"'a.png' -> 'a-{second.id.hex[-8:]}.png' (another file of the export has its name)"
    ]


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("x" * 496 + ".png", "it is too long for a file system"),
        ("猫" * 400 + ".png", "it is too long for a file system"),
        ("../../outside.png", "it is not a plain relative path"),
        ("/etc/outside.png", "it is not a plain relative path"),
        ('what: "why?" <now>|*.png', "it has characters some file systems refuse"),
    ],
)
def test_a_name_no_file_system_takes_exports_under_a_safe_name_inside_the_folder(
    project: annolog.Project, tmp_path: Path, name: str, reason: str
) -> None:
    photo = project.directory.new("train").add_file(_photo("red"), name=name)

    summary = export_yolo(project.directory.get("train"), tmp_path / "out", images=True)

    (renamed,) = summary.renamed
    exported = tmp_path / "out" / "images" / renamed.exported_as
    assert (renamed.name, renamed.reason, exported.read_bytes()) == (name, reason, photo.read())
    assert exported.resolve().is_relative_to((tmp_path / "out").resolve())
    assert all(len(part.encode()) <= 255 for part in Path(renamed.exported_as).parts)
    assert renamed.exported_as.endswith(f"-{photo.id.hex[-8:]}.png")
    assert (tmp_path / "out" / "labels" / renamed.exported_as).with_suffix(".txt").exists()


def test_an_unwritable_export_folder_is_a_clear_error_in_the_sdk_and_the_command_line(
    project: annolog.Project, tmp_path: Path
) -> None:
    project.directory.new("train").add_file(_photo("red"), name="a.png")

    with pytest.raises(InvalidInputError, match="cannot write the export into '/proc/annolog-export'"):
        export_coco(project.directory.get("train"), "/proc/annolog-export")
    result = subprocess.run(
        [sys.executable, "-m", "annolog", "export", "coco", "/proc/annolog-export", "-p", "streets", "-d", "train"],
        capture_output=True,
        text=True,
        env={"ANNOLOG_DATA_DIR": str(tmp_path / "data"), "PATH": "/usr/bin:/bin"},
        timeout=120,
    )
    assert (result.returncode, "Traceback" in result.stderr) == (2, False), result.stderr
    assert "annolog: InvalidInputError: cannot write the export into '/proc/annolog-export'" in result.stderr
