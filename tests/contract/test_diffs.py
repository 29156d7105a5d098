"""Diffs of two versions, label statistics and tags: the same answers embedded on SQLite, over
HTTP, and on Kafka + PostgreSQL, with the same read rules as every other read."""

import io
from collections.abc import Callable
from uuid import uuid4

import pytest
from PIL import Image

import annolog
from annolog.api.service import Service
from annolog.projections.readmodels import LabelCount

Connect = Callable[[str], annolog.Client]


def jpeg(color: str = "red") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), color).save(out, "JPEG")
    return out.getvalue()


class DiffContract:
    """Subclasses provide ``service``; ``connect`` reaches it in process unless overridden."""

    @pytest.fixture
    def connect(self, service: Service) -> Connect:
        return lambda actor: annolog.Client(service, actor=actor)

    @pytest.fixture
    def project(self, connect: Connect) -> annolog.Project:
        return connect("ana").create_project(f"diffs-{uuid4().hex[:8]}", labels=["car", "dog", "person"])

    def test_a_diff_lists_files_added_removed_and_changed_with_their_instances(self, project: annolog.Project) -> None:
        street = project.directory.new("street")
        kept, dropped = street.add_file(jpeg(), name="kept.jpg"), street.add_file(jpeg("blue"), name="dropped.jpg")
        moved, gone = kept.add_instance("car", box=(1, 1, 9, 9)), kept.add_instance("dog", box=(2, 2, 8, 8))
        base = project.tag("base")
        new = street.add_file(jpeg("green"), name="new.jpg")
        new.add_instance("person", box=(0, 0, 5, 5))  # an added file's instances come with it
        street.remove(dropped)
        moved.update(box=(3, 3, 9, 9))
        gone.delete()
        drawn = kept.add_instance("person", box=(4, 4, 6, 6))

        diff = project.diff("base", "latest", directory=street)

        assert (diff.base, diff.head, diff.directory_id, diff.next_after) == (base, project.version, street.id, None)
        assert [(f.name, f.change) for f in diff.files] == [
            ("kept.jpg", "changed"),
            ("dropped.jpg", "removed"),
            ("new.jpg", "added"),
        ]
        changed, removed, added = diff.files
        assert [(i.instance_id, i.change) for i in changed.instances] == [
            (moved.id, "changed"),
            (gone.id, "deleted"),
            (drawn.id, "added"),
        ]
        was, now = changed.instances[0].before, changed.instances[0].after
        assert was is not None and now is not None
        assert (was.points, now.points) == (((1, 1), (9, 9)), ((3, 3), (9, 9)))
        assert changed.before is not None and changed.after is not None
        assert len(changed.before.instances) == 2 and len(changed.after.instances) == 2
        assert removed.before is not None and removed.after is None and removed.instances == ()
        assert added.before is None and added.after is not None and added.after.instances[0].label == "person"

    def test_an_instance_edited_and_edited_back_is_no_change_and_a_version_against_itself_is_empty(
        self, project: annolog.Project
    ) -> None:
        street = project.directory.new("street")
        box = street.add_file(jpeg(), name="a.jpg").add_instance("car", box=(1, 1, 9, 9))
        project.tag("before")
        box.update(label="dog")
        box.update(label="car")

        assert project.diff("before", "latest").files == ()
        assert project.diff("latest", "latest").files == ()
        assert project.diff("before", "before", directory=street).files == ()

    def test_a_mirrored_file_is_added_where_it_is_mirrored_and_changed_once_everywhere(
        self, project: annolog.Project
    ) -> None:
        a, b = project.directory.new("a"), project.directory.new("b")
        photo = a.add_file(jpeg(), name="photo.jpg")
        project.tag("before")
        b.add(photo)
        photo.add_instance("dog", box=(1, 1, 5, 5))

        into_b = project.diff("before", "latest", directory=b).files
        everywhere = project.diff("before", "latest").files
        in_a = project.diff("before", "latest", directory=a).files

        assert [(f.name, f.change) for f in into_b] == [("photo.jpg", "added")]
        assert [(f.name, f.change, [i.change for i in f.instances]) for f in everywhere] == [
            ("photo.jpg", "changed", ["added"])
        ]
        assert in_a == everywhere

    def test_diff_pages_are_full_by_file_id_and_together_hold_every_changed_file_once(
        self, project: annolog.Project
    ) -> None:
        street = project.directory.new("street")
        same = [street.add_file(jpeg(), name=f"same-{i}.jpg") for i in range(3)]
        unchanged = [file.add_instance("car", box=(1, 1, 5, 5)) for file in same]
        base = project.tag("base")
        for box in unchanged:  # rows replaced between the versions, ending as they were: read past
            box.update(label="dog")
            box.update(label="car")
        added = [street.add_file(jpeg(), name=f"new-{i}.jpg").id for i in range(7)]

        pages, after = [], None
        while True:
            page = project.backend.diff(project.name, base, project.version, after=after, limit=3)
            pages.append([f.file_id for f in page.files])
            if page.next_after is None:
                break
            after = page.next_after

        assert pages == [added[0:3], added[3:6], added[6:7]]
        assert [f.file_id for f in project.diff(base, "latest", directory=street).files] == added

    def test_a_last_page_that_ends_at_the_limit_names_no_next_page(self, project: annolog.Project) -> None:
        street = project.directory.new("street")
        base = project.tag("base")
        added = [street.add_file(jpeg(), name=f"new-{i}.jpg").id for i in range(4)]

        first = project.backend.diff(project.name, base, project.version, limit=2)
        second = project.backend.diff(project.name, base, project.version, after=first.next_after, limit=2)

        assert [f.file_id for f in first.files] == added[:2] and first.next_after == added[1]
        assert [f.file_id for f in second.files] == added[2:] and second.next_after is None

    def test_a_renamed_label_is_no_change_of_its_instances_and_both_sides_use_the_new_name(
        self, project: annolog.Project
    ) -> None:
        street = project.directory.new("street")
        edited, untouched = street.add_file(jpeg(), name="a.jpg"), street.add_file(jpeg("blue"), name="b.jpg")
        edited.add_instance("car", box=(1, 1, 9, 9))
        untouched.add_instance("car", box=(1, 1, 9, 9))
        project.tag("before")
        project.label("car").rename("vehicle")
        edited.set_metadata({"weather": "rain"})

        (changed,) = project.diff("before", "latest").files

        assert (changed.name, changed.instances) == ("a.jpg", ())
        assert changed.before is not None and [i.label for i in changed.before.instances] == ["vehicle"]

    def test_a_file_whose_metadata_changed_is_a_change_with_both_metadata(self, project: annolog.Project) -> None:
        photo = project.directory.new("street").add_file(jpeg(), name="a.jpg", metadata={"weather": "sun"})
        project.tag("before")
        photo.set_metadata({"weather": "rain"})

        (changed,) = project.diff("before", "latest").files

        assert (changed.name, changed.change, changed.instances) == ("a.jpg", "changed", ())
        assert changed.before is not None and changed.after is not None
        assert (changed.before.metadata, changed.after.metadata) == ({"weather": "sun"}, {"weather": "rain"})

    def test_a_diff_refuses_base_after_head_and_versions_that_do_not_exist(self, project: annolog.Project) -> None:
        project.directory.new("street")
        latest = project.version
        with pytest.raises(annolog.InvalidInputError, match=f"base version {latest} is after head version 1"):
            project.diff(latest, 1)
        with pytest.raises(annolog.NotFoundError, match=f"version {latest + 1} of project .* latest is {latest}"):
            project.backend.diff(project.name, 1, latest + 1)
        with pytest.raises(annolog.NotFoundError, match="tag 'nope' does not exist"):
            project.diff(1, "nope")

    def test_a_viewer_sees_no_file_of_a_restricted_directory_in_a_diff_or_in_label_stats(
        self, project: annolog.Project, connect: Connect
    ) -> None:
        open_, secret = project.directory.new("open"), project.directory.new("secret", access_type="restricted")
        project.grant("ben", "viewer")
        project.tag("before")
        open_.add_file(jpeg(), name="open.jpg").add_instance("car", box=(1, 1, 5, 5))
        hidden = secret.add_file(jpeg("blue"), name="hidden.jpg")
        hidden.add_instance("dog", box=(1, 1, 5, 5))
        shared = secret.add_file(jpeg("green"), name="shared.jpg")
        open_.add(shared)

        ben = connect("ben").project(project.name)

        assert [f.name for f in ben.diff("before", "latest").files] == ["open.jpg", "shared.jpg"]
        assert [f.name for f in project.diff("before", "latest").files] == ["open.jpg", "hidden.jpg", "shared.jpg"]
        with pytest.raises(annolog.AccessDenied, match="may not read directory 'secret'"):
            ben.diff("before", "latest", directory=secret)
        stats = ben.label_stats()
        assert stats.files == 2 and [(c.label, c.instances) for c in stats.labels] == [
            ("car", 1),
            ("dog", 0),
            ("person", 0),
        ]
        with pytest.raises(annolog.AccessDenied, match="may not read directory 'secret'"):
            ben.label_stats(directory=secret)

    def test_label_stats_count_instances_and_files_per_label_at_each_version(self, project: annolog.Project) -> None:
        a, b = project.directory.new("a"), project.directory.new("b")
        busy, quiet = a.add_file(jpeg(), name="busy.jpg"), a.add_file(jpeg("blue"), name="quiet.jpg")
        first = busy.add_instance("car", box=(1, 1, 5, 5))
        busy.add_instance("car", box=(2, 2, 6, 6))
        quiet.add_instance("car", box=(1, 1, 5, 5))
        quiet.add_instance("dog", box=(1, 1, 5, 5))
        b.add(busy)  # mirrored: one file, counted once over every directory
        v1 = project.tag("v1")
        first.delete()
        b.add_file(jpeg("green"), name="people.jpg").add_instance("person", box=(1, 1, 5, 5))

        then, now, in_a = project.label_stats(version="v1"), project.label_stats(), project.label_stats(directory=a)

        assert (then.version, then.files, then.directory_id) == (v1, 2, None)
        assert then.labels == (
            LabelCount(label="car", class_index=0, instances=3, files=2),
            LabelCount(label="dog", class_index=1, instances=1, files=1),
            LabelCount(label="person", class_index=2, instances=0, files=0),
        )
        assert now.files == 3 and [(c.instances, c.files) for c in now.labels] == [(2, 2), (1, 1), (1, 1)]
        assert in_a.files == 2 and [(c.instances, c.files) for c in in_a.labels] == [(2, 2), (1, 1), (0, 0)]

    def test_label_stats_of_a_slice_count_only_its_files(self, project: annolog.Project) -> None:
        street = project.directory.new("street")
        with_dog = street.add_file(jpeg(), name="dog.jpg")
        with_dog.add_instance("dog", box=(1, 1, 5, 5))
        with_dog.add_instance("car", box=(1, 1, 5, 5))
        street.add_file(jpeg("blue"), name="cars.jpg").add_instance("car", box=(1, 1, 5, 5))

        stats = project.label_stats(directory=street, query="labels.dog > 0")

        assert stats.files == 1 and [(c.label, c.instances, c.files) for c in stats.labels] == [
            ("car", 1, 1),
            ("dog", 1, 1),
            ("person", 0, 0),
        ]
        with pytest.raises(annolog.InvalidInputError, match="unknown label .cat. at column 1 .* did you mean car"):
            project.label_stats(query="labels.cat > 0")

    def test_tags_are_listed_by_version_for_anyone_with_a_role(
        self, project: annolog.Project, connect: Connect
    ) -> None:
        street = project.directory.new("street", access_type="restricted")
        project.tag("v1")
        street.add_file(jpeg(), name="a.jpg")
        files_added = project.version
        project.tag("b-later", files_added)
        project.tag("a-later", files_added)
        moved_to = project.version
        project.tag("v1", moved_to, force=True)
        project.tag("first", 1)
        project.grant("cy", "viewer", directory=street)

        expected = [("first", 1), ("a-later", files_added), ("b-later", files_added), ("v1", moved_to)]
        assert list(project.tags().items()) == expected
        assert list(connect("cy").project(project.name).tags().items()) == expected
        with pytest.raises(annolog.AccessDenied, match="dee has no role"):
            connect("dee").project(project.name).tags()


class TestEmbedded(DiffContract):
    """In process, and through the HTTP API in process (the shared ``service``/``connect``)."""

    @pytest.fixture
    def connect(self, connect: Connect) -> Connect:
        return connect


@pytest.mark.kafka
@pytest.mark.postgres
class TestKafkaPostgres(DiffContract):
    @pytest.fixture
    def service(self, postgres_service: Service) -> Service:
        return postgres_service
