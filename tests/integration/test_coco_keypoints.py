"""COCO keypoints through annolog: categories' skeletons and people's keypoints in and out, checked
by pycocotools' keypoint evaluation; re-runs, conflicting skeletons and malformed keypoints."""

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pycocotools.coco import COCO

import annolog
from annolog.export import export_yolo
from annolog.ingest import import_coco
from tests.cocofiles import cocoeval_stats, exported_coco, quietly, write_coco, write_images

WIDTH, HEIGHT = 64, 48
NAMES = ["head", "left_hand", "right_hand", "hip"]
CATEGORIES = [
    {"id": 1, "name": "person", "supercategory": "person", "keypoints": NAMES, "skeleton": [[1, 4], [2, 4], [3, 4]]},
    {"id": 2, "name": "car"},
]


def _people(images: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """On each image: a person with an outline, one without, a crowd with no keypoints labelled, and a car."""
    annotations: list[dict[str, Any]] = []
    for image in images:
        people = [
            {
                "keypoints": [20, 5, 2, 12, 20, 1, 28, 20, 2, 20, 30, 2],
                "num_keypoints": 4,
                "bbox": [10.0, 3.0, 20.0, 30.0],
                "area": 431.5,
                "segmentation": [[10.0, 3.0, 30.0, 3.0, 30.0, 33.0, 10.0, 33.0]],
            },
            {
                "keypoints": [50, 6, 2, 0, 0, 0, 60, 22, 1, 52, 30, 2],
                "num_keypoints": 3,
                "bbox": [45.0, 2.0, 18.0, 32.0],
                "area": 300.0,
            },
            {
                "keypoints": [0] * 12,
                "num_keypoints": 0,
                "bbox": [0.0, 36.0, 20.0, 10.0],
                "area": 150.0,
                "iscrowd": 1,
                "segmentation": [[0.0, 36.0, 20.0, 36.0, 20.0, 46.0, 0.0, 46.0]],
            },
        ]
        for person in people:
            annotations.append({"id": len(annotations) + 1, "image_id": image["id"], "category_id": 1, **person})
        car = {"bbox": [35.0, 36.0, 10.0, 8.0], "area": 80.0, "iscrowd": 0}
        annotations.append({"id": len(annotations) + 1, "image_id": image["id"], "category_id": 2, **car})
    return annotations


@pytest.fixture
def imported(tmp_path: Path) -> tuple[annolog.Project, Path]:
    """A project with a directory "train" imported from a COCO keypoints file; and that file."""
    project = annolog.Client(tmp_path / "data").create_project("poses")
    images = write_images(tmp_path / "images", 2, size=(WIDTH, HEIGHT))
    source = write_coco(tmp_path / "in.json", images, _people(images), CATEGORIES)
    summary = import_coco(project.directory.new("train"), source, tmp_path / "images")
    assert summary.problems == [] and summary.instances_added == 8
    return project, source


def test_a_categorys_keypoints_become_its_labels_skeleton_with_0_based_edges(
    imported: tuple[annolog.Project, Path],
) -> None:
    project, _ = imported
    (person,) = project.skeletons().values()
    assert (person.label, person.keypoints, person.skeleton) == ("person", tuple(NAMES), ((0, 3), (1, 3), (2, 3)))


def test_keypoints_annotations_become_keypoints_instances_keeping_their_box_area_and_outline(
    imported: tuple[annolog.Project, Path],
) -> None:
    project, _ = imported
    outlined, bare, crowd, car = project.directory.get("train")[0].instances

    assert outlined.kind == bare.kind == crowd.kind == "keypoints" and car.kind == "box"
    assert outlined.keypoints == [(20, 5, 2), (12, 20, 1), (28, 20, 2), (20, 30, 2)]
    assert bare.visibility == (2, 0, 1, 2)
    assert outlined.attributes == {
        "coco": {"bbox": [10.0, 3.0, 20.0, 30.0], "area": 431.5, "segmentation": [[10, 3, 30, 3, 30, 33, 10, 33]]}
    }
    assert crowd.attributes == {
        "iscrowd": 1,
        "coco": {"bbox": [0.0, 36.0, 20.0, 10.0], "area": 150.0, "segmentation": [[0, 36, 20, 36, 20, 46, 0, 46]]},
    }


def test_a_keypoints_export_scores_perfectly_against_itself_in_cocoeval(
    imported: tuple[annolog.Project, Path], tmp_path: Path
) -> None:
    project, _ = imported
    exported_coco(project, tmp_path / "out")

    truth = quietly(lambda: COCO(str(tmp_path / "out" / "annotations.json")))
    people = truth.loadAnns(truth.getAnnIds(catIds=[1]))
    # A detection is a pose found: a crowd with no keypoints labelled is ground truth to ignore, not a result.
    detections = [{**a, "score": 1.0} for a in people if a["num_keypoints"] > 0]
    sigmas = np.full(len(NAMES), 0.05)  # pycocotools defaults to COCO's 17 keypoints
    stats = cocoeval_stats(truth, detections, "keypoints", catIds=[1], kpt_oks_sigmas=sigmas)
    assert len(people) == 6 and len(detections) == 4  # each person matches itself; the crowds are ignored
    assert stats[0] == pytest.approx(1.0) and stats[1] == pytest.approx(1.0)


def test_import_export_import_is_the_identity(imported: tuple[annolog.Project, Path], tmp_path: Path) -> None:
    project, source = imported
    first = exported_coco(project, tmp_path / "first")
    again = annolog.Client(tmp_path / "again").create_project("poses")
    import_coco(again.directory.new("train"), tmp_path / "first" / "annotations.json", tmp_path / "images")

    assert _shapes(again) == _shapes(project)
    assert again.skeletons() == project.skeletons()
    second = exported_coco(again, tmp_path / "second")
    assert second["annotations"] == first["annotations"] and second["categories"] == first["categories"]
    assert first["categories"][0] == {**CATEGORIES[0], "supercategory": ""}  # annolog has no supercategories
    for before, after in zip(json.loads(source.read_text())["annotations"], first["annotations"]):
        assert {k: after[k] for k in before if k != "id"} == {k: v for k, v in before.items() if k != "id"}


def _shapes(project: annolog.Project) -> list[tuple[Any, ...]]:
    return sorted(
        (f.name, i.label, i.kind, i.points, i.visibility, json.dumps(i.attributes, sort_keys=True))
        for f in project.directory.get("train")
        for i in f.instances
    )


def test_importing_the_same_file_again_adds_nothing(imported: tuple[annolog.Project, Path], tmp_path: Path) -> None:
    project, source = imported
    version = project.version

    summary = import_coco(project.directory.get("train"), source, tmp_path / "images")

    assert (summary.instances_added, summary.instances_present, summary.commits) == (0, 8, 0)
    assert summary.problems == [] and project.version == version


def test_a_skeleton_other_than_the_labels_is_listed_and_its_keypoints_refused(
    imported: tuple[annolog.Project, Path], tmp_path: Path
) -> None:
    project, _ = imported
    images = write_images(tmp_path / "more", 1, size=(WIDTH, HEIGHT), seed=1)
    other = [{**CATEGORIES[0], "skeleton": [[1, 2]]}, CATEGORIES[1]]
    source = write_coco(tmp_path / "other.json", images, _people(images), other)

    summary = import_coco(project.directory.new("more"), source, tmp_path / "more")

    refused = "keypoints: its category's skeleton was refused (categories[0] (id 1))"
    assert [str(p) for p in summary.problems] == [
        *(f"annotations[{i}] (id {i + 1}): {refused}" for i in range(3)),  # the car imports
        "categories[0] (id 1): label 'person' declares keypoints ['head', 'left_hand', 'right_hand', 'hip'] with "
        "skeleton [[1, 4], [2, 4], [3, 4]], this category keypoints ['head', 'left_hand', 'right_hand', 'hip'] "
        "with skeleton [[1, 2]] (edges 1-based): the label's skeleton is kept, and this category's keypoints "
        "annotations are refused",
    ]
    assert summary.instances_added == 1
    assert project.skeletons()["person"].skeleton == ((0, 3), (1, 3), (2, 3))


def test_keypoints_that_do_not_fit_their_skeleton_or_image_are_listed_and_the_rest_imports(tmp_path: Path) -> None:
    project = annolog.Client(tmp_path / "data").create_project("poses")
    images = write_images(tmp_path / "images", 1, size=(WIDTH, HEIGHT))
    person = {"image_id": 1, "bbox": [1.0, 1.0, 5.0, 5.0]}
    annotations = [
        {"id": 1, "category_id": 1, "keypoints": [1, 1, 2], **person},
        {"id": 2, "category_id": 1, "keypoints": [1, 1, 3] * 4, **person},
        {"id": 3, "category_id": 1, "keypoints": [99, 1, 2] + [0, 0, 0] * 3, **person},
        {"id": 4, "category_id": 2, "keypoints": [1, 1, 2], **person},
        {"id": 5, "category_id": 1, "keypoints": [99, 1, 0] + [2, 2, 2] * 3, **person},
    ]
    broken = {"id": 3, "name": "bad", "keypoints": ["a"], "skeleton": [[0, 1]]}
    source = write_coco(tmp_path / "in.json", images, annotations, [*CATEGORIES, broken])

    summary = import_coco(project.directory.new("train"), source, tmp_path / "images")

    assert [str(p) for p in summary.problems] == [
        "annotations[0] (id 1): keypoints: 3 values are not x, y, visibility for each of the 4 keypoints "
        "of label 'person' (head, left_hand, right_hand, hip)",
        "annotations[1] (id 2): keypoints: a keypoint's visibility is 0, 1 or 2; got [3.0]",
        "annotations[2] (id 3): keypoints: point (99.0, 1.0) lies outside its 64x48 image: "
        "coordinates must be within 0..64 and 0..48 pixels",
        "annotations[3] (id 4): keypoints: category_id 2 ('car') names no keypoints",
        "categories[2] (id 3): entry: Value error, skeleton edges count keypoints from 1 in a COCO file; "
        "got [[0, 1]] (got {'id': 3, 'name': 'bad', 'keypoints': ['a'], 'skeleton': [[0, 1]]})",
    ]
    (unlabelled_far_away,) = project.directory.get("train")[0].instances  # a keypoint not labelled may be anywhere
    assert unlabelled_far_away.visibility == (0, 2, 2, 2)


def test_yolo_lists_keypoints_as_what_it_cannot_hold(imported: tuple[annolog.Project, Path], tmp_path: Path) -> None:
    project, _ = imported
    summary = export_yolo(project.directory.get("train"), tmp_path / "yolo")

    assert summary.instances == 2
    assert [str(p) for p in summary.skipped] == [
        f"file 'img-{i:05d}.jpg': 3 instance(s) of kind keypoints: YOLO cannot hold them" for i in range(2)
    ]
