"""The rules, judged in memory: no database, just ``core.rules`` over an overlay with nothing beneath."""

import json
import typing
from importlib import resources
from uuid import UUID

import pytest

from annolog.core.commit import Commit
from annolog.core.errors import AccessDenied, ConflictError, InvalidInputError, NotFoundError
from annolog.core.events import (
    AccessType,
    ArrayChunksWritten,
    ArrayCreated,
    ArrayResized,
    ChunkWrite,
    DirectoryCreated,
    Event,
    FileAdded,
    FileMirrored,
    FileRemovedFromDirectory,
    InstanceAdded,
    InstanceChanged,
    InstanceDeleted,
    LabelAttributesDeclared,
    LabelDefined,
    LabelMerged,
    LabelRenamed,
    LabelRetired,
    ProjectCreated,
    Role,
    RoleGranted,
)
from annolog.core.geometry import InstanceKind
from annolog.core.rules import EVENTS, Add, Close, Judging, judge
from annolog.projections.overlay import EmptyBase, Overlay

PROJECT = UUID(int=1)
EVERYWHERE, SECRET = UUID(int=10), UUID(int=11)
PHOTO, BOX = UUID(int=20), UUID(int=30)


class Judged:
    """A project judged commit by commit, as the batch projector does: accepted commits are
    kept, a rejected one is dropped from the overlay."""

    def __init__(self) -> None:
        self.state = Overlay(PROJECT, EmptyBase())
        self.version = 0

    def commit(self, *events: Event, actor: str = "ana") -> None:
        commit = Commit(project_id=PROJECT, actor=actor, command="Test", events=events)
        try:
            judge(commit, "streets", self.version + 1, self.state)
        except Exception:
            self.state.drop()
            raise
        self.state.keep()
        self.version += 1


def box(instance_id: UUID = BOX, label: str = "car", corner: float = 10.0) -> InstanceAdded:
    points = ((corner - 5, corner - 5), (corner, corner))
    return InstanceAdded(instance_id=instance_id, file_id=PHOTO, label=label, kind=InstanceKind.box, points=points)


def opened() -> Judged:
    """Project "streets" with label "car", two directories and a 100x80 photo."""
    judged = Judged()
    judged.commit(
        ProjectCreated(project_id=PROJECT, name="streets"),
        LabelDefined(name="car"),
        DirectoryCreated(directory_id=EVERYWHERE, name="all"),
        DirectoryCreated(directory_id=SECRET, name="secret", access_type=AccessType.restricted),
        FileAdded(
            file_id=PHOTO,
            directory_id=EVERYWHERE,
            sha256="ab" * 32,
            name="a.jpg",
            media_type="image/jpeg",
            size=1,
            width=100,
            height=80,
        ),
    )
    return judged


@pytest.fixture
def project() -> Judged:
    return opened()


def test_every_event_type_has_its_model_role_rule_and_avro_branch() -> None:
    union = typing.get_args(typing.get_args(Event)[0])
    declared = {model.model_fields["type"].default: model for model in union}
    schemas = [f for f in resources.files("annolog.eventlog.schemas").iterdir() if f.name.endswith(".avsc")]
    newest = max(schemas, key=lambda f: int(f.name.removeprefix("commit-v").removesuffix(".avsc")))
    schema = json.loads(newest.read_text())
    (events_field,) = [f for f in schema["fields"] if f["name"] == "events"]
    branches = {branch["name"] for branch in events_field["type"]["items"]}

    assert set(EVENTS) == set(declared) == branches
    for name, facts in EVENTS.items():
        assert facts.model is declared[name] and callable(facts.rule)
        assert (facts.needs is None) == (name == "ProjectCreated")


def test_a_mirrored_file_is_in_both_directories_and_its_name_is_taken_in_each(project: Judged) -> None:
    project.commit(FileMirrored(file_id=PHOTO, directory_id=SECRET))

    assert project.state.holders(PHOTO) == {EVERYWHERE: None, SECRET: None}
    assert project.state.file_named(SECRET, "a.jpg")
    with pytest.raises(ConflictError, match="already in directory 'secret'"):
        project.commit(FileMirrored(file_id=PHOTO, directory_id=SECRET))


