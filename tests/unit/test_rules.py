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
    DirectoryCreated,
    Event,
    FileAdded,
    FileMirrored,
    FileRemovedFromDirectory,
    InstanceAdded,
    InstanceChanged,
    InstanceDeleted,
    LabelDefined,
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


@pytest.fixture
def project() -> Judged:
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


def test_every_event_type_has_its_model_role_rule_and_avro_branch() -> None:
    union = typing.get_args(typing.get_args(Event)[0])
    declared = {model.model_fields["type"].default: model for model in union}
    schema = json.loads((resources.files("annolog.eventlog.schemas") / "commit-v2.avsc").read_text())
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


def test_each_rule_returns_changes_and_writes_nothing_itself(project: Judged) -> None:
    rule = EVENTS["LabelDefined"].rule
    commit = Commit(project_id=PROJECT, actor="ana", command="Test", events=(LabelDefined(name="bus"),))
    changes = rule(Judging(commit, "streets", 2, project.state), commit.events[0])

    assert [type(c) for c in changes if isinstance(c, Add | Close)] == [Add]
    assert "bus" not in project.state.labels()  # nothing applied until the loop applies it
