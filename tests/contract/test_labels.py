"""A label schema that evolves (rename, merge, retire, declared attributes): the same answers
embedded on SQLite, over HTTP, and on Kafka + PostgreSQL, with time travel and replay."""

import io
from collections.abc import Callable
from uuid import uuid4

import pytest
from PIL import Image

import annolog
from annolog.api.service import Service
from annolog.projections.replay import checksums, drop_database, fresh_database, replay

Connect = Callable[[str], annolog.Client]


def jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), "red").save(out, "JPEG")
    return out.getvalue()


def _labels_of(project: annolog.Project, version: int) -> list[str]:
    (photo,) = project.directory.get("street", version=version)
    return sorted(i.label for i in photo.instances)


class LabelSchemaContract:
    """Subclasses provide ``service``; ``connect`` reaches it in process unless overridden."""

    @pytest.fixture
    def connect(self, service: Service) -> Connect:
        return lambda actor: annolog.Client(service, actor=actor)

    @pytest.fixture
    def project(self, connect: Connect) -> annolog.Project:
        project = connect("ana").create_project(f"labels-{uuid4().hex[:8]}", labels=["car", "dog", "auto", "truck"])
        photo = project.directory.new("street").add_file(jpeg(), name="p.jpg")
        photo.add_instance("car", box=(1, 1, 9, 9))
        photo.add_instance("auto", box=(2, 2, 9, 9))
        photo.add_instance("truck", box=(3, 3, 9, 9))
        return project

    def test_a_renamed_label_keeps_its_class_index_and_earlier_versions_keep_the_old_name(
        self, project: annolog.Project
    ) -> None:
        before = project.version
        vehicle = project.label("car").rename("vehicle")

        assert _labels_of(project, before) == ["auto", "car", "truck"]
        assert _labels_of(project, project.version) == ["auto", "truck", "vehicle"]
        assert project.directory.get("street", version=before).classes == ["car", "dog", "auto", "truck"]
        assert project.directory.get("street").classes == ["vehicle", "dog", "auto", "truck"]
        assert vehicle.name == "vehicle" and "car" not in project.labels
        project.directory.get("street")[0].add_instance("vehicle", box=(4, 4, 8, 8))
        with pytest.raises(annolog.NotFoundError, match="label 'car' was renamed to 'vehicle'"):
            project.directory.get("street")[0].add_instance("car", box=(4, 4, 8, 8))

    def test_slices_count_a_renamed_label_by_its_name_at_the_version_read_and_the_old_name_says_the_new_one(
        self, project: annolog.Project
    ) -> None:
        before = project.version
        project.save_slice("cars", "labels.car >= 1")
        project.label("car").rename("vehicle")

        assert len(project.slice("labels.vehicle = 1")) == 1
        assert len(project.slice("labels.car = 1", version=before)) == 1
        assert len(project.slice("labels.vehicle = 1", version=before)) == 1  # today's names work at old versions
        assert len(project.saved_slice("cars", version=before)) == 1
        with pytest.raises(annolog.InvalidInputError, match=r"label 'car' is called 'vehicle' since version \d+"):
            len(project.slice("labels.car = 1"))
        with pytest.raises(annolog.InvalidInputError, match="query labels.vehicle"):
            len(project.saved_slice("cars"))

    def test_a_merged_label_reads_and_counts_as_its_target_and_keeps_its_class_slot(
        self, project: annolog.Project
    ) -> None:
        before = project.version
        project.label("auto").merge_into("car")

        assert _labels_of(project, project.version) == ["car", "car", "truck"]
        assert _labels_of(project, before) == ["auto", "car", "truck"]
        assert project.directory.get("street").classes == ["car", "dog", "auto", "truck"]
        assert "auto" not in project.labels
        assert len(project.slice("labels.car = 2")) == 1
        assert len(project.slice("labels.car = 1", version=before)) == 1
        with pytest.raises(annolog.InvalidInputError, match="label 'auto' was merged into 'car'"):
            len(project.slice("labels.auto >= 1"))
        with pytest.raises(annolog.ConflictError, match="label 'auto' was merged into 'car'.*use 'car'"):
            project.directory.get("street")[0].add_instance("auto", box=(4, 4, 8, 8))
        counts = {c.label: (c.class_index, c.instances, c.files) for c in project.label_stats().labels}
        assert counts == {"car": (0, 2, 1), "dog": (1, 0, 0), "auto": (2, 0, 0), "truck": (3, 1, 1)}

    def test_a_retired_label_refuses_new_instances_and_keeps_its_old_ones_editable(
        self, project: annolog.Project
    ) -> None:
        project.label("truck").retire()

        photo = project.directory.get("street")[0]
        with pytest.raises(annolog.ConflictError, match="label 'truck' is retired"):
            photo.add_instance("truck", box=(4, 4, 8, 8))
        (truck,) = [i for i in photo.instances if i.label == "truck"]
        truck.update(box=(3, 3, 8, 8))  # keeping the label it has
        with pytest.raises(annolog.ConflictError, match="label 'truck' is retired"):
            next(i for i in photo.instances if i.label == "car").update(label="truck")
        assert "truck" in project.labels and len(project.slice("labels.truck = 1")) == 1

    def test_instances_merged_into_a_label_that_is_then_retired_stay_editable(self, project: annolog.Project) -> None:
        project.label("auto").merge_into("car")
        project.label("car").retire()
        (merged_in,) = [i for i in project.directory.get("street")[0].instances if i.box == (2, 2, 9, 9)]  # was auto

        merged_in.update(box=(2, 2, 8, 8))

        assert merged_in.revision == 2 and merged_in.label == "car"

    def test_a_label_with_a_skeleton_merges_only_into_one_with_as_many_keypoints(
        self, project: annolog.Project
    ) -> None:
        project.define_labels("kid", "adult", "person")
        project.declare_skeleton("kid", keypoints=["head", "hand"])
        project.declare_skeleton("adult", keypoints=["head", "left", "right"])
        project.declare_skeleton("person", keypoints=["top", "side"])

        with pytest.raises(
            annolog.ConflictError, match="'kid' has a skeleton of 2 keypoints and 'adult' has a skeleton of 3"
        ):
            project.label("kid").merge_into("adult")
        with pytest.raises(annolog.ConflictError, match="'dog' has no skeleton"):
            project.label("kid").merge_into("dog")
        project.label("kid").merge_into("person")

        assert list(project.skeletons()) == ["adult", "person"]

    def test_declared_attributes_are_checked_on_every_new_or_edited_instance(self, project: annolog.Project) -> None:
        project.label("car").declare_attributes(
            {"occluded": "bool", "score": {"type": "float", "min": 0, "max": 1}, "color": ["red", "blue"]}
        )
        photo = project.directory.get("street")[0]

        box = photo.add_instance("car", box=(4, 4, 8, 8), attributes={"occluded": True, "score": 0.5, "color": "red"})
        with pytest.raises(
            annolog.InvalidInputError, match=r"attribute 'score' of label 'car' must be at most 1, got 1\.5"
        ):
            box.update(attributes={"score": 1.5})
        with pytest.raises(
            annolog.InvalidInputError,
            match="attribute 'color' of label 'car' must be one of 'red', 'blue', got 'green'",
        ):
            photo.add_instance("car", box=(4, 4, 8, 8), attributes={"color": "green"})
        with pytest.raises(annolog.InvalidInputError, match="label 'car' declares no attribute 'size'"):
            photo.add_instance("car", box=(4, 4, 8, 8), attributes={"size": 3})
        photo.add_instance("dog", box=(4, 4, 8, 8), attributes={"size": 3})  # dog declares nothing: free-form
        with pytest.raises(annolog.InvalidInputError, match="attributes.x.type"):
            project.label("dog").declare_attributes({"x": "colour"})

    def test_schema_changes_need_admin_and_the_history_says_who_made_them(
        self, project: annolog.Project, connect: Connect
    ) -> None:
        project.grant("ed", "editor")
        with pytest.raises(annolog.AccessDenied, match="ed may not LabelRenamed.*needs admin"):
            connect("ed").project(project.name).label("car").rename("vehicle")
        project.grant("ad", "admin")
        connect("ad").project(project.name).label("car").rename("vehicle")
        connect("ad").project(project.name).label("truck").retire()

        changes = [(e.actor, e.event, e.before, e.after) for e in project.history(event="LabelRenamed")]
        assert changes == [("ad", "LabelRenamed", {"name": "car"}, {"name": "vehicle"})]
        assert [e.actor for e in project.history(event="LabelRetired")] == ["ad"]

    def test_a_pinned_training_run_is_unaffected_and_targets_follow_renames_and_merges(
        self, project: annolog.Project, service: Service
    ) -> None:
        pytest.importorskip("torch")
        # Training workers reach the service by URL, which an in-process HTTP transport has not.
        trainer = annolog.Client(service, actor="ana").project(project.name)
        pinned = trainer.directory.get("street", version=project.version).to_pytorch()
        project.label("car").rename("vehicle")
        project.label("auto").merge_into("vehicle")
        latest = trainer.directory.get("street").to_pytorch()

        assert pinned.classes == ["__background__", "car", "dog", "auto", "truck"]
        assert sorted(pinned[0][1]["labels"].tolist()) == [1, 3, 4]
        assert latest.classes == ["__background__", "vehicle", "dog", "auto", "truck"]
        assert sorted(latest[0][1]["labels"].tolist()) == [1, 1, 4]  # auto maps to vehicle's index

    def test_a_rebuild_after_schema_changes_equals_the_incremental_views(
        self, project: annolog.Project, service: Service
    ) -> None:
        project.label("car").rename("vehicle")
        project.label("auto").merge_into("vehicle")
        project.label("truck").retire()
        project.label("vehicle").declare_attributes({"occluded": "bool"})
        project.label("vehicle").rename("car")  # back to its first name
        project.define_labels("bus")
        project.directory.get("street")[0].add_instance("car", box=(4, 4, 8, 8), attributes={"occluded": False})

        target = fresh_database(service.engine)
        try:
            replay(service.log, target)
            assert checksums(target) == checksums(service.engine)
        finally:
            drop_database(target)


class TestEmbedded(LabelSchemaContract):
    """In process, and through the HTTP API in process (the shared ``service``/``connect``)."""

    @pytest.fixture
    def connect(self, connect: Connect) -> Connect:
        return connect


@pytest.mark.kafka
@pytest.mark.postgres
class TestKafkaPostgres(LabelSchemaContract):
    @pytest.fixture
    def service(self, postgres_service: Service) -> Service:
        return postgres_service