def test_an_edit_against_a_stale_revision_is_a_conflict_that_names_both_revisions(project: Judged) -> None:
    project.commit(box())
    project.commit(
        InstanceChanged(
            instance_id=BOX, expected_revision=1, label="car", kind=InstanceKind.box, points=((0, 0), (9, 9))
        )
    )

    with pytest.raises(ConflictError, match="at revision 2 but the edit expected revision 1"):
        project.commit(InstanceDeleted(instance_id=BOX, expected_revision=1))


def test_a_rejected_commit_leaves_nothing_behind_in_the_overlay(project: Judged) -> None:
    with pytest.raises(NotFoundError, match="label 'dog' is not defined"):
        project.commit(LabelDefined(name="bus"), box(label="car"), box(UUID(int=31), label="dog"))

    assert "bus" not in project.state.labels()
    assert project.state.row("instances", (BOX,)) is None
    assert project.state.row("label_counts", (PHOTO, "car")) is None
    assert [row["name"] for row in project.state.writes()["labels"].inserts] == ["car"]


def test_label_counts_follow_adds_and_deletes_within_and_across_commits(project: Judged) -> None:
    project.commit(box(), box(UUID(int=31)))
    project.commit(InstanceDeleted(instance_id=BOX, expected_revision=1))

    assert project.state.row("label_counts", (PHOTO, "car")) == {"file_id": PHOTO, "label": "car", "count": 1}


def test_a_row_added_and_closed_by_one_commit_is_never_written(project: Judged) -> None:
    project.commit(box(), InstanceDeleted(instance_id=BOX, expected_revision=1))

    instances = project.state.writes().get("instances")
    assert instances is None or instances.inserts == []
    assert not project.state.existed("instances", (BOX,))  # the id was never seen at any version


def test_a_file_removed_from_a_restricted_directory_stays_closed_to_those_without_its_grant(
    project: Judged,
) -> None:
    project.commit(RoleGranted(principal="bob", role=Role.annotator))
    project.commit(
        FileMirrored(file_id=PHOTO, directory_id=SECRET),
        FileRemovedFromDirectory(file_id=PHOTO, directory_id=EVERYWHERE),
    )
    project.commit(FileRemovedFromDirectory(file_id=PHOTO, directory_id=SECRET))

    with pytest.raises(AccessDenied, match="bob may not InstanceAdded in file"):
        project.commit(box(), actor="bob")


def test_a_box_off_the_image_is_refused_with_the_image_size(project: Judged) -> None:
    with pytest.raises(InvalidInputError, match="100x80 image"):
        project.commit(box(corner=95.0))


CLIP = UUID(int=21)


def _clip(frames: int) -> FileAdded:
    return FileAdded(
        file_id=CLIP,
        directory_id=EVERYWHERE,
        sha256="cd" * 32,
        name="clip.mp4",
        media_type="video/mp4",
        size=1,
        width=64,
        height=48,
        frames=frames,
        fps=30.0,
    )


def test_an_instance_on_a_frame_past_the_video_or_on_a_picture_is_refused(project: Judged) -> None:
    project.commit(_clip(frames=30))
    on = {"label": "car", "kind": InstanceKind.box, "points": ((1, 1), (5, 5))}

    with pytest.raises(InvalidInputError, match=r"frame 30 is past the end of file 'clip.mp4'.*\(0 to 29\)"):
        project.commit(InstanceAdded(instance_id=BOX, file_id=CLIP, frame=30, **on))
    with pytest.raises(InvalidInputError, match="file 'a.jpg' .* single picture"):
        project.commit(InstanceAdded(instance_id=BOX, file_id=PHOTO, frame=0, **on))
    project.commit(InstanceAdded(instance_id=BOX, file_id=CLIP, frame=29, track=4, **on))
    with pytest.raises(InvalidInputError, match="frame 31 is past the end"):
        project.commit(InstanceChanged(instance_id=BOX, expected_revision=1, frame=31, **on))

    assert project.state.row("instances", (BOX,)) is not None
    assert {k: project.state.row("instances", (BOX,))[k] for k in ("frame", "track")} == {"frame": 29, "track": 4}


