"""Skeletons and keypoints instances, the same embedded, over HTTP and on Kafka + PostgreSQL:
declared, drawn by order or by name, edited with revisions, read at earlier versions, copied,
sliced and checked against the label's skeleton."""

import json
from pathlib import Path
from uuid import uuid4

import pytest

import annolog
from annolog.api.service import Service
from annolog.core import ConflictError, InvalidInputError
from annolog.export import export_coco, export_yolo
from tests.contract.conftest import Connect
from tests.contract.test_projections import jpeg

NAMES = ["head", "left_hand", "right_hand"]
POSE = [(32.0, 5.0, 2), (10.0, 20.0, 1), (0.0, 0.0, 0)]


class KeypointContract:
    """Subclasses provide ``service``; ``connect`` reaches it in process unless overridden."""

    @pytest.fixture
    def connect(self, service: Service) -> Connect:
        return lambda actor: annolog.Client(service, actor=actor)

    @pytest.fixture
    def project(self, connect: Connect) -> annolog.Project:
        project = connect("ana").create_project(f"poses-{uuid4().hex[:6]}", labels=["person", "car"])
        project.declare_skeleton("person", keypoints=NAMES, skeleton=[(0, 1), (0, 2)])
        return project

    @pytest.fixture
    def photo(self, project: annolog.Project) -> annolog.File:
        return project.directory.new("people").add_file(jpeg(64, 48), name="pose.jpg")

    def test_a_declared_skeleton_reads_back_by_label_and_not_before_its_version(self, project: annolog.Project) -> None:
        (person,) = project.skeletons().values()
        assert (person.label, person.keypoints, person.skeleton) == ("person", tuple(NAMES), ((0, 1), (0, 2)))
        assert project.skeletons(version=project.version - 1) == {}

    def test_keypoints_drawn_in_order_read_back_as_triples_with_their_flags(
        self, project: annolog.Project, photo: annolog.File
    ) -> None:
        drawn = photo.add_instance("person", keypoints=POSE, attributes={"num_keypoints": 2})

        (read,) = project.directory.get("people")[0].instances
        assert read.kind == "keypoints" and read.keypoints == drawn.keypoints == POSE
        assert read.visibility == (2, 1, 0) and read.attributes == {"num_keypoints": 2}

    def test_keypoints_given_by_name_take_the_skeletons_order_and_the_rest_are_not_labelled(
        self, project: annolog.Project, photo: annolog.File
    ) -> None:
        photo.add_instance("person", keypoints={"right_hand": (40.0, 30.0, 2), "head": (32.0, 5.0, 1)})

        (read,) = project.directory.get("people")[0].instances
        assert read.keypoints == [(32.0, 5.0, 1), (0.0, 0.0, 0), (40.0, 30.0, 2)]
        with pytest.raises(InvalidInputError, match="label 'person' has no keypoints 'tail'; its skeleton names head"):
            photo.add_instance("person", keypoints={"tail": (1.0, 1.0, 2)})

    def test_a_keypoints_edit_is_a_new_revision_and_the_version_before_it_keeps_the_old_pose(
        self, project: annolog.Project, photo: annolog.File
    ) -> None:
        person = photo.add_instance("person", keypoints=POSE)
        drawn = project.version
        person.update(keypoints={"left_hand": (12.0, 22.0, 2)})

        assert person.revision == 2 and person.keypoints == [(0.0, 0.0, 0), (12.0, 22.0, 2), (0.0, 0.0, 0)]
        (now,) = project.directory.get("people")[0].instances
        (then,) = project.directory.get("people", version=drawn)[0].instances
        assert now.keypoints == person.keypoints and then.keypoints == POSE and then.revision == 1

    def test_a_skeleton_follows_its_label_through_a_rename_and_keypoints_still_fit_it(
        self, project: annolog.Project, photo: annolog.File
    ) -> None:
        before = project.version
        project.label("person").rename("pedestrian")

        assert list(project.skeletons()) == ["pedestrian"] and list(project.skeletons(version=before)) == ["person"]
        drawn = photo.add_instance("pedestrian", keypoints=POSE)
        assert drawn.keypoints == POSE
        project.declare_skeleton("pedestrian", keypoints=["top", "left", "right"], skeleton=[(0, 1)])
        assert project.skeletons()["pedestrian"].keypoints == ("top", "left", "right")

    def test_an_attribute_edit_keeps_the_keypoints(self, project: annolog.Project, photo: annolog.File) -> None:
        photo.add_instance("person", keypoints=POSE).update(attributes={"crowd": False})

        (read,) = project.directory.get("people")[0].instances
        assert read.keypoints == POSE and read.attributes == {"crowd": False}

    def test_a_keypoints_edit_from_a_stale_handle_is_a_conflict_and_the_first_edit_stays(
        self, project: annolog.Project, photo: annolog.File
    ) -> None:
        photo.add_instance("person", keypoints=POSE)
        first, stale = project.directory.get("people")[0].instances[0], project.directory.get("people")[0].instances[0]
        first.update(keypoints=[(1.0, 1.0, 2)] * 3)

        with pytest.raises(ConflictError, match="revision 2 but the edit expected revision 1"):
            stale.update(keypoints=[(2.0, 2.0, 2)] * 3)
        assert project.directory.get("people")[0].instances[0].keypoints == [(1.0, 1.0, 2)] * 3

    def test_keypoints_of_the_wrong_count_or_on_a_label_without_a_skeleton_are_refused(
        self, project: annolog.Project, photo: annolog.File
    ) -> None:
        wrong_count = r"label 'person'.*expected 3 \(head, left_hand, right_hand\), got 2"
        with pytest.raises(InvalidInputError, match=wrong_count):
            photo.add_instance("person", keypoints=POSE[:2])
        with pytest.raises(InvalidInputError, match="label 'car' declares no skeleton"):
            photo.add_instance("car", keypoints=POSE)
        assert project.directory.get("people")[0].instances == []

    def test_a_skeleton_may_be_renamed_but_not_given_another_keypoint_count(self, project: annolog.Project) -> None:
        project.declare_skeleton("person", keypoints=["nose", "left_hand", "right_hand"])
        assert project.skeletons()["person"].keypoints == ("nose", "left_hand", "right_hand")

        with pytest.raises(ConflictError, match="skeleton of 3 keypoints.*needs a new label"):
            project.declare_skeleton("person", keypoints=["nose"])

    def test_a_copied_file_copies_its_keypoints(self, project: annolog.Project, photo: annolog.File) -> None:
        photo.add_instance("person", keypoints=POSE)
        copy = photo.copy(project.directory.new("copies"))

        assert copy.instances[0].keypoints == POSE

    def test_slices_count_keypoints_instances_by_kind_and_label(
        self, project: annolog.Project, photo: annolog.File
    ) -> None:
        people = project.directory.get("people")
        people.add_file(jpeg(64, 48, "blue"), name="empty.jpg")
        photo.add_instance("person", keypoints=POSE)

        def names(query: str) -> list[str]:
            return [f.name for f in project.directory.get("people").slice(query)]

        assert names("instances.keypoints > 0") == names("labels.person >= 1") == ["pose.jpg"]
        assert names("instances.keypoints = 0") == ["empty.jpg"]

    def test_coco_exports_keypoints_with_their_skeleton_and_yolo_lists_them_as_skipped(
        self, project: annolog.Project, photo: annolog.File, tmp_path: Path
    ) -> None:
        photo.add_instance("person", keypoints=POSE)
        people = project.directory.get("people")

        assert export_coco(people, tmp_path / "coco").skipped == []
        written = json.loads((tmp_path / "coco" / "annotations.json").read_text())
        assert written["categories"][0] | {"id": 0} == {
            "id": 0,
            "name": "person",
            "supercategory": "",
            "keypoints": NAMES,
            "skeleton": [[1, 2], [1, 3]],
        }
        (annotation,) = written["annotations"]
        assert annotation["keypoints"] == [32.0, 5.0, 2, 10.0, 20.0, 1, 0.0, 0.0, 0]
        assert (annotation["num_keypoints"], annotation["bbox"], annotation["area"]) == (
            2,
            [10.0, 5.0, 22.0, 15.0],
            330.0,
        )
        (skipped,) = export_yolo(people, tmp_path / "yolo").skipped
        assert "1 instance(s) of kind keypoints: YOLO cannot hold them" in str(skipped)


class TestEmbedded(KeypointContract):
    """In process, and through the HTTP API in process (the shared ``service``/``connect``)."""

    @pytest.fixture
    def connect(self, connect: Connect) -> Connect:
        return connect


@pytest.mark.kafka
@pytest.mark.postgres
class TestKafkaPostgres(KeypointContract):
    @pytest.fixture
    def service(self, postgres_service: Service) -> Service:
        return postgres_service
