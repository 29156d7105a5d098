"""Bulk ingest: COCO files and folders of images, checked part by part, batched, and safe to re-run."""

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest

import annolog
from annolog.api.bootstrap import build_service
from annolog.batches import batches
from annolog.core import AddFile, AddInstance, InvalidInputError, UnavailableError
from tests.cocofiles import CATEGORIES, boxes_for, synthetic_coco, write_coco, write_images

Contents = list[tuple[str, str, tuple[tuple[str, Any, str], ...]]]


@pytest.fixture(
    params=["embedded", pytest.param("server", marks=[pytest.mark.kafka, pytest.mark.postgres, pytest.mark.s3])]
)
def client(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[annolog.Client]:
    """The embedded default, and Kafka + PostgreSQL + S3 with the projector in this process."""
    if request.param == "embedded":
        target: Any = tmp_path / "embedded"
    else:
        target = build_service(request.getfixturevalue("server_settings"), project_in_process=True)
    with annolog.Client(target, actor="ana") as opened:
        yield opened


@pytest.fixture
def embedded(tmp_path: Path) -> Iterator[annolog.Client]:
    with annolog.Client(tmp_path / "embedded", actor="ana") as opened:
        yield opened


def _contents(directory: annolog.Directory) -> Contents:
    """Everything an import decides: names, bytes and every instance (duplicates would show)."""
    return sorted(
        (
            f.name,
            f.sha256,
            tuple(sorted((i.label, i.box, json.dumps(i.attributes, sort_keys=True)) for i in f.instances)),
        )
        for f in directory
    )


def _interrupted(project: annolog.Project, monkeypatch: pytest.MonkeyPatch, *, call: int, after: bool) -> None:
    """Make the project's ``call``-th commit fail: before it is appended, or after (a lost acknowledgement)."""
    real: Callable[..., Any] = project.execute
    calls = 0

    def execute(commands: Any, *, commit_id: Any = None) -> Any:
        nonlocal calls
        calls += 1
        if calls == call and not after:
            raise UnavailableError("injected: the log went away before the append")
        outcome = real(commands, commit_id=commit_id)
        if calls == call and after:
            raise UnavailableError("injected: the acknowledgement was lost")
        return outcome

    monkeypatch.setattr(project, "execute", execute)


def test_a_coco_import_adds_every_image_and_box_and_its_categories_become_labels(
    client: annolog.Client, tmp_path: Path
) -> None:
    annotations, images = synthetic_coco(tmp_path / "coco", images=12, per_image=5)
    project = client.create_project("streets", labels=["car"])
    directory = project.directory.new("train")

    summary = directory.import_coco(annotations, images, batch_files=5)

    assert (summary.files_added, summary.instances_added, summary.problems) == (12, 60, [])
    assert summary.labels_defined == ["person", "bicycle"]  # car was defined already
    assert project.labels == ["bicycle", "car", "person"]
    assert summary.commits == 1 + 3 and summary.last_version == project.version  # labels, then 12 files by 5
    assert len(directory) == 12 and directory.version == project.version
    expected = {
        (a["image_id"], a["bbox"][0], a["bbox"][1], a["bbox"][0] + a["bbox"][2], a["bbox"][1] + a["bbox"][3])
        for a in json.loads(annotations.read_text())["annotations"]
    }
    imported = {(int(f.name[4:9]) + 1, *i.box) for f in directory for i in f.instances if i.box}
    assert imported == expected
    assert [f.name for f in directory] == sorted(f.name for f in directory)  # listed in the order imported


def test_running_an_import_again_adds_nothing_and_makes_no_version(client: annolog.Client, tmp_path: Path) -> None:
    annotations, images = synthetic_coco(tmp_path / "coco", images=6, per_image=3)
    directory = client.create_project("streets").directory.new("train")
    directory.import_coco(annotations, images)
    before, version = _contents(directory), directory.project.version

    again = directory.import_coco(annotations, images)

    assert (again.files_added, again.files_present, again.instances_added, again.instances_present) == (0, 6, 0, 18)
    assert again.commits == 0 and directory.project.version == version and _contents(directory) == before


@pytest.mark.parametrize("after", [False, True], ids=["before-the-append", "acknowledgement-lost"])
def test_an_import_interrupted_midway_then_run_again_equals_one_clean_import(
    client: annolog.Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, after: bool
) -> None:
    annotations, images = synthetic_coco(tmp_path / "coco", images=10, per_image=4)
    clean = client.create_project("clean").directory.new("train")
    clean.import_coco(annotations, images, batch_files=3)
    project = client.create_project("resumed")
    directory = project.directory.new("train")
    _interrupted(project, monkeypatch, call=3, after=after)  # labels, files 1-3, then files 4-6 fail

    with pytest.raises(UnavailableError, match="injected"):
        directory.import_coco(annotations, images, batch_files=3)
    directory.refresh()
    assert len(directory) == (6 if after else 3)
    resumed = directory.import_coco(annotations, images, batch_files=3)

    assert resumed.files_present == len(directory) - resumed.files_added
    assert _contents(directory) == _contents(clean)
    assert sum(len(f.instances) for f in directory) == 40


def test_each_invalid_part_is_refused_with_its_location_and_the_valid_parts_go_in(
    embedded: annolog.Client, tmp_path: Path
) -> None:
    entries = write_images(tmp_path / "images", 4)
    good = boxes_for(entries, 2)
    document_images = [
        *entries,
        {**entries[1], "file_name": "other.jpg"},
        {**entries[0], "id": 50, "file_name": "gone.jpg"},
    ]
    bad = [
        {"id": 100, "image_id": 1, "category_id": 99, "bbox": [1, 1, 5, 5]},
        {"id": 101, "image_id": 1, "category_id": 1, "bbox": [50, 40, 30, 5]},
        {"id": 102, "image_id": 2, "category_id": 1, "bbox": [5, 5, -3, 4]},
        {**good[0], "bbox": [1, 1, 2, 2]},  # a duplicate annotation id
        {"id": 103, "image_id": 50, "category_id": 1, "bbox": [1, 1, 5, 5]},
        {"id": 104, "image_id": 3, "category_id": 2, "bbox": [1, 1, "wide", 5]},
    ]
    path = write_coco(tmp_path / "annotations.json", document_images, good + bad)
    directory = embedded.create_project("streets").directory.new("train")

    summary = directory.import_coco(path, tmp_path / "images")

    assert [str(p) for p in summary.problems] == [
        "images[4] (id 2): duplicate image id 2, first at images[1] (id 2)",
        f"images[5] (id 50): image 'gone.jpg' is not in {tmp_path / 'images'}",
        "annotations[8] (id 100): category_id 99 is not in categories",
        "annotations[9] (id 101): bbox [50.0, 40.0, 30.0, 5.0] (x, y, width, height) reaches outside its image "
        "'img-00000.jpg' of 64x48 pixels",
        "annotations[10] (id 102): bbox [5.0, 5.0, -3.0, 4.0] has no area: width and height must be positive",
        "annotations[11] (id 1): duplicate annotation id 1, first at annotations[0] (id 1)",
        "annotations[12] (id 103): its image (image_id 50, images[5] (id 50)) was refused",
        "annotations[13] (id 104): bbox.2: Input should be a valid number, unable to parse string as a number "
        "(got 'wide')",
    ]
    assert (summary.files_added, summary.instances_added) == (4, 8)
    assert sorted(i.box for f in directory for i in f.instances) == sorted(
        (a["bbox"][0], a["bbox"][1], a["bbox"][0] + a["bbox"][2], a["bbox"][1] + a["bbox"][3]) for a in good
    )


def test_malformed_json_is_refused_with_its_line_and_column_and_nothing_is_written(
    embedded: annolog.Client, tmp_path: Path
) -> None:
    path = tmp_path / "annotations.json"
    path.write_text('{\n  "images": [],\n  "categories": [{"id": 1 "name": "car"}]\n}\n')
    project = embedded.create_project("streets")
    directory = project.directory.new("train")
    version = project.version

    with pytest.raises(InvalidInputError, match=r"is not valid JSON: line 3, column 27: Expecting ',' delimiter"):
        directory.import_coco(path, tmp_path)
    assert project.version == version and project.labels == []


def test_an_image_whose_real_size_is_not_the_size_the_file_states_is_refused_with_its_boxes(
    embedded: annolog.Client, tmp_path: Path
) -> None:
    entries = write_images(tmp_path / "images", 2)
    entries[1] = {**entries[1], "width": 640, "height": 480}
    path = write_coco(tmp_path / "annotations.json", entries, boxes_for(entries, 3))
    directory = embedded.create_project("streets").directory.new("train")

    summary = directory.import_coco(path, tmp_path / "images")

    assert [str(p) for p in summary.problems] == [
        "images[1] (id 2): the image is 64x48 pixels, not 640x480 (with its 3 instances)"
    ]
    assert [f.name for f in directory] == ["img-00000.jpg"]


def test_a_different_file_under_a_name_the_directory_has_is_refused(embedded: annolog.Client, tmp_path: Path) -> None:
    entries = write_images(tmp_path / "images", 2)
    directory = embedded.create_project("streets").directory.new("train")
    directory.add_file((tmp_path / "images" / "img-00001.jpg").read_bytes(), name="img-00000.jpg")

    summary = directory.import_coco(write_coco(tmp_path / "a.json", entries, []), tmp_path / "images")

    assert [str(p) for p in summary.problems] == [
        "images[0] (id 1): directory 'train' has a different file named 'img-00000.jpg'"
    ]
    assert summary.files_added == 1


def test_predictions_with_scores_become_instances_a_slice_on_attributes_score_finds(
    client: annolog.Client, tmp_path: Path
) -> None:
    entries = write_images(tmp_path / "images", 6)
    project = client.create_project("streets")
    directory = project.directory.new("train")
    directory.import_coco(write_coco(tmp_path / "truth.json", entries, boxes_for(entries, 2)), tmp_path / "images")
    scored = [
        {"id": i + 1, "image_id": e["id"], "category_id": 1, "bbox": [2, 2, 10, 10], "score": s}
        for i, (e, s) in enumerate(zip(entries, [0.95, 0.2, 0.91, 0.9, 0.5, 0.99]))
    ]

    summary = directory.import_coco(write_coco(tmp_path / "predictions.json", entries, scored), predictions=True)

    assert (summary.files_present, summary.instances_added, summary.problems) == (6, 6, [])
    confident = project.directory.get("train").slice("attributes.score > 0.9")
    assert sorted(f.name for f in confident) == ["img-00000.jpg", "img-00002.jpg", "img-00005.jpg"]
    assert all(len(f.instances) == 3 for f in directory)  # two true boxes and one prediction each


def test_predictions_without_a_score_or_for_images_not_in_the_directory_are_refused(
    embedded: annolog.Client, tmp_path: Path
) -> None:
    entries = write_images(tmp_path / "images", 2)
    directory = embedded.create_project("streets").directory.new("train")
    directory.import_coco(write_coco(tmp_path / "truth.json", entries[:1], []), tmp_path / "images")
    predictions = [
        {"id": 1, "image_id": 1, "category_id": 1, "bbox": [2, 2, 10, 10]},
        {"id": 2, "image_id": 2, "category_id": 1, "bbox": [2, 2, 10, 10], "score": 0.7},
    ]

    summary = directory.import_coco(write_coco(tmp_path / "p.json", entries, predictions), predictions=True)

    assert [str(p) for p in summary.problems] == [
        "annotations[0] (id 1): a prediction needs a score",
        "images[1] (id 2): image 'img-00001.jpg' is not in directory 'train' (with its 1 instances)",
    ]
    assert summary.instances_added == 0


def test_add_files_adds_a_folders_images_by_relative_name_and_lists_the_corrupt_ones(
    client: annolog.Client, tmp_path: Path
) -> None:
    write_images(tmp_path / "photos" / "day", 3)
    write_images(tmp_path / "photos" / "night", 2, seed=1)
    (tmp_path / "photos" / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    (tmp_path / "photos" / "notes.txt").write_text("not an image, not imported")
    directory = client.create_project("streets").directory.new("raw")

    summary = directory.add_files([tmp_path / "photos"], batch_files=2)

    assert summary.files_added == 5 and len(summary.problems) == 1
    assert summary.problems[0].location == str(tmp_path / "photos" / "broken.jpg")
    assert "broken.jpg" in summary.problems[0].message
    assert sorted(f.name for f in directory) == [
        "day/img-00000.jpg", "day/img-00001.jpg", "day/img-00002.jpg", "night/img-00000.jpg", "night/img-00001.jpg"
    ]  # fmt: skip


def test_a_file_with_more_boxes_than_one_commit_holds_is_split_with_its_file_first() -> None:
    add = AddFile(directory_id=uuid4(), name="a.jpg", sha256="0" * 64, media_type="image/jpeg", size=1)
    boxes = [AddInstance(file_id=add.file_id, label="car", kind="box", points=((0, 0), (i + 1, 1))) for i in range(50)]
    other = AddFile(directory_id=uuid4(), name="b.jpg", sha256="1" * 64, media_type="image/jpeg", size=1)

    made = list(batches([[add, *boxes], [other]], max_bytes=10**6, max_events=20))

    assert [len(b.commands) for b in made] == [20, 20, 12]
    assert [c for b in made for c in b.commands] == [add, *boxes, other]
    assert made[0].commands[0] is add and all(len(b.commands) <= 20 for b in made)


def test_the_import_command_prints_a_summary_and_exits_1_when_it_refused_parts(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    import annolog.api.cli.transfer  # noqa: F401  (registers the commands)
    from annolog.api.cli.app import app

    annotations, images = synthetic_coco(tmp_path / "coco", images=3, per_image=2)
    document = json.loads(annotations.read_text())
    document["annotations"].append({"id": 99, "image_id": 1, "category_id": 42, "bbox": [1, 1, 2, 2]})
    annotations.write_text(json.dumps(document))
    env = {"ANNOLOG_DATA_DIR": str(tmp_path / "data")}
    args = ["import", "coco", str(annotations), "--images", str(images), "-p", "streets", "-d", "train"]

    first = CliRunner().invoke(app, args, env=env)
    again = CliRunner().invoke(app, [*args, "--json"], env=env)

    assert first.exit_code == 1, first.output
    assert "files added           3" in first.output and "instances added       6" in first.output
    assert "annotations[6] (id 99): category_id 42 is not in categories" in first.output
    summary = json.loads(again.stdout[again.stdout.index("{") :])
    assert (summary["files_present"], summary["instances_present"], summary["commits"]) == (3, 6, 0)
    assert {c["name"] for c in CATEGORIES} == set(annolog.Client(tmp_path / "data").project("streets").labels)