def test_each_rule_returns_changes_and_writes_nothing_itself(project: Judged) -> None:
    rule = EVENTS["LabelDefined"].rule
    commit = Commit(project_id=PROJECT, actor="ana", command="Test", events=(LabelDefined(name="bus"),))
    changes = rule(Judging(commit, "streets", 2, project.state), commit.events[0])

    assert [type(c) for c in changes if isinstance(c, Add | Close)] == [Add]
    assert "bus" not in project.state.labels()  # nothing applied until the loop applies it


SHA_A, SHA_B = "aa" * 32, "bb" * 32


def written(chunk: str, sha256: str | None = SHA_A, expected: int | None = None) -> ChunkWrite:
    return ChunkWrite(chunk=chunk, sha256=sha256, size=0 if sha256 is None else 10, expected_revision=expected)


@pytest.fixture
def volume(project: Judged) -> Judged:
    project.commit(ArrayCreated(name="mri", shape=(4, 10), dtype="uint8", chunks=(2, 5)))  # a 2 x 2 chunk grid
    return project


def test_writes_to_different_chunks_both_land_and_each_chunk_counts_its_revisions(volume: Judged) -> None:
    volume.commit(ArrayChunksWritten(array="mri", chunks=[written("0.0", expected=0)]))
    volume.commit(ArrayChunksWritten(array="mri", chunks=[written("1.1", expected=0)]))
    volume.commit(ArrayChunksWritten(array="mri", chunks=[written("0.0", SHA_B)]))  # whole: no condition

    assert volume.state.row("array_chunks", ("mri", "0.0")) == {
        "array": "mri",
        "chunk": "0.0",
        "sha256": SHA_B,
        "size": 10,
        "revision": 2,
    }
    assert volume.state.row("array_chunks", ("mri", "1.1"))["revision"] == 1  # type: ignore[index]
    assert volume.state.row("arrays", ("mri",))["revision"] == 4  # type: ignore[index]


def test_a_partial_write_that_read_an_older_revision_of_its_chunk_is_a_conflict(volume: Judged) -> None:
    volume.commit(ArrayChunksWritten(array="mri", chunks=[written("0.1", expected=0)]))

    with pytest.raises(ConflictError, match="chunk 0.1 of array 'mri' is at revision 1 but the write read revision 0"):
        volume.commit(ArrayChunksWritten(array="mri", chunks=[written("1.0", expected=0), written("0.1", expected=0)]))
    assert volume.state.row("array_chunks", ("mri", "1.0")) is None  # all of the commit, or none of it


def test_a_chunk_cleared_back_to_the_fill_value_keeps_counting_revisions(volume: Judged) -> None:
    volume.commit(ArrayChunksWritten(array="mri", chunks=[written("0.0")]))
    volume.commit(ArrayChunksWritten(array="mri", chunks=[written("0.0", None)]))

    with pytest.raises(ConflictError, match="at revision 2 but the write read revision 0"):
        volume.commit(ArrayChunksWritten(array="mri", chunks=[written("0.0", expected=0)]))


def test_a_chunk_outside_the_grid_an_unknown_array_and_a_taken_name_are_refused(volume: Judged) -> None:
    with pytest.raises(InvalidInputError, match=r"chunk 2.0 lies outside array 'mri', whose chunk grid is \(2, 2\)"):
        volume.commit(ArrayChunksWritten(array="mri", chunks=[written("2.0")]))
    with pytest.raises(InvalidInputError, match="chunk 0.0.0 lies outside"):
        volume.commit(ArrayChunksWritten(array="mri", chunks=[written("0.0.0")]))
    with pytest.raises(NotFoundError, match="array 'ct' does not exist in project 'streets'"):
        volume.commit(ArrayChunksWritten(array="ct", chunks=[written("0.0")]))
    with pytest.raises(ConflictError, match="already has an array named 'mri'"):
        volume.commit(ArrayCreated(name="mri", shape=(1,), dtype="bool", chunks=(1,)))


def test_a_resize_after_a_write_it_did_not_see_is_a_conflict(volume: Judged) -> None:
    volume.commit(ArrayChunksWritten(array="mri", chunks=[written("1.1")]))

    with pytest.raises(ConflictError, match="array 'mri' is at revision 2 but the resize read revision 1"):
        volume.commit(ArrayResized(array="mri", shape=(2, 10), expected_revision=1))
    volume.commit(ArrayResized(array="mri", shape=(2, 10), expected_revision=2, chunks=[written("1.1", None)]))

    assert volume.state.row("arrays", ("mri",))["shape"] == [2, 10]  # type: ignore[index]
    assert volume.state.row("array_chunks", ("mri", "1.1"))["sha256"] is None  # type: ignore[index]


def test_only_editors_create_and_write_arrays(volume: Judged) -> None:
    volume.commit(RoleGranted(principal="bob", role=Role.annotator))

    with pytest.raises(AccessDenied, match="bob may not ArrayChunksWritten in the project"):
        volume.commit(ArrayChunksWritten(array="mri", chunks=[written("0.0")]), actor="bob")


def test_a_write_that_raced_a_resize_is_a_conflict_so_it_is_cut_again_for_the_new_shape(volume: Judged) -> None:
    volume.commit(ArrayResized(array="mri", shape=(3, 10), expected_revision=1))

    with pytest.raises(ConflictError, match=r"array 'mri' has shape \(3, 10\) but the write read shape \(4, 10\)"):
        volume.commit(ArrayChunksWritten(array="mri", chunks=[written("1.0")], expected_shape=(4, 10)))
    volume.commit(ArrayChunksWritten(array="mri", chunks=[written("1.0")], expected_shape=(3, 10)))


def test_a_resize_may_clear_the_chunks_past_its_new_shape_but_not_write_them(volume: Judged) -> None:
    with pytest.raises(InvalidInputError, match=r"chunk 1.0 lies outside the new shape \(2, 10\)"):
        volume.commit(ArrayResized(array="mri", shape=(2, 10), expected_revision=1, chunks=[written("1.0")]))


def test_a_rename_changes_one_label_row_and_no_instance_or_count(project: Judged) -> None:
    project.commit(box())
    project.commit(LabelRenamed(name="car", new_name="vehicle"))

    assert project.state.labels()["vehicle"]["class_index"] == 0 and "car" not in project.state.labels()
    assert project.state.row("instances", (BOX,))["label"] == "car"  # type: ignore[index]
    assert project.state.row("label_counts", (PHOTO, "car"))["count"] == 1  # type: ignore[index]
    project.commit(box(UUID(int=31), label="vehicle"))
    assert project.state.row("label_counts", (PHOTO, "car"))["count"] == 2  # type: ignore[index]


def test_a_label_cannot_take_a_name_another_label_still_stores_its_instances_under(project: Judged) -> None:
    project.commit(LabelRenamed(name="car", new_name="vehicle"))

    with pytest.raises(ConflictError, match="'car' is still how label 'vehicle' .* stores its instances"):
        project.commit(LabelDefined(name="car"))
    project.commit(LabelRenamed(name="vehicle", new_name="car"))  # its own first name: fine
    assert project.state.labels()["car"]["class_index"] == 0


def test_a_rename_in_a_rejected_commit_leaves_the_labels_as_they_were(project: Judged) -> None:
    project.commit(box())
    project.commit(LabelRenamed(name="car", new_name="vehicle"))
    with pytest.raises(NotFoundError):  # the rename holds until the commit fails, then is undone
        project.commit(LabelRenamed(name="vehicle", new_name="auto"), box(UUID(int=31), label="truck"))

    project.commit(box(UUID(int=32), label="vehicle"))
    with pytest.raises(ConflictError, match="'car' is still how label 'vehicle'"):
        project.commit(LabelDefined(name="car"))
    project.commit(LabelDefined(name="auto"))  # free again
    assert project.state.label_stored_as("car") == project.state.labels()["vehicle"]
    assert project.state.label_with_index(1) == project.state.labels()["auto"]
    assert project.state.row("label_counts", (PHOTO, "car"))["count"] == 2  # type: ignore[index]


def test_a_merged_label_keeps_its_slot_and_refuses_new_instances_naming_the_target(project: Judged) -> None:
    project.commit(LabelDefined(name="auto"), LabelDefined(name="bus"))
    project.commit(box(label="auto"))
    project.commit(LabelMerged(name="auto", into="car"))

    assert project.state.labels()["auto"] | {} == {
        "name": "auto",
        "class_index": 1,
        "stored_as": "auto",
        "state": "merged",
        "into": 0,
        "attributes": None,
    }
    with pytest.raises(ConflictError, match="'auto' was merged into 'car'.*use 'car'"):
        project.commit(box(UUID(int=31), label="auto"))
    with pytest.raises(ConflictError, match="can only be merged into an active one"):
        project.commit(LabelMerged(name="bus", into="auto"))
    with pytest.raises(InvalidInputError, match="cannot be merged into itself"):
        project.commit(LabelMerged(name="bus", into="bus"))


def test_an_edit_that_keeps_a_retired_label_is_accepted_and_one_that_gives_it_is_not(project: Judged) -> None:
    project.commit(LabelDefined(name="truck"))
    project.commit(box(label="truck"), box(UUID(int=31), label="car"))
    project.commit(LabelRetired(name="truck"))

    project.commit(
        InstanceChanged(
            instance_id=BOX, expected_revision=1, label="truck", kind=InstanceKind.box, points=((1, 1), (9, 9))
        )
    )
    with pytest.raises(ConflictError, match="label 'truck' is retired"):
        project.commit(
            InstanceChanged(
                instance_id=UUID(int=31),
                expected_revision=1,
                label="truck",
                kind=InstanceKind.box,
                points=((1, 1), (9, 9)),
            )
        )
    with pytest.raises(ConflictError, match="already retired"):
        project.commit(LabelRetired(name="truck"))


def test_schema_changes_need_admin(project: Judged) -> None:
    project.commit(RoleGranted(principal="ed", role=Role.editor))

    for event in (
        LabelRenamed(name="car", new_name="vehicle"),
        LabelRetired(name="car"),
        LabelAttributesDeclared(name="car", attributes={"occluded": "bool"}),  # type: ignore[dict-item]
    ):
        with pytest.raises(AccessDenied, match=f"ed may not {event.type} .* needs admin"):
            project.commit(event, actor="ed")


@pytest.mark.parametrize(
    ("attributes", "error"),
    [
        ({"occluded": 1}, "attribute 'occluded' of label 'car' must be true or false, got 1"),
        ({"score": True}, "attribute 'score' of label 'car' must be a number, got True"),
        ({"score": -0.5}, "attribute 'score' of label 'car' must be at least 0, got -0.5"),
        ({"wheels": 2.5}, "attribute 'wheels' of label 'car' must be an integer, got 2.5"),
        ({"color": "green"}, "attribute 'color' of label 'car' must be one of 'red', 'blue', got 'green'"),
        ({"note": 3}, "attribute 'note' of label 'car' must be a string, got 3"),
        ({"size": 3}, "label 'car' declares no attribute 'size' \\(value 3\\); its attributes: color, note"),
    ],
)
def test_an_instance_whose_attributes_break_its_labels_declaration_is_refused_naming_all_three(
    project: Judged, attributes: dict[str, object], error: str
) -> None:
    declared = {"occluded": "bool", "score": {"type": "float", "min": 0}, "wheels": "int", "color": ["red", "blue"]}
    project.commit(LabelAttributesDeclared(name="car", attributes=declared | {"note": "str"}))  # type: ignore[arg-type]

    with pytest.raises(InvalidInputError, match=error):
        project.commit(box().model_copy(update={"attributes": attributes}))
    project.commit(box().model_copy(update={"attributes": {"occluded": False, "score": 2, "wheels": 4}}))
